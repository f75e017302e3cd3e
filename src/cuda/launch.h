/*
 * launch.h -- the launchers of src/cuda (host code): workspace layout, and the sequences of kernels
 * behind pkpo_transform, pkpo_rho_curve and pkpo_group_by_id. Every function returns the first
 * failing cudaError_t; backend.cu maps it to a pkpo_status.
 */
#ifndef PKPO_CUDA_LAUNCH_H
#define PKPO_CUDA_LAUNCH_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "params.h"

namespace pkpo_cuda {

/* Host-known shape of a batch. max_n: the largest group (uniform: group_size). */
struct Shape {
  int64_t num_groups;
  int64_t num_samples;
  int64_t max_n;
  int64_t uniform_n; /* 0 for ragged */
  size_t elem_bytes; /* 4 or 8 */
  bool has_index;    /* desc->index != NULL: the duplicate-entry check needs num_samples counters */
  int sm_count;      /* the device's multiprocessors (how many runs a merge block takes) */
};

/* Byte offsets of the workspace regions (all 256-byte aligned) and the total. `refs` exists only
 * with an index; the regions after it only when the large path is needed (max_n > kBlockMaxN). */
struct WsLayout {
  bool large;
  int64_t tiles_bound;     /* upper bound on the tiles of all large groups */
  int64_t tiles_per_group; /* uniform layout: tiles of each group (no tile_base scan); 0 ragged */
  int merge_passes;        /* merge passes after the tile sort (0 with whole_sort) */
  int merge_chunks;        /* 4096-key output chunks per merge block (1..kMergeChunks) */
  bool whole_sort;         /* uniform layout with one group: a multi-block cub::DeviceRadixSort of
                              all N keys instead of the merge passes */
  /* Ragged layouts whose block path spans three or more size classes (max_n > 16): the groups are
   * bucketed by class on the device first (bucket_kernel), so that each class's launch visits only
   * its own groups; BucketMap's base and cap, in entries of the lists at `buckets`. */
  bool bucketed;
  int64_t bucket_base[kBlockClasses], bucket_cap[kBlockClasses];
  /* A uniform large batch of several groups: the row bank of m = bank_m (0: none) at `bank` (4 rows
   * of bank_m doubles) and `bank_head` (large_bank_kernel). */
  int64_t bank_m;
  size_t status, refs, keys_a, keys_b, local, gbad, gnone, agg, ntiles, tile_base, scan_tmp, sort_tmp,
      buckets, bank, bank_head;
  size_t scan_tmp_bytes, sort_tmp_bytes;
  size_t total;
};

/* Largest group the large path supports (reported as PKPO_ERROR_UNSUPPORTED beyond it): below 2^30,
 * a group's positions and ranks, and a merge pass's quad offsets (four lists of up to half the
 * group), fit an int in the kernels. */
constexpr int64_t kMaxLargeGroup = (int64_t(1) << 30) - 1;

/* Once per device, before its first launch (pkpo_create): lets the kernels that need more than
 * 48 KiB of dynamic shared memory use it (cudaFuncSetAttribute). cudaErrorNotSupported if the
 * device allows a block less than they need (no sm_80+ device does). */
cudaError_t prepare_device(int device);

/* Fills *L for `sh`. cudaErrorNotSupported if the sizes are beyond what the kernels support
 * (a group over kMaxLargeGroup on the large path, or more than INT_MAX groups there) or size_t
 * arithmetic would overflow; any other error comes from a CUB size query and is returned as is.
 * No device work, no synchronisation. */
cudaError_t plan_workspace(const Shape& sh, WsLayout* L);

/* Queues the transform of `p` (pointers, layout, policies; status/gbad/large are filled here) on
 * `stream` using the workspace `ws` laid out as L. */
cudaError_t launch_transform(Params p, const Shape& sh, const WsLayout& L, void* ws,
                             cudaStream_t stream);

/* Queues a pass@k curve: rho[g * num_ks + j] at h_ks[j] (host array). */
cudaError_t launch_rho_curve(Params p, const Shape& sh, const WsLayout& L, void* ws,
                             const int64_t* h_ks, int64_t num_ks, cudaStream_t stream);

/* Queues the reset of the device status and the max-group reduction of a ragged layout. */
cudaError_t launch_max_group(Params p, void* ws, cudaStream_t stream);

/* Queues the reset of the device status (one memset of zeros). */
cudaError_t reset_status(void* ws, cudaStream_t stream);

/* group_by_id: scratch bytes for num_samples ids, and the queued computation in two steps. The
 * first queues the range of the ids (the caller reads back *d_range: two uint64, the smallest id
 * and the largest, each biased by 2^63 and the first bit-inverted; decode with id_range()). The
 * second writes offsets (num_groups+1 entries), index, and into the scratch the count of groups and
 * the largest group (read back by the caller at *d_counts: two int64); its radix sort of the ids
 * covers only the bits in which they differ from the smallest. */
cudaError_t group_by_id_scratch(int64_t num_samples, size_t* bytes);
cudaError_t launch_group_by_id_range(const int64_t* ids, int64_t num_samples, void* scratch,
                                     size_t scratch_bytes, uint64_t** d_range, cudaStream_t stream);
void id_range(const uint64_t range[2], int64_t* id_min, int64_t* id_max);
cudaError_t launch_group_by_id(const int64_t* ids, int64_t num_samples, int64_t id_min, int64_t id_max,
                               int64_t* offsets, int64_t* index, void* scratch, size_t scratch_bytes,
                               int64_t** d_counts, cudaStream_t stream);

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LAUNCH_H */
