"""verl adapter: pkpo as a verl advantage estimator named "pkpo".

Importing this module registers compute_pkpo_outcome_advantage with verl's register_adv_est
under the name "pkpo" when verl is importable (nothing happens otherwise), so a verl run switches
to pass@k training with

    import pkpo.adapters.verl                 # in the process that runs the trainer (the driver)
    algorithm.adv_estimator=pkpo              # verl config
    PKPO_K=4 (or pkpo.adapters.verl.configure(k=4, ...))
    PKPO_MIXTURE=harmonic:n             # or a mixture: MaxRL's sum_k (1/k) pass@k, k = 1..n
    PKPO_K=1,4,16 PKPO_K_WEIGHTS=1,0.25,0.0625 PKPO_STATISTIC=min   # any terms; pass^k

The function has the signature of verl's registered outcome estimators (token-level rewards,
response_mask, index of uid strings, config) and returns (advantages, returns), both the
per-sample value broadcast over response_mask, like compute_grpo_passk_outcome_advantage.

Settings (k, k_weights, mixture, statistic, estimator, k_schedule, normalize, nonfinite,
k_policy) are looked up, later ones winning: the defaults below; environment variables PKPO_K,
PKPO_K_WEIGHTS, PKPO_MIXTURE, PKPO_STATISTIC, PKPO_ESTIMATOR, PKPO_K_SCHEDULE
("start:end:steps[:kind]"), PKPO_NORMALIZE (these reach verl's Ray workers through runtime_env);
configure(...); a mapping config["pkpo"] when the config passed by verl has one (RayPPOTrainer
passes its `algorithm` DictConfig section, so `+algorithm.pkpo.k=4` on verl's command line works;
the AlgoConfig dataclass rejects unknown keys, so where verl converts the section, use the
environment or configure()); keyword arguments.

  k            int >= 1, or "n": each group's own size (with sloo_minus_one this is
               max - second max for the best answer: verl's grpo_passk, Tang et al.); with
               k_weights the ks of a mixture (a list, or "1,4,16" in PKPO_K)
  k_weights    one weight per k ("1,0.25,0.0625" in PKPO_K_WEIGHTS): the objective
               sum_j w_j pass@k_j, computed exactly (docs/math.md §5)
  mixture      "harmonic:K" (k = 1..K, w = 1/k: MaxRL's weighting) or "uniform:K"; K may be "n",
               the largest group of the batch (groups smaller than it have their terms above
               their size clamped). Replaces k and k_weights, whichever source set them;
               "none" clears a mixture set by an earlier source.
  statistic    "max" (default: pass@k) or "min" (pass^k: every one of k answers correct)
  estimator    "sloo_minus_one" (default) | "sloo" | "s" | "l2o"
  k_schedule   KSchedule, mapping {start, end, steps, kind}, or callable step -> k; overrides k.
               The step is the keyword global_step/global_steps when the caller passes one, else
               the number of earlier calls in this process (verl calls the estimator once per
               training step); set_step(n) sets it, e.g. when resuming.
  normalize    "none" (default): pkpo's values as they are (unbiased for the pass@k gradient).
               "group_std": each group divided by (std of its rewards + epsilon), torch.std with
               Bessel's correction, as grpo_passk does when norm_adv_by_std_in_grpo is true.
               Rescales groups unequally, so the gradient is no longer the pass@k gradient.
               "batch_std": every value divided by (std of the batch's values + epsilon): one
               positive factor per batch, the direction stays unbiased.
  nonfinite    "exclude" (default) | "propagate" | "error"    (pkpo.transform's policies)
  k_policy     "clamp" (default: k > n uses n for that group) | "strict" (error)

verl's norm_adv_by_std_in_grpo argument is accepted and ignored: use normalize=.
"""

from __future__ import annotations

import os

from . import KSchedule, _parse_k, objective

__all__ = ["compute_pkpo_outcome_advantage", "configure", "set_step", "current_settings",
           "register", "DEFAULTS"]

