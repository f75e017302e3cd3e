"""A brute-force oracle for the adapter tests, written from the definitions in docs (averages over
all k-subsets of a group), independent of libpkpo. Small groups only (n <= 10)."""

import itertools
import math


def _mean_max(vals, k):
    subs = list(itertools.combinations(vals, k))
    return math.fsum(max(s) for s in subs) / len(subs)


def brute(g, k, estimator):
    """Transformed rewards of one group g (list of floats) at k (1 <= k <= len(g))."""
    n = len(g)
    g = [float(x) for x in g]
    if estimator == "rho":
        return _mean_max(g, k)
    if n == 1:
        return [g[0]] if estimator == "s" else [0.0]

    def s_of(vals, kk):
        m = len(vals)
        out = []
        for i in range(m):
            # the k-subsets (by position, so ties count separately) that contain i
            idx = [c for c in itertools.combinations(range(m), kk) if i in c]
            tot = math.fsum(max(vals[j] for j in c) for c in idx)
            out.append(tot / math.comb(m, kk))
        return out

    s = s_of(g, k)
    if estimator == "s":
        return s
    if estimator == "sloo":
        if k == n:
            return s
        res = []
        for i in range(n):
            rest = g[:i] + g[i + 1:]
            res.append(s[i] - k / (n - 1) * _mean_max(rest, k))
        return res
    if estimator == "sloo_minus_one":
        if k == 1:
            return [(g[i] - math.fsum(g[:i] + g[i + 1:]) / (n - 1)) / n for i in range(n)]
        res = []
        for i in range(n):
            idx = [c for c in itertools.combinations(range(n), k) if i in c]
            tot = math.fsum(max(g[j] for j in c) - max(g[j] for j in c if j != i) for c in idx)
            res.append(tot / math.comb(n, k))
        return res
    raise ValueError(estimator)
