"""Exact oracle for the Python tests: every estimator from its definition (an average over
k-subsets, docs/math.md section 2), in rational arithmetic. Never calls pkpo.

Objectives beyond one k (docs/math.md section 5) from their definitions too: a mixture is
sum_j w_j E_{k_j}(g), each term by subset enumeration at its own (clamped) k; the min statistic is
-E(-g), rho_min(g) = -rho(-g)."""

from fractions import Fraction
from itertools import combinations
from math import comb, isfinite


def _u(values, k):
    """U_k(X): the mean over all k-subsets of X of their maximum."""
    subsets = list(combinations(values, k))
    return Fraction(sum(max(s) for s in subsets), len(subsets))


def _group(g, k, estimator):
    n = len(g)
    if n == 0:
        return [], Fraction(0)
    k = min(k, n)
    if n == 1:
        return ([g[0]] if estimator == "s" else [Fraction(0)]), g[0]
    rho = _u(g, k)
    idx = range(n)

    def s(i):
        tot = sum(max(g[j] for j in S) for S in combinations(idx, k) if i in S)
        return Fraction(tot, comb(n, k))

    def without(i):
        return [g[j] for j in idx if j != i]

    if estimator == "s":
        return [s(i) for i in idx], rho
    if estimator == "sloo":
        if k == n:
            return [s(i) for i in idx], rho
        return [s(i) - Fraction(k, n - 1) * _u(without(i), k) for i in idx], rho
    if estimator == "l2o" and k < n or estimator == "sloo_minus_one" and k == 1:
        return [s(i) - Fraction(k, n) * _u(without(i), k) for i in idx], rho
    # sloo_minus_one (and l2o's fallback at k = n)
    out = []
    for i in idx:
        tot = 0
        for S in combinations(idx, k):
            if i in S:
                tot += max(g[j] for j in S) - max(g[j] for j in S if j != i)
        out.append(Fraction(tot, comb(n, k)))
    return out, rho


def _objective(finite, k, estimator, weights, statistic):
    """One group's (outputs, rho) under a single k (weights None) or the mixture sum_j
    weights[j] * E_{k[j]}, for statistic "max" or "min" (-E(-g))."""
    sign = -1 if statistic == "min" else 1
    g = [sign * v for v in finite]
    if weights is None:
        vals, rho = _group(g, k, estimator)
    else:
        vals, rho = [Fraction(0)] * len(g), Fraction(0)
        for kj, wj in zip(k, weights):
            vj, rj = _group(g, kj, estimator)
            vals = [a + Fraction(wj) * b for a, b in zip(vals, vj)]
            rho += Fraction(wj) * rj
    return [sign * v for v in vals], sign * rho


def transform(groups, k, estimator, weights=None, statistic="max"):
    """groups: lists of float rewards (NaN/Inf are excluded: output 0). k: int or one per group;
    with weights, the mixture's terms (one weight per term, floats or Fractions, exact).
    statistic: "max" or "min". Returns (outputs per group as Fractions, rho per group)."""
    outs, rhos = [], []
    for gi, g in enumerate(groups):
        kk = k[gi] if weights is None and isinstance(k, (list, tuple)) else k
        finite = [Fraction(v) for v in g if isfinite(v)]
        vals, rho = _objective(finite, kk, estimator, weights, statistic)
        it = iter(vals)
        outs.append([next(it) if isfinite(v) else Fraction(0) for v in g])
        rhos.append(rho)
    return outs, rhos


def rho_curve(groups, ks, statistic="max"):
    return [[_objective([Fraction(v) for v in g if isfinite(v)], k, "s", None, statistic)[1]
             for k in ks] for g in groups]


def scale(g, k, estimator, weights=None):
    """The error scale of docs/math.md section 4 for one group; for a mixture the weighted sum
    of its terms' scales, sum_j |w_j| scale(k_j). The same under either statistic."""
    if weights is not None:
        return sum(abs(float(w)) * scale(g, kj, estimator) for kj, w in zip(k, weights)) or 1.0
    f = [v for v in g if isfinite(v)]
    if not f:
        return 1.0
    n = len(f)
    k = min(k, n)
    if estimator in ("sloo_minus_one", "l2o"):
        s = k / n * (max(f) - min(f))
    elif estimator == "rho":
        s = max(abs(v) for v in f)
    else:
        s = k / n * max(abs(v) for v in f)
    return s if s > 0 else 1.0
