/*
 * large_scatter_kernels.cuh -- the large path's last step: each sample's output, from sorted order
 * back to its own position. A sample takes the output of the first rank holding its key (a
 * branchless lower bound over the group's sorted keys: the tie rule of every path), i.e. that rank's
 * tile-local output plus its tile's carries' part, negated under the min statistic. For uniform
 * groups of at most kLargeFoldTiles tiles the scatter forms those carries itself (no carry launch).
 */
#ifndef PKPO_CUDA_LARGE_SCATTER_KERNELS_CUH
#define PKPO_CUDA_LARGE_SCATTER_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "keys.cuh"
#include "large_common.cuh"
#include "model_region.h"
#include "params.h"
#include "rows.cuh"
#include "rules.h"
#include "scan_kernels.cuh"

namespace pkpo_cuda {

/* The exclusive sums over the tiles before (BACKWARD: after) tiles 2t and 2t + 1 of their values
 * x0, x1, thread t holding the pair. Every thread of the block calls this. */
template <bool BACKWARD>
__device__ __forceinline__ void pair_carries(double x0, double x1, double* wd, double* c0, double* c1) {
  double total;
  const double ex = block_exclusive_scan<kLargeBlock, BACKWARD>(x0 + x1, AddOp(), 0.0, wd, &total);
  *c0 = BACKWARD ? ex + x1 : ex;
  *c1 = BACKWARD ? ex : ex + x0;
}

/* The carry kernel's work, folded into the scatter (uniform layout, at most kLargeFoldTiles tiles
 * per group): every block forms the carries' part of all tiles of its group from their totals into
 * lin_s (tiles 2t and 2t + 1 in thread t; the same fixed-order scans in every block, so the same
 * bits), and the block of tile 0 writes rho and flags or reports the group's error. wd, wd2: the
 * block scans' shared memory. Every thread of the block calls this. */
template <typename Key>
__device__ __forceinline__ void fold_carries(const Params& p, const TileMap& tm, const RowBank& bank,
                                             const pkpo__group_rule& rule, const GroupSpan& s, int64_t g,
                                             int64_t tile, const Key* sorted, const TileAgg* tile_agg, double* lin_s,
                                             double* wd, D2* wd2) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  if (rule.action != PKPO__ACT_GENERAL) { /* uniform across the block */
    if (tile == 0 && threadIdx.x == 0) finish_large_group<A>(p, g, 0, rule, 0u, 0.0);
    return;
  }
  const int64_t m = rule.m;
  const int64_t used = large_used_tiles(m);
  const RowConsts rc = large_consts(p, bank, m, s.k_req);
  const int i0 = 2 * (int)threadIdx.x, i1 = i0 + 1;
  const bool own0 = i0 < used, own1 = i1 < used;
  /* only the carries the rows use: forward sums of pre, backward sums of suf */
  double fw0 = 0.0, fw1 = 0.0, bw0 = 0.0, bw1 = 0.0;
  if (rc.has_pre) { /* uniform across the block */
    pair_carries<false>(own0 ? tile_agg[i0].pre : 0.0, own1 ? tile_agg[i1].pre : 0.0, wd, &fw0, &fw1);
  }
  PKPO_REGION_BEGIN(backward_carries);
  if (rc.has_suf) { /* uniform across the block */
    pair_carries<true>(own0 ? tile_agg[i0].suf : 0.0, own1 ? tile_agg[i1].suf : 0.0, wd, &bw0, &bw1);
  }
  PKPO_REGION_END(backward_carries);
  lin_s[i0] = fw0 + bw0;
  lin_s[i1] = fw1 + bw1;
  if (tile == 0) { /* uniform across the block: the group's rho and flags, once */
    D2 sums = make_d2(0.0, 0.0);
    PKPO_REGION_BEGIN(rho_sum);
    if (p.rho) sums = large_rho_sums(tile_agg, used, tm.per_group, wd2);
    PKPO_REGION_END(rho_sum);
    if (threadIdx.x == 0) {
      const double r = rho_from_sums(rc, sums.a, sums.b, KT::to_double(sorted[0]), KT::to_double(sorted[m - 1]));
      finish_large_group<A>(p, g, 0, rule, rc.flags, r);
    }
  }
  __syncthreads();
}

