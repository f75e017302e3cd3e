"""OpenRLHF adapter: pkpo as a reward-shaping ("advantage estimator") step.

OpenRLHF shapes outcome rewards in RemoteExperienceMaker.compute_advantages_and_returns
(openrlhf/trainer/ppo_utils/experience_maker.py): the rewards of all experiences are put back in
prompt order through each experience's `index`, reshaped to [prompts, n_samples_per_prompt],
baselined per row ("rloo": minus the mean of the others; "reinforce_baseline"/"dr_grpo": minus the
row mean; "group_norm": (r - mean) / (std + 1e-9)), flattened back to the experiences' order, and
then turned into per-token returns (cumulative, gamma = 1) that serve as advantages.

1. shape_rewards(rewards, k=...) is that row step with pkpo: [prompts, n] in, [prompts, n] out.
   Add a branch beside the others in compute_advantages_and_returns:

       elif args.algo.advantage.estimator == "pkpo":
           rewards = shape_rewards(rewards, k=args.pkpo_k)

   and list "pkpo" with "rloo" in the branch that computes cumulative returns (no batch
   normalisation afterwards, like rloo and group_norm).

2. transform_experience_rewards(experiences, n_samples_per_prompt, k=...) does the whole
   reorder-shape-scatter on a list of experiences (objects with .index and .rewards), writing
   the transformed rewards into experience.rewards, for a subclass that shapes rewards itself
   and then runs the parent with the "reinforce" estimator (no group baseline; note that
   OpenRLHF then normalises advantages over the batch: mean, and std unless no_std_norm).
"""

from __future__ import annotations

__all__ = ["shape_rewards", "transform_experience_rewards"]


def shape_rewards(rewards, *, k, estimator: str = "sloo_minus_one", nonfinite: str = "exclude",
                  k_policy: str = "clamp"):
    """rewards [prompts, n_samples_per_prompt] (torch or numpy) -> pkpo's transformed rewards of
    the same shape, type, device and dtype. k may be "n" (n_samples_per_prompt)."""
    import pkpo

    if len(rewards.shape) != 2:
        raise ValueError("shape_rewards takes [prompts, n_samples_per_prompt], got shape %s"
                         % (tuple(rewards.shape),))
    if k == "n":
        k = int(rewards.shape[1])
    return pkpo.transform(rewards, k=k, estimator=estimator, nonfinite=nonfinite,
                          k_policy=k_policy)


def transform_experience_rewards(experiences, n_samples_per_prompt: int, *, k,
                                 estimator: str = "sloo_minus_one", nonfinite: str = "exclude",
                                 k_policy: str = "clamp"):
    """Transforms experience.rewards of every experience in place, grouping samples as OpenRLHF
    does: experience.index[j] is the position of sample j of that experience in prompt order,
    positions p*n .. p*n+n-1 belong to prompt p. Returns the list of new reward tensors."""
    import torch

    exp_len = [len(e.index) for e in experiences]
    positions = torch.tensor([int(i) for e in experiences for i in e.index], dtype=torch.long)
    raw = torch.cat([e.rewards for e in experiences], dim=0)
    n = int(n_samples_per_prompt)
    if raw.numel() % n != 0:
        raise ValueError("%d rewards are not a whole number of groups of %d" % (raw.numel(), n))
    if sorted(positions.tolist()) != list(range(raw.numel())):
        raise ValueError("the experiences' index entries are not a permutation of 0..%d"
                         % (raw.numel() - 1))
    ordered = torch.empty_like(raw)
    ordered[positions.to(raw.device)] = raw
    shaped = shape_rewards(ordered.reshape(-1, n), k=k, estimator=estimator,
                           nonfinite=nonfinite, k_policy=k_policy)
    parts = shaped.reshape(-1)[positions.to(raw.device)].split(exp_len)
    for e, r in zip(experiences, parts):
        e.rewards = r
    return list(parts)
