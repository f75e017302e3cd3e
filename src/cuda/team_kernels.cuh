/*
 * team_kernels.cuh -- device code of the block path: every group of at most kBlockMaxN (4096)
 * rewards, one group per team (team.cuh): a sub-warp of W = C/V lanes for C <= kWarpMaxN (128;
 * 32/W groups per warp, blocks of kTeamBlock threads), a thread block of W = C/V threads above
 * (one group per block). C is the power of two >= n; launchers in transform.cu. One kernel,
 * written once; the two kinds of team differ only inside team.cuh.
 *
 *   load   register j of thread l takes reward j*W + l of the group (striped: coalesced), through
 *          the optional index permutation; the min statistic negates it (docs/math.md §5);
 *   rules  src/common/rules.h's group rules (non-finite policy, k above the group's size, empty and
 *          singleton groups) on the group's finite count m and the objective's largest k;
 *   sort   a bitonic network on the keys (KeyTraits); thread l then holds ranks l*V+1 .. l*V+V;
 *   rows   the weights of the group's objective (rows.cuh: one k or a mixture, every estimator in
 *          one form): a uniform batch's sub-warp teams read one row built per block for m = n;
 *          every other group builds its own by product scans;
 *   rho    (W v_m - sum F_hi d) - sum F_lo d, clamped: one pair of sums;
 *   scans  the exclusive forward scan of P d and the inclusive backward scan of Q d, each only where
 *          a team of the warp needs it, and a(i) = (PRE + SUF) + (A (v_i - v_1) + B v_1);
 *   store  each element finds the first sorted rank holding its key (a branchless binary search in
 *          shared memory) and stores that rank's output at its own position: tied rewards get
 *          bit-identical outputs.
 *
 * Arithmetic: the outputs in the rewards' type (float32 for float32 rewards; the weights formed in
 * float64 and rounded once), rho in float64. Sub-warp teams never wait at a block barrier after
 * the row is built, and every lane of a warp runs every shuffle: a team whose group needs nothing
 * computes on padding and stores nothing.
 */
#ifndef PKPO_CUDA_TEAM_KERNELS_CUH
#define PKPO_CUDA_TEAM_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "kernel_launch.cuh"
#include "keys.cuh"
#include "model_region.h"
#include "params.h"
#include "rows.cuh"
#include "rules.h"
#include "team.cuh"

namespace pkpo_cuda {

/* Threads per block of the sub-warp teams. Unmeasured: 8 warps share each block's uniform row,
 * and two such blocks fit an SM at the 128 registers of __launch_bounds__(kTeamBlock, 2). */
constexpr int kTeamBlock = 256;

/* The team kernel's variants (its LAYOUT parameter): TEAM_UNIFORM and TEAM_EXACT are the RL batch
 * of n answers per prompt (a uniform layout without an index permutation, a per-group k or a
 * curve): the group's span, the index and the curve code compiled out, the bounds one compare per
 * register (none for TEAM_EXACT, n = C). */
enum { TEAM_GENERAL = 0, TEAM_UNIFORM = 1, TEAM_EXACT = 2 };

PKPO_HD constexpr int team_threads(int W) { return W > 32 ? W : kTeamBlock; }

template <int W, int V, typename Key>
struct TeamSmem {
  typedef typename KeyTraits<Key>::Value A;
  static constexpr int C = W * V;
  static constexpr bool kBlock = W > 32;
  static constexpr int NW = kBlock ? W / 32 : 2;
  static constexpr int kWarps = team_threads(W) / 32;
  union Buf {
    Key k[C];
    A a[C];
  };
  /* block teams: the sort's double buffer (sidx slots), then the sorted keys and outputs (rank
   * order) for the search; sub-warp teams: each warp's groups' sorted keys and outputs */
  alignas(16) Buf buf[kBlock ? 2 : 1];
  alignas(16) Key keys[kBlock ? 1 : kWarps][32 * V];
  alignas(16) A outs[kBlock ? 1 : kWarps][32 * V];
  /* sub-warp teams: the uniform row (m = n) */
  alignas(16) A P[kBlock ? 1 : C];
  alignas(16) A Q[kBlock ? 1 : C];
  alignas(16) double Fhi[kBlock ? 1 : C];
  alignas(16) double Flo[kBlock ? 1 : C];
  RowConsts rc;
  TeamSlots<NW> slots;
};

/* The rows of the team's ranks for m = row_m from the block's uniform row (sub-warp teams). */
template <int W, int V, typename Key>
__device__ __forceinline__ void rows_from_smem(const TeamSmem<W, V, Key>& sm, int l, int m, double (&P)[V],
                                               double (&Q)[V], double (&Fhi)[V], double (&Flo)[V]) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int t = l * V + j + 1;
    const bool in = t < m;
    P[j] = in ? (double)sm.P[t - 1] : 0.0;
    Q[j] = in ? (double)sm.Q[t - 1] : 0.0;
    Fhi[j] = in ? sm.Fhi[t - 1] : 0.0;
    Flo[j] = in ? sm.Flo[t - 1] : 0.0;
  }
}

