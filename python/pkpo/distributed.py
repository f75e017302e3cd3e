"""Groups whose samples are spread over data-parallel ranks (torch.distributed).

`pkpo.transform(..., process_group=pg)` lands here. Each rank passes its own samples: rewards [N_r]
and one group id per sample. The rewards and ids are gathered over `pg` with torch.distributed
collectives (one value per sample, so the traffic is tiny), every rank runs the single-process
`pkpo.transform` on the same gathered batch (rank 0's samples first, then rank 1's, ...), and each
rank gets back the slice for its own samples. Because every rank computes on identical inputs,
the result is bitwise equal to one process calling `pkpo.transform` on the concatenated batch,
whatever way the samples were split (a rank may hold no sample of a group, or no sample at all).

Collectives used, in this order, by every rank of `pg` (so every rank must call it):
  all_gather   sample counts (int64, one per rank)
  all_gather   rewards, padded to the largest count
  all_gather   integer group ids, padded likewise     -- or --
  all_gather_object  the ids as a list, when they are not integers (verl's uid strings)

Tensors travel through the CPU with gloo (and MPI), through the GPU with NCCL (CPU rewards are
copied to the current CUDA device for the collectives), on the rewards' device otherwise. The
computation runs where the rewards live (the CPU backend for CPU tensors and numpy arrays).

Per-group k (an array) is indexed by the groups of the gathered batch in first-appearance order
(rank 0's groups first); prefer one int k, or a k schedule that depends on the step only.
"""

from __future__ import annotations

__all__ = ["transform", "gather"]


def _is_int_ids(ids):
    import numpy as np
    import torch

    if torch.is_tensor(ids):
        return not ids.is_floating_point() and not ids.is_complex() and ids.dtype != torch.bool
    if isinstance(ids, np.ndarray):
        return ids.dtype.kind in "iu"
    return False


def _all_gather_padded(t, counts, group):
    """all_gather of 1-D tensors of unequal lengths: pad to the longest, gather, trim, concatenate."""
    import torch
    import torch.distributed as dist

    longest = max(counts)
    if longest == 0:
        return t.new_empty((0,))
    padded = t.new_zeros((longest,))
    padded[: t.numel()] = t
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded, group=group)
    return torch.cat([p[:c] for p, c in zip(parts, counts)])


def gather(rewards, group_ids, *, process_group):
    """Gathers one rank's rewards [N_r] and group ids over `process_group`.

    Returns (all_rewards, all_ids, offset): the concatenation over ranks in rank order (a torch
    tensor on the rewards' device; ids as an int64 tensor, or a list for non-integer ids) and
    where this rank's samples start in it."""
    import numpy as np
    import torch
    import torch.distributed as dist

    group = process_group
    r = rewards if torch.is_tensor(rewards) else torch.from_numpy(np.ascontiguousarray(rewards))
    r = r.detach()
    if r.dim() != 1:
        raise ValueError("process_group= needs flat rewards [N] with one group id per sample "
                         "(got shape %s; [G, n] rows are whole groups already: call without "
                         "process_group)" % (tuple(r.shape),))
    if group_ids is None:
        raise ValueError("process_group= needs group_ids: the samples of a group may sit on "
                         "several ranks, and only the ids say which belong together")
    n_ids = int(group_ids.numel()) if torch.is_tensor(group_ids) else len(group_ids)
    if n_ids != r.numel():
        raise ValueError("group_ids has %d entries for %d rewards" % (n_ids, r.numel()))

    backend = str(dist.get_backend(group))
    if backend == "nccl":  # NCCL moves CUDA tensors only
        comm_dev = r.device if r.is_cuda else torch.device("cuda", torch.cuda.current_device())
    elif backend in ("gloo", "mpi"):
        comm_dev = torch.device("cpu")
    else:  # e.g. "cpu:gloo,cuda:nccl": either device works
        comm_dev = r.device
    world = dist.get_world_size(group)
    count = torch.tensor([r.numel()], dtype=torch.int64, device=comm_dev)
    counts_t = [torch.empty_like(count) for _ in range(world)]
    dist.all_gather(counts_t, count, group=group)
    counts = [int(c.item()) for c in counts_t]
    offset = sum(counts[: dist.get_rank(group)])

    all_r = _all_gather_padded(r.to(comm_dev), counts, group).to(r.device)
    if _is_int_ids(group_ids):
        ids = group_ids.detach() if torch.is_tensor(group_ids) else torch.from_numpy(
            np.ascontiguousarray(group_ids))
        all_ids = _all_gather_padded(ids.reshape(-1).to(device=comm_dev, dtype=torch.int64),
                                     counts, group).cpu()
    else:
        lists = [None] * world
        dist.all_gather_object(lists, list(group_ids), group=group)
        all_ids = [x for part in lists for x in part]
    return all_r, all_ids, offset


def transform(rewards, group_ids, *, process_group, **kwargs):
    """pkpo.transform over samples spread across the ranks of `process_group`; see the module
    docstring. Takes the keywords of pkpo.transform (k, k_weights, statistic, estimator,
    nonfinite, k_policy, response_mask, out) and returns this rank's slice, of the input's type, device and dtype
    (token-level [N_r, T] with response_mask)."""
    import numpy as np
    import torch

    import pkpo

    response_mask = kwargs.pop("response_mask", None)
    out = kwargs.pop("out", None)
    kwargs.pop("process_group", None)
    is_numpy = not torch.is_tensor(rewards)
    n_local = len(rewards) if is_numpy else int(rewards.numel())

    if response_mask is not None:  # checked before any collective, so no rank waits on us
        shape = tuple(response_mask.shape)
        if len(shape) != 2 or shape[0] != n_local:
            raise ValueError("response_mask must be [num_samples, T] = [%d, T], got %s"
                             % (n_local, shape))
    all_r, all_ids, offset = gather(rewards, group_ids, process_group=process_group)
    if all_r.numel() == 0:
        local = all_r
    else:
        local = pkpo.transform(all_r, all_ids, **kwargs)[offset: offset + n_local]
    if is_numpy:
        local = local.cpu().numpy()
    if response_mask is not None:
        # The per-sample value times the mask, as pkpo.transform(response_mask=) defines it; the
        # mask stays on its rank (it is [N_r, T], and only this rank needs it).
        if is_numpy:
            local = local.reshape(-1, 1) * np.asarray(response_mask).astype(local.dtype, copy=False)
        else:
            local = local.reshape(-1, 1) * response_mask.to(device=local.device, dtype=local.dtype)
    if out is not None:
        if torch.is_tensor(out):
            out.copy_(local)
        else:
            out[...] = local
        return out
    return local
