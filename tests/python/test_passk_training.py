"""pkpo.adapters.passk_training: Chen et al.'s analytic pass@k advantage (RUCAIBox/Passk_Training,
code/passk_adv.py) as a drop-in.

- parity with their function on binary rewards through a committed fixture of its outputs
  (fixtures/passk_training.json, made by make_passk_training_fixture.py), numpy alone and through
  the torch signature; live when their module is importable (PASSK_TRAINING_ADV=path of their
  passk_adv.py, or `passk_adv` on sys.path), skipped otherwise;
- where the two differ on purpose (groups smaller than K, non-binary rewards), as documented;
- the continuous-reward sigma (best_of_k_std) and the whole advantage against brute-force subset
  enumeration in rational arithmetic (oracle.py)."""

import contextlib
import io
import json
import math
import os
from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

import oracle
from pkpo.adapters import passk_training as pt

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                       "passk_training.json")
with open(FIXTURE) as f:
    CHEN = json.load(f)
CASES = {c["name"]: c for c in CHEN["cases"]}
BINARY = [name for name in CASES if name.startswith(("binary", "ragged_binary", "int_index",
                                                       "singletons"))]
# Their +1e-6 makes the advantage a smooth function of rho, so both sides' rounding of rho
# (about 1e-16 absolute) passes through as is; it is amplified only where 1 - rho is tiny
# (n = 32, K = 16, c = 16: 1 - rho = 1.7e-9, measured 2.0e-9 relative). 1e-6 relative bounds it.
RTOL, ATOL = 1e-6, 1e-12


def case_inputs(c):
    dtype = np.dtype(c["dtype"])
    r = np.array(c["rewards"], dtype=dtype)
    ids = c["uids"]
    index = np.array(ids, dtype=object) if isinstance(ids[0], str) else np.array(ids)
    return r, index, np.array(c["advantage"], dtype=dtype)


def token_level(torch, c):
    r, index, theirs = case_inputs(c)
    lengths = np.array(c["lengths"])
    T = c["T"]
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(r.dtype)
    tlr = np.zeros((r.size, T), r.dtype)
    tlr[np.arange(r.size), lengths - 1] = r
    return torch.from_numpy(tlr), torch.from_numpy(mask), index, theirs


def groups_of(r, index):
    return {g: np.flatnonzero(index == g) for g in dict.fromkeys(index.tolist())}


# ---- parity with their function (numpy only) ---------------------------------------------------

@pytest.mark.parametrize("name", BINARY)
def test_fixture_parity_binary(name):
    c = CASES[name]
    r, index, theirs = case_inputs(c)
    ours = pt.analytic_advantage(r, index, c["K"])
    assert ours.dtype == r.dtype and ours.shape == r.shape
    np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=RTOL,
                               atol=ATOL)
    if r.dtype == np.float32:  # both round the same float64 value once: measured bit for bit
        np.testing.assert_array_equal(ours, theirs)


def test_fixture_covers_what_it_claims():
    assert "c3ba575ecb31f47fd9f5c43b18c081d4a295f783" in CHEN["source"]
    for name in BINARY:
        c = CASES[name]
        r, index, theirs = case_inputs(c)
        assert set(np.unique(r)) <= {0.0, 1.0} and np.isfinite(theirs).all()
        for idx in groups_of(r, index).values():
            assert idx.size >= c["K"]
    n16 = CASES["binary_n16_K8"]
    r, index, _ = case_inputs(n16)
    counts = {int(r[idx].sum()) for idx in groups_of(r, index).values()}
    assert counts == set(range(17))  # every c from 0 to n
    assert sum(len(c["advantage"]) for c in CHEN["cases"]) > 3000


def test_fixture_is_their_closed_form():
    """The fixture holds the formula of their docstring, evaluated exactly here (so the
    fixture and its reading are right): (1 - rho)/(sigma + 1e-6) for a correct answer,
    (1 - rho - C(n-c-1, K-1)/C(n-1, K-1))/(sigma + 1e-6) for a wrong one."""
    for name in ("binary_n8_K3", "binary_n16_K8", "ragged_binary_K2"):
        c = CASES[name]
        r, index, theirs = case_inputs(c)
        K = c["K"]
        for idx in groups_of(r, index).values():
            n, cc = idx.size, int(r[idx].sum())
            rho = 1 - Fraction(math.comb(n - cc, K), math.comb(n, K))
            sigma = math.sqrt(rho * (1 - rho))
            wrong = Fraction(math.comb(n - cc - 1, K - 1), math.comb(n - 1, K - 1)) \
                if n - cc - 1 >= 0 else 0
            want = np.where(r[idx] == 1, float(1 - rho) / (sigma + 1e-6),
                            float(1 - rho - wrong) / (sigma + 1e-6))
            if sigma == 0:
                want[:] = 0
            np.testing.assert_allclose(theirs[idx], want, rtol=1e-6, atol=1e-12)


