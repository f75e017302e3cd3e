/*
 * large_scatter_kernels.cuh -- the large path's last step: each sample's output, from sorted order
 * back to its own position. A sample takes the output of the first rank holding its key (a
 * branchless lower bound over the group's sorted keys: the tie rule of every path), i.e. that rank's
 * tile-local output plus its tile's carries' part. For uniform groups of at most kLargeFoldTiles
 * tiles the scatter forms those carries itself (no carry launch for the TERMS stage).
 */
#ifndef PKPO_CUDA_LARGE_SCATTER_KERNELS_CUH
#define PKPO_CUDA_LARGE_SCATTER_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "group_math.cuh"
#include "keys.cuh"
#include "large_common.cuh"
#include "model_region.h"
#include "params.h"
#include "scan_kernels.cuh"

namespace pkpo_cuda {

/* The TERMS carry kernel's work, folded into the scatter (uniform layout, at most kLargeFoldTiles
 * tiles per group): every block forms the carries' part of all tiles of its group from their totals
 * into lin_s (tiles 2t and 2t + 1 in thread t; the same fixed-order scans in every block, so the
 * same bits), and the block of tile 0 writes rho and flags or reports the group's error. wd, wd2:
 * the block scans' shared memory. Every thread of the block calls this. */
template <typename Key>
__device__ __forceinline__ void fold_carries(const Params& p, const TileMap& tm, const Resolved& r, int64_t g,
                                             int64_t tile, const Key* sorted, const TileAgg* tile_agg,
                                             double* lin_s, double* wd, D2* wd2) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value V;
  if (r.action == ACT_GENERAL) { /* uniform across the block */
    const int64_t used = (r.m + kLargeTile - 1) / kLargeTile; /* tiles with ranks <= m */
    const int i0 = 2 * (int)threadIdx.x, i1 = i0 + 1;
    const bool own0 = i0 < used, own1 = i1 < used;
    /* Only the carries the group's formula reads: forward sums of pre (all but s), backward
     * sums of suf0 and suf1 (s, sloo, l2o). */
    double fw0 = 0.0, fw1 = 0.0;
    D2 bw0 = make_d2(0.0, 0.0), bw1 = bw0;
    if (r.formula != PKPO_S) { /* uniform across the block */
      const double x0 = own0 ? tile_agg[i0].pre : 0.0, x1 = own1 ? tile_agg[i1].pre : 0.0;
      double total;
      fw0 = block_exclusive_scan<kLargeBlock, false>(x0 + x1, AddOp(), 0.0, wd, &total);
      fw1 = fw0 + x0;
    }
    PKPO_REGION_BEGIN(backward_carries);
    if (r.formula == PKPO_S || r.formula == PKPO_SLOO || r.formula == PKPO_L2O) { /* uniform across the block */
      const D2 y0 = own0 ? make_d2(tile_agg[i0].suf0, tile_agg[i0].suf1) : make_d2(0.0, 0.0);
      const D2 y1 = own1 ? make_d2(tile_agg[i1].suf0, tile_agg[i1].suf1) : make_d2(0.0, 0.0);
      D2 total;
      bw1 = block_exclusive_scan<kLargeBlock, true>(y0 + y1, AddOp(), make_d2(0.0, 0.0), wd2, &total);
      bw0 = bw1 + y1;
    }
    PKPO_REGION_END(backward_carries);
    /* The carries' part of an output (v = v_1 = 0) reads only k/(m-1), and only for sloo: no
     * other constant (each a float64 division) in every thread. */
    GroupConsts<double> gc;
    gc.c = gc.w = gc.mk = gc.sh = 0.0;
    gc.q = r.formula == PKPO_SLOO ? (double)r.k / (double)(r.m - 1) : 0.0;
    Terms zero;
    zero.pre = 0.0;
    zero.rho = 0.0;
    zero.suf0 = 0.0;
    zero.suf1 = 0.0;
    lin_s[i0] = rank_output_of<double>(r.formula, gc, 0.0, 0.0, zero, fw0, bw0.a, bw0.b);
    lin_s[i1] = rank_output_of<double>(r.formula, gc, 0.0, 0.0, zero, fw1, bw1.a, bw1.b);
    if (tile == 0) { /* uniform across the block: the group's rho and flags, once */
      double rho_sum = 0.0;
      PKPO_REGION_BEGIN(rho_sum);
      if (p.rho) {
        /* in large_carry_kernel's order (chunks of kLargeBlock tiles, one per thread), so that
         * rho is bit for bit the rho of the same call without outputs or of a rho curve */
        PKPO_REGION_BEGIN(tile_chunks);
        for (int64_t ch = 0; ch * kLargeBlock < tm.per_group; ++ch) {
          const int64_t i = ch * kLargeBlock + threadIdx.x;
          double total;
          (void)block_exclusive_scan<kLargeBlock, false>(i < used ? tile_agg[i].rho : 0.0, AddOp(), 0.0, wd, &total);
          rho_sum = rho_sum + total;
        }
        PKPO_REGION_END(tile_chunks);
      }
      PKPO_REGION_END(rho_sum);
      if (threadIdx.x == 0) {
        if (p.flags) p.flags[g] = r.flags;
        write_rho<V>(p, g, 0, KT::to_double(sorted[0]) + rho_sum);
      }
    }
    __syncthreads();
  } else if (tile == 0 && threadIdx.x == 0) {
    finish_rare_group<Key>(p, g, 0, r, r.action, sorted);
  }
}

