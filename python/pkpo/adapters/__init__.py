"""Trainer adapters: small modules that put pkpo where a trainer computes its advantages.

  pkpo.adapters.verl      a verl advantage estimator, registered as "pkpo" when verl is importable
  pkpo.adapters.trl       TRL GRPOTrainer: the advantage step as a function, and a subclass
  pkpo.adapters.openrlhf  OpenRLHF: the reward-shaping step as a function, and a hook over its
                          experiences
  pkpo.adapters.slime     slime's PKPO fork: drop-ins for slime/utils/pkpo_utils.py's batch calls

Nothing here imports a trainer unless that trainer's adapter is imported; see docs/trainers.md.
The k schedule shared by the adapters lives here (KSchedule).
"""

from __future__ import annotations

import math

__all__ = ["KSchedule"]


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