def test_fixture_differences_groups_below_K():
    """Theirs: a group of n < K gets NaN (C(n, K) = 0, so rho = 1 - 0/0). Ours: k = n for that
    group (pkpo's clamp policy), every other group as theirs."""
    c = CASES["ragged_some_below_K4"]
    r, index, theirs = case_inputs(c)
    ours = pt.analytic_advantage(r, index, c["K"])
    for idx in groups_of(r, index).values():
        if idx.size < c["K"]:
            assert np.isnan(theirs[idx]).all()
            np.testing.assert_array_equal(ours[idx], pt.analytic_advantage(r[idx], index[idx],
                                                                          idx.size))
        else:
            np.testing.assert_allclose(ours[idx], theirs[idx], rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="K_EXCEEDS_N"):
        pt.analytic_advantage(r, index, c["K"], k_policy="strict")


def test_fixture_differences_nonbinary():
    """Theirs passes rewards other than 0 and 1 through unchanged and counts them as wrong
    answers in n; ours applies the same formula to every reward (sigma: the std of the best of
    K), checked against subset enumeration below."""
    c = CASES["nonbinary_passthrough_K2"]
    r, index, theirs = case_inputs(c)
    other = (r != 0) & (r != 1)
    assert other.any() and np.array_equal(theirs[other], r[other])
    ours = pt.analytic_advantage(r, index, c["K"])
    for idx in groups_of(r, index).values():
        np.testing.assert_allclose(ours[idx], brute_advantage(r[idx].tolist(), c["K"]),
                                   rtol=1e-12, atol=1e-12)


# ---- the torch signature ------------------------------------------------------------------------

@pytest.mark.parametrize("name", BINARY)
def test_compute_advantage_signature_and_parity(name):
    torch = pytest.importorskip("torch")
    c = CASES[name]
    tlr, mask, index, theirs = token_level(torch, c)
    adv, ret = pt.compute_advantage(tlr, mask, index, c["K"])
    assert adv is ret and adv.dtype == tlr.dtype and adv.shape == tlr.shape
    want = torch.from_numpy(theirs).unsqueeze(-1) * mask
    torch.testing.assert_close(adv, want, rtol=RTOL, atol=ATOL)
    if tlr.dtype == torch.float32:
        assert torch.equal(adv, want)


