"""Chen et al.'s analytic pass@k advantage (Pass@k Training, RUCAIBox/Passk_Training,
code/passk_adv.py) as a drop-in, for any rewards.

    from pkpo.adapters.passk_training import compute_advantage
    advantages, returns = compute_advantage(token_level_rewards, response_mask, index, K)

Their function gives a group of n responses with c correct (binary rewards)
    rho = 1 - C(n-c, K)/C(n, K),  sigma = sqrt(rho (1 - rho)),
    correct: (1 - rho)/(sigma + 1e-6),  wrong: (1 - rho - C(n-c-1, K-1)/C(n-1, K-1))/(sigma + 1e-6).
The numerators are (n/K) s_i - rho, with s pkpo's unbiased gradient weights (estimator "s") and
rho its pass@K estimate: (n/K) s_i is the chance that a K-subset holding answer i succeeds. So
    A_i = ((n/K) s_i - rho) / (sigma + epsilon)
is their advantage, and it is defined for any rewards once sigma is the standard deviation of the
best of K over the group's K-subsets (for binary rewards sqrt(rho (1 - rho)) again). s and rho come
from the C library; sigma is computed here, exactly and without enumerating subsets:
best_of_k_std. Differences from their function: docs/trainers.md.
"""

from __future__ import annotations

import numpy as np

__all__ = ["compute_advantage", "analytic_advantage", "best_of_k_std", "max_weights"]


def max_weights(n: int, k: int) -> np.ndarray:
    """mu [n]: mu[i-1] = C(i-1, k-1)/C(n, k), the probability that the i-th smallest of n values
    is the maximum of a uniformly drawn k-subset (0 for i < k). Built from the top as products of
    ratios, mu_n = k/n, mu_{i-1} = mu_i (i-k)/(i-1), so no binomial overflows."""
    if not 1 <= k <= n:
        raise ValueError("max_weights needs 1 <= k <= n, got k=%d, n=%d" % (k, n))
    mu = np.zeros(n)
    i = np.arange(n, k, -1, dtype=np.float64)  # n, n-1, ..., k+1
    ratios = (i - k) / (i - 1)
    mu[k - 1:] = (k / n) * np.concatenate([[1.0], np.cumprod(ratios)])[::-1]
    return mu


