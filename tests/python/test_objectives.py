"""Objectives beyond one k through pkpo.transform / pkpo.rho_curve on the CPU backend: mixtures
over k (k=[...], k_weights=[...]), the min statistic (pass^k), the presets pkpo.mixture.harmonic
and uniform, against the exact rational oracle (oracle.py: sum_j w_j E_{k_j}(g) and -E(-g) by
subset enumeration), for every estimator x layout x dtype; and the exact identities that hold bit
for bit (a one-term mixture is plain k; min is -max(-g))."""

import zlib
from fractions import Fraction

import numpy as np
import pytest

import pkpo
import oracle

ESTIMATORS = ["s", "sloo", "sloo_minus_one", "l2o"]
TOL = {np.float64: 1e-12, np.float32: 4e-6, np.float16: 2e-3}

# (k terms, weights, statistic): single k under min, mixtures of every sign under either.
OBJECTIVES = {
    "min_k3": (3, None, "min"),
    "mix_max": ([1, 2, 4], [1.0, 0.5, 0.25], "max"),
    "mix_min": ([2, 3, 9], [0.75, -1.5, 2.0], "min"),  # 9 > n: that term clamps per group
    "mix_repeat_zero": ([2, 2, 1], [0.5, 0.5, 0.0], "max"),
}


def groups_of(rng, sizes, kind):
    """Rewards per group: ties (halves), a constant group, a binary group, negatives."""
    out = []
    for i, n in enumerate(sizes):
        if i == 0:
            g = np.full(n, 0.25)
        elif i == 1 or kind == "binary":
            g = rng.integers(0, 2, size=n).astype(float)
        else:
            g = np.round(rng.normal(size=n) * 2) / 2
        out.append(g)
    return out


def layout(name, rng, dtype):
    """(rewards argument, group_ids argument, groups as float lists, position -> (group, j))."""
    if name == "2d":
        groups = groups_of(rng, [6] * 5, "mixed")
        return (np.array(groups).astype(dtype), None, groups,
                [(g, j) for g in range(5) for j in range(6)])
    sizes = [6] * 4 if name == "ids" else [3, 1, 7, 5, 2, 6]
    groups = groups_of(rng, sizes, "mixed")
    if name == "ragged_nan":
        groups[3][1] = np.nan  # excluded from its group, output 0
        groups[5][4] = np.inf
    flat = [(gi, j) for gi, g in enumerate(groups) for j in range(len(g))]
    perm = rng.permutation(len(flat))
    pos = [flat[p] for p in perm]
    rewards = np.array([groups[g][j] for g, j in pos]).astype(dtype)
    if name == "ids":
        ids = np.array([7 * g - 3 for g, _ in pos])
    else:
        ids = np.array(["uid-%d" % g for g, _ in pos], dtype=object)
    return rewards, ids, groups, pos