def test_live_parity_with_their_function():
    mod = their_module()
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    worst, count = 0.0, 0
    for n, K, G in ((2, 1, 6), (4, 2, 30), (5, 5, 12), (8, 3, 40), (12, 6, 50), (16, 4, 60),
                    (24, 12, 60), (32, 8, 40)):
        for dtype in (torch.float32, torch.float64):
            r = (rng.random((G, n)) < rng.random((G, 1))).astype(np.float64).reshape(-1)
            perm = rng.permutation(r.size)
            uids = np.array(["p%d" % (i // n) for i in range(r.size)], dtype=object)[perm]
            tlr = torch.zeros((r.size, 3), dtype=dtype)
            tlr[:, 1] = torch.from_numpy(r[perm])
            mask = torch.ones_like(tlr)
            with contextlib.redirect_stdout(io.StringIO()):
                theirs, _ = mod.compute_advantage(tlr.clone(), mask, uids, K)
            ours, _ = pt.compute_advantage(tlr, mask, uids, K)
            torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=ATOL)
            t = theirs[:, 0].double()
            nz = t != 0
            if nz.any():
                worst = max(worst, ((ours[:, 0].double() - t).abs()[nz] / t.abs()[nz]).max().item())
            count += r.size
    print("live parity: %d values, max relative difference %.3g" % (count, worst))


def their_module():
    path = os.environ.get("PASSK_TRAINING_ADV")
    if path:
        import importlib.util

        spec = importlib.util.spec_from_file_location("passk_adv", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return pytest.importorskip("passk_adv", reason="Passk_Training's passk_adv.py not importable "
                               "(set PASSK_TRAINING_ADV to its path)")


# ---- sigma: the std of the best of k, exactly ----------------------------------------------------

def brute_std(g, k):
    """The standard deviation of max(S) over the k-subsets S of g, in rational arithmetic (the
    square root taken last, in float)."""
    vals = [max(S) for S in combinations([Fraction(v) for v in g], k)]
    mean = sum(vals) / len(vals)
    return math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))


def brute_advantage(g, K, epsilon=1e-6):
    """((n/k) s_i - rho)/(sigma + epsilon) from subset enumeration: s and rho from oracle.py."""
    n = len(g)
    k = min(K, n)
    outs, rhos = oracle.transform([list(g)], k, "s")
    sigma = brute_std(g, k)
    if sigma == 0:
        return [0.0] * n
    return [float(Fraction(n, k) * s - rhos[0]) / (sigma + epsilon) for s in outs[0]]


def test_max_weights():
    for n in range(1, 31):
        for k in range(1, n + 1):
            mu = pt.max_weights(n, k)
            want = [Fraction(math.comb(i - 1, k - 1), math.comb(n, k)) for i in range(1, n + 1)]
            np.testing.assert_allclose(mu, [float(w) for w in want], rtol=4e-15, atol=0)
            assert abs(mu.sum() - 1) < 1e-14
    mu = pt.max_weights(4096, 2048)  # C(4096, 2048) overflows float64; the ratios do not
    assert np.isfinite(mu).all() and abs(mu.sum() - 1) < 1e-12 and mu[-1] == 0.5
    with pytest.raises(ValueError):
        pt.max_weights(3, 4)


def test_best_of_k_std_against_subset_enumeration():
    rng = np.random.default_rng(8)
    groups = [rng.normal(size=n) for n in range(1, 8)] + \
             [np.round(rng.normal(size=n)) for n in (5, 6, 7)] + \
             [rng.integers(0, 2, size=n).astype(float) for n in (2, 5, 7, 7)] + \
             [np.full(4, 0.3), np.array([1.0, 1.0, 1.0, 0.0, 0.0])]
    codes = np.concatenate([[i] * g.size for i, g in enumerate(groups)])
    flat = np.concatenate(groups)
    perm = rng.permutation(flat.size)
    for k in range(1, 8):
        sigma, sizes = pt.best_of_k_std(flat[perm], codes[perm], len(groups), k)
        assert sizes.tolist() == [g.size for g in groups]
        for gi, g in enumerate(groups):
            want = brute_std(g.tolist(), min(k, g.size))
            assert abs(sigma[gi] - want) <= 1e-14 * max(1.0, want), (gi, k, sigma[gi], want)
            if want == 0:
                assert sigma[gi] == 0.0  # exactly: degenerate best of k


def test_best_of_k_std_large_binary_group():
    """n = 4096: sigma = sqrt(rho (1 - rho)) with rho = 1 - C(n-c, k)/C(n, k) exact."""
    n = 4096
    for c, k in ((50, 100), (4000, 2), (1, 4096), (2048, 17)):
        g = np.zeros(n)
        g[:c] = 1.0
        sigma, _ = pt.best_of_k_std(g, np.zeros(n, np.int64), 1, k)
        rho = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        want = math.sqrt(rho * (1 - rho))
        assert abs(sigma[0] - want) <= 1e-12 * max(want, 1e-300), (c, k, sigma[0], want)


def test_best_of_k_std_nonfinite_and_empty_groups():
    v = np.array([1.0, np.nan, 0.0, np.inf, 2.0, 0.5])
    codes = np.array([0, 0, 0, 1, 2, 2])
    sigma, sizes = pt.best_of_k_std(v, codes, 4, 1)
    assert sizes.tolist() == [2, 0, 2, 0]
    np.testing.assert_allclose(sigma, [0.5, 0.0, 0.75, 0.0], rtol=1e-15)


# ---- the advantage for any rewards, layouts, devices ---------------------------------------------

@pytest.mark.parametrize("K", [1, 2, 3, 5, 9])
def test_advantage_against_brute_force(K):
    rng = np.random.default_rng(K)
    sizes = [1, 2, 3, 5, 6, 7, 7]
    groups = [np.round(rng.normal(size=n) * 2) / 2 for n in sizes]
    groups[2] = np.full(3, -0.5)  # constant: 0
    ids = np.concatenate([["uid-%d" % i] * n for i, n in enumerate(sizes)]).astype(object)
    flat = np.concatenate(groups)
    perm = rng.permutation(flat.size)
    ours = pt.analytic_advantage(flat[perm], ids[perm], K)
    want = np.concatenate([brute_advantage(g.tolist(), K) for g in groups])[perm]
    np.testing.assert_allclose(ours, want, rtol=1e-12, atol=1e-12)
    # the same with integer ids and with a list of strings
    int_ids = np.array([int(u.split("-")[1]) * 11 - 5 for u in ids[perm]])
    np.testing.assert_array_equal(pt.analytic_advantage(flat[perm], int_ids, K), ours)
    np.testing.assert_array_equal(pt.analytic_advantage(flat[perm], list(ids[perm]), K), ours)


def test_binary_equals_pkpo_s_form():
    """On binary rewards their advantage is (n/K)(s - mean(s))/(sqrt(rho (1 - rho)) + 1e-6)
    with pkpo's s: the baseline is the group mean, which includes the answer itself."""
    import pkpo

    rng = np.random.default_rng(3)
    for n, K in ((8, 3), (16, 8), (5, 1)):
        g = (rng.random((20, n)) < rng.random((20, 1))).astype(float)
        s = pkpo.transform(g, k=K, estimator="s")
        rho = pkpo.rho_curve(g, ks=[K])[0]
        sigma = np.sqrt(np.clip(rho * (1 - rho), 0, None))
        want = np.where(sigma > 0, (n / K) * (s - s.mean(axis=1, keepdims=True)) / (sigma + 1e-6),
                        0)
        ids = np.repeat(np.arange(20), n)
        ours = pt.analytic_advantage(g.reshape(-1), ids, K).reshape(20, n)
        np.testing.assert_allclose(ours, want, rtol=1e-9, atol=1e-12)


def test_nonfinite_empty_and_errors():
    r = np.array([1.0, np.nan, 0.0, 1.0, 0.25, np.inf])
    ids = ["a", "a", "a", "a", "b", "b"]
    out = pt.analytic_advantage(r, ids, 2)
    assert out[1] == 0 and out[5] == 0 and out[4] == 0  # excluded; b is a singleton now
    np.testing.assert_allclose(out[[0, 2, 3]], brute_advantage([1.0, 0.0, 1.0], 2), rtol=1e-12)
    assert pt.analytic_advantage(np.zeros(0), [], 3).shape == (0,)
    assert pt.analytic_advantage(np.array([1, 0, 1]), [0, 0, 0], 2).dtype == np.float64
    with pytest.raises(ValueError, match="1-D"):
        pt.analytic_advantage(np.zeros((2, 3)), [0, 0], 2)
    with pytest.raises(ValueError, match="entries"):
        pt.analytic_advantage(np.zeros(3), [0, 0], 2)
    import pkpo
    with pytest.raises(pkpo.PkpoError, match="INVALID_K"):
        pt.analytic_advantage(np.zeros(3), [0, 0, 0], 0)


def test_torch_layouts_and_epsilon():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    r = np.round(rng.normal(size=24), 1)
    ids = np.repeat(np.arange(6), 4)[rng.permutation(24)]
    want = pt.analytic_advantage(r, ids, 3, epsilon=0.01)
    for index in (ids, torch.from_numpy(ids), [str(i) for i in ids]):
        got = pt.analytic_advantage(torch.from_numpy(r), index, 3, epsilon=0.01)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
        np.testing.assert_array_equal(got.numpy(), want)
    tlr = torch.zeros(24, 4, dtype=torch.bfloat16)
    tlr[:, 0] = torch.from_numpy(r).to(torch.bfloat16)
    mask = torch.ones(24, 4, dtype=torch.bool)
    adv, _ = pt.compute_advantage(tlr, mask, ids, 3)
    assert adv.dtype == torch.bfloat16 and adv.shape == (24, 4)
    assert pt.compute_advantage(tlr[:0], mask[:0], ids[:0], 3)[0].shape == (0, 4)


def test_cuda_tensors_match_cpu():
    torch = pytest.importorskip("torch")
    import pkpo

    if not (torch.cuda.is_available() and pkpo.cuda_available()):
        pytest.skip("needs a CUDA GPU and a CUDA build of pkpo")
    c = CASES["binary_n16_K8"]
    tlr, mask, index, theirs = token_level(torch, c)
    adv, _ = pt.compute_advantage(tlr.cuda(), mask.cuda(), index, c["K"])
    assert adv.device.type == "cuda"
    torch.testing.assert_close(adv.cpu(), torch.from_numpy(theirs).unsqueeze(-1) * mask,
                               rtol=RTOL, atol=ATOL)
    ids = torch.as_tensor(np.unique(index, return_inverse=True)[1]).cuda()
    adv2, _ = pt.compute_advantage(tlr.cuda(), mask.cuda(), ids, c["K"])
    torch.testing.assert_close(adv2, adv)


def test_numerator_expectation_is_scaled_pass_at_k_gradient():
    """docs/trainers.md: the numerator (n/K) s_i - rho subtracts a baseline (the group mean of
    (n/K) s) that includes the answer itself; in expectation it is (n/K - 1) times the pass@K
    gradient (0 at K = n). Bernoulli(p) policy with logit theta, all 2^8 outcomes, exactly."""
    import pkpo

    n = 8
    ys = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    c = ys.sum(axis=1)
    for p in (0.1, 0.5, 0.8):
        prob = p ** c * (1 - p) ** (n - c)
        score = np.where(ys == 1, 1 - p, -p)
        for K in (1, 2, 4, 8):
            s = pkpo.transform(ys, k=K, estimator="s")
            rho = pkpo.rho_curve(ys, ks=[K])[0]
            got = np.sum(prob * np.sum(((n / K) * s - rho) * score, axis=1))
            grad = K * (1 - p) ** (K - 1) * p * (1 - p)  # d/dtheta of 1 - (1-p)^K
            assert abs(got - (n / K - 1) * grad) <= 1e-13 * grad, (p, K, got, grad)
