"""pkpo.transform / pkpo.rho_curve from Python against the exact oracle (tests/python/oracle.py):
layouts (2-D, 1-D with uid strings in shuffled order, integer ids), every estimator and dtype,
per-group k, non-finite rewards, k > n, response_mask, out=, and the error cases."""

from fractions import Fraction

import numpy as np
import pytest

import pkpo
import oracle

ESTIMATORS = ["s", "sloo", "sloo_minus_one", "l2o"]
TOL = {np.float64: 1e-12, np.float32: 4e-6, np.float16: 2e-3}


def random_groups(rng, G, n, ties=True):
    """Rewards with ties, negatives and a constant group."""
    g = rng.normal(size=(G, n))
    if ties:
        g = np.round(g * 2) / 2  # many ties
    g[0] = 0.25  # a constant group
    if G > 2:
        g[1] = rng.integers(0, 2, size=n)  # binary
    return g


def check(out, groups, k, estimator, dtype):
    exact, _ = oracle.transform([list(map(float, g)) for g in groups], k, estimator)
    for gi, g in enumerate(groups):
        kk = k[gi] if isinstance(k, (list, tuple)) else k
        sc = oracle.scale(list(map(float, g)), kk, estimator)
        for j, e in enumerate(exact[gi]):
            err = abs(Fraction(float(out[gi][j])) - e) / Fraction(sc)
            tol = TOL[dtype] + (0 if dtype is not np.float16 else 1e-3 * abs(float(e)) / sc)
            assert float(err) <= tol, (estimator, k, gi, j, float(out[gi][j]), float(e))


def test_worked_example_exact():
    # g = (1/2, 0, 1, 1/4, 3/4), k = 2: docs/math.md's worked example.
    g = np.array([[0.5, 0, 1, 0.25, 0.75]])
    F = Fraction
    expect = {
        "s": [F(11, 40), F(1, 4), F(2, 5), F(1, 4), F(13, 40)],
        "sloo": [F(-29, 240), F(-1, 6), F(13, 120), F(-1, 6), F(-7, 240)],
        "sloo_minus_one": [F(3, 40), 0, F(1, 4), F(1, 40), F(3, 20)],
        "l2o": [F(-1, 24), F(-1, 12), F(1, 6), F(-1, 12), F(1, 24)],
    }
    for est, want in expect.items():
        got = pkpo.transform(g, k=2, estimator=est)[0]
        assert np.allclose(got, [float(w) for w in want], rtol=0, atol=1e-15), est
    curve, groups = pkpo.rho_curve(g, ks=[1, 2, 3, 4, 5])
    assert np.allclose(curve[0], [0.5, 0.75, 0.875, 0.95, 1.0], rtol=0, atol=1e-15)
    assert list(groups) == [0]


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_2d_against_oracle(estimator, dtype):
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5, 8):
        g = random_groups(rng, 4, n).astype(dtype)
        for k in range(1, n + 2):
            out = pkpo.transform(g, k=k, estimator=estimator)
            assert out.dtype == dtype and out.shape == g.shape
            check(out, g.astype(np.float64), k, estimator, dtype)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_uid_strings_shuffled(estimator):
    rng = np.random.default_rng(2)
    sizes = [3, 1, 7, 5, 2, 6]
    uids = ["uid-%d" % i for i in range(len(sizes))]
    groups = [list(np.round(rng.normal(size=s) * 2) / 2) for s in sizes]
    flat = [(uids[gi], v, gi, j) for gi, grp in enumerate(groups) for j, v in enumerate(grp)]
    perm = rng.permutation(len(flat))
    rows = [flat[p] for p in perm]
    ids = np.array([r[0] for r in rows], dtype=object)  # verl's `index`: object array of str
    rewards = np.array([r[1] for r in rows])
    for k in (1, 2, 4, 8):
        out = pkpo.transform(rewards, ids, k=k, estimator=estimator)
        exact, _ = oracle.transform(groups, k, estimator)
        for pos, (_, _, gi, j) in enumerate(rows):
            sc = oracle.scale(groups[gi], k, estimator)
            assert abs(out[pos] - float(exact[gi][j])) <= 1e-12 * sc
        # the same through a plain list of str and through integer ids
        assert np.array_equal(out, pkpo.transform(rewards, list(ids), k=k, estimator=estimator))
        int_ids = np.array([int(u.split("-")[1]) * 7 - 3 for u in ids])
        assert np.array_equal(out, pkpo.transform(rewards, int_ids, k=k, estimator=estimator))


