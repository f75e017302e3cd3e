"""pkpo: pass@k policy optimisation rewards for RL trainers, on the CPU and the GPU.

    import pkpo
    adv = pkpo.transform(rewards, uids, k=4)           # 1-D rewards + one group id per sample
    adv = pkpo.transform(rewards_2d, k=4)              # [num_groups, group_size]
    curve, groups = pkpo.rho_curve(rewards, uids, ks=[1, 4, 16])   # pass@k / maxg@k per group
    adv = pkpo.transform(rewards, uids, k=[1, 4, 16], k_weights=[1, 0.25, 0.0625])  # a mixture
    adv = pkpo.transform(rewards, uids, k=4, statistic="min")   # pass^k: all k succeed

Arrays: numpy (and anything numpy can view: lists, __dlpack__ or array-interface host arrays),
torch tensors on the CPU or a CUDA device, CuPy arrays. Host arrays run on the CPU backend, CUDA
arrays on the CUDA backend on the array's device and the framework's current stream, without host
copies. The result has the input's type, device and dtype (float16/bfloat16 are computed in float32;
integer rewards give float64). The math is described in docs/math.md of the repository.
"""

from __future__ import annotations

from . import _capi, _frontend, mixture
from . import _dlpack_bridge
from ._info import build_info
from ._capi import (ESTIMATORS, FLAG_EMPTY, FLAG_FALLBACK, FLAG_INVALID, FLAG_K_CLAMPED,
                    FLAG_NONFINITE, FLAG_SINGLETON, STATISTICS, PkpoError, cuda_available,
                    flag_names, library_path, version, version_string)

__version__ = _capi.version_string()

__all__ = [
    "transform", "rho_curve", "mixture", "PkpoError", "ESTIMATORS", "STATISTICS", "version",
    "version_string",
    "cuda_available", "library_path", "flag_names", "FLAG_SINGLETON", "FLAG_K_CLAMPED",
    "FLAG_NONFINITE", "FLAG_FALLBACK", "FLAG_EMPTY", "FLAG_INVALID", "__version__",
    "build_info",
]


def transform(rewards, group_ids=None, *, k, k_weights=None, statistic="max",
              estimator="sloo_minus_one", nonfinite="exclude", k_policy="clamp",
              response_mask=None, out=None, process_group=None):
    """Transformed rewards of every group: the per-sample weights whose policy gradient is an
    unbiased estimate of the gradient of pass@k (binary rewards) or maxg@k (continuous rewards).

    rewards        [G, n] (G groups of n samples; group_ids omitted), or 1-D [N] with group_ids.
    group_ids      one id per sample, any order: an integer array, or any sequence of hashables
                   such as verl's uid strings. Groups are numbered by first appearance.
    k              an int, or one value per group (in first-appearance order), e.g. annealing.
                   With k_weights: the ks of a mixture's terms.
    k_weights      a mixture over k: one finite weight per entry of k; the objective is
                   sum_j k_weights[j] * pass@k[j], computed exactly in one pass per group (see
                   pkpo.mixture.harmonic / uniform). Does not combine with per-group k. Host
                   sequences are copied where the rewards live; device arrays of int64 terms and
                   float64 weights on the rewards' device are read in place (CUDA graphs).
    statistic      "max" (default: pass@k / maxg@k, the best of k) or "min" (pass^k: all k
                   succeed; for continuous rewards the expected worst of k), defined as
                   -transform(-rewards) output by output (zeros become -0.0).
    estimator      "sloo_minus_one" (default, the paper's recommendation), "s", "sloo", "l2o".
    nonfinite      "exclude" (NaN/Inf samples leave their group and get 0), "propagate", "error".
    k_policy       "clamp" (k > n computed at k = n) or "strict" (error).
    response_mask  optional [N, T]: return token-level values [N, T] = value x mask, as trainers
                   feed them to the loss.
    out            optional preallocated result (written when dtype, shape and device match).
    process_group  torch.distributed group whose ranks each hold part of the batch: the call
                   gathers rewards and ids, computes, and returns this rank's slice.

    Returns an array of the input's type, device and dtype (shape of rewards, or [N, T]).
    Raises PkpoError (a ValueError) with the library's status and message.
    """
    if process_group is not None:
        from . import distributed
        return distributed.transform(rewards, group_ids, process_group=process_group, k=k,
                                     k_weights=k_weights, statistic=statistic,
                                     estimator=estimator, nonfinite=nonfinite, k_policy=k_policy,
                                     response_mask=response_mask, out=out)
    if _frontend.is_torch_tensor(rewards):
        return _torch_transform(rewards, group_ids, k, estimator, nonfinite, k_policy,
                                response_mask, out, k_weights, statistic)
    if _dlpack_bridge.is_foreign_cuda(rewards):  # JAX on a GPU: viewed by CuPy or torch
        return _dlpack_bridge.call(transform, rewards, group_ids, k=k, k_weights=k_weights,
                                   statistic=statistic, estimator=estimator,
                                   nonfinite=nonfinite, k_policy=k_policy,
                                   response_mask=response_mask, out=out)
    A = _frontend.adapter_for(rewards)
    res = _frontend.transform_arrays(A, rewards, group_ids, k, estimator, nonfinite, k_policy,
                                     response_mask, out, k_weights, statistic)
    return res if out is not None else _frontend.wrap_result(rewards, res)