def check_against_oracle(out, groups, pos, k, weights, statistic, estimator, dtype):
    exact, _ = oracle.transform([[float(v) for v in g] for g in groups], k, estimator,
                                weights=weights, statistic=statistic)
    flat_out = np.asarray(out, dtype=np.float64).reshape(-1)
    for p, (gi, j) in enumerate(pos):
        g = [float(v) for v in groups[gi]]
        if weights is None:
            sc = oracle.scale(g, k, estimator)
        else:
            sc = oracle.scale(g, k, estimator, weights)
        e = exact[gi][j]
        err = abs(Fraction(float(flat_out[p])) - e) / Fraction(sc)
        tol = TOL[dtype] + (0 if dtype is not np.float16 else 1e-3 * abs(float(e)) / sc)
        assert float(err) <= tol, (estimator, k, weights, statistic, gi, j, flat_out[p],
                                   float(e))


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
@pytest.mark.parametrize("layout_name", ["2d", "ids", "ragged_uids", "ragged_nan"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_against_oracle(estimator, dtype, layout_name, objective):
    k, weights, statistic = OBJECTIVES[objective]
    rng = np.random.default_rng(zlib.crc32(("%s/%s" % (layout_name, objective)).encode()))
    rewards, ids, groups, pos = layout(layout_name, rng, dtype)
    groups = [np.asarray(g, dtype=dtype).astype(np.float64) for g in groups]  # as pkpo sees them
    out = pkpo.transform(rewards, ids, k=k, k_weights=weights, statistic=statistic,
                         estimator=estimator)
    assert out.dtype == dtype and out.shape == rewards.shape
    check_against_oracle(out, groups, pos, k, weights, statistic, estimator, dtype)


def test_worked_examples_min():
    """docs/math.md §5 (SPEC): g = (1, 0, 0), k = 2, min: every pair holds a 0, so rho = 0 and
    s = 0; g = (1, 1, 0): rho_min = 1/3, s_min = (1/3, 1/3, 0)."""
    g = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    s = pkpo.transform(g, k=2, estimator="s", statistic="min")
    assert np.array_equal(s, [[0, 0, 0], [1 / 3, 1 / 3, 0]])
    curve, _ = pkpo.rho_curve(g, ks=[2], statistic="min")
    assert np.array_equal(curve[:, 0], [0.0, 1 / 3])


def test_one_term_mixture_is_plain_k_bitwise():
    rng = np.random.default_rng(11)
    g = np.round(rng.normal(size=(9, 7)) * 2) / 2
    g[0] = 1.0
    g[1, 3] = np.nan
    for dtype in (np.float64, np.float32):
        x = g.astype(dtype)
        for est in ESTIMATORS:
            for statistic in ("max", "min"):
                for nonfinite in ("exclude", "propagate"):
                    for k in range(1, 9):  # 8 > n = 7: clamped, as plain k
                        want = pkpo.transform(x, k=k, estimator=est, statistic=statistic,
                                              nonfinite=nonfinite)
                        got = pkpo.transform(x, k=[k], k_weights=[1.0], estimator=est,
                                             statistic=statistic, nonfinite=nonfinite)
                        assert bitwise_equal(got, want), (dtype, est, statistic, nonfinite, k)


def bitwise_equal(a, b):
    """Equal bit patterns where not NaN; NaN at the same positions (any payload or sign)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    na, nb = np.isnan(a), np.isnan(b)
    u = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    return bool(np.array_equal(na, nb) and np.array_equal(a[~na].view(u), b[~nb].view(u)))


def test_bitwise_equal_can_fail():
    assert not bitwise_equal(np.array([0.0]), np.array([-0.0]))
    assert not bitwise_equal(np.array([np.nan, 1.0]), np.array([1.0, np.nan]))
    assert bitwise_equal(np.array([np.nan, -0.0]), np.array([-np.nan, -0.0]))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_min_is_minus_max_of_minus_g_bitwise(estimator):
    rng = np.random.default_rng(12)
    g = np.round(rng.normal(size=(8, 6)) * 4) / 4
    g[0] = 0.0       # a constant group (zeros become -0.0)
    g[1, :3] = 1.0   # a tied maximum
    g[2, 2] = np.nan
    g[3, 5] = -np.inf
    ids = np.repeat(["a", "b", "c", "d", "e", "f", "g", "h"], 6)
    perm = rng.permutation(g.size)
    for dtype in (np.float64, np.float32):
        x = g.astype(dtype)
        for nonfinite in ("exclude", "propagate"):
            for k, w in ((1, None), (3, None), (6, None), (9, None), ([1, 3, 6], [1.0, -0.5, 2.0])):
                kw = dict(k=k, k_weights=w, estimator=estimator, nonfinite=nonfinite)
                mn = pkpo.transform(x, statistic="min", **kw)
                assert bitwise_equal(mn, -pkpo.transform(-x, **kw)), (dtype, nonfinite, k)
                flat = x.reshape(-1)[perm]
                mn1 = pkpo.transform(flat, ids[perm], statistic="min", **kw)
                assert bitwise_equal(mn1, -pkpo.transform(-flat, ids[perm], **kw))
            c_min, _ = pkpo.rho_curve(x, ks=[1, 2, 5, 6, 8], statistic="min",
                                      nonfinite=nonfinite)
            c_max, _ = pkpo.rho_curve(-x, ks=[1, 2, 5, 6, 8], nonfinite=nonfinite)
            assert bitwise_equal(c_min, -c_max)


def test_min_rules():
    """Under min, sloo_minus_one is never positive for k >= 2 (at k = 1 it takes l2o's centred
    value, under either statistic), l2o still sums to 0 per group, tied samples stay bitwise
    equal."""
    rng = np.random.default_rng(13)
    g = rng.integers(0, 4, size=(40, 9)).astype(np.float64)
    for k in (1, 2, 5, 9):
        smo = pkpo.transform(g, k=k, statistic="min")
        assert (smo <= 0).all() == (k >= 2)
        l2o = pkpo.transform(g, k=k, estimator="l2o", statistic="min")
        if k < 9:
            assert np.abs(l2o.sum(axis=1)).max() < 1e-14
        for est in ESTIMATORS:
            out = pkpo.transform(g, k=k, estimator=est, statistic="min")
            for row, o in zip(g, out):
                for v in np.unique(row):
                    assert len(set(o[row == v].tolist())) == 1


def test_linearity():
    rng = np.random.default_rng(14)
    g = rng.normal(size=(20, 8))
    for est in ESTIMATORS:
        for statistic in ("max", "min"):
            mix = pkpo.transform(g, k=[2, 5], k_weights=[0.3, -1.7], estimator=est,
                                 statistic=statistic)
            parts = (0.3 * pkpo.transform(g, k=2, estimator=est, statistic=statistic)
                     - 1.7 * pkpo.transform(g, k=5, estimator=est, statistic=statistic))
            assert np.allclose(mix, parts, rtol=0, atol=1e-12 * np.abs(g).max())


def test_presets():
    assert pkpo.mixture.harmonic(1) == ([1], [1.0])
    ks, w = pkpo.mixture.harmonic(4)
    assert ks == [1, 2, 3, 4] and w == [1.0, 0.5, 1 / 3, 0.25]
    assert pkpo.mixture.uniform(3) == ([1, 2, 3], [1.0, 1.0, 1.0])
    assert pkpo.mixture.harmonic(np.int64(2)) == ([1, 2], [1.0, 0.5])
    for bad, err in ((0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError),
                     ("4", TypeError)):
        with pytest.raises(err):
            pkpo.mixture.harmonic(bad)
        with pytest.raises(err):
            pkpo.mixture.uniform(bad)
    # the harmonic mixture through transform, against the oracle with exact 1/k weights; K = 8
    # above the sizes 3 and 5: every term k_j > n follows the k policy (clamp) on its own
    rng = np.random.default_rng(15)
    groups = [rng.integers(0, 2, size=n).astype(float) for n in (8, 3, 5)]
    ids = np.repeat(np.arange(3), [8, 3, 5])
    flat = np.concatenate(groups)
    ks, w = pkpo.mixture.harmonic(8)
    for statistic in ("max", "min"):
        for est in ESTIMATORS:
            out = pkpo.transform(flat, ids, k=ks, k_weights=w, estimator=est, statistic=statistic)
            exact, _ = oracle.transform([list(g) for g in groups], ks, est,
                                        weights=[Fraction(1, k) for k in ks], statistic=statistic)
            want = np.array([float(v) for e in exact for v in e])
            assert np.allclose(out, want, rtol=0, atol=1e-12), (statistic, est)
    ku, wu = pkpo.mixture.uniform(5)
    out = pkpo.transform(flat, ids, k=ku, k_weights=wu)
    want = sum(pkpo.transform(flat, ids, k=k) for k in ku)
    assert np.allclose(out, want, rtol=0, atol=1e-12)


def test_rho_curve_min_is_pass_hat_k():
    """Binary rewards: pass^k = C(c, k) / C(n, k) exactly (all k of a k-subset correct)."""
    from math import comb

    rng = np.random.default_rng(16)
    sizes = [4, 1, 6, 3, 8]
    groups = [rng.integers(0, 2, size=s).astype(float) for s in sizes]
    ids = [u for u, s in zip("vwxyz", sizes) for _ in range(s)]
    flat = np.concatenate(groups)
    ks = [1, 2, 3, 8]
    curve, labels = pkpo.rho_curve(flat, ids, ks=ks, statistic="min")
    assert labels == list("vwxyz")
    for gi, g in enumerate(groups):
        n, c = g.size, int(g.sum())
        for j, k in enumerate(ks):
            kk = min(k, n)
            assert abs(curve[gi, j] - comb(c, kk) / comb(n, kk)) <= 1e-15, (gi, k)
    exact = oracle.rho_curve([list(g) for g in groups], ks, statistic="min")
    assert np.allclose(curve, np.array(exact, dtype=float), rtol=0, atol=1e-15)
    g = np.round(rng.normal(size=(5, 7)), 1)  # continuous: the expected worst of k
    exact = oracle.rho_curve([list(r) for r in g], [1, 3, 7], statistic="min")
    c32, _ = pkpo.rho_curve(g.astype(np.float32), ks=[1, 3, 7], statistic="min")
    assert c32.dtype == np.float32
    assert np.allclose(c32, np.array(exact, dtype=float), rtol=0, atol=4e-6 * np.abs(g).max())


def test_min_with_per_group_k():
    rng = np.random.default_rng(17)
    g = rng.normal(size=(4, 5))
    ks = [1, 3, 5, 7]
    out = pkpo.transform(g, k=ks, statistic="min", estimator="l2o")
    exact, _ = oracle.transform([list(r) for r in g], ks, "l2o", statistic="min")
    assert np.allclose(out, np.array(exact, dtype=float), rtol=0, atol=1e-12)


def test_mixture_argument_forms():
    g = np.array([[0.5, 0.0, 1.0, 0.25, 0.75], [1.0, 0.0, 0.0, 1.0, 0.5]])
    want = pkpo.transform(g, k=[1, 3], k_weights=[2.0, 0.5])
    for k, w in ((np.array([1, 3]), np.array([2.0, 0.5])), ((1, 3), (2, 0.5)),
                 (np.array([1, 3], dtype=np.int32), np.array([2.0, 0.5], dtype=np.float32)),
                 ([np.int64(1), np.int64(3)], [np.float64(2.0), 0.5])):
        assert np.array_equal(pkpo.transform(g, k=k, k_weights=w), want)
    # a scalar k with a scalar weight is a one-term mixture
    assert np.array_equal(pkpo.transform(g, k=2, k_weights=0.5), 0.5 * pkpo.transform(g, k=2))
    ids = ["a", "b", "a", "b", "a", "c", "c", "c", "b", "a"]
    out = pkpo.transform(g.reshape(-1), ids, k=[1, 3], k_weights=[2.0, 0.5],
                         response_mask=np.ones((10, 2)))
    assert out.shape == (10, 2)


def test_mixture_errors():
    g = np.array([[0.5, 0.0, 1.0], [1.0, 0.0, 0.5]])
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(g, k=[2, 0], k_weights=[1.0, 1.0])
    assert e.value.status_name == "PKPO_ERROR_INVALID_K" and "k_terms[1]" in e.value.message
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(pkpo.PkpoError) as e:
            pkpo.transform(g, k=[1, 2], k_weights=[bad, 1.0])
        assert e.value.status_name == "PKPO_ERROR_INVALID_ARGUMENT"
        assert "k_weights[0]" in e.value.message
    with pytest.raises(pkpo.PkpoError) as e:
        pkpo.transform(g, k=[1, 4], k_weights=[1.0, 1.0], k_policy="strict")
    assert e.value.status_name == "PKPO_ERROR_K_EXCEEDS_N"
    with pytest.raises(ValueError, match="one weight per k"):
        pkpo.transform(g, k=[1, 2], k_weights=[1.0])
    with pytest.raises(ValueError, match="no terms"):
        pkpo.transform(g, k=[], k_weights=[])
    for k, w in (([1.5, 2], [1, 1]), ([True, False], [1, 1]), (2.0, 1.0)):
        with pytest.raises(TypeError, match="k"):
            pkpo.transform(g, k=k, k_weights=w)
    for w in ([1j, 1.0], [True, False], ["a", "b"], True):
        with pytest.raises(TypeError, match="k_weights"):
            pkpo.transform(g, k=[1, 2], k_weights=w)
    with pytest.raises(ValueError, match="unknown statistic"):
        pkpo.transform(g, k=2, statistic="mean")
    with pytest.raises(ValueError, match="unknown statistic"):
        pkpo.rho_curve(g, ks=[2], statistic="median")
    with pytest.raises(TypeError, match="statistic"):
        pkpo.transform(g, k=2, statistic=1)
    # a bad term is found before the ids are grouped
    with pytest.raises(ValueError, match="one weight per k"):
        pkpo.transform(np.zeros(4), ["a", "b", "a", "b"], k=[1, 2], k_weights=[1.0])


def test_jax_mixture_and_min():
    jnp = pytest.importorskip("jax.numpy")
    g = np.array([[0.5, 0.0, 1.0, 0.25, 0.75], [1.0, 0.0, 0.0, 1.0, 0.5]], dtype=np.float32)
    x = jnp.asarray(g)
    ks, w = pkpo.mixture.harmonic(3)
    y = pkpo.transform(x, k=ks, k_weights=w, statistic="min")
    assert type(y) is type(x) and y.dtype == np.float32
    assert np.array_equal(np.asarray(y), pkpo.transform(g, k=ks, k_weights=w, statistic="min"))
    curve, _ = pkpo.rho_curve(x, ks=[1, 5], statistic="min")
    assert type(curve) is type(x)
    assert np.allclose(np.asarray(curve), [[0.5, 0.0], [0.5, 0.0]])


@pytest.mark.parametrize("p", [0.1, 0.37, 0.8])
def test_mixture_and_min_gradients_are_unbiased(p):
    """A Bernoulli(p) policy with logit theta, n samples: the expected policy gradient
    E[sum_i A_i d/dtheta log pi(y_i)], summed exactly over all 2^n outcomes, equals the gradient of
    the objective for every estimator: the harmonic mixture J_K = sum_{k<=K} (1/k) pass@k
    (d/dtheta = p(1-p) sum_{k<=K} (1-p)^(k-1)) at K = n and K = n - 1, and a mixture under min
    (pass^k = p^k). MaxRL's (1/n)(r - mean)/mean, zero when the mean is 0, has the expectation of
    J_{n-1}'s gradient, not J_n's: its control variate (1/n) sum_i d log pi(y_i) has expectation
    0 only while all-failure groups keep it, and zeroing them removes p (1-p)^n."""
    n = 8
    ys = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.float64)  # every outcome
    c = ys.sum(axis=1)
    prob = p ** c * (1 - p) ** (n - c)
    score = np.where(ys == 1, 1 - p, -p)  # d/dtheta log pi(y_i)
    dp = p * (1 - p)

    def expected_gradient(adv):
        return float(np.sum(prob * np.sum(adv * score, axis=1)))

    for K in (n, n - 1):
        ks, w = pkpo.mixture.harmonic(K)
        want = dp * sum((1 - p) ** (k - 1) for k in ks)
        for est in ESTIMATORS:
            got = expected_gradient(pkpo.transform(ys, k=ks, k_weights=w, estimator=est))
            assert abs(got - want) <= 1e-13 * abs(want), (K, est, got, want)
    mean = ys.mean(axis=1, keepdims=True)
    maxrl = np.where(mean > 0, (ys - mean) / np.where(mean > 0, mean, 1), 0) / n
    assert abs(expected_gradient(maxrl) - want) <= 1e-13 * abs(want)  # J_{n-1}
    assert abs(expected_gradient(maxrl) - (want + dp * (1 - p) ** (n - 1))) > 1e-7  # not J_n
    ks, w = [1, 3, 8], [0.5, 2.0, -1.0]
    want = dp * sum(wj * kj * p ** (kj - 1) for kj, wj in zip(ks, w))
    for est in ESTIMATORS:
        got = expected_gradient(pkpo.transform(ys, k=ks, k_weights=w, estimator=est,
                                               statistic="min"))
        assert abs(got - want) <= 1e-13 * abs(want), (est, got, want)