DEFAULTS = {"k": None, "k_weights": None, "mixture": None, "statistic": "max",
            "estimator": "sloo_minus_one", "k_schedule": None, "normalize": "none",
            "nonfinite": "exclude", "k_policy": "clamp"}
_NORMALIZE = ("none", "group_std", "batch_std")
_configured: dict = {}
_state = {"step": 0}


def configure(**settings) -> None:
    """Process-wide settings for the estimator (see the module docstring). configure() with no
    arguments clears them."""
    bad = set(settings) - set(DEFAULTS)
    if bad:
        raise ValueError("unknown pkpo setting(s) %s (known: %s)" % (sorted(bad), sorted(DEFAULTS)))
    if not settings:
        _configured.clear()
    _configured.update(settings)


def set_step(step: int) -> None:
    """The training step the k schedule reads at the next call (then counted up per call)."""
    _state["step"] = int(step)


def _from_env() -> dict:
    env = {}
    if os.environ.get("PKPO_K"):
        env["k"] = _parse_k(os.environ["PKPO_K"])
    for var, key in (("PKPO_K_WEIGHTS", "k_weights"), ("PKPO_MIXTURE", "mixture"),
                     ("PKPO_STATISTIC", "statistic")):
        if os.environ.get(var):
            env[key] = os.environ[var]
    if os.environ.get("PKPO_ESTIMATOR"):
        env["estimator"] = os.environ["PKPO_ESTIMATOR"]
    if os.environ.get("PKPO_NORMALIZE"):
        env["normalize"] = os.environ["PKPO_NORMALIZE"]
    if os.environ.get("PKPO_K_SCHEDULE"):
        parts = os.environ["PKPO_K_SCHEDULE"].split(":")
        if len(parts) not in (3, 4):
            raise ValueError("PKPO_K_SCHEDULE must be start:end:steps[:kind], got %r"
                             % os.environ["PKPO_K_SCHEDULE"])
        env["k_schedule"] = KSchedule(int(parts[0]), int(parts[1]), int(parts[2]),
                                      parts[3] if len(parts) == 4 else "linear")
    return env


def _config_section(config):
    if config is None:
        return {}
    try:
        sec = config.get("pkpo", None)
    except (AttributeError, TypeError):
        sec = getattr(config, "pkpo", None)
    if sec is None:
        return {}
    return {key: sec.get(key) for key in DEFAULTS if sec.get(key, None) is not None}


def current_settings(config=None, **overrides) -> dict:
    """The merged settings a call with this config and these keywords would use."""
    s = dict(DEFAULTS)
    s.update(_from_env())
    s.update(_configured)
    s.update(_config_section(config))
    s.update({key: v for key, v in overrides.items() if key in DEFAULTS and v is not None})
    if s["normalize"] is None:
        s["normalize"] = "none"
    if s["normalize"] not in _NORMALIZE:
        raise ValueError("unknown normalize %r (one of %s)" % (s["normalize"], list(_NORMALIZE)))
    return s


def _resolve_k(s, step, index):
    """(k, k_weights) of this call: k_weights None for one k (an int or "n")."""
    if isinstance(s["mixture"], str) and s["mixture"].strip().lower() in ("", "none"):
        s = dict(s, mixture=None)
    mixed = s["mixture"] is not None or s["k_weights"] is not None
    sched = KSchedule.from_config(s["k_schedule"])
    if sched is not None:
        if mixed:
            raise ValueError("pkpo: a k_schedule does not combine with a mixture (k_weights or "
                             "mixture); set one of them")
        return int(sched(step)), None
    if s["mixture"] is not None:
        n = None
        if isinstance(s["mixture"], str) and s["mixture"].strip().endswith(":n"):
            n = _largest_group(index)
        return objective(mixture=s["mixture"], n=n)
    if s["k"] is None:
        raise ValueError("pkpo: no k given. Set PKPO_K, pkpo.adapters.verl.configure(k=...), "
                         "config['pkpo']['k'], a k_schedule or a mixture")
    return objective(k=s["k"], k_weights=s["k_weights"])


