/*
 * large_common.cuh -- what the kernels of the large path (groups of n > kBlockMaxN) share, and the
 * tile and run arithmetic the host's workspace plan shares with them.
 *
 * The large path sorts each group's keys (large_sort_kernels.cuh: 4096-key runs sorted in shared
 * memory, then merged four at a time; one uniform group: CUB's radix sort of the whole array), then
 * runs a tile pass once per 2048-rank tile in a reduce-then-scan (large_tile_kernels.cuh: stages
 * TAIL, only for sloo, and TERMS, each followed by a one-block-per-group kernel that turns the tile
 * totals into per-tile carries in a fixed order), and scatters the outputs from sorted order back
 * to the samples (large_scatter_kernels.cuh; for uniform groups of at most kLargeFoldTiles tiles it
 * forms the TERMS carries itself). The uniform layout maps blocks to (group, tile) arithmetically;
 * a ragged one through a scan of the groups' tile counts (even counts, so that run j of the batch
 * is tiles 2j and 2j + 1).
 *
 * All arithmetic of the large path is float64 (group_math.cuh); float32 outputs are rounded once,
 * when stored. Indices of samples are int64 everywhere; ranks inside one group are int (n <
 * kMaxLargeGroup < 2^31).
 */
#ifndef PKPO_CUDA_LARGE_COMMON_CUH
#define PKPO_CUDA_LARGE_COMMON_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "group_math.cuh"
#include "model_region.h"
#include "params.h"

