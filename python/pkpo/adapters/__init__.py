"""Trainer adapters: small modules that put pkpo where a trainer computes its advantages.

  pkpo.adapters.verl      a verl advantage estimator, registered as "pkpo" when verl is importable
  pkpo.adapters.trl       TRL GRPOTrainer: the advantage step as a function, and a subclass
  pkpo.adapters.openrlhf  OpenRLHF: the reward-shaping step as a function, and a hook over its
                          experiences
  pkpo.adapters.slime     slime's PKPO fork: drop-ins for slime/utils/pkpo_utils.py's batch calls
  pkpo.adapters.passk_training  Chen et al.'s analytic pass@k advantage (RUCAIBox/Passk_Training)

Nothing here imports a trainer unless that trainer's adapter is imported; see docs/trainers.md.
What the adapters share lives here: the k schedule (KSchedule) and the parsing of an objective
from strings and config values (objective).
"""

from __future__ import annotations

import math

__all__ = ["KSchedule", "objective"]

_PRESETS = ("harmonic", "uniform")


def _parse_k(k):
    """An int, "n", or a list of ints (also from strings such as "4", "n", "1,4,16")."""
    if isinstance(k, str):
        text = k.strip()
        if text == "n":
            return "n"
        parts = [p for p in text.replace(" ", "").split(",") if p]
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise ValueError("k must be an int, 'n' or a comma-separated list of ints, got %r"
                             % k) from None
        return vals[0] if len(vals) == 1 and "," not in text else vals
    if isinstance(k, (list, tuple)) or hasattr(k, "__len__"):
        return [int(v) for v in k]
    return k


def _parse_weights(w):
    if isinstance(w, str):
        try:
            return [float(p) for p in w.replace(" ", "").split(",") if p]
        except ValueError:
            raise ValueError("k_weights must be a comma-separated list of numbers, got %r"
                             % w) from None
    if isinstance(w, (int, float)) and not isinstance(w, bool):
        return [float(w)]
    return [float(v) for v in w]


def objective(k=None, k_weights=None, mixture=None, n=None):
    """The (k, k_weights) pair for pkpo.transform from an adapter's settings, which may be
    strings (environment variables, command lines) or values (configs, keywords):

      k          int, "n" (each group's size), or with k_weights the mixture's ks: a list or
                 "1,4,16"
      k_weights  one weight per k (list or "1,0.25,0.0625"); None for a single k
      mixture    "harmonic:K" (k = 1..K, w = 1/k), "uniform:K" (w = 1), K an int or "n", or a
                 (ks, weights) pair; replaces k and k_weights
      n          what "n" means where a mixture needs it (the largest group size); without it
                 "harmonic:n" is an error

    Returns (k, k_weights): k_weights None for a single k (k may then still be "n"). Several ks
    without weights are an error (a list of ks is a mixture here, never per-group k)."""
    if mixture is not None:
        if isinstance(mixture, str):
            name, _, K = mixture.strip().partition(":")
            if name not in _PRESETS or not K:
                raise ValueError("mixture must be 'harmonic:K' or 'uniform:K' (K an int or 'n'), "
                                 "got %r" % mixture)
            if K == "n":
                if n is None:
                    raise ValueError("mixture %r needs the group size n" % mixture)
                K = n
            from .. import mixture as presets
            try:
                K = int(K)
            except ValueError:
                raise ValueError("mixture %r: K must be an int or 'n'" % mixture) from None
            return getattr(presets, name)(K)
        ks, weights = mixture
        return _parse_k(list(ks)), _parse_weights(weights)
    k = _parse_k(k)
    if k_weights is None:
        if isinstance(k, list):
            if len(k) != 1:
                raise ValueError("k lists %d values but no k_weights: a list of ks is a mixture "
                                 "here and needs one weight per k" % len(k))
            k = k[0]
        return k, None
    weights = _parse_weights(k_weights)
    ks = k if isinstance(k, list) else [k]
    if "n" in ks:
        raise ValueError("a mixture's ks must be integers ('n' is for a single k, or use "
                         "mixture='harmonic:n')")
    if len(ks) != len(weights):
        raise ValueError("k lists %d term(s) but k_weights has %d: one weight per k"
                         % (len(ks), len(weights)))
    return ks, weights


class KSchedule:
    """k as a function of the training step, for annealing (e.g. large k early for exploration,
    then down to k = 1).

    KSchedule(start, end=None, steps=1, kind="linear")
      kind "constant": start at every step.
      kind "linear":   start + (end - start) * step/steps, rounded to the nearest int.
      kind "cosine":   end + (start - end) * (1 + cos(pi * step/steps)) / 2, rounded.
      kind "step":     start before `steps`, end from `steps` on.
    After `steps`, k stays at `end`. Values are clipped to >= 1. Also accepts a mapping
    {"start": 8, "end": 1, "steps": 100, "kind": "cosine"} via KSchedule.from_config, an int
    (constant), or a callable step -> k."""

    KINDS = ("constant", "linear", "cosine", "step")

    def __init__(self, start, end=None, steps=1, kind="linear"):
        if kind not in self.KINDS:
            raise ValueError("unknown k schedule kind %r (one of %s)" % (kind, list(self.KINDS)))
        self.start = int(start)
        self.end = int(start if end is None else end)
        self.steps = int(steps)
        self.kind = "constant" if end is None else kind
        if self.start < 1 or self.end < 1:
            raise ValueError("k schedule values must be >= 1 (start=%d, end=%d)"
                             % (self.start, self.end))
        if self.steps < 1:
            raise ValueError("k schedule steps must be >= 1")

    @classmethod
    def from_config(cls, spec):
        """An int, a callable, a KSchedule or a mapping with start/end/steps/kind -> callable."""
        if spec is None:
            return None
        if isinstance(spec, KSchedule) or callable(spec):
            return spec
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls(int(spec))
        if hasattr(spec, "get"):
            return cls(spec.get("start"), spec.get("end"), spec.get("steps", 1),
                       spec.get("kind", "linear"))
        raise TypeError("k schedule must be an int, a mapping or a callable, got %r" % (spec,))

    def __call__(self, step: int) -> int:
        t = min(max(int(step), 0) / self.steps, 1.0)
        if self.kind == "constant":
            k = self.start
        elif self.kind == "linear":
            k = self.start + (self.end - self.start) * t
        elif self.kind == "cosine":
            k = self.end + (self.start - self.end) * (1 + math.cos(math.pi * t)) / 2
        else:
            k = self.start if step < self.steps else self.end
        return max(1, int(math.floor(k + 0.5)))

    def __repr__(self):
        return "KSchedule(start=%d, end=%d, steps=%d, kind=%r)" % (self.start, self.end,
                                                                   self.steps, self.kind)