def _largest_group(index):
    import numpy as np

    from .._grouping import codes_and_labels

    ids = index.cpu().numpy() if hasattr(index, "cpu") else index
    codes, _ = codes_and_labels(ids)
    return int(np.unique(codes, return_counts=True)[1].max()) if len(codes) else 1


def compute_pkpo_outcome_advantage(token_level_rewards, response_mask, index=None,
                                   epsilon: float = 1e-6, norm_adv_by_std_in_grpo: bool = True,
                                   config=None, **kwargs):
    """PKPO advantages for outcome rewards, verl's estimator signature.

    token_level_rewards  [bs, response_length]; a response's reward is its row sum (verl puts
                         the outcome reward on the last response token)
    response_mask        [bs, response_length]
    index                [bs] group id per response (verl's uid strings), responses of one
                         prompt share it
    epsilon              added to the std by normalize="group_std" / "batch_std"
    config               verl's AlgoConfig (or any mapping); its "pkpo" entry is read if present
    kwargs               k, k_weights, mixture, statistic, estimator, k_schedule, normalize,
                         nonfinite, k_policy override the settings; global_step / global_steps
                         pick the k schedule's step
    Returns (advantages, returns): [bs, response_length], the per-response value times
    response_mask, in token_level_rewards' dtype (advantages is returns)."""
    import torch

    import pkpo

    if index is None:
        raise ValueError("pkpo needs index (verl's uid per response) to know the groups")
    s = current_settings(config, **kwargs)
    step = kwargs.get("global_step", kwargs.get("global_steps", None))
    if step is None:
        step = _state["step"]
    _state["step"] = int(step) + 1
    k, k_weights = _resolve_k(s, step, index)
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        n = scores.shape[0]
        if k == "n":
            k_val, k_policy = max(n, 1), "clamp"  # clamped to each group's size
        else:
            k_val, k_policy = k if k_weights is not None else int(k), s["k_policy"]
        if n == 0:
            adv = scores
        else:
            adv = pkpo.transform(scores, index, k=k_val, k_weights=k_weights,
                                 statistic=s["statistic"], estimator=s["estimator"],
                                 nonfinite=s["nonfinite"], k_policy=k_policy)
        if s["normalize"] == "group_std":
            adv = _divide_by_group_std(adv, scores, index, epsilon)
        elif s["normalize"] == "batch_std" and n > 1:
            adv = adv / (torch.std(adv) + epsilon)
        advantages = adv.unsqueeze(-1) * response_mask
    return advantages, advantages


def _divide_by_group_std(adv, scores, index, epsilon):
    """adv / (torch.std(group's finite scores) + epsilon), group by group; the std is taken on
    the group's scores stacked in batch order, exactly as verl's grpo_passk does. Groups with
    fewer than 2 finite scores keep their value (pkpo gives them 0; their std is undefined)."""
    import numpy as np
    import torch

    ids = index.tolist() if hasattr(index, "tolist") else list(index)
    members = {}
    for i, g in enumerate(ids):
        members.setdefault(g, []).append(i)
    out = adv.clone()
    finite = torch.isfinite(scores)
    for idx in members.values():
        sel = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=scores.device)
        sel = sel[finite[sel]]
        if sel.numel() < 2:
            continue
        std = torch.std(scores[sel])
        out[sel] = adv[sel] / (std + epsilon)
    return out


def register(name: str = "pkpo"):
    """Registers compute_pkpo_outcome_advantage in verl's advantage-estimator registry under
    `name`. Raises ImportError without verl."""
    from verl.trainer.ppo.core_algos import register_adv_est

    return register_adv_est(name)(compute_pkpo_outcome_advantage)


try:
    register()
except ImportError:  # verl is not installed: the function is still usable directly
    pass
