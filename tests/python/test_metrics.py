"""pkpo.metrics: pass@k dicts from rho_curve against exact binomials and the subset oracle, and the
bootstrapped best@N against verl's bootstrap_metric (committed fixture, numbers verl produced)."""

import json
import math
import os

import numpy as np
import pytest

from pkpo import metrics
import oracle


def brute(g, k, estimator):
    """One group's exact values from the subset oracle (tests/python/oracle.py), as floats."""
    outs, rhos = oracle.transform([[float(v) for v in g]], k,
                                  "s" if estimator == "rho" else estimator)
    return float(rhos[0]) if estimator == "rho" else [float(v) for v in outs[0]]


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
with open(os.path.join(FIXTURES, "verl_passk.json")) as f:
    VERL_BOOTSTRAP = json.load(f)["bootstrap"]


def binary_batch(seed):
    """uid strings in shuffled order, groups of 1..16, some NaN (excluded from their group)."""
    rng = np.random.default_rng(seed)
    sizes = [1, 2, 3, 4, 5, 8, 8, 16, 16, 11]
    ids, r = [], []
    for g, n in enumerate(sizes):
        p = rng.random()
        ids += ["prompt-%d" % g] * n
        r += list((rng.random(n) < p).astype(float))
    perm = rng.permutation(len(r))
    r = np.array(r)[perm]
    ids = [ids[i] for i in perm]
    r[rng.random(r.size) < 0.05] = np.nan
    return r, ids


def exact_pass_at_k(r, ids, k):
    vals = []
    for g in dict.fromkeys(ids):
        v = r[[i for i, x in enumerate(ids) if x == g]]
        v = v[np.isfinite(v)]
        n, c = v.size, int(v.sum())
        if n >= k:
            vals.append(1 - math.comb(n - c, k) / math.comb(n, k))
    return vals


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pass_at_k_binary_exact(seed):
    r, ids = binary_batch(seed)
    res = metrics.pass_at_k(r, ids)
    n_max = max(np.isfinite(r[[i for i, x in enumerate(ids) if x == g]]).sum() for g in set(ids))
    ks = metrics.default_ks(int(n_max))
    assert [key for key in res if "/" not in key] == ["pass@%d" % k for k in ks]
    for k in ks:
        vals = exact_pass_at_k(r, ids, k)
        assert res["pass@%d/groups" % k] == len(vals)
        assert abs(res["pass@%d" % k] - np.mean(vals)) <= 1e-12
    assert abs(res["pass@1"] - np.mean([np.nanmean(r[[i for i, x in enumerate(ids) if x == g]])
                                        for g in dict.fromkeys(ids)
                                        if np.isfinite(r[[i for i, x in enumerate(ids)
                                                          if x == g]]).any()])) <= 1e-12


def test_pass_at_k_continuous_2d_against_oracle():
    rng = np.random.default_rng(4)
    r = rng.normal(size=(6, 7))
    res = metrics.pass_at_k(r, ks=[1, 3, 7], prefix="maxg")
    for k in (1, 3, 7):
        expected = np.mean([brute(row.tolist(), k, "rho") for row in r])
        assert abs(res["maxg@%d" % k] - expected) <= 1e-12
        assert res["maxg@%d/groups" % k] == 6
    assert metrics.pass_at_k(r, ks=[8]) == {}  # no group can estimate pass@8 from 7 samples


