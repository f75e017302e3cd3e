/*
 * large_tile_kernels.cuh -- the large path's tile pass (large_tile_kernel: one block per 2048-rank
 * tile of a sorted group, and per k slot of a curve) and its carries (large_carry_kernel: one block
 * per group turns the tiles' totals into per-tile carries, in a fixed order, and after the TERMS
 * stage writes rho and flags). The weights' product beyond a tile comes in closed form
 * (beyond_tile_product), so the stages are TAIL (T' sums; only for sloo) and TERMS (the per-rank
 * terms, their scans and the rho sum). A transform's TERMS stage also stores each rank's tile-local
 * output (its carries taken as 0): every output formula is linear in the scans, so the scatter adds
 * the carries' part (TileAgg::lin) instead of a second pass over the tile.
 */
#ifndef PKPO_CUDA_LARGE_TILE_KERNELS_CUH
#define PKPO_CUDA_LARGE_TILE_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "group_math.cuh"
#include "keys.cuh"
#include "large_common.cuh"
#include "model_region.h"
#include "params.h"
#include "scan_kernels.cuh"

namespace pkpo_cuda {

/* prod_{j=e+1}^{m} r_j (weight_ratio's factors: the suffix product of the weights beyond rank
 * e >= 1) in closed form, so that no pass over the other tiles is needed for it: the product
 * telescopes to C(e-1, k-1) / C(m-1, k-1) = prod_{i=1}^{k-1} (e-i)/(m-i) (k-1 factors) and is also
 * prod_{j=e+1}^{m} (j-k)/(j-1) (m-e factors); the shorter one is taken, its factors (all in
 * (0, 1]) spread over the block's threads in a fixed order and combined by a block scan's total:
 * the same bits on every run, in every thread. 1 if e >= m; 0 if e < k (the factor r_k = 0). */
__device__ __forceinline__ double beyond_tile_product(int64_t e, int64_t m, int64_t k, double* warp_buf) {
  if (e >= m) return 1.0; /* uniform across the block */
  if (e < k) return 0.0;
  double x = 1.0;
  if (k - 1 <= m - e) {
    PKPO_REGION_BEGIN(beyond_tile_factors);
    for (int64_t i = 1 + (int64_t)threadIdx.x; i < k; i += kLargeBlock) {
      x *= (double)(e - i) / (double)(m - i);
    }
    PKPO_REGION_END(beyond_tile_factors);
  } else {
    PKPO_REGION_BEGIN(beyond_tile_factors);
    for (int64_t j = e + 1 + (int64_t)threadIdx.x; j <= m; j += kLargeBlock) {
      x *= (double)(j - k) / (double)(j - 1);
    }
    PKPO_REGION_END(beyond_tile_factors);
  }
  double total;
  block_exclusive_scan<kLargeBlock, false>(x, MulOp(), 1.0, warp_buf, &total);
  return total;
}

/* The large path's tile pass: ranks rank0+1 .. rank0+kLargeTile of a group of m >= 2 finite values
 * sorted in skeys[0..m-1] (global memory), up to `last_stage` (STAGE_TAIL or STAGE_TERMS). The
 * formulas are group_math.cuh's, with rho in its direct form: the summand of rank t is
 * mu_t (v_t - v_1) instead of (T'_t + k/m) d_t. Both sum to rho - v_1 (sum_t T'_t d_t =
 * sum_j mu_j (v_j - v_1) - (k/m)(v_m - v_1), exchanging the sums) with only non-negative terms,
 * but this one needs no T'. What differs from the small-group paths is how the large path gets there in
 * few passes: the weights' product beyond the tile comes from beyond_tile_product (no PROD stage),
 * the group constants are computed once per thread, the T' scan runs only for sloo (the one
 * formula that reads T'), the backward scan only for the formulas with suffix sums (not
 * sloo_minus_one), and each thread reads its ranks' values and their two neighbours once.
 * `carry` holds the other tiles' tail, pre, suf0 and suf1 (from large_carry_kernel; zero for a
 * stage that has not run). Totals of the stages run go to sm.total (valid in every thread on
 * return); with STAGE_TERMS and local_out, the tile-local output of every rank r < m of the tile
 * is stored in local_out[r]. */
struct LargeSmem {
  double wd[kLargeBlock / 32];
  D2 wd2[kLargeBlock / 32];
  TileAgg total;
};

template <typename Key>
__device__ __forceinline__ void large_tile_pass(const Key* skeys, int64_t m, int64_t k, int formula,
                                                int64_t rank0, int last_stage, const TileAgg& carry,
                                                double* local_out, LargeSmem& sm) {
  typedef KeyTraits<Key> KT;
  constexpr int IPT = kLargeIpt;
  const int64_t t0 = rank0 + (int64_t)threadIdx.x * IPT + 1; /* rank of item 0 */
  const GroupConsts<double> gc = group_consts<double>(m, k);
  double tot;

  /* 1. mu_t = (k/m) prod_{j>t} r_j */
  const double beyond = beyond_tile_product(rank0 + kLargeTile, m, k, sm.wd);
  double mu[IPT];
#pragma unroll
  for (int j = 0; j < IPT; ++j) mu[j] = weight_ratio(t0 + j, m, k);
  scan_items<kLargeBlock, IPT, true>(mu, MulOp(), 1.0, beyond, false, sm.wd, &tot);
#pragma unroll
  for (int j = 0; j < IPT; ++j) {
    const double w = gc.c * mu[j]; /* weight_from_product with k/m computed once */
    mu[j] = (t0 + j > m || w < PKPO__CUDA_WEIGHT_FLOOR) ? 0.0 : w;
  }

  /* 2. T'_t = sum_{j=t+1}^{m-1} mu_j (a suffix exclusive sum), sloo only */
  double tp[IPT];
#pragma unroll
  for (int j = 0; j < IPT; ++j) tp[j] = 0.0;
  PKPO_REGION_BEGIN(tail_scan);
  if (formula == PKPO_SLOO) { /* uniform across the block */
#pragma unroll
    for (int j = 0; j < IPT; ++j) tp[j] = tail_summand(t0 + j, m, mu[j]);
    scan_items<kLargeBlock, IPT, true>(tp, AddOp(), 0.0, carry.tail, false, sm.wd, &tot);
    if (threadIdx.x == 0) sm.total.tail = tot;
  }
  PKPO_REGION_END(tail_scan);
  if (last_stage == STAGE_TAIL) {
    __syncthreads();
    return;
  }

  /* 3. Per-rank terms; forward scan of (pre, rho), backward scan of (suf0, suf1). v[q] = v_{t0-1+q}. */
  double v[IPT + 2];
#pragma unroll
  for (int q = 0; q < IPT + 2; ++q) {
    const int64_t t = t0 - 1 + q;
    v[q] = (t >= 1 && t <= m) ? KT::to_double(skeys[t - 1]) : 0.0;
  }
  const double v_first = KT::to_double(skeys[0]);
  D2 fw[IPT], bw[IPT];
  double own_pre[IPT];
#pragma unroll
  for (int j = 0; j < IPT; ++j) {
    const int64_t t = t0 + j;
    Terms x;
    if (t <= m) {
      x = rank_terms_of<double>(formula, t, m, gc, v[j], v[j + 1], v[j + 2], mu[j], tp[j]);
      x.rho = mu[j] * (v[j + 1] - v_first);
    } else {
      x.pre = 0.0;
      x.rho = 0.0;
      x.suf0 = 0.0;
      x.suf1 = 0.0;
    }
    fw[j] = make_d2(x.pre, x.rho);
    bw[j] = make_d2(x.suf0, x.suf1);
    own_pre[j] = x.pre;
  }
  D2 ftot, btot = make_d2(0.0, 0.0);
  scan_items<kLargeBlock, IPT, false>(fw, AddOp(), make_d2(0.0, 0.0), make_d2(carry.pre, 0.0), false,
                                      sm.wd2, &ftot);
  PKPO_REGION_BEGIN(backward_scan);
  if (formula == PKPO_S || formula == PKPO_SLOO || formula == PKPO_L2O) { /* uniform across the block */
    scan_items<kLargeBlock, IPT, true>(bw, AddOp(), make_d2(0.0, 0.0), make_d2(carry.suf0, carry.suf1),
                                       true, sm.wd2, &btot);
  }
  PKPO_REGION_END(backward_scan);
  if (threadIdx.x == 0) {
    sm.total.pre = ftot.a;
    sm.total.rho = ftot.b;
    sm.total.suf0 = btot.a;
    sm.total.suf1 = btot.b;
  }
  /* 4. A transform's tile-local outputs (local_out != nullptr): the output of each rank as if the
   * other tiles' carries were 0. Every formula is linear in the scans, so large_scatter_kernel adds
   * the carries' part (TileAgg::lin, from large_carry_kernel) to get the output: no second pass
   * over the tile. */
  PKPO_REGION_BEGIN(tile_local_outputs);
  if (local_out) {
#pragma unroll
    for (int j = 0; j < IPT; ++j) {
      const int64_t t = t0 + j;
      if (t <= m) {
        Terms own;
        own.pre = own_pre[j];
        own.rho = 0.0;
        own.suf0 = 0.0;
        own.suf1 = 0.0;
        local_out[t - 1] = rank_output_of<double>(formula, gc, v[j + 1], v_first, own, fw[j].a, bw[j].a, bw[j].b);
      }
    }
  }
  PKPO_REGION_END(tile_local_outputs);
  __syncthreads();
}

/* One stage of the tile pass (STAGE_TAIL or STAGE_TERMS) on every tile (blockIdx.x) of every
 * large group, for the k of slot blockIdx.y (a curve) or the group's k (a transform, ks.count ==
 * 0; with p.write_out its TERMS stage also stores the tile-local outputs). */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_tile_kernel(const Params p, const TileMap tm,
                                                                const LargeKeys lk, TileAgg* agg,
                                                                int stage, const KSlots ks,
                                                                int64_t tiles_bound) {
  __shared__ LargeSmem sm;
  __shared__ TileAgg carry;
  int64_t g, tile;
  if (!tile_owner(tm, p.num_groups, blockIdx.x, &g, &tile)) return;
  const int64_t k_curve = ks.count > 0 ? ks.k[blockIdx.y] : 0;
  agg += (int64_t)blockIdx.y * tiles_bound;
  const GroupSpan s = group_span(p, g);
  if (!goes_large(p, s)) return;
  const Key* sorted = large_sorted<Key>(lk, s);
  const Resolved r = large_resolve(p, s, g, sorted, k_curve > 0 ? k_curve : s.k_req, tm, tiles_bound);
  if (r.action != ACT_GENERAL) return;
  const int64_t k = k_curve > 0 ? (k_curve < r.m ? k_curve : r.m) : r.k;
  const int formula = k_curve > 0 ? (int)PKPO_RHO : r.formula;
  const int64_t rank0 = tile * kLargeTile;
  if (rank0 >= r.m) return; /* every rank of this tile is an excluded sample: no terms */
  if (threadIdx.x == 0) carry = agg[blockIdx.x];
  __syncthreads();
  const TileAgg c = carry;
  double* local_out = (stage == STAGE_TERMS && k_curve == 0 && p.write_out) ? large_local_out<Key>(lk, s) : nullptr;
  large_tile_pass<Key>(sorted, r.m, k, formula, rank0, stage, c, local_out, sm);
  if (threadIdx.x == 0) {
    TileAgg a = c;
    if (stage == STAGE_TAIL) a.tail = sm.total.tail;
    if (stage == STAGE_TERMS) {
      a.pre = sm.total.pre;
      a.rho = sm.total.rho;
      a.suf0 = sm.total.suf0;
      a.suf1 = sm.total.suf1;
    }
    agg[blockIdx.x] = a;
  }
}

/* Per group (blockIdx.x, grid-stride) and k slot (blockIdx.y, as large_tile_kernel): turns the tile
 * totals of `stage` into carries (fixed order), and after STAGE_TERMS writes rho and flags (also for
 * large groups that are not ACT_GENERAL). Tiles at or past rank m have no totals (large_tile_kernel
 * skipped them) and count as identities. */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_carry_kernel(const Params p, const TileMap tm,
                                                                 const LargeKeys lk, TileAgg* agg, int stage,
                                                                 const KSlots ks, int64_t k_flags,
                                                                 int64_t tiles_bound) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value V;
  __shared__ double wd[kLargeBlock / 32];
  __shared__ D2 wd2[kLargeBlock / 32];
  const int64_t k_curve = ks.count > 0 ? ks.k[blockIdx.y] : 0;
  const int64_t col = ks.count > 0 ? ks.first + blockIdx.y : 0;
  agg += (int64_t)blockIdx.y * tiles_bound;
  PKPO_REGION_BEGIN(groups_of_block);
  for (int64_t g = blockIdx.x; g < p.num_groups; g += gridDim.x) {
    const GroupSpan s = group_span(p, g);
    if (!goes_large(p, s)) continue;
    const Key* sorted = large_sorted<Key>(lk, s);
    const int64_t tb = tiles_before(tm, g);
    const int64_t nt = tiles_before(tm, g + 1) - tb;
    const Resolved rf = large_resolve(p, s, g, sorted, k_flags > 0 ? k_flags : s.k_req, tm, tiles_bound);
    const Resolved r = large_resolve(p, s, g, sorted, k_curve > 0 ? k_curve : s.k_req, tm, tiles_bound);
    const bool last = stage == STAGE_TERMS;
    PKPO_REGION_BEGIN(not_general);
    if (r.action != ACT_GENERAL) {
      if (last && threadIdx.x == 0) {
        finish_rare_group<Key>(p, g, col, rf, r.action, sorted);
      }
      __syncthreads();
      continue;
    }
    PKPO_REGION_END(not_general);
    const int64_t used = (r.m + kLargeTile - 1) / kLargeTile; /* tiles with ranks <= m */
    if (stage == STAGE_TAIL) {
      PKPO_REGION_BEGIN(tail_carries);
      /* suffix exclusive sum over tiles, from the last tile down */
      double carry = 0.0;
      const int64_t nchunks = (nt + kLargeBlock - 1) / kLargeBlock;
      PKPO_REGION_BEGIN(tile_chunks);
      for (int64_t ch = nchunks - 1; ch >= 0; --ch) {
        const int64_t i = ch * kLargeBlock + threadIdx.x;
        const double x = i < used ? agg[tb + i].tail : 0.0;
        double total;
        const double ex = block_exclusive_scan<kLargeBlock, true>(x, AddOp(), 0.0, wd, &total) + carry;
        carry = total + carry;
        if (i < nt) agg[tb + i].tail = ex;
      }
      PKPO_REGION_END(tile_chunks);
    } else {
      PKPO_REGION_END(tail_carries);
      /* forward exclusive sum of pre (and the rho total), backward exclusive sums of suf0/suf1 */
      D2 fcarry = make_d2(0.0, 0.0);
      const int64_t nchunks = (nt + kLargeBlock - 1) / kLargeBlock;
      PKPO_REGION_BEGIN(tile_chunks);
      for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t i = ch * kLargeBlock + threadIdx.x;
        D2 x = make_d2(0.0, 0.0);
        if (i < used) x = make_d2(agg[tb + i].pre, agg[tb + i].rho);
        D2 total;
        D2 ex = block_exclusive_scan<kLargeBlock, false>(x, AddOp(), make_d2(0.0, 0.0), wd2, &total);
        ex = fcarry + ex;
        fcarry = fcarry + total;
        if (i < nt) agg[tb + i].pre = ex.a;
      }
      PKPO_REGION_END(tile_chunks);
      /* A transform's outputs: each tile's carries' part of them (TileAgg::lin, read by
       * large_scatter_kernel with the tile-local outputs). */
      const bool lin = ks.count == 0 && p.write_out;
      const GroupConsts<double> gc = group_consts<double>(r.m, r.k);
      Terms zero;
      zero.pre = 0.0;
      zero.rho = 0.0;
      zero.suf0 = 0.0;
      zero.suf1 = 0.0;
      D2 bcarry = make_d2(0.0, 0.0);
      PKPO_REGION_BEGIN(tile_chunks);
      for (int64_t ch = nchunks - 1; ch >= 0; --ch) {
        const int64_t i = ch * kLargeBlock + threadIdx.x;
        D2 x = make_d2(0.0, 0.0);
        if (i < used) x = make_d2(agg[tb + i].suf0, agg[tb + i].suf1);
        D2 total;
        D2 ex = block_exclusive_scan<kLargeBlock, true>(x, AddOp(), make_d2(0.0, 0.0), wd2, &total);
        ex = bcarry + ex;
        bcarry = bcarry + total;
        if (i < nt) {
          agg[tb + i].suf0 = ex.a;
          agg[tb + i].suf1 = ex.b;
          /* agg[tb + i].pre: this thread's own store of the forward loop */
          if (lin) agg[tb + i].lin = rank_output_of<double>(r.formula, gc, 0.0, 0.0, zero, agg[tb + i].pre, ex.a, ex.b);
        }
      }
      PKPO_REGION_END(tile_chunks);
      if (threadIdx.x == 0) {
        if (rf.action == ACT_ERROR) {
          report_error(p, g, rf.error_bits);
        } else {
          if (p.flags) p.flags[g] = rf.flags;
          write_rho<V>(p, g, col, KT::to_double(sorted[0]) + fcarry.b);
        }
      }
    }
    __syncthreads();
  }
  PKPO_REGION_END(groups_of_block);
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LARGE_TILE_KERNELS_CUH */
