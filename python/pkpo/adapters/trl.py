"""TRL adapter: pkpo in place of GRPOTrainer's group-normalised advantages.

TRL's GRPOTrainer computes advantages inline in _generate_and_score_completions: the rewards of
all processes are gathered ([B] over the whole global batch, num_generations consecutive
completions per prompt, NaN where every reward function returned None), reduced to
rewards - group mean (optionally / (std + 1e-4)), NaN set to 0, then sliced to this process
(process_index * local_batch ...). Two ways in:

1. grpo_advantages(rewards, num_generations, k=...) is that step with pkpo: same input, same
   output shape ([B], NaN rows 0), to call where the trainer computes `advantages`.

2. PKPOGRPOTrainer (built on first use from trl.GRPOTrainer, or pkpo_grpo_trainer(Base) for a
   subclass of your own) needs no edit of TRL:

       from pkpo.adapters.trl import PKPOGRPOTrainer
       trainer = PKPOGRPOTrainer(model=..., reward_funcs=..., args=GRPOConfig(...),
                                 pkpo_k=4, pkpo_estimator="sloo_minus_one")

   It keeps the gathered reward matrix that _calculate_rewards returns, lets the parent do its
   work (logging included), then replaces the returned "advantages" with pkpo's values for this
   process's slice. It supports multi_objective_aggregation="sum_then_normalize" (TRL's
   default): the weighted nansum of the reward functions, NaN when all of them returned None.
   pkpo_k may be an int, "n" (num_generations), a KSchedule/mapping/callable of
   self.state.global_step; with pkpo_k_weights, the ks of a mixture (pkpo_k=[1, 2, 4],
   pkpo_k_weights=[1, 0.5, 0.25]); pkpo_mixture="harmonic:n" is MaxRL's weighting over
   k = 1..num_generations; pkpo_statistic="min" trains for pass^k.
"""

from __future__ import annotations

from . import KSchedule, objective

__all__ = ["grpo_advantages", "pkpo_grpo_trainer"]  # PKPOGRPOTrainer: on first use (imports trl)


def grpo_advantages(rewards, num_generations: int, *, k, k_weights=None, statistic: str = "max",
                    estimator: str = "sloo_minus_one", nonfinite: str = "exclude",
                    k_policy: str = "clamp"):
    """pkpo advantages for TRL's layout: rewards [B] (torch or numpy), B = prompts x
    num_generations, each prompt's completions consecutive; NaN marks an unscorable completion
    (it leaves its group, as TRL's nanmean does, and gets advantage 0). k_weights makes k the
    ks of a mixture; statistic "min" is pass^k (pkpo.transform). Returns [B] of the input's
    type, device and dtype."""
    import pkpo

    n = int(num_generations)
    B = int(rewards.shape[0]) if hasattr(rewards, "shape") else len(rewards)
    if n < 1 or B % n != 0:
        raise ValueError("batch of %d rewards is not a whole number of groups of "
                         "num_generations=%d" % (B, n))
    if k == "n":
        k = n
    grouped = rewards.reshape(B // n, n)
    out = pkpo.transform(grouped, k=k, k_weights=k_weights, statistic=statistic,
                         estimator=estimator, nonfinite=nonfinite, k_policy=k_policy)
    return out.reshape(B)


def pkpo_grpo_trainer(base):
    """A subclass of `base` (trl.GRPOTrainer or a subclass) whose advantages come from pkpo."""

    class _PKPOGRPOTrainer(base):
        def __init__(self, *args, pkpo_k=None, pkpo_estimator="sloo_minus_one",
                     pkpo_nonfinite="exclude", pkpo_k_weights=None, pkpo_statistic="max",
                     pkpo_mixture=None, **kwargs):
            if pkpo_k is None and pkpo_mixture is None:
                raise ValueError("PKPOGRPOTrainer needs pkpo_k (or pkpo_mixture)")
            self._pkpo_mixture = None
            if pkpo_mixture is not None or pkpo_k_weights is not None:
                if pkpo_mixture is None:  # checked now, not at the first step
                    objective(k=pkpo_k, k_weights=pkpo_k_weights)
                self._pkpo_mixture = (pkpo_k, pkpo_k_weights, pkpo_mixture)
                self._pkpo_k = None
            else:
                self._pkpo_k = pkpo_k if pkpo_k == "n" else KSchedule.from_config(pkpo_k)
            if pkpo_statistic not in ("max", "min"):
                raise ValueError("pkpo_statistic must be 'max' or 'min', got %r"
                                 % (pkpo_statistic,))
            self._pkpo_statistic = pkpo_statistic
            self._pkpo_estimator = pkpo_estimator
            self._pkpo_nonfinite = pkpo_nonfinite
            self._pkpo_rewards_per_func = None
            super().__init__(*args, **kwargs)

        def _calculate_rewards(self, *args, **kwargs):
            rewards_per_func = super()._calculate_rewards(*args, **kwargs)
            self._pkpo_rewards_per_func = rewards_per_func  # gathered over processes
            return rewards_per_func

        def _generate_and_score_completions(self, *args, **kwargs):
            import torch

            self._pkpo_rewards_per_func = None
            output = super()._generate_and_score_completions(*args, **kwargs)
            rpf = self._pkpo_rewards_per_func
            if rpf is None:
                raise RuntimeError("PKPOGRPOTrainer: _calculate_rewards was not called")
            if getattr(self, "multi_objective_aggregation", "sum_then_normalize") != \
                    "sum_then_normalize":
                raise NotImplementedError("PKPOGRPOTrainer supports "
                                          "multi_objective_aggregation='sum_then_normalize'")
            weights = self.reward_weights.to(rpf.device)
            rewards = (rpf * weights.unsqueeze(0)).nansum(dim=1)
            rewards[torch.isnan(rpf).all(dim=1)] = float("nan")
            training = getattr(getattr(self, "model", None), "training", True)
            n = self.num_generations if training else getattr(self, "num_generations_eval",
                                                              self.num_generations)
            if self._pkpo_mixture is not None:
                mk, mw, mix = self._pkpo_mixture
                k, k_weights = objective(k=mk, k_weights=mw, mixture=mix, n=n)
            else:
                step = getattr(getattr(self, "state", None), "global_step", 0) or 0
                k = n if self._pkpo_k == "n" else int(self._pkpo_k(step))
                k_weights = None
            adv = grpo_advantages(rewards, n, k=k, k_weights=k_weights,
                                  statistic=self._pkpo_statistic, estimator=self._pkpo_estimator,
                                  nonfinite=self._pkpo_nonfinite)
            local = output["advantages"].shape[0]
            start = self.accelerator.process_index * local
            output["advantages"] = adv[start: start + local].to(output["advantages"].dtype)
            return output

    _PKPOGRPOTrainer.__name__ = _PKPOGRPOTrainer.__qualname__ = "PKPO" + base.__name__
    return _PKPOGRPOTrainer


def __getattr__(name):
    if name == "PKPOGRPOTrainer":
        from trl import GRPOTrainer

        cls = pkpo_grpo_trainer(GRPOTrainer)
        globals()["PKPOGRPOTrainer"] = cls
        return cls
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