def rho_curve(rewards, group_ids=None, *, ks, statistic="max", nonfinite="exclude",
              k_policy="clamp"):
    """Unbiased pass@k (binary) / maxg@k (continuous) estimate of every group at each k in ks,
    with one sort per group: for metrics such as pass@1, pass@4, pass@16 of a batch.
    statistic="min" gives pass^k (all k succeed) / the expected worst of k: -rho_curve(-rewards).

    Returns (curve, groups): curve [G, len(ks)] (float32 for float32/16 rewards, else float64) of
    the input's array type and device; groups the group ids in the curve's row order (first
    appearance): range(G) as an int64 array for 2-D rewards, the caller's ids otherwise.
    k above a group's size follows k_policy ("clamp": the value at k = n)."""
    if _frontend.is_torch_tensor(rewards):
        torch_ops = _frontend.torch_ops()
        ids = _torch_group_ids(rewards, group_ids)
        ks_list = _ks_list(ks)
        curve, first = torch_ops.rho_curve(rewards.detach(), ids[0], ks_list, nonfinite, k_policy,
                                           statistic)
        if group_ids is None:
            return curve, first // rewards.shape[1] if rewards.dim() == 2 else first
        return curve, ids[1](first.cpu().numpy())
    if _dlpack_bridge.is_foreign_cuda(rewards):  # JAX on a GPU: viewed by CuPy or torch
        return _dlpack_bridge.call(rho_curve, rewards, group_ids, ks=ks, statistic=statistic,
                                   nonfinite=nonfinite, k_policy=k_policy)
    A = _frontend.adapter_for(rewards)
    curve, groups = _frontend.rho_curve_arrays(A, rewards, group_ids, ks, nonfinite, k_policy,
                                               statistic)
    return _frontend.wrap_result(rewards, curve), groups


# ---- torch: through the registered custom ops --------------------------------------------------

def _ks_list(ks):
    """ks as a list of Python ints, checked without numpy (this runs under torch.compile)."""
    vals = ks.tolist() if hasattr(ks, "tolist") else ([ks] if isinstance(ks, int) else list(ks))
    if not isinstance(vals, list):
        vals = [vals]
    if not vals:
        raise ValueError("ks is empty: pass at least one k")
    for v in vals:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError("ks must hold integers, got %r" % (v,))
    return vals