/* The group of team slot i of a launch visiting `count` groups (*g = num_groups past the last) and
 * its span; whether the launch takes it: valid groups with lower < n <= C (not on the large path)
 * and (lower == 0) the empty and the invalid ones. The uniform variants know the span from the
 * layout. */
template <int C, int LAYOUT>
__device__ __forceinline__ bool team_slot_group(const Params& p, int64_t i, int64_t count, int64_t lower,
                                                int64_t* g, GroupSpan* s) {
  constexpr bool FULL = LAYOUT != TEAM_GENERAL;
  constexpr bool EXACT = LAYOUT == TEAM_EXACT;
  *g = FULL ? i : (i < count ? group_at(p, i) : p.num_groups);
  s->begin = 0;
  s->n = 0;
  s->k_req = 1;
  s->valid = false;
  if (*g >= p.num_groups) return false;
  if (FULL) {
    s->begin = *g * (EXACT ? C : p.uniform_n);
    s->n = EXACT ? C : p.uniform_n;
    s->k_req = p.k;
    s->valid = true;
    return true;
  }
  *s = group_span(p, *g);
  if (goes_large(p, *s)) return false;
  return s->valid ? ((lower == 0 || s->n > lower) && s->n <= C) : (lower == 0);
}

/* rho of a general group from its rows and gaps (docs/math.md §4): every thread gets the bits. */
template <int W, int V>
__device__ __forceinline__ double team_rho(Team<W, V>& team, int m, const double (&dv)[V], const double (&dvn)[V],
                                           const double (&Fhi)[V], const double (&Flo)[V], double Wsum, bool clamp,
                                           double v1, double vm) {
  D2 part = make_d2(0.0, 0.0);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    if (team.rank(j) < m) {
      const double d = dvn[j] - dv[j];
      part.a += Fhi[j] * d;
      part.b += Flo[j] * d;
    }
  }
  const D2 s = team.sum(part);
  RowConsts rc = RowConsts();
  rc.W = Wsum;
  rc.clamp = clamp;
  return rho_from_sums(rc, s.a, s.b, v1, vm);
}

/* A pass@k curve: rho of the team's group at each k of the chunk. A column's F comes from the
 * previous column's elementwise when k grew by at most kCurveStep, F_t(k+1) = F_t(k) (t-k)/(m-k)
 * (C(t,k+1)/C(m,k+1) over C(t,k)/C(m,k)), in double-double, otherwise from a product scan. */