/* Outputs of the large groups, from sorted order to input order (the tie rule of the block path:
 * a sample takes the output of the first rank holding its key). */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_scatter_kernel(const Params p, const TileMap tm,
                                                                   const LargeKeys lk, const TileAgg* agg,
                                                                   int64_t tiles_bound, int fold,
                                                                   const RowBank bank) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value V;
  __shared__ double lin_s[kLargeFoldTiles];
  __shared__ double wd[kLargeBlock / 32];
  __shared__ D2 wd2[kLargeBlock / 32];
  int64_t g, tile;
  if (!tile_owner(tm, p.num_groups, blockIdx.x, &g, &tile)) return;
  const GroupSpan s = group_span(p, g);
  if (!goes_large(p, s)) return;
  const Key* sorted = large_sorted<Key>(lk, s);
  const double* local_out = large_local_out<Key>(lk, s);
  const TileAgg* tile_agg = agg + tiles_before(tm, g);
  const pkpo__group_rule rule = large_rule(p, s, g, s.k_req, tm, tiles_bound, bank);
  PKPO_REGION_BEGIN(fold_carries);
  if (fold) fold_carries<Key>(p, tm, bank, rule, s, g, tile, sorted, tile_agg, lin_s, wd, wd2);
  PKPO_REGION_END(fold_carries);
  if (rule.action == PKPO__ACT_INVALID || rule.action == PKPO__ACT_ERROR) return;
  const int64_t lo = tile * kLargeTile;
  const int cnt = (int)(lo + kLargeTile < s.n ? kLargeTile : s.n - lo);
  const int m = (int)rule.m; /* m <= kMaxLargeGroup < 2^31: int ranks */
  const bool gen = rule.action == PKPO__ACT_GENERAL;
  /* the thread's samples and keys (striped: coalesced), as the run sort made them (negated under
   * the min statistic); kNone for a non-finite reward and past the tile */
  Key key[kLargeIpt];
  int64_t src[kLargeIpt];
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) {
    const int i = j * kLargeBlock + (int)threadIdx.x;
    key[j] = KT::kNone;
    src[j] = -1;
    bool nf = false, bad = false; /* a bad index entry made the group invalid: not here */
    if (i < cnt) key[j] = load_key<Key, true>(p, s.begin + lo + i, &src[j], &nf, &bad);
  }
  /* The first rank holding each key (the tie rule): a branchless lower bound over the m sorted keys,
   * level by level for all of the thread's keys at once (their probes are independent loads in
   * flight together; ceil(log2 m) levels, the same for every key). Every index stays inside the
   * group even if overlapping (invalid) offsets made two groups race in the sort. */
  int at[kLargeIpt];
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) at[j] = 0;
  if (gen) { /* uniform across the block */
    PKPO_REGION_BEGIN(rank_search);
    for (int len = m; len > 1;) {
      const int half = len >> 1;
#pragma unroll
      for (int j = 0; j < kLargeIpt; ++j) at[j] = sorted[at[j] + half] < key[j] ? at[j] + half : at[j];
      len -= half;
    }
    PKPO_REGION_END(rank_search);
#pragma unroll
    for (int j = 0; j < kLargeIpt; ++j) {
      if (sorted[at[j]] < key[j] && at[j] + 1 < m) ++at[j];
    }
  }
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) {
    if (src[j] < 0) continue; /* past the tile */
    double value;
    if (!gen || key[j] == KT::kNone) {
      value = action_output<double>(rule.action); /* an excluded reward, an empty or propagated group */
    } else {
      /* the tile-local output of the rank plus its tile's carries' part: the same two values, so
       * the same bits, for every sample tied with it */
      const int rank = at[j];
      value = local_out[rank] + (fold ? lin_s[rank / kLargeTile] : tile_agg[rank / kLargeTile].lin);
    }
    store_value<V>(p.out, src[j], p.negate ? -value : value);
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LARGE_SCATTER_KERNELS_CUH */
