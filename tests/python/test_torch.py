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


def test_k_forms_out_rules_and_masks():
    t = torch.tensor(rewards(2, 5))
    want = pkpo.transform(t, k=2)
    for k in (np.int64(2), torch.tensor(2), np.array(2)):
        assert torch.equal(pkpo.transform(t, k=k), want)
    with pytest.raises(TypeError):
        pkpo.transform(t, k=torch.tensor([1.5, 2.0]))
    with pytest.raises(TypeError, match="floating"):
        pkpo.transform(t, k=2, out=torch.zeros(2, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="out has shape"):
        pkpo.transform(t, k=2, out=torch.zeros(3, 2, 5))
    mask = np.ones((10, 3), dtype=np.int64)  # a numpy mask with torch rewards
    assert torch.equal(pkpo.transform(t, k=2, response_mask=mask), want.reshape(-1, 1).expand(10, 3))
    curve, groups = pkpo.rho_curve(torch.zeros(0, 4), ks=[1])
    assert curve.shape == (0, 1)


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
    ids = torch.arange(t.numel()) // 4  # integer ids and per-group k through inductor
    kpg = torch.arange(ids.max() + 1) % 3 + 1
    f = torch.compile(lambda r, i, k: pkpo.transform(r, i, k=k), fullgraph=True, dynamic=True)
    assert torch.equal(f(t.reshape(-1), ids, kpg), pkpo.transform(t.reshape(-1), ids, k=kpg))
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
def test_cuda_graph_capture_on_a_fresh_stream():
    # the usual torch pattern: warm up on a side stream, capture on torch's own capture stream
    g = torch.tensor(rewards(32, 16, 4), dtype=torch.float32, device="cuda")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        pkpo.transform(g, k=4)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = pkpo.transform(g, k=4)
    g.copy_(torch.tensor(rewards(32, 16, 6), dtype=torch.float32))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.allclose(out.cpu(), pkpo.transform(g.cpu(), k=4), atol=1e-6, rtol=0)


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


# ---- mixtures over k and the min statistic --------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_mixture_and_min_match_numpy(dtype):
    t = torch.tensor(rewards(), dtype=dtype)
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    ks, w = pkpo.mixture.harmonic(5)
    for est in ESTIMATORS:
        for statistic in ("max", "min"):
            for k, kw in ((ks, w), (torch.tensor(ks), torch.tensor(w, dtype=torch.float64)),
                          (3, None)):
                out = pkpo.transform(t, k=k, k_weights=kw, estimator=est, statistic=statistic)
                assert out.dtype == dtype and out.shape == t.shape
                want = pkpo.transform(t.to(compute).numpy(), k=ks if kw is not None else 3,
                                      k_weights=w if kw is not None else None, estimator=est,
                                      statistic=statistic)
                assert torch.equal(out, torch.from_numpy(want).to(dtype)), (est, statistic, k)


def test_mixture_with_uid_strings_and_tensor_forms():
    g = rewards(4, 5)
    uids = np.array(["p%d" % i for i in range(4)], dtype=object).repeat(5)
    perm = np.random.default_rng(1).permutation(20)
    flat = torch.tensor(g.reshape(-1)[perm])
    want = pkpo.transform(g.reshape(-1)[perm], uids[perm], k=[1, 4], k_weights=[1.0, -0.5],
                          statistic="min")
    for k, w in (([1, 4], [1.0, -0.5]), (torch.tensor([1, 4], dtype=torch.int32),
                                         torch.tensor([1.0, -0.5], dtype=torch.float32)),
                 (np.array([1, 4]), np.array([1.0, -0.5]))):
        out = pkpo.transform(flat, uids[perm], k=k, k_weights=w, statistic="min")
        assert np.array_equal(out.numpy(), want)
    curve, groups = pkpo.rho_curve(flat, uids[perm], ks=[1, 5], statistic="min")
    want_c, want_g = pkpo.rho_curve(g.reshape(-1)[perm], uids[perm], ks=[1, 5], statistic="min")
    assert np.array_equal(curve.numpy(), want_c) and groups == want_g


def test_mixture_errors_torch():
    t = torch.tensor(rewards(2, 5))
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(t, k=[1, 0], k_weights=[1.0, 1.0])
    assert e.value.status_name == "PKPO_ERROR_INVALID_K" and "k_terms[1]" in e.value.message
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(t, k=torch.tensor([1, 2]), k_weights=torch.tensor([1.0, float("nan")]))
    assert e.value.status_name == "PKPO_ERROR_INVALID_ARGUMENT"
    assert "k_weights[1]" in e.value.message
    with pytest.raises(ValueError, match="one weight per k"):
        pkpo.transform(t, k=[1, 2], k_weights=[1.0])
    with pytest.raises(ValueError, match="no terms"):
        pkpo.transform(t, k=[], k_weights=[])
    with pytest.raises(TypeError, match="integers"):
        pkpo.transform(t, k=torch.tensor([1.0, 2.0]), k_weights=[1.0, 1.0])
    with pytest.raises(TypeError, match="integers"):
        pkpo.transform(t, k=[1.5], k_weights=[1.0])
    with pytest.raises(TypeError, match="real numbers"):
        pkpo.transform(t, k=[1], k_weights=torch.tensor([True]))
    with pytest.raises(TypeError, match="real numbers"):
        pkpo.transform(t, k=[1], k_weights=["x"])
    with pytest.raises(ValueError, match="unknown statistic"):
        pkpo.transform(t, k=2, statistic="avg")


def test_custom_op_mixture_arguments():
    t = torch.tensor(rewards())
    terms, weights = torch.tensor([1, 3]), torch.tensor([0.5, 2.0], dtype=torch.float64)
    got = torch.ops.pkpo.transform(t, None, None, 1, "sloo", "exclude", "clamp", terms, weights,
                                   "min")
    assert torch.equal(got, pkpo.transform(t, k=[1, 3], k_weights=[0.5, 2.0], estimator="sloo",
                                           statistic="min"))
    curve, _ = torch.ops.pkpo.rho_curve(t, None, [2], "exclude", "clamp", "min")
    assert torch.equal(curve, pkpo.rho_curve(t, ks=[2], statistic="min")[0])
    torch.library.opcheck(torch.ops.pkpo.transform.default,
                          (t.float(), None, None, 1, "l2o", "exclude", "clamp", terms, weights,
                           "min"), test_utils=("test_schema", "test_faketensor"))


def test_torch_compile_fullgraph_mixture_and_min():
    t = torch.tensor(rewards(), dtype=torch.float32)
    ks, w = pkpo.mixture.harmonic(4)

    def step(r):
        adv = pkpo.transform(r, k=ks, k_weights=w, statistic="min")
        return adv * 2, pkpo.rho_curve(r, ks=[1, 4], statistic="min")[0]

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    for a, b in zip(compiled(t), step(t)):
        assert torch.equal(a, b)
    # weights as tensor arguments: a later call with new values uses them (nothing is baked in)
    terms = torch.tensor(ks)
    weights = torch.tensor(w, dtype=torch.float64)
    f = torch.compile(lambda r, kt, kw: pkpo.transform(r, k=kt, k_weights=kw, estimator="l2o"),
                      fullgraph=True)
    assert torch.equal(f(t, terms, weights), pkpo.transform(t, k=ks, k_weights=w,
                                                            estimator="l2o"))
    weights.copy_(torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert torch.equal(f(t, terms, weights), pkpo.transform(t, k=4, estimator="l2o"))


@cuda
@pytest.mark.parametrize("case", ["mixture", "min"])
def test_cuda_mixture_and_min_match_cpu(case):
    g = torch.tensor(rewards(64, 16, 3), dtype=torch.float64)
    kw = dict(k=[1, 4, 16], k_weights=[1.0, 0.25, 0.0625]) if case == "mixture" else \
        dict(k=4, statistic="min")
    for est in ESTIMATORS:
        got = pkpo.transform(g.cuda(), estimator=est, **kw)
        want = pkpo.transform(g, estimator=est, **kw)
        assert torch.allclose(got.cpu(), want, atol=1e-12, rtol=0)