def test_per_group_k_in_first_appearance_order():
    rng = np.random.default_rng(3)
    g = random_groups(rng, 5, 6)
    ks = [1, 2, 3, 6, 9]
    out = pkpo.transform(g, k=ks, estimator="l2o")
    check(out, g, ks, "l2o", np.float64)
    # 1-D: groups in order of first appearance of their ids
    ids = ["b", "a", "b", "a", "c"]
    r = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    out = pkpo.transform(r, ids, k=[2, 1, 1], estimator="sloo_minus_one")  # b: k=2, a: k=1
    exact, _ = oracle.transform([[1.0, 0.0], [0.0, 1.0], [0.5]], [2, 1, 1], "sloo_minus_one")
    assert np.allclose(out, [float(exact[0][0]), float(exact[1][0]), float(exact[0][1]),
                             float(exact[1][1]), 0.0], atol=1e-15)
    with pytest.raises(ValueError, match="k has 2 entries but there are 3 groups"):
        pkpo.transform(r, ids, k=[2, 1])


def test_nonfinite_policies():
    g = np.array([[0.5, np.nan, 1.0, 0.25], [0.0, 1.0, np.inf, 0.5], [0.1, 0.2, 0.3, 0.4]])
    out = pkpo.transform(g, k=2)
    assert out[0, 1] == 0 and out[1, 2] == 0
    check(out, g, 2, "sloo_minus_one", np.float64)
    prop = pkpo.transform(g, k=2, nonfinite="propagate")
    assert np.isnan(prop[0]).all() and np.isnan(prop[1]).all()
    assert np.array_equal(prop[2], out[2])  # one group's NaN leaves the others alone
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(g, k=2, nonfinite="error")
    assert e.value.status_name == "PKPO_ERROR_NON_FINITE" and "group 0" in e.value.message


def test_k_above_n():
    g = np.array([[0.5, 0.0, 1.0]])
    assert np.array_equal(pkpo.transform(g, k=7), pkpo.transform(g, k=3))
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(g, k=7, k_policy="strict")
    assert e.value.status_name == "PKPO_ERROR_K_EXCEEDS_N"


def test_response_mask_and_out():
    rng = np.random.default_rng(4)
    g = rng.random((3, 4))
    mask = (rng.random((12, 6)) > 0.3).astype(np.int64)
    adv = pkpo.transform(g, k=2)
    tok = pkpo.transform(g, k=2, response_mask=mask)
    assert tok.shape == (12, 6) and tok.dtype == np.float64
    assert np.array_equal(tok, adv.reshape(-1, 1) * mask)
    out = np.full((3, 4), 7.0)
    res = pkpo.transform(g, k=2, out=out)
    assert res is out and np.array_equal(out, adv)
    out32 = np.zeros((3, 4), dtype=np.float32)  # different dtype: computed, then copied in
    pkpo.transform(g, k=2, out=out32)
    assert np.array_equal(out32, adv.astype(np.float32))
    with pytest.raises(ValueError, match="response_mask"):
        pkpo.transform(g, k=2, response_mask=mask[:5])


def test_rho_curve_against_oracle():
    rng = np.random.default_rng(5)
    sizes = [4, 1, 6, 3]
    groups = [list(rng.integers(0, 2, size=s).astype(float)) for s in sizes]
    ids = [u for u, s in zip("wxyz", sizes) for _ in range(s)]
    flat = np.array([v for grp in groups for v in grp])
    ks = [1, 2, 4, 8]
    curve, labels = pkpo.rho_curve(flat, ids, ks=ks)
    assert labels == list("wxyz") and curve.shape == (4, 4)
    exact = oracle.rho_curve(groups, ks)
    assert np.allclose(curve, np.array(exact, dtype=float), atol=1e-14)
    c32, _ = pkpo.rho_curve(flat.astype(np.float32), ids, ks=ks)
    assert c32.dtype == np.float32 and np.allclose(c32, curve, atol=1e-6)


def test_errors():
    g = np.zeros((2, 3))
    with pytest.raises(ValueError, match="1-D rewards alone are never taken as one group"):
        pkpo.transform(np.zeros(6), k=2)
    with pytest.raises(ValueError, match="with group_ids, rewards must be 1-D"):
        pkpo.transform(g, [0, 0, 0, 1, 1, 1], k=2)
    with pytest.raises(ValueError, match="group_ids has 5 entries, rewards 6"):
        pkpo.transform(np.zeros(6), [0] * 5, k=2)
    with pytest.raises(ValueError, match="unknown estimator"):
        pkpo.transform(g, k=2, estimator="grpo")
    with pytest.raises(ValueError, match="rho_curve"):
        pkpo.transform(g, k=2, estimator="rho")
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(g, k=0)
    assert e.value.status == 3 and "k is 0" in e.value.message
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.rho_curve(g, ks=[1, 0])
    assert e.value.status_name == "PKPO_ERROR_INVALID_K"
    with pytest.raises(TypeError, match="group_ids must be integers or hashable"):
        pkpo.transform(np.zeros(3), np.array([0.5, 0.5, 1.0]), k=1)


def test_integer_and_list_inputs():
    out = pkpo.transform([[1, 0, 0, 1]], k=2)  # lists and integer rewards: float64 results
    assert out.dtype == np.float64
    assert np.array_equal(out, pkpo.transform(np.array([[1.0, 0, 0, 1]]), k=2))


