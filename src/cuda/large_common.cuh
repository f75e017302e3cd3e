/*
 * large_common.cuh -- what the kernels of the large path (groups of n > kBlockMaxN) share, and the
 * tile and run arithmetic the host's workspace plan shares with them.
 *
 * The large path sorts each group's keys (large_sort_kernels.cuh: 4096-key runs sorted in shared
 * memory, then merged four at a time; one uniform group: CUB's radix sort of the whole array), then
 * runs a tile pass once per 2048-rank tile (large_tile_kernels.cuh: the tile's weight rows by the
 * block path's code, rows.cuh, with the weights' product beyond the tile in closed form; its
 * scans' and rho's totals), a one-block-per-group kernel that turns the totals into per-tile
 * carries in a fixed order and writes rho, and scatters the outputs from sorted order back to the
 * samples (large_scatter_kernels.cuh; for uniform groups of at most kLargeFoldTiles tiles it forms
 * the carries itself). A uniform batch of several groups builds its rows once per call (the row
 * bank) and its tiles read them. The uniform layout maps blocks to (group, tile) arithmetically;
 * a ragged one through a scan of the groups' tile counts (even counts, so that run j of the batch
 * is tiles 2j and 2j + 1).
 *
 * All arithmetic of the large path is float64; float32 outputs are rounded once, when stored.
 * Indices of samples are int64 everywhere; ranks inside one group are int (n < kMaxLargeGroup <
 * 2^31).
 */
#ifndef PKPO_CUDA_LARGE_COMMON_CUH
#define PKPO_CUDA_LARGE_COMMON_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "keys.cuh"
#include "model_region.h"
#include "params.h"
#include "rows.cuh"
#include "rules.h"
#include "scan_kernels.cuh"

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

/* The tile-local outputs of a group's sorted ranks (large_tile_kernel of a transform), float64:
 * for float64 keys the buffer that does not hold the group's sorted keys. */
template <typename Key>
__device__ __forceinline__ double* large_local_out(const LargeKeys& lk, const GroupSpan& s) {
  if (sizeof(Key) == sizeof(double)) return static_cast<double*>(large_sorted_in_b(lk, s.n) ? lk.a : lk.b) + s.begin;
  return lk.local + s.begin;
}

/* What a group's objective gives at m = n, the same for every group of a uniform batch: the
 * largest k and whether the terms are usable (objective_check), the rows' constants. */
struct BankHead {
  RowConsts rc;
  int64_t kmax;
  int usable;
};

/* The rows of a uniform batch's groups at m = n (workspace; large_bank_kernel): gap t's weights at
 * t - 1, and the head. Formed once per call, so that no tile builds rows and no block loops over a
 * mixture's terms. m == 0: no bank (a ragged batch, fewer than 16 groups, a k per group or a
 * curve): every tile builds its own rows. */
struct RowBank {
  double* P;
  double* Q;
  double* Fhi;
  double* Flo;
  BankHead* head;
  int64_t m;
};

/* The constants of the rows of a group of m finite values: the bank's at m = n, or its own
 * (objective_consts; want_out and want_rho as the bank's: p.write_out, p.rho). */
__device__ __forceinline__ RowConsts large_consts(const Params& p, const RowBank& bank, int64_t m, int64_t k_req) {
  if (bank.m == m) return bank.head->rc;
  PKPO_REGION_BEGIN(objective_terms);
  const RowConsts rc = objective_consts(p, m, k_req, p.write_out != 0, p.rho != nullptr);
  PKPO_REGION_END(objective_terms);
  return rc;
}

/* The rules of a large group (rules.h), identical in every large-path kernel: k_req is the group's
 * k, or a curve's largest. A group whose tiles end past tiles_bound (possible only with
 * overlapping offsets) is invalid: its per-tile slots do not exist. */
__device__ __forceinline__ pkpo__group_rule large_rule(const Params& p, const GroupSpan& s, int64_t g, int64_t k_req,
                                                       const TileMap& tm, int64_t tiles_bound, const RowBank& bank) {
  bool usable = true;
  int64_t kmax;
  if (bank.m > 0) {
    kmax = bank.head->kmax;
    usable = bank.head->usable != 0;
  } else {
    PKPO_REGION_BEGIN(objective_checks);
    const ObjectiveCheck oc = objective_check(p);
    PKPO_REGION_END(objective_checks);
    kmax = objective_kmax(p, oc, k_req);
    usable = oc.usable;
  }
  const bool valid = p.gbad[g] == 0 && usable && large_tiles_fit(tiles_before(tm, g + 1), tiles_bound);
  /* gnone[g]: the group's non-finite samples, counted once by the run sort (its sorted keys end
   * with them: m = n - gnone finite keys first) */
  const int64_t nonfinite = valid ? (int64_t)p.gnone[g] : 0;
  return pkpo__resolve_group(p.nonfinite, p.k_policy, s.n, nonfinite, kmax, valid);
}

/* Status and rho at column col of a large group, by one thread: its error reported, or its flags
 * stored and its rho (r, the formula's value, for a general group; action_rho otherwise) written,
 * negated under the min statistic. */
template <typename A>
__device__ __forceinline__ void finish_large_group(const Params& p, int64_t g, int64_t col, const pkpo__group_rule& rule,
                                                   uint32_t row_flags, double r) {
  if (rule.action == PKPO__ACT_ERROR) {
    report_error(p, g, rule.error_bits);
    return;
  }
  if (p.flags) p.flags[g] = rule.flags | row_flags;
  const double value = action_rho(rule.action, r);
  write_rho<A>(p, g, col, p.negate ? -value : value);
}

/* The sums over a group's tiles of rho's weighted gaps, in chunks of kLargeBlock tiles (one per
 * thread) combined in order: the same bits in the carry kernel and in the scatter's fold, so that
 * rho does not depend on which of them formed it. Every thread of the block calls this. */
__device__ __forceinline__ D2 large_rho_sums(const TileAgg* tile_agg, int64_t used, int64_t tiles, D2* wd2) {
  D2 sum = make_d2(0.0, 0.0);
  PKPO_REGION_BEGIN(tile_chunks);
  for (int64_t ch = 0; ch * kLargeBlock < tiles; ++ch) {
    const int64_t i = ch * kLargeBlock + threadIdx.x;
    const D2 x = i < used ? make_d2(tile_agg[i].rho_hi, tile_agg[i].rho_lo) : make_d2(0.0, 0.0);
    D2 total;
    (void)block_exclusive_scan<kLargeBlock, false>(x, AddOp(), make_d2(0.0, 0.0), wd2, &total);
    sum = sum + total;
  }
  PKPO_REGION_END(tile_chunks);
  return sum;
}

/* Tiles of a group of m finite values that hold ranks <= m (the others have no totals). */
PKPO_HD int64_t large_used_tiles(int64_t m) { return (m + kLargeTile - 1) / kLargeTile; }

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LARGE_COMMON_CUH */
