/*
 * group_by_id_kernels.cuh -- device code of pkpo_group_by_id (launcher in group_by_id.cu).
 *
 * After a stable radix sort of (id, position) pairs, equal ids form runs whose positions ascend
 * (stability), so a run's first element is the id's first appearance. Runs are then ordered by that
 * first position, which numbers the groups in order of first appearance as pkpo.h requires.
 * One thread per element or per run; int64 indices throughout.
 */
#ifndef PKPO_CUDA_GROUP_BY_ID_KERNELS_CUH
#define PKPO_CUDA_GROUP_BY_ID_KERNELS_CUH

#include <stdint.h>

namespace pkpo_cuda {

#define PKPO_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void gbi_iota_kernel(int64_t* x, int64_t n) {
  PKPO_GRID_STRIDE(i, n) x[i] = i;
}

/* head[i] = 1 where a run of equal sorted ids starts. */
__global__ void gbi_heads_kernel(const int64_t* sid, int64_t n, int64_t* head) {
  PKPO_GRID_STRIDE(i, n) head[i] = (i == 0 || sid[i] != sid[i - 1]) ? 1 : 0;
}

/* The range of the ids: range[0] = max of ~(id ^ 2^63), range[1] = max of (id ^ 2^63), so that
 * the all-zero reset is the identity of both (unsigned order of id ^ 2^63 is the signed order). */
__global__ void gbi_range_kernel(const int64_t* ids, int64_t n, unsigned long long* range) {
  unsigned long long lo = 0, hi = 0;
  PKPO_GRID_STRIDE(i, n) {
    const unsigned long long u = (unsigned long long)ids[i] ^ 0x8000000000000000ull;
    lo = ~u > lo ? ~u : lo;
    hi = u > hi ? u : hi;
  }
  atomicMax(&range[0], lo);
  atomicMax(&range[1], hi);
}

/* Sort keys: the ids less the smallest, as unsigned (exact: the difference is below 2^64). */
__global__ void gbi_keys_kernel(const int64_t* ids, int64_t n, int64_t id_min, unsigned long long* keys) {
  PKPO_GRID_STRIDE(i, n) keys[i] = (unsigned long long)ids[i] - (unsigned long long)id_min;
}

/* Fill x with `value`. */
__global__ void gbi_fill_kernel(int64_t* x, int64_t n, int64_t value) {
  PKPO_GRID_STRIDE(i, n) x[i] = value;
}

/* run_id[i] = inclusive count of heads up to i (so run r = run_id - 1). For each head: the run's
 * first position and its start in sorted order. */
__global__ void gbi_runs_kernel(const int64_t* sid, const int64_t* spos, const int64_t* run_id,
                                int64_t n, int64_t* first_pos, int64_t* run_start) {
  PKPO_GRID_STRIDE(i, n) {
    if (i == 0 || sid[i] != sid[i - 1]) {
      const int64_t r = run_id[i] - 1;
      first_pos[r] = spos[i];
      run_start[r] = i;
    }
  }
}

/* For group g (< R = run_id[n-1]): its run order[g], inverse map inv[run] = g, and its size.
 * size[g] = 0 for g >= R, so an exclusive scan over n+1 entries gives offsets. Also the count of
 * groups and the largest size (counts[0], counts[1]). */
__global__ void gbi_sizes_kernel(const int64_t* order, const int64_t* run_start, const int64_t* run_id,
                                 int64_t n, int64_t* inv, int64_t* size,
                                 unsigned long long* counts) {
  const int64_t R = run_id[n - 1];
  PKPO_GRID_STRIDE(g, n + 1) {
    int64_t len = 0;
    if (g < R) {
      const int64_t r = order[g];
      const int64_t end = r + 1 < R ? run_start[r + 1] : n;
      len = end - run_start[r];
      inv[r] = g;
      atomicMax(&counts[1], (unsigned long long)len);
    }
    size[g] = len;
    if (g == 0) counts[0] = (unsigned long long)R;
  }
}

/* index[offsets[g] + (i - run_start[r])] = spos[i] for sorted element i of run r = group g; and
 * offsets[0..R] copied out of the scan buffer. */
__global__ void gbi_scatter_kernel(const int64_t* spos, const int64_t* run_id, const int64_t* run_start,
                                   const int64_t* inv, const int64_t* offs, int64_t n, int64_t* index,
                                   int64_t* offsets) {
  const int64_t R = run_id[n - 1];
  PKPO_GRID_STRIDE(i, n) {
    const int64_t r = run_id[i] - 1;
    const int64_t g = inv[r];
    index[offs[g] + (i - run_start[r])] = spos[i];
    if (i <= R) offsets[i] = offs[i];
  }
  /* n + 1 > n threads are never needed: R <= n, and offsets[R] = n is covered when R < n by
   * i = R; when R == n (all ids distinct) the last entry is written here. */
  if (blockIdx.x == 0 && threadIdx.x == 0 && R == n) offsets[n] = offs[n];
}

#undef PKPO_GRID_STRIDE

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_GROUP_BY_ID_KERNELS_CUH */