def test_empty_batch():
    out = pkpo.transform(np.zeros((0, 4), dtype=np.float32), k=2)
    assert out.shape == (0, 4) and out.dtype == np.float32
    out = pkpo.transform(np.zeros(0), [], k=2)
    assert out.shape == (0,)


def test_k_forms():
    g = np.array([[0.5, 0.0, 1.0, 0.25, 0.75], [1.0, 0.0, 0.0, 1.0, 0.5]])
    want = pkpo.transform(g, k=2)
    for k in (np.int64(2), np.array(2), np.int32(2)):
        assert np.array_equal(pkpo.transform(g, k=k), want)
    assert np.array_equal(pkpo.transform(g, k=np.array([2, 2])), want)
    for bad, err in ((None, TypeError), (True, TypeError), (2.0, TypeError), (np.array(2.0), TypeError),
                     ([1.9, 2.9], TypeError), ([True, True], TypeError), (2 ** 64 + 2, ValueError)):
        with pytest.raises(err):
            pkpo.transform(g, k=bad)
    with pytest.raises(TypeError, match="ks must hold integers"):
        pkpo.rho_curve(g, ks=[1.7, 2.2])
    with pytest.raises(ValueError, match="ks is empty"):
        pkpo.rho_curve(g, ks=[])


def test_out_rules():
    g = np.array([[0.5, 0.0, 1.0, 0.25, 0.75], [1.0, 0.0, 0.0, 1.0, 0.5]])
    want = pkpo.transform(g, k=2)
    ro = np.frombuffer(bytes(80)).reshape(2, 5)
    with pytest.raises(ValueError, match="read-only"):
        pkpo.transform(g, k=2, out=ro)
    assert not ro.any()
    with pytest.raises(TypeError, match="floating"):
        pkpo.transform(g, k=2, out=np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="out has shape"):
        pkpo.transform(g, k=2, out=np.zeros((3, 2, 5)))
    # in place (out is rewards) is allowed; a partial overlap goes through a temporary
    x = g.copy()
    assert pkpo.transform(x, k=2, out=x) is x and np.array_equal(x, want)
    buf = np.zeros(15)
    buf[:10] = g.reshape(-1)
    r, o = buf[:10].reshape(2, 5), buf[5:].reshape(2, 5)
    pkpo.transform(r, k=2, out=o)
    assert np.array_equal(o, want)


def test_noncontiguous_and_odd_layouts():
    rng = np.random.default_rng(6)
    g = rng.random((6, 10))
    for view in (g[::2, ::2], g.T.copy(order="F").T, np.asfortranarray(g), g[:, ::-1]):
        assert np.array_equal(pkpo.transform(view, k=3), pkpo.transform(np.ascontiguousarray(view),
                                                                        k=3))
    unaligned = np.frombuffer(b"\0" + g.astype(np.float64).tobytes(), dtype=np.float64,
                              offset=1).reshape(6, 10)
    assert np.array_equal(pkpo.transform(unaligned, k=3), pkpo.transform(g, k=3))


def test_bad_inputs_refused():
    with pytest.raises(TypeError, match="real"):
        pkpo.transform(np.ones((2, 3), dtype=complex), k=1)
    with pytest.raises(TypeError, match="masked"):
        pkpo.transform(np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]]), k=1)
    with pytest.raises(TypeError, match="one id per sample"):
        pkpo.transform(np.ones(4), "abcd", k=1)


def test_ids_keep_their_dtype_and_nan_stays_out_of_padding():
    ids = np.array([2 ** 64 - 1] * 2 + [5, 5], dtype=np.uint64)
    _, groups = pkpo.rho_curve(np.array([1.0, 0, 1, 1]), ids, ks=[1])
    assert groups.dtype == np.uint64 and groups.tolist() == [2 ** 64 - 1, 5]
    g = np.array([[0.5, np.nan, 1.0]])
    mask = np.array([[1, 0], [1, 1], [0, 0]])
    tok = pkpo.transform(g, k=2, nonfinite="propagate", response_mask=mask)
    assert np.isnan(tok[0, 0]) and tok[0, 1] == 0 and (tok[2] == 0).all()


def test_threads_share_nothing():
    import threading
    rng = np.random.default_rng(7)
    batches = [rng.random((50, 8)) for _ in range(6)]
    want = [pkpo.transform(b, k=3) for b in batches]
    errors = []

    def worker(i):
        for _ in range(20):
            if not np.array_equal(pkpo.transform(batches[i], k=3), want[i]):
                errors.append(i)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors


def test_pkpo_num_threads_env():
    import subprocess
    import sys
    code = ("import numpy as np, pkpo; g = np.random.default_rng(0).random((70000, 2)); "
            "print(pkpo.transform(g, k=2).tobytes().hex()[:64])")
    outs = []
    for env in ("1", "2", "0"):
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**__import__("os").environ, "PKPO_NUM_THREADS": env})
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1] == outs[2]  # bitwise identical for any thread count
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**__import__("os").environ, "PKPO_NUM_THREADS": "x"})
    assert p.returncode != 0 and "PKPO_NUM_THREADS must be an integer" in p.stderr
