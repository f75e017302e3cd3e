"""pass@k metrics in the form trainers log: a flat dict of floats.

Two families, which answer different questions (docs/trainers.md, "What to log"):

pass_at_k(...)  -> {"pass@1": ..., "pass@4": ...}
    For each group of n answers to one prompt, pkpo's rho: the unbiased estimate of
    pass@k = P(at least one of k fresh samples is correct) for binary rewards, and of
    maxg@k = E[max of k fresh rewards] for continuous ones (the average over all k-subsets of the
    group's maximum). Averaged over the groups that have at least k valid (finite) rewards; a
    group with fewer cannot estimate pass@k without bias and is left out of that key. Exact, no
    randomness; pass@1 is the mean reward.

pass_hat_k(...)  -> {"pass^1": ..., "pass^4": ...}
    The same with statistic="min": pass^k = P(all k fresh samples are correct) (tau-bench's
    reliability metric; C(c, k)/C(n, k) per group of c correct in n), for continuous rewards the
    expected worst of k. pass^1 = pass@1 is the mean reward.

best_at_n_bootstrap(...)  -> {"best@2/mean": ..., "best@2/std": ..., ...}
    What verl logs in validation (verl/trainer/ppo/metric_utils.py, process_validation_metrics
    with bootstrap_metric): per group, draw n_bootstrap subsets of size N WITH replacement
    (numpy's legacy generator seeded with `seed` for every group and N), take each subset's
    maximum, report the mean and std over subsets; then average over groups. Sampling with
    replacement repeats answers, so it underestimates pass@N (at N = n a group with c of n
    correct gets 1 - (1 - c/n)^n instead of 1), and it carries Monte Carlo noise. Reproduced
    here bit for bit so that a run switched to pkpo can be compared with its earlier logs.
    best_at_n_expected(...) gives the exact value the bootstrap mean converges to.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pass_at_k", "pass_hat_k", "default_ks", "best_at_n_bootstrap", "best_at_n_expected"]


def default_ks(n_max: int) -> list:
    """1, 2, 4, ... below n_max, then n_max (the N values verl uses for best@N, plus 1)."""
    ks, k = [1], 2
    while k < n_max:
        ks.append(k)
        k *= 2
    if n_max > 1:
        ks.append(int(n_max))
    return ks


def _to_numpy(x):
    if hasattr(x, "detach"):  # torch
        x = x.detach()
        if x.dtype.is_floating_point and x.dtype.itemsize < 4:
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def _groups(rewards, group_ids):
    """[G] lists of the finite rewards of each group, groups in first-appearance order."""
    r = _to_numpy(rewards).astype(np.float64, copy=False)
    if r.ndim == 2 and group_ids is None:
        return [row[np.isfinite(row)] for row in r]
    if r.ndim != 1 or group_ids is None:
        raise ValueError("rewards must be [G, n], or [N] with group_ids (got shape %s%s)"
                         % (r.shape, "" if group_ids is not None else " and no group_ids"))
    ids = _to_numpy(group_ids) if hasattr(group_ids, "detach") else group_ids
    if len(ids) != r.size:
        raise ValueError("group_ids has %d entries for %d rewards" % (len(ids), r.size))
    members = {}
    for i, g in enumerate(ids.tolist() if isinstance(ids, np.ndarray) else ids):
        members.setdefault(g, []).append(i)
    out = []
    for idx in members.values():
        v = r[np.asarray(idx)]
        out.append(v[np.isfinite(v)])
    return out


def pass_at_k(rewards, group_ids=None, *, ks=None, prefix: str = "pass",
              nonfinite: str = "exclude", statistic: str = "max") -> dict:
    """Unbiased pass@k (binary rewards) / maxg@k (continuous) per batch, averaged over groups.

    rewards    [G, n], or [N] with group_ids (ints or hashables such as uid strings).
    ks         the k values; default 1, 2, 4, ... and the largest group size.
    prefix     key prefix: "pass" gives "pass@4"; use e.g. "maxg" for continuous rewards.
    nonfinite  "exclude" (default): NaN/Inf rewards leave their group, as in pkpo.transform.
    statistic  "max" (default) or "min": pass^k, keys "<prefix>^<k>" (see pass_hat_k).
    Returns    {"<prefix>@<k>": float} for every k at least one group can estimate (n_valid >= k),
               plus "<prefix>@<k>/groups": the number of groups averaged for that k.
    """
    import pkpo

    sizes = np.array([g.size for g in _groups(rewards, group_ids)], dtype=np.int64)
    if sizes.size == 0:
        return {}
    if ks is None:
        ks = default_ks(int(sizes.max()))
    ks = [int(k) for k in ks]
    sep = {"max": "@", "min": "^"}.get(statistic)
    if sep is None:
        raise ValueError("unknown statistic %r (one of ['max', 'min'])" % (statistic,))
    curve, _ = pkpo.rho_curve(rewards, group_ids, ks=ks, nonfinite=nonfinite, k_policy="clamp",
                              statistic=statistic)
    curve = _to_numpy(curve)
    res = {}
    for j, k in enumerate(ks):
        ok = sizes >= k
        if ok.any():
            res["%s%s%d" % (prefix, sep, k)] = float(np.mean(curve[ok, j]))
            res["%s%s%d/groups" % (prefix, sep, k)] = int(ok.sum())
    return res


def pass_hat_k(rewards, group_ids=None, *, ks=None, prefix: str = "pass",
               nonfinite: str = "exclude") -> dict:
    """Unbiased pass^k (binary rewards: all k of k fresh samples correct) / the expected worst
    of k (continuous), averaged over groups: pass_at_k(..., statistic="min"). Keys
    "<prefix>^<k>" and "<prefix>^<k>/groups", e.g. {"pass^1": ..., "pass^4": ...}."""
    return pass_at_k(rewards, group_ids, ks=ks, prefix=prefix, nonfinite=nonfinite,
                     statistic="min")


def best_at_n_bootstrap(rewards, group_ids=None, *, ns=None, n_bootstrap: int = 1000,
                        seed: int = 42, prefix: str = "best", with_worst: bool = False) -> dict:
    """verl's bootstrapped best@N (and worst@N), averaged over groups; see the module docstring.

    Per group of n >= 2 finite rewards and each N in ns (default: 2, 4, ... below n, then n, as
    verl): a fresh np.random.RandomState(seed) draws an (n_bootstrap, N) index matrix with
    replacement; "best@N/mean" and "best@N/std" are the mean and std of the row maxima. These
    equal verl's bootstrap_metric(...) values for the group bit for bit. Groups are averaged with
    equal weight over the groups that have that N."""
    per_key = {}
    for g in _groups(rewards, group_ids):
        n = g.size
        if n < 2:
            continue
        g_ns = ns if ns is not None else default_ks(n)[1:]
        for N in g_ns:
            N = int(N)
            if N < 1:
                raise ValueError("N must be >= 1")
            idx = np.random.RandomState(seed).choice(n, size=(n_bootstrap, N), replace=True)
            sub = g[idx]
            stats = [("%s@%d" % (prefix, N), sub.max(axis=1))]
            if with_worst:
                stats.append(("worst@%d" % N, sub.min(axis=1)))
            for name, v in stats:
                per_key.setdefault(name + "/mean", []).append(float(np.mean(v)))
                per_key.setdefault(name + "/std", []).append(float(np.std(v)))
    return {key: float(np.mean(v)) for key, v in per_key.items()}


def best_at_n_expected(rewards, group_ids=None, *, ns) -> dict:
    """The exact limit of best_at_n_bootstrap's mean (n_bootstrap -> infinity): the expected
    maximum of N draws WITH replacement from each group's n rewards,
    sum_i g(i) [(i/n)^N - ((i-1)/n)^N] on the ascending sort, averaged over groups with n >= 2.
    Compare with pass_at_k, the expected maximum of k draws WITHOUT replacement, which is the
    unbiased estimate of the policy's pass@k."""
    res = {}
    for N in ns:
        vals = []
        for g in _groups(rewards, group_ids):
            n = g.size
            if n < 2:
                continue
            s = np.sort(g)
            i = np.arange(1, n + 1, dtype=np.float64)
            w = (i / n) ** int(N) - ((i - 1) / n) ** int(N)
            vals.append(float(np.dot(w, s)))
        if vals:
            res["best@%d/expected" % int(N)] = float(np.mean(vals))
    return res

