"""pkpo with torch tensors: dtypes (float16/bfloat16 computed in float32), requires_grad inputs,
uid strings, per-group k, response_mask, out=, the registered custom ops under torch.compile
(fullgraph=True), and the CUDA backend on CUDA tensors (skipped without a GPU)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import pkpo  # noqa: E402

ESTIMATORS = ["s", "sloo", "sloo_minus_one", "l2o"]


def rewards(G=6, n=8, seed=0):
    rng = np.random.default_rng(seed)
    g = np.round(rng.normal(size=(G, n)) * 2) / 2
    g[0] = 1.0
    return g


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_dtypes_match_numpy(estimator, dtype):
    t = torch.tensor(rewards(), dtype=dtype)
    out = pkpo.transform(t, k=3, estimator=estimator)
    assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == t.shape
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    want = pkpo.transform(t.to(compute).numpy(), k=3, estimator=estimator)
    # float16/bfloat16: computed in float32, rounded once to the input dtype
    assert torch.equal(out, torch.from_numpy(want).to(dtype))


def test_requires_grad_is_read_detached():
    t = torch.tensor(rewards(), requires_grad=True)
    out = pkpo.transform(t, k=2)
    assert not out.requires_grad and out.grad_fn is None
    assert torch.equal(out, pkpo.transform(t.detach(), k=2))


def test_uid_strings_and_per_group_k():
    g = rewards(4, 5)
    uids = np.array(["p%d" % i for i in range(4)], dtype=object).repeat(5)
    perm = np.random.default_rng(1).permutation(20)
    flat = torch.tensor(g.reshape(-1)[perm])
    ids = uids[perm]
    out = pkpo.transform(flat, ids, k=[1, 2, 3, 5])
    ref = pkpo.transform(g.reshape(-1)[perm], ids, k=[1, 2, 3, 5])
    assert np.array_equal(out.numpy(), ref)
    int_ids = torch.tensor([int(u[1:]) for u in ids])
    assert torch.equal(out, pkpo.transform(flat, int_ids, k=torch.tensor([1, 2, 3, 5])))
    curve, groups = pkpo.rho_curve(flat, ids, ks=[1, 5])
    assert groups == sorted(set(ids), key=list(ids).index)
    c2, g2 = pkpo.rho_curve(flat, int_ids, ks=[1, 5])
    assert torch.equal(curve, c2) and g2.tolist() == [int(u[1:]) for u in groups]


def test_response_mask_and_out():
    t = torch.tensor(rewards(3, 4), dtype=torch.float32)
    mask = (torch.rand(12, 7, generator=torch.Generator().manual_seed(0)) > 0.5).long()
    tok = pkpo.transform(t, k=2, response_mask=mask)
    assert tok.shape == (12, 7) and tok.dtype == torch.float32
    assert torch.equal(tok, pkpo.transform(t, k=2).reshape(-1, 1) * mask.float())
    out = torch.empty(3, 4)
    assert pkpo.transform(t, k=2, out=out) is out
    assert torch.equal(out, pkpo.transform(t, k=2))


def test_errors_raise_pkpo_error():
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(torch.zeros(2, 3), k=0)
    assert e.value.status_name == "PKPO_ERROR_INVALID_K"
    with pytest.raises(ValueError, match="never taken as one group"):
        pkpo.transform(torch.zeros(6), k=1)


def test_custom_ops_registered():
    assert hasattr(torch.ops.pkpo, "transform") and hasattr(torch.ops.pkpo, "rho_curve")
    t = torch.tensor(rewards())
    assert torch.equal(torch.ops.pkpo.transform(t, None, None, 2, "l2o", "exclude", "clamp"),
                       pkpo.transform(t, k=2, estimator="l2o"))


def test_torch_compile_fullgraph():
    t = torch.tensor(rewards(), dtype=torch.float32)
    mask = torch.ones(t.numel(), 3)

    def step(r, m):
        adv = pkpo.transform(r, k=4, response_mask=m)
        return (adv * 2).sum(dim=1)

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    assert torch.equal(compiled(t, mask), step(t, mask))
    curve_fn = torch.compile(lambda r: pkpo.rho_curve(r, ks=[1, 4])[0], fullgraph=True,
                             backend="eager")
    assert torch.equal(curve_fn(t), pkpo.rho_curve(t, ks=[1, 4])[0])


def test_torch_library_opcheck():
    t = torch.tensor(rewards(), dtype=torch.float32)
    torch.library.opcheck(torch.ops.pkpo.transform.default,
                          (t, None, None, 3, "sloo_minus_one", "exclude", "clamp"),
                          test_utils=("test_schema", "test_faketensor"))


cuda = pytest.mark.skipif(not (torch.cuda.is_available() and pkpo.cuda_available()),
                          reason="needs a CUDA GPU and a CUDA build of pkpo")


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cuda_matches_cpu(dtype):
    g = torch.tensor(rewards(64, 16, 3), dtype=dtype)
    for est in ESTIMATORS:
        want = pkpo.transform(g, k=4, estimator=est)
        got = pkpo.transform(g.cuda(), k=4, estimator=est)
        assert got.device.type == "cuda" and got.dtype == dtype
        assert torch.allclose(got.cpu().double(), want.double(), atol=1e-6, rtol=0)
    ids = ["u%d" % (i % 64) for i in range(64 * 16)]
    flat = g.reshape(-1)
    assert torch.allclose(pkpo.transform(flat.cuda(), ids, k=4).cpu().double(),
                          pkpo.transform(flat, ids, k=4).double(), atol=1e-6, rtol=0)


@cuda
def test_cuda_graph_capture():
    g = torch.tensor(rewards(32, 16, 4), dtype=torch.float32, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        pkpo.transform(g, k=4)  # warm-up on the capture stream: creates its handle before capture
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=s):
        out = pkpo.transform(g, k=4)
    g.copy_(torch.tensor(rewards(32, 16, 5), dtype=torch.float32))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.allclose(out.cpu(), pkpo.transform(g.cpu(), k=4), atol=1e-6, rtol=0)
