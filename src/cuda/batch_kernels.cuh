/*
 * batch_kernels.cuh -- kernels over a whole batch that prepare a transform or a curve, one thread
 * per sample or group: the index entries' reference counts (a repeated entry makes its groups
 * invalid), the largest group of a ragged layout (max_group_size = 0), and the bucketing of a
 * ragged batch's groups by block-path size class.
 */
#ifndef PKPO_CUDA_BATCH_KERNELS_CUH
#define PKPO_CUDA_BATCH_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "keys.cuh"
#include "params.h"
#include "pkpo.h"

namespace pkpo_cuda {

/* refs[i] = number of index entries equal to i (refs zeroed before). */
__global__ void index_refs_kernel(const Params p, unsigned int* refs) {
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < p.num_samples;
       j += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = p.index[j];
    if (i >= 0 && i < p.num_samples) atomicAdd(&refs[i], 1u);
  }
}

/* Largest valid group of a ragged layout (max_group_size = 0 on the host). */
__global__ void max_group_kernel(const Params p) {
  unsigned long long mx = 0;
  for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < p.num_groups;
       g += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = p.offsets[g], e = p.offsets[g + 1];
    if (0 <= b && b <= e && e <= p.num_samples && (unsigned long long)(e - b) > mx) {
      mx = (unsigned long long)(e - b);
    }
  }
  if (mx > 0) atomicMax(&p.status->max_n, mx);
}

/* Block-path size class of group g (kBlockClasses): 0 for n <= 8 and for the invalid groups (the
 * class whose launch flags them), -1 for the large path's groups; the same rule as the warp and
 * group kernels' own test of which groups a launch takes. */
__device__ __forceinline__ int block_class_of(const Params& p, int64_t g) {
  const GroupSpan s = group_span(p, g);
  if (!s.valid || s.n <= 8) return 0;
  if (goes_large(p, s)) return -1;
  int c = 0;
  while ((int64_t(8) << c) < s.n) ++c; /* n <= kBlockMaxN = 8 << 9: at most 9 steps */
  return c;
}

/* Buckets the groups of a ragged call by size class (one thread per group): class c's ids go to
 * bm.list[bm.base[c] ...], in an order that depends on the atomics (every group's results are
 * its own, so the order changes no output bit); one atomic per class present in a warp. A group
 * beyond its class's capacity (only possible when invalid, overlapping offsets make the groups
 * hold more samples than the batch has) is flagged INVALID here, its rho NaN and its outputs
 * untouched, as the large path treats groups beyond its tables. */
template <typename Key>
__global__ void bucket_kernel(const Params p, const BucketMap bm) {
  typedef typename KeyTraits<Key>::Value V;
  const int lane = threadIdx.x & 31;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  /* every lane of a warp runs the same trips (the ballots below) */
  for (int64_t base = (int64_t)blockIdx.x * blockDim.x + (threadIdx.x & ~31u); base < p.num_groups; base += stride) {
    const int64_t g = base + lane;
    const int c = g < p.num_groups ? block_class_of(p, g) : -1;
    unsigned pending = __ballot_sync(0xFFFFFFFFu, c >= 0);
    while (pending) {
      const int leader = __ffs((int)pending) - 1;
      const int cl = __shfl_sync(0xFFFFFFFFu, c, leader);
      const unsigned peers = __ballot_sync(0xFFFFFFFFu, c == cl);
      unsigned first = 0;
      if (lane == leader) first = atomicAdd(&p.status->class_count[cl], (unsigned)__popc(peers));
      first = __shfl_sync(0xFFFFFFFFu, first, leader);
      if (c == cl) {
        const int64_t slot = (int64_t)first + __popc(peers & ((1u << lane) - 1u));
        if (slot < bm.cap[cl]) {
          bm.list[bm.base[cl] + slot] = (unsigned)g;
        } else {
          if (p.flags) p.flags[g] = PKPO_FLAG_INVALID;
          for (int64_t col = 0; col < p.rho_stride; ++col)
            write_rho<V>(p, g, col, __longlong_as_double(0x7FF8000000000000LL));
        }
      }
      pending &= ~peers;
    }
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_BATCH_KERNELS_CUH */
