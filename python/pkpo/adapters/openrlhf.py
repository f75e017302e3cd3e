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
           rewards = shape_rewards_from_args(rewards, args)

   with the command-line arguments of add_arguments(parser) (--pkpo_k, --pkpo_k_weights,
   --pkpo_mixture, --pkpo_statistic, --pkpo_estimator), e.g. --pkpo_mixture harmonic:n for
   MaxRL's sum_k (1/k) pass@k over k = 1..n_samples_per_prompt.

   and list "pkpo" with "rloo" in the branch that computes cumulative returns (no batch
   normalisation afterwards, like rloo and group_norm).

2. transform_experience_rewards(experiences, n_samples_per_prompt, k=...) does the whole
   reorder-shape-scatter on a list of experiences (objects with .index and .rewards), writing
   the transformed rewards into experience.rewards, for a subclass that shapes rewards itself
   and then runs the parent with the "reinforce" estimator (no group baseline; note that
   OpenRLHF then normalises advantages over the batch: mean, and std unless no_std_norm).
"""

from __future__ import annotations

from . import objective

__all__ = ["shape_rewards", "transform_experience_rewards", "add_arguments",
           "shape_rewards_from_args"]


def shape_rewards(rewards, *, k=None, k_weights=None, mixture=None, statistic: str = "max",
                  estimator: str = "sloo_minus_one", nonfinite: str = "exclude",
                  k_policy: str = "clamp"):
    """rewards [prompts, n_samples_per_prompt] (torch or numpy) -> pkpo's transformed rewards of
    the same shape, type, device and dtype. k may be "n" (n_samples_per_prompt); with k_weights
    k lists the ks of a mixture; mixture "harmonic:K" / "uniform:K" (K an int or "n") replaces
    both; statistic "min" is pass^k. Strings as on a command line ("1,4,16") are accepted."""
    import pkpo

    if len(rewards.shape) != 2:
        raise ValueError("shape_rewards takes [prompts, n_samples_per_prompt], got shape %s"
                         % (tuple(rewards.shape),))
    n = int(rewards.shape[1])
    if k is None and mixture is None:
        raise ValueError("shape_rewards needs k (or mixture)")
    k, k_weights = objective(k=k, k_weights=k_weights, mixture=mixture, n=n)
    if k == "n":
        k = n
    return pkpo.transform(rewards, k=k, k_weights=k_weights, statistic=statistic,
                          estimator=estimator, nonfinite=nonfinite, k_policy=k_policy)


def add_arguments(parser):
    """Adds pkpo's options to OpenRLHF's argparse parser (train_ppo_ray.py), all strings as
    shape_rewards takes them: --pkpo_k ("4", "n", or the ks of a mixture "1,4,16"),
    --pkpo_k_weights ("1,0.25,0.0625"), --pkpo_mixture ("harmonic:n"), --pkpo_statistic
    (max | min), --pkpo_estimator. Returns the parser."""
    g = parser.add_argument_group("pkpo (pass@k policy optimisation)")
    g.add_argument("--pkpo_k", type=str, default=None,
                   help="k: an int, 'n' (samples per prompt), or a mixture's ks '1,4,16'")
    g.add_argument("--pkpo_k_weights", type=str, default=None,
                   help="one weight per k of --pkpo_k, e.g. '1,0.25,0.0625'")
    g.add_argument("--pkpo_mixture", type=str, default=None,
                   help="'harmonic:K' (w = 1/k, k = 1..K) or 'uniform:K'; K may be 'n'")
    g.add_argument("--pkpo_statistic", type=str, default="max", choices=["max", "min"],
                   help="max: pass@k; min: pass^k (all k correct)")
    g.add_argument("--pkpo_estimator", type=str, default="sloo_minus_one",
                   choices=["s", "sloo", "sloo_minus_one", "l2o"])
    return parser


def shape_rewards_from_args(rewards, args):
    """shape_rewards with the options of add_arguments (missing attributes take the defaults)."""
    return shape_rewards(rewards, k=getattr(args, "pkpo_k", None),
                         k_weights=getattr(args, "pkpo_k_weights", None),
                         mixture=getattr(args, "pkpo_mixture", None),
                         statistic=getattr(args, "pkpo_statistic", "max") or "max",
                         estimator=getattr(args, "pkpo_estimator", None) or "sloo_minus_one")


def transform_experience_rewards(experiences, n_samples_per_prompt: int, *, k=None,
                                 estimator: str = "sloo_minus_one", nonfinite: str = "exclude",
                                 k_policy: str = "clamp", k_weights=None, mixture=None,
                                 statistic: str = "max"):
    """Transforms experience.rewards of every experience in place, grouping samples as OpenRLHF
    does: experience.index[j] is the position of sample j of that experience in prompt order,
    positions p*n .. p*n+n-1 belong to prompt p. k, k_weights, mixture and statistic as in
    shape_rewards. Returns the list of new reward tensors."""
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
    shaped = shape_rewards(ordered.reshape(-1, n), k=k, k_weights=k_weights, mixture=mixture,
                           statistic=statistic, estimator=estimator, nonfinite=nonfinite,
                           k_policy=k_policy)
    parts = shaped.reshape(-1)[positions.to(raw.device)].split(exp_len)
    for e, r in zip(experiences, parts):
        e.rewards = r
    return list(parts)