def test_pass_at_k_torch_and_int_ids():
    torch = pytest.importorskip("torch")
    r, ids = binary_batch(7)
    codes = {g: i for i, g in enumerate(dict.fromkeys(ids))}
    int_ids = torch.tensor([codes[g] * 10 + 3 for g in ids])
    a = metrics.pass_at_k(torch.from_numpy(r).float(), int_ids, ks=[1, 2, 4])
    b = metrics.pass_at_k(r, ids, ks=[1, 2, 4])
    assert a.keys() == b.keys()
    for key in a:
        assert abs(a[key] - b[key]) <= 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_pass_hat_k_binary_exact(seed):
    """pass^k = C(c, k)/C(n, k) per group (all k correct), averaged over groups with n >= k."""
    r, ids = binary_batch(seed)
    res = metrics.pass_hat_k(r, ids, ks=[1, 2, 4, 8])
    assert res == metrics.pass_at_k(r, ids, ks=[1, 2, 4, 8], statistic="min")
    assert [key for key in res if "/" not in key] == ["pass^1", "pass^2", "pass^4", "pass^8"]
    for k in (1, 2, 4, 8):
        vals = []
        for g in dict.fromkeys(ids):
            v = r[[i for i, x in enumerate(ids) if x == g]]
            v = v[np.isfinite(v)]
            if v.size >= k:
                vals.append(math.comb(int(v.sum()), k) / math.comb(v.size, k))
        assert res["pass^%d/groups" % k] == len(vals)
        assert abs(res["pass^%d" % k] - np.mean(vals)) <= 1e-12
    assert abs(res["pass^1"] - metrics.pass_at_k(r, ids, ks=[1])["pass@1"]) <= 1e-15
    # the expected worst of k for continuous rewards, against the subset oracle
    g = np.random.default_rng(seed).normal(size=(4, 6))
    res = metrics.pass_hat_k(g, ks=[3], prefix="ming")
    want = np.mean([-brute((-row).tolist(), 3, "rho") for row in g])
    assert abs(res["ming^3"] - want) <= 1e-12
    with pytest.raises(ValueError, match="unknown statistic"):
        metrics.pass_at_k(g, statistic="mean")


def test_default_ks():
    assert metrics.default_ks(1) == [1]
    assert metrics.default_ks(2) == [1, 2]
    assert metrics.default_ks(16) == [1, 2, 4, 8, 16]
    assert metrics.default_ks(12) == [1, 2, 4, 8, 12]


@pytest.mark.parametrize("case", VERL_BOOTSTRAP, ids=[str(len(c["data"])) for c in VERL_BOOTSTRAP])
def test_best_at_n_bootstrap_equals_verl(case):
    data = np.array(case["data"])
    res = metrics.best_at_n_bootstrap(data[None, :], n_bootstrap=case["n_bootstrap"],
                                      seed=case["seed"], with_worst=True)
    assert res == case["metrics"]  # bit for bit, and the same N values (verl's gen_ns)


def test_best_at_n_bootstrap_averages_groups_and_converges():
    rng = np.random.default_rng(12)
    r = (rng.random((3, 8)) < np.array([[0.1], [0.4], [0.8]])).astype(float)
    both = metrics.best_at_n_bootstrap(r, ns=[4])
    singles = [metrics.best_at_n_bootstrap(row[None, :], ns=[4]) for row in r]
    assert both["best@4/mean"] == pytest.approx(np.mean([s["best@4/mean"] for s in singles]),
                                                abs=1e-15)
    big = metrics.best_at_n_bootstrap(r, ns=[2, 8], n_bootstrap=200000, seed=1)
    exact = metrics.best_at_n_expected(r, ns=[2, 8])
    for N in (2, 8):  # Monte Carlo error of a mean of 3 x 200000 bounded draws: < 3e-3
        assert abs(big["best@%d/mean" % N] - exact["best@%d/expected" % N]) < 3e-3
    # With replacement, best@n of a binary group with c of n correct is 1 - (1 - c/n)^n,
    # below the unbiased pass@n, which is 1 whenever c >= 1.
    c = r.sum(axis=1)
    n = r.shape[1]
    expected = np.mean(1 - (1 - c / n) ** n)
    assert exact["best@8/expected"] == pytest.approx(expected, abs=1e-12)
    assert metrics.pass_at_k(r, ks=[8])["pass@8"] == pytest.approx(np.mean(c >= 1), abs=1e-12)
    assert exact["best@8/expected"] < metrics.pass_at_k(r, ks=[8])["pass@8"]


def test_metrics_errors():
    with pytest.raises(ValueError):
        metrics.pass_at_k(np.zeros(4))  # 1-D needs group ids
    with pytest.raises(ValueError):
        metrics.best_at_n_bootstrap(np.zeros(4), ["a", "b"])
