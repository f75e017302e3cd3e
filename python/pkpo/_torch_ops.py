"""pkpo's calls as torch custom ops (torch.library.custom_op), so that torch.compile (also with
fullgraph=True) and CUDA-graph capture see them as single opaque ops with known output shapes.

    torch.ops.pkpo.transform(rewards, group_ids, k_per_group, k, estimator, nonfinite, k_policy,
                             k_terms=None, k_weights=None, statistic="max")
        -> Tensor shaped and typed like rewards
    torch.ops.pkpo.rho_curve(rewards, group_ids, ks, nonfinite, k_policy, statistic="max")
        -> (curve [G, len(ks)] in float32 or float64, first [G]: each group's first sample)

k_terms / k_weights (int64 / float64 tensors on the rewards' device, or both None) make the call
a mixture over k; k_per_group and k are then unused.

Registered on first use of pkpo with torch tensors, or at `import pkpo` when torch is already
imported. Group ids here are integer tensors; pkpo.transform maps uid strings to integers first.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor

from . import _frontend


@torch.library.custom_op("pkpo::transform", mutates_args=())
def transform(rewards: Tensor, group_ids: Optional[Tensor], k_per_group: Optional[Tensor],
              k: int, estimator: str, nonfinite: str, k_policy: str,
              k_terms: Optional[Tensor] = None, k_weights: Optional[Tensor] = None,
              statistic: str = "max") -> Tensor:
    A = _frontend.TorchAdapter(rewards.device)
    if k_weights is not None:
        kk = k_terms
    else:
        kk = k_per_group if k_per_group is not None else k
    return _frontend.transform_arrays(A, rewards, group_ids, kk, estimator, nonfinite, k_policy,
                                      None, None, k_weights, statistic)


@transform.register_fake
def _(rewards, group_ids, k_per_group, k, estimator, nonfinite, k_policy, k_terms=None,
      k_weights=None, statistic="max"):
    dtype = rewards.dtype if rewards.is_floating_point() else torch.float64
    return torch.empty(rewards.shape, dtype=dtype, device=rewards.device)


@torch.library.custom_op("pkpo::rho_curve", mutates_args=())
def rho_curve(rewards: Tensor, group_ids: Optional[Tensor], ks: List[int], nonfinite: str,
              k_policy: str, statistic: str = "max") -> Tuple[Tensor, Tensor]:
    A = _frontend.TorchAdapter(rewards.device)
    curve, b = _frontend.rho_curve_core(A, rewards, group_ids, ks, nonfinite, k_policy,
                                        statistic)
    if group_ids is None:
        first = torch.arange(b.num_groups, device=curve.device) * rewards.shape[1]
    else:
        first = b.index[b.offsets[: b.num_groups]]
    return curve, first


@rho_curve.register_fake
def _(rewards, group_ids, ks, nonfinite, k_policy, statistic="max"):
    dtype = torch.float64 if rewards.dtype == torch.float64 or not rewards.is_floating_point() \
        else torch.float32
    if group_ids is None:
        G = rewards.shape[0]
    else:
        G = torch.library.get_ctx().new_dynamic_size()
    curve = torch.empty((G, len(ks)), dtype=dtype, device=rewards.device)
    return curve, torch.empty((G,), dtype=torch.int64, device=rewards.device)