template <int W, int V, typename A>
__device__ __forceinline__ void team_curve(Team<W, V>& team, const Params& p, const KChunk& kc, int64_t g,
                                           bool mine, int act, int m, const double (&dv)[V], const double (&dvn)[V],
                                           double v1, double vm) {
  const bool gen = act == PKPO__ACT_GENERAL;
  const int me = gen ? m : 1;
  DD F[V];
#pragma unroll
  for (int j = 0; j < V; ++j) F[j] = DD(0);
  int64_t kprev = 0;
  for (int col = 0; col < kc.count; ++col) {
    const int64_t kk = kc.k[col] < me ? kc.k[col] : (int64_t)me;
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
      for (int64_t k = kprev; k < kk; ++k) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int64_t t = team.rank(j);
          F[j] = t > k && t < me ? F[j] * dd_ratio(t - k, me - k) : (t >= me ? F[j] : DD(0));
          if (F[j].hi < PKPO__WEIGHT_FLOOR) F[j] = DD(0);
        }
      }
      PKPO_REGION_END(curve_steps);
    }
    kprev = kk;
    double Fhi[V], Flo[V];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      Fhi[j] = F[j].hi;
      Flo[j] = F[j].lo;
    }
    const double r = team_rho(team, me, dv, dvn, Fhi, Flo, 1.0, true, v1, vm);
    if (team.l == 0 && mine && act != PKPO__ACT_ERROR) {
      const double value = action_rho(act, r);
      write_rho<A>(p, g, kc.first + col, p.negate ? -value : value);
    }
  }
}

/* Groups of the launch (team_slot_group). __launch_bounds__: at most 128 registers per thread.
 * Unmeasured: two blocks (16 warps) of the sub-warp teams per SM; the block teams keep 512 threads
 * per SM at least. */
