"""Exact oracle for the Python tests: every estimator from its definition (an average over
k-subsets, docs/math.md section 2), in rational arithmetic. Never calls pkpo."""

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


def transform(groups, k, estimator):
    """groups: lists of float rewards (NaN/Inf are excluded: output 0). k: int or one per group.
    Returns (outputs per group as Fractions or None for excluded samples, rho per group)."""
    outs, rhos = [], []
    for gi, g in enumerate(groups):
        kk = k[gi] if isinstance(k, (list, tuple)) else k
        finite = [Fraction(v) for v in g if isfinite(v)]
        vals, rho = _group(finite, kk, estimator)
        it = iter(vals)
        outs.append([next(it) if isfinite(v) else Fraction(0) for v in g])
        rhos.append(rho)
    return outs, rhos


def rho_curve(groups, ks):
    return [[_group([Fraction(v) for v in g if isfinite(v)], k, "s")[1] for k in ks]
            for g in groups]


def scale(g, k, estimator):
    """The error scale of docs/math.md section 4 for one group."""
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