def _torch_group_ids(rewards, group_ids):
    """(integer tensor on the rewards' device or None, labels(first positions))."""
    import numpy as np
    import torch
    if group_ids is None:
        return None, None
    if isinstance(group_ids, torch.Tensor) and not group_ids.is_floating_point():
        ids = group_ids.to(device=rewards.device, dtype=torch.int64)
        return ids, (lambda first: group_ids.reshape(-1)[torch.as_tensor(first,
                                                                          device=group_ids.device)])
    from ._grouping import codes_and_labels
    codes, labels = codes_and_labels(group_ids if not isinstance(group_ids, torch.Tensor)
                                     else group_ids.cpu().numpy())
    return torch.as_tensor(np.asarray(codes), device=rewards.device), labels


def _torch_mixture(k, k_weights, device):
    """A mixture's terms and weights as int64 / float64 tensors on the rewards' device (tensors
    already so pass through), checked in plain Python: this runs under torch.compile."""
    import torch
    terms = _torch_1d(k, torch.int64, "k (the mixture's terms)", device)
    weights = _torch_1d(k_weights, torch.float64, "k_weights", device)
    if terms.numel() != weights.numel():
        raise ValueError("k lists %d term(s) but k_weights has %d: one weight per k"
                         % (terms.numel(), weights.numel()))
    if terms.numel() == 0:
        raise ValueError("the mixture has no terms: pass at least one k and one weight")
    return terms, weights


def _torch_1d(vals, dtype, what, device):
    import numpy as np
    import torch
    integral = dtype == torch.int64
    kind = "integers" if integral else "real numbers"
    if isinstance(vals, torch.Tensor):
        if vals.is_complex() or vals.dtype == torch.bool or (integral and
                                                             vals.is_floating_point()):
            raise TypeError("%s must hold %s, got %s values" % (what, kind, vals.dtype))
        return vals.detach().reshape(-1).to(device=device, dtype=dtype)
    if hasattr(vals, "tolist"):
        vals = vals.tolist()
    vals = list(vals) if isinstance(vals, (list, tuple)) else [vals]
    ok = (int, np.integer) if integral else (int, float, np.integer, np.floating)
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, ok):
            raise TypeError("%s must hold %s, got %r" % (what, kind, v))
    return torch.tensor([int(v) if integral else float(v) for v in vals], dtype=dtype,
                        device=device)


def _torch_transform(rewards, group_ids, k, estimator, nonfinite, k_policy, response_mask, out,
                     k_weights=None, statistic="max"):
    import torch
    torch_ops = _frontend.torch_ops()
    terms = weights = kpg = None
    if k_weights is not None:
        terms, weights = _torch_mixture(k, k_weights, rewards.device)
        kk = 1
    else:
        kk = _frontend.scalar_k(k)
        if kk is None:
            _frontend.check_int_array(k, "per-group k")
            kpg, kk = torch.as_tensor(k, dtype=torch.int64, device=rewards.device).reshape(-1), 1
    shape = tuple(rewards.shape)
    if response_mask is not None:
        response_mask = torch.as_tensor(response_mask, device=rewards.device)
        shape = _frontend.mask_shape(_frontend.TorchAdapter(rewards.device), response_mask,
                                     rewards.numel())
    if out is not None:
        _frontend.check_out(out, shape)
        if out.device != rewards.device:
            raise ValueError("out is on %s, rewards on %s" % (out.device, rewards.device))
    ids, _ = _torch_group_ids(rewards, group_ids)
    # Rewards carry no gradient here: advantages are constants of the policy-gradient loss.
    res = torch_ops.transform(rewards.detach(), ids, kpg, kk, estimator, nonfinite, k_policy,
                              terms, weights, statistic)
    if response_mask is not None:
        res = _frontend.TorchAdapter(rewards.device).mask_multiply(res, response_mask, res.dtype)
    if out is not None:
        out.copy_(res)
        return out
    return res


if _frontend.torch_loaded():
    try:
        _frontend.torch_ops()  # register the custom ops now, before anything is traced
    except ImportError:  # torch < 2.4: numpy arrays still work; torch calls raise the reason
        pass
