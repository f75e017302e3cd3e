"""Mixtures over k: objectives sum_j w_j pass@k_j (maxg@k_j for continuous rewards), as
(ks, weights) pairs for pkpo.transform(rewards, ids, k=ks, k_weights=weights).

    ks, w = pkpo.mixture.harmonic(8)         # k = 1..8, w_k = 1/k
    adv = pkpo.transform(rewards, uids, k=ks, k_weights=w)

The library computes a mixture exactly, in one pass per group with combined rank weights: the
output is sum_j w_j T_{k_j}(g), each term under the boundary rules of its own k (a k_j above a
group's size follows k_policy), for every estimator and for statistic="min" (docs/math.md §5).
"""

from __future__ import annotations

__all__ = ["harmonic", "uniform"]


def _check_K(K) -> int:
    if isinstance(K, bool) or not hasattr(K, "__index__"):
        raise TypeError("K must be an integer >= 1, got %r" % (K,))
    K = int(K.__index__())
    if K < 1:
        raise ValueError("K must be >= 1, got %d" % K)
    return K


def harmonic(K):
    """Terms k = 1..K with weights w_k = 1/k: MaxRL's weighting (arXiv 2602.02710), which there
    needs binary rewards, all n samples and a nonzero group mean; here any K, any rewards and
    pkpo's estimators. Returns (ks, weights): a list of ints and a list of floats."""
    K = _check_K(K)
    ks = list(range(1, K + 1))
    return ks, [1.0 / k for k in ks]


def uniform(K):
    """Terms k = 1..K, every weight 1. Returns (ks, weights)."""
    K = _check_K(K)
    return list(range(1, K + 1)), [1.0] * K