/* Outputs of the large groups, from sorted order to input order (the tie rule of the block path:
 * a sample takes the output of the first rank holding its key). */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_scatter_kernel(const Params p, const TileMap tm,
                                                                   const LargeKeys lk, const TileAgg* agg,
                                                                   int64_t tiles_bound, int fold) {
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
  const Resolved r = large_resolve(p, s, g, sorted, s.k_req, tm, tiles_bound);
  PKPO_REGION_BEGIN(fold_carries);
  if (fold) fold_carries<Key>(p, tm, r, g, tile, sorted, tile_agg, lin_s, wd, wd2);
  PKPO_REGION_END(fold_carries);
  if (r.action == ACT_INVALID || r.action == ACT_ERROR) return;
  const int64_t lo = tile * kLargeTile;
  const int cnt = (int)(lo + kLargeTile < s.n ? kLargeTile : s.n - lo);
  const int m = (int)r.m; /* m <= kMaxLargeGroup < 2^31: int ranks */
  /* the thread's samples and keys (striped: coalesced); kNone for a non-finite reward and past the
   * tile */
  Key key[kLargeIpt];
  int64_t src[kLargeIpt];
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) {
    const int i = j * kLargeBlock + (int)threadIdx.x;
    key[j] = KT::kNone;
    src[j] = -1;
    if (i < cnt) {
      src[j] = sample_of(p, s.begin + lo + i);
      const V x = static_cast<const V*>(p.rewards)[src[j]];
      if (KT::finite(KT::bits(x))) key[j] = KT::to_key(x);
    }
  }
  /* The first rank holding each key (the tie rule): a branchless lower bound over the m sorted keys,
   * level by level for all of the thread's keys at once (their probes are independent loads in
   * flight together; ceil(log2 m) levels, the same for every key). Every index stays inside the
   * group even if overlapping (invalid) offsets made two groups race in the sort. */
  int at[kLargeIpt];
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) at[j] = 0;
  if (r.action == ACT_GENERAL) { /* uniform across the block */
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
    if (r.action == ACT_PROPAGATE) {
      value = __longlong_as_double(0x7FF8000000000000LL);
    } else if (key[j] == KT::kNone) {
      value = 0.0; /* excluded */
    } else if (r.action == ACT_SINGLE) {
      value = single_output(p.estimator, KT::to_double(key[j])); /* -0.0 -> +0.0, as the CPU */
    } else {
      /* the tile-local output of the rank plus its tile's carries' part: the same two values, so
       * the same bits, for every sample tied with it */
      const int rank = at[j];
      value = local_out[rank] + (fold ? lin_s[rank / kLargeTile] : tile_agg[rank / kLargeTile].lin);
    }
    store_value<V>(p.out, src[j], value);
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LARGE_SCATTER_KERNELS_CUH */