template <int W, int V, typename Key, int LAYOUT>
__global__ void __launch_bounds__(team_threads(W), W > 32 ? ((W >= 512) ? 1 : 512 / W) : 2)
    team_kernel(const Params p, const KChunk kc, int64_t lower) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  typedef TeamSmem<W, V, Key> Sm;
  typedef Team<W, V> T;
  constexpr int C = W * V;
  constexpr bool BLOCK = T::kBlock;
  constexpr bool FULL = LAYOUT != TEAM_GENERAL; /* uniform, no index, one k, no curve */
  constexpr bool EXACT = LAYOUT == TEAM_EXACT;  /* ... and n = C */
  Sm& sm = PKPO_DYNAMIC_SMEM(Sm); /* sizeof(Sm) bytes: launch_team */
  T team = make_team<W, V>(&sm.slots);
  const int l = team.l;
  const bool curve = !FULL && kc.count > 0;

  /* a uniform batch's sub-warp teams: one row for m = n, built once per block by the first warp */
  const bool have_row = !BLOCK && !curve && p.uniform_n > 0 && p.uniform_n <= C && !p.k_per_group;
  PKPO_REGION_BEGIN(uniform_row);
  if (have_row) {
    if (threadIdx.x < 32) {
      PKPO_REGION_BEGIN(row_first_warp);
      double P[V], Q[V], Fhi[V], Flo[V];
      RowConsts rc;
      team_rows(team, p, p.uniform_n, p.k, p.write_out != 0, p.rho != nullptr, 0, BeyondNone(), P, Q, Fhi, Flo,
                &rc);
      if (threadIdx.x < W) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int e = l * V + j;
          sm.P[e] = (A)P[j];
          sm.Q[e] = (A)Q[j];
          sm.Fhi[e] = Fhi[j];
          sm.Flo[e] = Flo[j];
        }
        if (threadIdx.x == 0) sm.rc = rc;
      }
      PKPO_REGION_END(row_first_warp);
    }
    __syncthreads(); /* the row is read-only from here on */
  }
  PKPO_REGION_END(uniform_row);

  constexpr int S = BLOCK ? 1 : 32 / W; /* teams per warp */
  const int sub = BLOCK ? 0 : (int)(threadIdx.x & 31) / W;
  const int wib = BLOCK ? 0 : (int)(threadIdx.x >> 5);
  const int64_t units = BLOCK ? 1 : (int64_t)(team_threads(W) / 32) * S; /* teams per block */
  const int64_t count = FULL ? p.num_groups : launch_groups(p); /* a bucketed launch: its class's */
  PKPO_REGION_BEGIN(team_group_slots);
  for (int64_t base = (int64_t)blockIdx.x * units + wib * S; base < count; base += (int64_t)gridDim.x * units) {
    int64_t g;
    GroupSpan s;
    const bool mine = team_slot_group<C, LAYOUT>(p, base + sub, count, lower, &g, &s);
    if (!team.any(mine)) continue; /* every team of the warp (block): another launch's groups */
    const int n = mine ? (int)s.n : 0;

    /* load: register j takes reward j*W + l of the group */
    Key keys[V], orig[V];
    int64_t src[V];
    bool bad = false;
    int nf_count = 0;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int e = j * W + l;
      Key key = KT::kNone;
      bool nf = false;
      src[j] = -1;
      if (EXACT ? mine : e < n) key = load_key<Key, !FULL>(p, s.begin + e, &src[j], &nf, &bad);
      keys[j] = key;
      orig[j] = key;
      nf_count += nf;
    }
    /* the group's non-finite rewards and unusable index entries, in one team sum */
    const D2 counts = team.sum(make_d2((double)nf_count, bad ? 1.0 : 0.0));
    const int nonfinite = (int)counts.a;
    const bool any_bad = counts.b > 0.0;

    /* the group's rules */
    const int64_t k_req = curve ? kc.kmax : s.k_req;
    bool usable = true;
    const int64_t kmax = objective_kmax(p, k_req, &usable);
    const pkpo__group_rule rule =
        pkpo__resolve_group(p.nonfinite, p.k_policy, n, nonfinite, kmax, mine && s.valid && !any_bad && usable);
    const int act = mine ? rule.action : -1;
    const bool gen = act == PKPO__ACT_GENERAL;
    const int m = gen ? (int)rule.m : 0;
    if (team.any(gen)) {
      if constexpr (BLOCK) {
        (void)block_sort<C, V>(keys, l, sm.buf);
      } else {
        warp_sort<W, V>(keys, l);
      }
    }

    /* the sorted values, their neighbours, rank 1 and rank m, in float64 and in the rewards' type */
    A v[V], vn[V];
    double dv[V], dvn[V];
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] = KT::to_value(keys[j]); /* NaN for kNone: past rank m */
    team.next(v, vn, A(0));
    const A v1 = team.first(v[0]);
    const A vm = team.value_at(v, m > 0 ? m : 1);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      dv[j] = (double)v[j];
      dvn[j] = (double)vn[j];
    }

    PKPO_REGION_BEGIN(curve_columns);
    if (curve) {
      team_curve<W, V, A>(team, p, kc, g, mine, act, m, dv, dvn, (double)v1, (double)vm);
      if (l == 0 && mine) {
        if (act == PKPO__ACT_ERROR) {
          report_error(p, g, rule.error_bits);
        } else if (p.flags) {
          p.flags[g] = rule.flags;
        }
      }
      if constexpr (BLOCK) __syncthreads(); /* shared memory is reused by the next group */
      continue;
    }
    PKPO_REGION_END(curve_columns);

    PKPO_REGION_BEGIN(transform_part);
    /* the rows of (m, objective): the block's uniform row, or the group's own */
    double P[V], Q[V], Fhi[V], Flo[V];
    RowConsts rc = RowConsts();
    const bool from_row = have_row && gen && m == p.uniform_n;
    if (from_row) {
      rows_from_smem<W, V, Key>(sm, l, m, P, Q, Fhi, Flo);
      rc = sm.rc;
    }
    PKPO_REGION_BEGIN(rows_of_group);
    if (team.any(gen && !from_row)) {
      double P2[V], Q2[V], F2h[V], F2l[V];
      RowConsts rc2;
      team_rows(team, p, m > 0 ? m : 1, s.k_req, p.write_out != 0, p.rho != nullptr, 0, BeyondNone(), P2, Q2, F2h,
                F2l, &rc2);
      if (!from_row) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          P[j] = P2[j];
          Q[j] = Q2[j];
          Fhi[j] = F2h[j];
          Flo[j] = F2l[j];
        }
        rc = rc2;
      }
    }
    PKPO_REGION_END(rows_of_group);

    if (l == 0 && mine) {
      PKPO_REGION_BEGIN(status_report);
      if (act == PKPO__ACT_ERROR) {
        report_error(p, g, rule.error_bits);
      } else if (p.flags) {
        p.flags[g] = rule.flags | (gen && p.write_out ? rc.flags : 0u);
      }
      PKPO_REGION_END(status_report);
    }

    PKPO_REGION_BEGIN(rho_sum);
    if (p.rho) {
      const double r = team_rho(team, m, dv, dvn, Fhi, Flo, gen ? rc.W : 0.0, gen && rc.clamp, (double)v1, (double)vm);
      if (l == 0 && mine && act != PKPO__ACT_ERROR) {
        const double value = action_rho(act, r);
        write_rho<A>(p, g, 0, p.negate ? -value : value);
      }
    }
    PKPO_REGION_END(rho_sum);

    if (p.write_out && team.any(mine && act != PKPO__ACT_ERROR && act != PKPO__ACT_INVALID)) {
      /* outputs in sorted order: (PRE + SUF) + (A (v - v1) + B v1) */
      A f[V], fx[V], b[V];
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const bool in = gen && team.rank(j) < m;
        const A d = in ? vn[j] - v[j] : A(0);
        f[j] = in ? (A)P[j] * d : A(0);
        b[j] = in ? (A)Q[j] * d : A(0);
        fx[j] = A(0);
      }
      PKPO_REGION_BEGIN(forward_scan);
      if (team.any(gen && rc.has_pre)) team.template scan_exclusive<false, false>(f, fx);
      PKPO_REGION_END(forward_scan);
      PKPO_REGION_BEGIN(backward_scan);
      if (team.any(gen && rc.has_suf)) team.template scan<true, false>(b);
      PKPO_REGION_END(backward_scan);
      const A cA = gen ? (A)rc.A : A(0), cB = gen ? (A)rc.B : A(0);
      A outs[V];
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const bool in = gen && team.rank(j) <= m;
        outs[j] = in ? (fx[j] + (rc.has_suf ? b[j] : A(0))) + (cA * (v[j] - v1) + cB * v1) : A(0);
      }

      /* each element takes the output of the first rank holding its key */
      Key* sk;
      A* so;
      if constexpr (BLOCK) {
        sk = sm.buf[0].k;
        so = sm.buf[1].a;
        __syncthreads(); /* the sort's last reads of the buffers are done */
        store_items<V>(sk + l * V, keys);
        store_items<V>(so + l * V, outs);
        __syncthreads();
      } else {
        sk = sm.keys[wib] + sub * C;
        so = sm.outs[wib] + sub * C;
        __syncwarp();
        store_items<V>(sk + l * V, keys);
        store_items<V>(so + l * V, outs);
        __syncwarp();
      }
      A res[V];
#pragma unroll
      for (int j = 0; j < V; ++j) res[j] = first_rank_output<C>(sk, so, orig[j]);

      /* store: element j*W + l's output at its own position; NaN under PROPAGATE, 0 for an
       * excluded reward or an empty group; negated under the min statistic */
      if (mine && act != PKPO__ACT_ERROR && act != PKPO__ACT_INVALID) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          if (!EXACT && src[j] < 0) continue;
          A value = res[j];
          PKPO_REGION_BEGIN(other_outputs);
          if (!gen || orig[j] == KT::kNone) value = action_output<A>(act);
          PKPO_REGION_END(other_outputs);
          static_cast<A*>(p.out)[src[j]] = p.negate ? -value : value;
        }
      }
    }
    PKPO_REGION_END(transform_part);
    if constexpr (BLOCK) __syncthreads(); /* shared memory is reused by the next group */
  }
  PKPO_REGION_END(team_group_slots);
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_TEAM_KERNELS_CUH */