namespace pkpo_cuda {

/* The large path sizes its per-tile tables (TileAgg slots) for tiles_bound tiles, computed on the host
 * from N alone, and the device numbers the tiles of the large groups by an exclusive scan of their
 * tile counts. For a valid layout (disjoint groups) the sum never exceeds the bound. Offsets that are
 * valid group by group but overlap (e.g. 0, N, 0, N, ...: every other group is [0, N)) can sum to
 * more, so every large-path kernel treats a group whose tiles end past the bound as invalid: no
 * kernel may index a per-tile table at or beyond tiles_bound. */

/* Tiles of a group of n samples on the large path (callers pass n > tile). */
PKPO_HD int64_t large_tile_count(int64_t n, int64_t tile) { return (n + tile - 1) / tile; }

/* Four-way merge passes that sort a group of n keys whose runs of `run` keys are sorted:
 * ceil(log4(runs)) (the device's per-group count, and the host's count for the largest group). */
PKPO_HD int large_merge_pass_count(int64_t n, int64_t run) {
  const int64_t runs = large_tile_count(n, run);
  int passes = 0;
  PKPO_REGION_BEGIN(merge_pass_count);
  while ((int64_t(1) << (2 * passes)) < runs) ++passes;
  PKPO_REGION_END(merge_pass_count);
  return passes;
}

/* Upper bound on the tiles of all large groups (groups of more than `tile` samples). Uniform: exactly
 * G * ceil(n / tile). Ragged: every large group has n > tile, so ceil(n / tile) < 2n / tile and the
 * sum over disjoint groups is below 2N / tile. */
PKPO_HD int64_t large_tiles_bound(int64_t num_samples, int64_t num_groups, int64_t uniform_n,
                                  int64_t tile) {
  return uniform_n > 0 ? num_groups * large_tile_count(uniform_n, tile) : 2 * num_samples / tile + 1;
}

/* A large group's tiles [tile_base[g], tile_end) all have slots in the per-tile tables. */
PKPO_HD bool large_tiles_fit(int64_t tile_end, int64_t tiles_bound) { return tile_end <= tiles_bound; }


enum Stage { STAGE_TAIL = 1, STAGE_TERMS = 2 }; /* the tile pass's stages (large_tile_pass) */

/* Where the tiles of each group start in the per-tile tables. Uniform layout: group g owns tiles
 * [g * per_group, (g+1) * per_group) (no table, no scan; a group that is not large, e.g. k < 1,
 * owns its tiles too and every kernel skips them). Ragged: base[g] is the exclusive scan of the
 * groups' tile counts (0 for groups the block path handles), num_groups + 1 entries. */
struct TileMap {
  const int64_t* base; /* ragged; nullptr for the uniform layout */
  int64_t per_group;   /* uniform: tiles of every group */
};

__device__ __forceinline__ int64_t tiles_before(const TileMap& tm, int64_t g) {
  return tm.base ? tm.base[g] : g * tm.per_group;
}

/* Which (group, tile) block `b` of a large-path grid handles. Returns false if b is past the last
 * tile. */
__device__ __forceinline__ bool tile_owner(const TileMap& tm, int64_t num_groups, int64_t b, int64_t* g,
                                           int64_t* tile) {
  if (!tm.base) {
    if (b >= num_groups * tm.per_group) return false;
    *g = b / tm.per_group;
    *tile = b - *g * tm.per_group;
    return true;
  }
  PKPO_REGION_BEGIN(ragged_tile_map);
  const int64_t* tile_base = tm.base;
  if (b >= tile_base[num_groups]) return false;
  int64_t lo = 0, hi = num_groups; /* last g with tile_base[g] <= b */
  PKPO_REGION_BEGIN(tile_owner_search);
  while (hi - lo > 1) {
    const int64_t mid = lo + ((hi - lo) >> 1);
    if (tile_base[mid] <= b) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  PKPO_REGION_END(tile_owner_search);
  *g = lo;
  *tile = b - tile_base[lo];
  PKPO_REGION_END(ragged_tile_map);
  return true;
}

/* Which (group, 4096-key run) is run b of the batch (the run sort's blocks, the merge passes'
 * output chunks). Uniform layout: g * runs_per_group + run (a group of T 2048-rank tiles has
 * ceil(T / 2) runs). Ragged: tiles 2b and 2b + 1 (every group's tiles start at an even tile,
 * large_plan_kernel). False past the last run. */
__device__ __forceinline__ bool run_owner(const TileMap& tm, int64_t num_groups, int64_t b, int64_t* g,
                                          int64_t* run) {
  if (!tm.base) {
    const int64_t runs = (tm.per_group + 1) / 2;
    if (b >= num_groups * runs) return false;
    *g = b / runs;
    *run = b - *g * runs;
    return true;
  }
  int64_t tile;
  if (!tile_owner(tm, num_groups, 2 * b, g, &tile)) return false;
  *run = tile / 2;
  return true;
}

/* Merge passes that sort a group of n keys whose 4096-key runs are sorted. */
__device__ __forceinline__ int large_merge_passes(int64_t n) { return large_merge_pass_count(n, kSortTile); }

/* The two key buffers of the large path. Each group's keys end up sorted in one of them (the other
 * then holds its sorted outputs): after the merge sort, in b if the group took an odd number of
 * merge passes (every pass moves a group's keys to the other buffer, and a group takes part only
 * in the passes it needs); after the whole-array sort, where CUB's DoubleBuffer says. */
struct LargeKeys {
  void* a;
  void* b;
  int whole; /* -1: merge sort; 0 / 1: the whole-array sort's result is in a / b */
  double* local; /* float32: the tile-local outputs (N doubles); float64: nullptr, the other key buffer */
};

__device__ __forceinline__ bool large_sorted_in_b(const LargeKeys& lk, int64_t n) {
  return lk.whole >= 0 ? lk.whole != 0 : (large_merge_passes(n) & 1) != 0;
}

template <typename Key>
__device__ __forceinline__ const Key* large_sorted(const LargeKeys& lk, const GroupSpan& s) {
  return static_cast<const Key*>(large_sorted_in_b(lk, s.n) ? lk.b : lk.a) + s.begin;
}

/* The tile-local outputs of a group's sorted ranks (large_tile_pass, STAGE_TERMS of a transform),
 * float64: for float64 keys the buffer that does not hold the group's sorted keys. */
template <typename Key>
__device__ __forceinline__ double* large_local_out(const LargeKeys& lk, const GroupSpan& s) {
  if (sizeof(Key) == sizeof(double)) return static_cast<double*>(large_sorted_in_b(lk, s.n) ? lk.a : lk.b) + s.begin;
  return lk.local + s.begin;
}

/* The state of a large group, identical in every large-path kernel. A group whose tiles end past
 * tiles_bound (possible only with overlapping offsets) is invalid: its per-tile slots do not exist. */
template <typename Key>
__device__ __forceinline__ Resolved large_resolve(const Params& p, const GroupSpan& s, int64_t g,
                                                  const Key* sorted, int64_t k_req, const TileMap& tm,
                                                  int64_t tiles_bound) {
  (void)sorted;
  const bool valid = p.gbad[g] == 0 && large_tiles_fit(tiles_before(tm, g + 1), tiles_bound);
  /* gnone[g]: the group's non-finite samples, counted once by the run sort (its sorted keys end
   * with them: m = n - gnone finite keys first) */
  const int64_t nonfinite = valid ? (int64_t)p.gnone[g] : 0;
  return resolve_group(p.estimator, p.nonfinite, p.k_policy, s.n, nonfinite, k_req, valid,
                       p.write_out != 0);
}

/* A large group that is not ACT_GENERAL, by one thread: status (rf: its error reported, or its
 * flags stored) and rho at column col by its action (NaN if invalid or propagated, its one finite
 * value if single, 0 if empty). A curve resolves the flags at the largest k and rho at the
 * column's, hence two Resolveds. */
template <typename Key>
__device__ __forceinline__ void finish_rare_group(const Params& p, int64_t g, int64_t col, const Resolved& rf,
                                                  int action, const Key* sorted) {
  if (rf.action == ACT_ERROR) {
    report_error(p, g, rf.error_bits);
  } else {
    if (p.flags) p.flags[g] = rf.flags;
    double rho = 0.0;
    if (action == ACT_INVALID || action == ACT_PROPAGATE) {
      rho = __longlong_as_double(0x7FF8000000000000LL);
    } else if (action == ACT_SINGLE) {
      rho = KeyTraits<Key>::to_double(sorted[0]);
    }
    write_rho<typename KeyTraits<Key>::Value>(p, g, col, rho);
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LARGE_COMMON_CUH */
