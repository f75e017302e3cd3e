/*
 * team_rho.cuh -- rho on a team of the block path (team.cuh): a group's gaps and the sums of its
 * weighted gaps (the transform's rho), and the pass@k curve, rho at each k of a chunk from one
 * sort (docs/math.md §4). The curve's weights F_t(k) = C(t,k)/C(m,k) are double-double, like the
 * transforms' rows, and its sums are formed as the transforms' are, so that a curve's rho is the
 * transform's (tests/rho_checks.hpp checks it bit for bit).
 */
#ifndef PKPO_CUDA_TEAM_RHO_CUH
#define PKPO_CUDA_TEAM_RHO_CUH

#include <stdint.h>

#include "dd.cuh"
#include "group_common.cuh"
#include "model_region.h"
#include "params.h"
#include "rows.cuh"
#include "rules.h"
#include "team.cuh"
#include "warp_primitives.cuh"

namespace pkpo_cuda {

/* The gaps d_t = v_{t+1} - v_t of the team's ranks t < m in doubles, 0 from rank m on. rho's sums
 * then need no mask: a weight times a zero gap is a zero, and adding a zero of either sign leaves
 * a sum that starts at +0 (and so is never -0) as it is. */
template <int W, int V, typename A>
__device__ __forceinline__ void team_gaps(const Team<W, V>& team, int m, const A (&v)[V], const A (&vn)[V],
                                          double (&d)[V]) {
#pragma unroll
  for (int j = 0; j < V; ++j) d[j] = team.rank(j) < m ? (double)vn[j] - (double)v[j] : 0.0;
}

/* rho from a team's sums s (rows.cuh rho_from_sums) for weights summing to Wsum. */
__device__ __forceinline__ double rho_of_sums(const D2& s, double Wsum, bool clamp, double v1, double vm) {
  RowConsts rc = RowConsts();
  rc.W = Wsum;
  rc.clamp = clamp;
  return rho_from_sums(rc, s.a, s.b, v1, vm);
}

/* rho of a general group from its rows and gaps (docs/math.md §4): every thread gets the bits. */
template <int W, int V>
__device__ __forceinline__ double team_rho(Team<W, V>& team, const double (&d)[V], const double (&Fhi)[V],
                                           const double (&Flo)[V], double Wsum, bool clamp, double v1, double vm) {
  return rho_of_sums(team_rho_sums(team, d, Fhi, Flo), Wsum, clamp, v1, vm);
}

/* A curve's double-double weights as the rows' two arrays. */
template <int V>
__device__ __forceinline__ void dd_split(const DD (&F)[V], double (&Fhi)[V], double (&Flo)[V]) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    Fhi[j] = F[j].hi;
    Flo[j] = F[j].lo;
  }
}

/* One step of a curve's weights from k to k + 1 (F_t(k+1) = F_t(k) (t-k)/(m-k), inv = 1/(m-k)):
 * (t-k)/(m-k) = (t-k) inv in double-double (t - k exact). FLOOR: weights below the floor become
 * 0; a batch, whose weights stay far above it, needs none. A weight at t <= k is a zero (of
 * either sign past t = k, where the ratio is <= 0), and adds nothing to rho's sums. */
template <int V, bool FLOOR>
__device__ __forceinline__ void curve_step(DD (&F)[V], const double (&rank)[V], double kd, const DD& inv) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const double tk = rank[j] - kd;
    DD r;
    pkpo__two_prod(tk, inv.hi, &r.hi, &r.lo);
    r.lo = fma(tk, inv.lo, r.lo); /* fused: one rounding (the build contracts none by itself) */
    F[j] = F[j] * r;
    if (FLOOR && F[j].hi < PKPO__WEIGHT_FLOOR) F[j] = DD(0);
  }
}

/* Curve columns col .. col + kBatch - 1 at k0, k0 + 1, ... (real of them below kc.count, each
 * at most m, m at most kc.mcap[col]: no weight meets the floor): thread batch_index()
 * divides for its column, every column's step takes that reciprocal from it, and the columns'
 * sums go in one exchange (Team::sum_batch), after which one thread per column stores its rho. A
 * column past the real ones steps too, unstored. */