def best_of_k_std(values, codes, num_groups: int, k: int, center=None):
    """The standard deviation of max(S) over the k-subsets S of each group's finite values:
    sqrt(sum_i mu_i (v_(i) - c)^2) over the ascending values v_(i), with the weights of
    max_weights and c the group's mean best of k (its rho; `center` [G] if given, else
    sum_i mu_i v_(i)). One sort of the batch, then one matrix product per distinct group size:
    O(N log N) in all. k above a group's size is taken as its size. A group whose best of k is
    the same value for every subset (v_(k) == v_(n): constant groups, binary groups with more
    than n - k correct, singletons) gets exactly 0.

    values [N] float64 (host), codes [N] int64 group numbers in [0, num_groups).
    Returns (sigma [G], n [G]: the finite samples per group; empty groups get 0 and 0)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    finite = np.isfinite(values)
    v, c = values[finite], codes[finite]
    order = np.lexsort((v, c))  # by group, ascending within each group
    v, c = v[order], c[order]
    sizes = np.bincount(c, minlength=num_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    sigma = np.zeros(num_groups)
    for n in np.unique(sizes[sizes > 0]):
        n = int(n)
        gs = np.flatnonzero(sizes == n)
        kk = min(int(k), n)
        block = v[starts[gs][:, None] + np.arange(n)]  # [groups of size n, n], sorted rows
        mu = max_weights(n, kk)
        rho = np.asarray(center, dtype=np.float64)[gs] if center is not None else block @ mu
        dev = block - rho[:, None]
        sd = np.sqrt((dev * dev) @ mu)
        sd[block[:, kk - 1] == block[:, n - 1]] = 0.0
        sigma[gs] = sd
    return sigma, sizes


def _group_codes(index):
    """Group numbers 0..G-1 in order of first appearance (host int64), and G."""
    from .._grouping import codes_and_labels

    if hasattr(index, "detach"):
        index = index.detach().cpu().numpy()
    codes, _ = codes_and_labels(index)
    if codes.size == 0:
        return codes, 0
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)], int(first.size)


def analytic_advantage(rewards, index, K: int, *, epsilon: float = 1e-6,
                       k_policy: str = "clamp"):
    """Per-response A_i = ((n/k) s_i - rho) / (sigma + epsilon) of each group (module docstring),
    k = min(K, n) per group under k_policy="clamp" (pkpo's default), n its finite responses.

    rewards  [N] torch tensor (CPU or CUDA) or numpy array; any real values
    index    [N] group id per response (uid strings, ints, or an integer tensor)
    Returns  [N] of the rewards' type, device and dtype (computed in float64). Non-finite
             rewards leave their group and get 0; groups whose best of k cannot vary
             (sigma = 0 exactly) get 0.
    The C library computes s and rho where the rewards live; the group numbers and sigma are
    host work (one copy of the N rewards to the host on a GPU)."""
    import pkpo

    is_torch = hasattr(rewards, "detach")
    if is_torch:
        import torch

        r64 = rewards.detach().to(torch.float64)
        out_dtype = rewards.dtype if rewards.is_floating_point() else torch.float64
    else:
        r64 = np.asarray(rewards, dtype=np.float64)
        in_dtype = np.asarray(rewards).dtype
        out_dtype = in_dtype if in_dtype.kind == "f" else np.dtype(np.float64)
    if r64.ndim != 1:
        raise ValueError("rewards must be 1-D [N], got shape %s" % (tuple(r64.shape),))
    N = int(r64.shape[0])
    codes, G = _group_codes(index)
    if codes.size != N:
        raise ValueError("index has %d entries for %d rewards" % (codes.size, N))
    if N == 0:
        return r64.to(out_dtype) if is_torch else r64.astype(out_dtype)
    on_device = (lambda a: torch.as_tensor(a, device=r64.device)) if is_torch else np.asarray
    dev_codes = on_device(codes)
    s = pkpo.transform(r64, dev_codes, k=K, estimator="s", k_policy=k_policy)
    rho = pkpo.rho_curve(r64, dev_codes, ks=[K], k_policy=k_policy)[0][:, 0]
    host = r64.cpu().numpy() if is_torch else r64
    sigma, sizes = best_of_k_std(host, codes, G, int(K),
                                 center=rho.cpu().numpy() if is_torch else rho)
    keff = np.maximum(np.minimum(int(K), sizes), 1)
    scale = on_device(sizes / keff)  # n/k per group
    denom = on_device(sigma + epsilon)
    live = on_device((sigma > 0)[codes] & np.isfinite(host))  # the rest get exactly 0
    adv = (scale[dev_codes] * s - rho[dev_codes]) / denom[dev_codes]
    if is_torch:
        return torch.where(live, adv, torch.zeros((), dtype=adv.dtype,
                                                  device=adv.device)).to(out_dtype)
    return np.where(live, adv, 0.0).astype(out_dtype)


def compute_advantage(token_level_rewards, response_mask, index, K, *, epsilon: float = 1e-6,
                      k_policy: str = "clamp"):
    """The signature and return values of Passk_Training's code/passk_adv.py compute_advantage:
    token_level_rewards [bs, T] (a response's reward is its row sum), response_mask [bs, T],
    index [bs] (verl's uid per response), K. Returns (advantages, returns), the same tensor:
    each response's analytic_advantage times response_mask, in the rewards' dtype."""
    import torch

    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        adv = analytic_advantage(scores, index, K, epsilon=epsilon, k_policy=k_policy)
        out = adv.to(scores.dtype).unsqueeze(-1) * response_mask
    return out, out
