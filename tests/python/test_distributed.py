"""process_group=: groups spread over data-parallel ranks (pkpo.distributed).

Process groups of 2, 3 and 4 ranks out of one spawn of 4 processes on this machine
(torch.multiprocessing, gloo backend over the loopback interface, rendezvous through a file).
Every rank holds an uneven, shuffled share of the samples (a rank may hold no sample of a group,
one rank none at all), calls pkpo.transform(..., process_group=...), and its result must be
bitwise equal to the slice of one process calling pkpo.transform on the whole batch: uid strings,
integer ids (torch and numpy), float32/float64, NaN, singletons, per-call estimator and k, a
mixture over k under the min statistic, response_mask, out=, and a group of non-adjacent ranks."""

import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import pkpo  # noqa: E402
import pkpo.distributed  # noqa: E402


def make_case(name, world):
    """(rewards [N], ids [N], kwargs, splits): the whole batch and each rank's sample positions."""
    rng = np.random.default_rng(sum(map(ord, name)) * 31 + world)
    sizes = [1, 2, 3, 5, 8, 13, 4, 4]
    ids = np.repeat(np.arange(len(sizes)), sizes)
    N = ids.size
    r = rng.integers(0, 5, size=N).astype(np.float64) / 4 + (rng.random(N) < 0.3) * rng.normal(size=N)
    perm = rng.permutation(N)
    r, ids = r[perm], ids[perm]
    # group 0 (the singleton) and group 7 live on rank 0 only; the rest is spread unevenly, and
    # with 3+ ranks, rank 1 holds nothing at all.
    only0 = np.isin(ids, [0, 7])
    rest = np.flatnonzero(~only0)
    cuts = np.sort(rng.choice(np.arange(1, rest.size), size=world - 1, replace=False))
    parts = np.split(rest, cuts)
    if world >= 3:
        parts[2] = np.concatenate([parts[2], parts[1]])
        parts[1] = parts[1][:0]
    parts[0] = np.concatenate([np.flatnonzero(only0), parts[0]])
    kwargs = {"k": 3}
    if name == "uid_strings":
        ids = np.array(["uid-%08x" % (g * 2654435761 % (1 << 32)) for g in ids], dtype=object)
    elif name == "float32_nan_l2o":
        r = r.astype(np.float32)
        r[rng.random(N) < 0.1] = np.nan
        kwargs = {"k": 2, "estimator": "l2o"}
    elif name == "propagate_k_n":
        r[rng.random(N) < 0.1] = np.inf
        kwargs = {"k": 100, "nonfinite": "propagate"}
    elif name == "mixture_min":
        ids = np.array(["u%d" % g for g in ids], dtype=object)
        kwargs = {"k": [1, 3, 9], "k_weights": [1.0, 0.5, -0.25], "statistic": "min"}
    return r, ids, kwargs, parts


CASES = ["uid_strings", "int_ids", "float32_nan_l2o", "propagate_k_n", "mixture_min"]


def as_local(r, ids, part, kind):
    lr, lid = r[part], ids[part]
    if kind == "torch":
        lr = torch.from_numpy(np.ascontiguousarray(lr))
        if lid.dtype != object:
            lid = torch.from_numpy(np.ascontiguousarray(lid))
        else:
            lid = list(lid)
    return lr, lid


def to_np(x):
    return x.numpy() if torch.is_tensor(x) else np.asarray(x)


WORLD = 4
SIZES = (2, 3, 4)  # process groups of 2, 3 and 4 ranks, made from one spawn of 4 processes


def run_cases(rank, w, pg):
    res = {}
    for name in CASES:
        r, ids, kw, parts = make_case(name, w)
        for kind in ("torch", "numpy"):
            lr, lid = as_local(r, ids, parts[rank], kind)
            res[(name, kind)] = to_np(pkpo.transform(lr, lid, process_group=pg, **kw))
    # response_mask and out=, through pkpo.distributed directly
    r, ids, kw, parts = make_case("int_ids", w)
    lr, lid = as_local(r, ids, parts[rank], "torch")
    T = 5
    lengths = (np.arange(len(r)) % T) + 1
    mask = torch.from_numpy((np.arange(T)[None, :] < lengths[parts[rank]][:, None]).astype(np.float64))
    res[("mask", "torch")] = to_np(pkpo.distributed.transform(lr, lid, process_group=pg,
                                                              response_mask=mask, **kw))
    out = torch.full_like(lr, -7.0)
    back = pkpo.transform(lr, lid, process_group=pg, out=out, **kw)
    res[("out_is_out", "torch")] = back is out
    res[("out", "torch")] = to_np(out)
    return res


def worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank,
                            world_size=world)
    try:
        res = {}
        for w in SIZES:
            pg = dist.group.WORLD if w == world else dist.new_group(list(range(w)))
            if rank < w:
                res[w] = run_cases(rank, w, pg)
        # a group of non-adjacent ranks: 0 and world-1; its rank order is 0, 1
        members = [0, world - 1]
        sub = dist.new_group(members)
        if rank in members:
            r, ids, kw, parts = make_case("uid_strings", 2)
            lr, lid = as_local(r, ids, parts[members.index(rank)], "torch")
            res["subgroup"] = to_np(pkpo.transform(lr, lid, process_group=sub, **kw))
        dist.barrier()
        with open(os.path.join(out_dir, "rank%d.pkl" % rank), "wb") as f:
            pickle.dump(res, f)
    finally:
        dist.destroy_process_group()


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    import torch.multiprocessing as mp

    tmp = tmp_path_factory.mktemp("dist")
    old = os.environ.get("GLOO_SOCKET_IFNAME")
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    try:
        mp.spawn(worker, args=(WORLD, str(tmp / "rendezvous"), str(tmp)), nprocs=WORLD, join=True)
    finally:
        if old is None:
            os.environ.pop("GLOO_SOCKET_IFNAME", None)
        else:
            os.environ["GLOO_SOCKET_IFNAME"] = old
    results = []
    for rank in range(WORLD):
        with open(tmp / ("rank%d.pkl" % rank), "rb") as f:
            results.append(pickle.load(f))
    return results


@pytest.mark.parametrize("w", SIZES)
def test_process_group_bitwise_equals_single_process(spawned, w):
    results = [spawned[rank][w] for rank in range(w)]
    for name in CASES:
        r, ids, kw, parts = make_case(name, w)
        order = np.concatenate(parts)
        for kind in ("torch", "numpy"):
            # the single-process reference, on the batch in rank order
            ref = to_np(pkpo.transform(*as_local(r, ids, order, kind), **kw))
            start = 0
            for rank in range(w):
                got = results[rank][(name, kind)]
                want = ref[start:start + parts[rank].size]
                start += parts[rank].size
                assert same_bits(got, want), (name, kind, rank)
            # and the split does not matter: the same values per sample as the unsplit batch
            plain = to_np(pkpo.transform(*as_local(r, ids, np.arange(r.size), kind), **kw))
            assert same_bits(ref, plain[order]), (name, kind)
    if w >= 3:  # rank 1 held no sample at all
        assert results[1][("uid_strings", "torch")].size == 0

    r, ids, kw, parts = make_case("int_ids", w)
    order = np.concatenate(parts)
    T = 5
    lengths = (np.arange(len(r)) % T) + 1
    lr, lid = as_local(r, ids, order, "torch")
    mask = torch.from_numpy((np.arange(T)[None, :] < lengths[order][:, None]).astype(np.float64))
    ref_mask = to_np(pkpo.transform(lr, lid, response_mask=mask, **kw))
    ref = to_np(pkpo.transform(lr, lid, **kw))
    start = 0
    for rank in range(w):
        m = parts[rank].size
        assert same_bits(results[rank][("mask", "torch")], ref_mask[start:start + m])
        assert results[rank][("out_is_out", "torch")] is True
        assert same_bits(results[rank][("out", "torch")], ref[start:start + m])
        start += m


def test_process_group_of_non_adjacent_ranks(spawned):
    r, ids, kw, parts = make_case("uid_strings", 2)
    ref = to_np(pkpo.transform(*as_local(r, ids, np.concatenate(parts), "torch"), **kw))
    assert same_bits(spawned[0]["subgroup"], ref[:parts[0].size])
    assert same_bits(spawned[WORLD - 1]["subgroup"], ref[parts[0].size:])
    for rank in range(1, WORLD - 1):
        assert "subgroup" not in spawned[rank]


def test_process_group_argument_errors(tmp_path, monkeypatch):
    """Argument errors are raised before any collective (no rank is left waiting)."""
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method="file://" + str(tmp_path / "rdv"), rank=0,
                            world_size=1)
    try:
        g = dist.group.WORLD
        with pytest.raises(ValueError, match="group_ids"):
            pkpo.distributed.transform(torch.zeros(3), None, process_group=g, k=1)
        with pytest.raises(ValueError, match="entries"):
            pkpo.distributed.transform(torch.zeros(3), [1, 2], process_group=g, k=1)
        with pytest.raises(ValueError, match="flat"):
            pkpo.distributed.transform(torch.zeros(2, 3), [1, 2], process_group=g, k=1)
        # one rank: the same as no process group
        r = torch.tensor([0.5, 0.0, 1.0, 0.25, 0.75], dtype=torch.float64)
        assert torch.equal(pkpo.transform(r, [0] * 5, k=2, process_group=g),
                           pkpo.transform(r, [0] * 5, k=2))
    finally:
        dist.destroy_process_group()
