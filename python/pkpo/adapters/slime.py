"""slime adapter: drop-ins for the batch calls of slime's PKPO fork (slime/utils/pkpo_utils.py).

slime computes advantages per rank on the GPU from a flat reward vector [B] of consecutive groups
of n_samples_per_prompt. These functions keep the fork's signatures and return values and call
pkpo instead of the per-group Python loop and its O(n^2) weight tables:

    from pkpo.adapters.slime import get_pkpo_advantages, pkpo_transform_rewards

Differences from the fork (docs/trainers.md lists them all):
  - B not a multiple of n_samples_per_prompt: the fork silently treats the batch as ONE group;
    here it is an error.
  - k = 1 with sloo_minus_one: the fork raises (torch.arange fails building a k - 1 = 0 table);
    pkpo uses its k = 1 convention ((g_i - mean of the others) / n, continuous when k is
    annealed down to 1).
  - k > n: the fork returns all zeros for every estimator; pkpo clamps k to n per group
    (its default k_policy; k_policy="strict" makes it an error).
  - NaN/Inf rewards: the fork's whole group becomes NaN; pkpo excludes the sample from its group
    (output 0) and computes the rest.
  - A group of one sample: the fork's sloo is NaN (0/0); pkpo gives 0.
  - Accuracy: the fork's differences of large terms lose digits on offset rewards: at
    100 + 0.01*U(0,1), n = 16, k = 8, float64, its sloo_minus_one errs by 6.3e-12 of the signal
    scale (k/n)(max - min) against the exact oracle, pkpo by 1.4e-18.
  - Rewards in groups spread over ranks: pass process_group= to pkpo.transform (slime groups
    per rank, so the fork needs every group on one rank).
"""

from __future__ import annotations

__all__ = ["pkpo_transform_rewards", "get_pkpo_advantages"]


def pkpo_transform_rewards(rewards, n_samples_per_prompt: int, k: int,
                           estimator_type: str = "sloo_minus_one"):
    """Same call as the fork's: flat rewards [B] -> transformed [B], same dtype and device.
    estimator_type: "s" | "sloo" | "sloo_minus_one" (and pkpo's "l2o")."""
    import pkpo

    n = int(n_samples_per_prompt)
    B = int(rewards.numel()) if hasattr(rewards, "numel") else len(rewards)
    if n < 1 or B % n != 0:
        raise ValueError("%d rewards are not a whole number of groups of n_samples_per_prompt=%d"
                         % (B, n))
    return pkpo.transform(rewards.reshape(B // n, n), k=k, estimator=estimator_type).reshape(B)


def get_pkpo_advantages(rewards, kl, n_samples_per_prompt: int, k: int, kl_coef: float = 0.0,
                        estimator_type: str = "sloo_minus_one"):
    """Same call and return as the fork's: (list of per-token advantage tensors, stats dict).
    Each sample's advantage is its transformed reward broadcast over its kl tensor's tokens,
    minus kl_coef * kl when kl_coef > 0."""
    import torch

    B = len(rewards)
    device = kl[0].device if kl else torch.device("cpu")
    if not isinstance(rewards, torch.Tensor):
        rewards = torch.tensor(rewards, dtype=torch.float32, device=device)
    rewards = rewards.float().to(device)
    transformed = pkpo_transform_rewards(rewards, n_samples_per_prompt, k, estimator_type)
    stats = {
        "pkpo_k": k,
        "pkpo_estimator": estimator_type,
        "pkpo_reward_mean": transformed.mean().item(),
        "pkpo_reward_std": transformed.std().item(),
        "pkpo_reward_max": transformed.max().item(),
        "pkpo_reward_min": transformed.min().item(),
    }
    token_advantages = []
    for i in range(B):
        adv = torch.ones_like(kl[i]) * transformed[i]
        if kl_coef > 0:
            adv = adv - kl_coef * kl[i]
        token_advantages.append(adv)
    return token_advantages, stats