template <int W, int V, typename A>
__device__ __forceinline__ void team_curve_batch(Team<W, V>& team, const Params& p, const KChunk& kc, int64_t g,
                                                 bool store, int act, int me, int col, int real, int64_t k0,
                                                 const double (&d)[V], const double (&rank)[V], DD (&F)[V],
                                                 double v1, double vm) {
  constexpr int B = Team<W, V>::kBatch;
  constexpr int WL = W > 32 ? 32 : W; /* the lanes a shuffle reaches */
  /* team lane c (block teams: lane c of each warp) divides for column c; a group that is not
   * general may have ks above its m = 1: any positive divisor serves its unstored columns */
  const int mine_col = team.l % B;
  const int64_t den = me - (k0 - 1 + mine_col);
  const DD inv_mine = dd_recip(den > 0 ? den : 1);
  const double kd0 = (double)(k0 - 1);
  D2 part[B];
#pragma unroll
  for (int c = 0; c < B; ++c) {
    curve_step<V, false>(F, rank, kd0 + c, shfl_idx(inv_mine, c, WL));
    double Fhi[V], Flo[V];
    dd_split(F, Fhi, Flo);
    part[c] = rho_part(d, Fhi, Flo);
  }
  const D2 s = team.sum_batch(part);
  const int c = team.batch_index();
  if (team.batch_leader() && store && c < real) {
    const double value = action_rho(act, rho_of_sums(s, 1.0, true, v1, vm));
    write_rho<A>(p, g, kc.first + col + c, p.negate ? -value : value);
  }
}

/* A pass@k curve: rho of the team's group at each k of the chunk. A column's F comes from the
 * previous column's elementwise when k grew by at most kCurveStep, F_t(k+1) = F_t(k) (t-k)/(m-k)
 * (C(t,k+1)/C(m,k+1) over C(t,k)/C(m,k)), in double-double with one division per step, otherwise
 * from a product scan. After a column, a run of ks that grow by one (kc.starts) up to at most m
 * goes kBatch columns at a time (team_curve_batch). */
template <int W, int V, typename A>
__device__ __forceinline__ void team_curve(Team<W, V>& team, const Params& p, const KChunk& kc, int64_t g,
                                           bool mine, int act, int m, const A (&v)[V], const A (&vn)[V], double v1,
                                           double vm) {
  constexpr int B = Team<W, V>::kBatch;
  static_assert(B == 2 || B == 4, "KChunk::starts marks batches of 2 and of 4 columns");
  const bool gen = act == PKPO__ACT_GENERAL;
  const int me = gen ? m : 1;
  const bool store = mine && act != PKPO__ACT_ERROR;
  /* the gaps, the same in every column; the ranks as doubles, those past m as m: their weights,
   * which meet only zero gaps, step by (m-k)/(m-k), about 1, and stay finite */
  double d[V], rank[V];
  team_gaps(team, me, v, vn, d);
  DD F[V];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    F[j] = DD(0);
    rank[j] = (double)(team.rank(j) < me ? team.rank(j) : me);
  }
  int kprev = 0;
  int col = 0;
  while (col < kc.count) {
    const int kk = kc.k[col] < me ? (int)kc.k[col] : me;
    const bool scan = !(kprev > 0 && kk >= kprev && kk - kprev <= kCurveStep);
    PKPO_REGION_BEGIN(curve_scans);
    if (team.any(scan)) {
      DD Fs[V];
      team_term_f(team, me, kk, 0, DD(1), Fs);
#pragma unroll
      for (int j = 0; j < V; ++j) F[j] = scan ? Fs[j] : F[j];
    }
    PKPO_REGION_END(curve_scans);
    if (!scan) {
      PKPO_REGION_BEGIN(curve_steps);
#pragma unroll 1 /* kCurveStep trips at most, mostly one */
      for (int k = kprev; k < kk; ++k) curve_step<V, true>(F, rank, (double)k, dd_recip(me - k));
      PKPO_REGION_END(curve_steps);
    }
    kprev = kk;
    double Fhi[V], Flo[V];
    dd_split(F, Fhi, Flo);
    const double r = team_rho(team, d, Fhi, Flo, 1.0, true, v1, vm);
    if (team.l == 0 && store) {
      const double value = action_rho(act, r);
      write_rho<A>(p, g, kc.first + col, p.negate ? -value : value);
    }
    ++col;
    PKPO_REGION_BEGIN(curve_batches);
    for (;;) {
      /* columns col .. col + B - 1 (those below kc.count) each one step above the one before, to
       * at most m (a group that is not general takes them too: its stores are constants) */
      if (col >= kc.count || ((kc.starts[B == 4 ? 1 : 0] >> col) & 1) == 0) break;
      const int real = kc.count - col < B ? kc.count - col : B;
      const int64_t k0 = kc.k[col]; /* the others k0 + 1, ... */
      if (team.any(gen && (k0 + real - 1 > me || me > kc.mcap[col]))) break;
      team_curve_batch<W, V, A>(team, p, kc, g, store, act, me, col, real, k0, d, rank, F, v1, vm);
      kprev = (int)(k0 + real - 1);
      col += B;
    }
    PKPO_REGION_END(curve_batches);
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_TEAM_RHO_CUH */
