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
 *          one form): a uniform batch's row for m = n is built once per block (sub-warp teams read
 *          it from shared memory, a block team's threads keep their ranks' part in registers);
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
#include "team_rho.cuh"

namespace pkpo_cuda {

/* Threads per block of the sub-warp teams. Unmeasured: 8 warps share each block's uniform row,
 * and two such blocks fit an SM at the 128 registers of __launch_bounds__(kTeamBlock, 2). */
constexpr int kTeamBlock = 256;

/* The team kernel's variants (its LAYOUT parameter): TEAM_UNIFORM and TEAM_EXACT are the RL batch
 * of n answers per prompt (a uniform layout without an index permutation, a per-group k or a
 * curve): the group's span, the index and the curve code compiled out, the bounds one compare per
 * register (none for TEAM_EXACT, n = C). */
enum { TEAM_GENERAL = 0, TEAM_UNIFORM = 1, TEAM_EXACT = 2 };

/* The unit of a team's count of unusable index entries in its sum with the non-finite count (at
 * most kBlockMaxN of those; at most 512 threads with a bad entry). */
constexpr int kBadUnit = 1 << 16;
static_assert(kBlockMaxN < kBadUnit, "the non-finite count fits below kBadUnit");

PKPO_HD constexpr int team_threads(int W) { return W > 32 ? W : kTeamBlock; }

/* Blocks per SM that __launch_bounds__ asks the team kernel to fit (at most 128 registers per
 * thread): two of the sub-warp teams' (16 warps), and 512 threads of block teams. The launcher
 * sizes grids in these waves. Unmeasured. */
PKPO_HD constexpr int team_blocks_per_sm(int W) { return W > 32 ? (W >= 512 ? 1 : 512 / W) : 2; }

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
  /* block teams: the sort's double buffer (sidx slots), then the sorted keys, each beside its
   * output's bits (rank order), for the search; sub-warp teams: the same for each warp's groups */
  alignas(16) Buf buf[kBlock ? 2 : 1];
  alignas(16) Key sorted[kBlock ? 1 : kWarps][2 * 32 * V];
  /* sub-warp teams: a uniform batch's row (m = n), P and Q in the rewards' type, F in
   * double-double (a block team's thread keeps its own ranks' part in registers) */
  alignas(16) A P[kBlock ? 1 : C];
  alignas(16) A Q[kBlock ? 1 : C];
  alignas(16) double Fhi[kBlock ? 1 : C];
  alignas(16) double Flo[kBlock ? 1 : C];
  RowConsts rc;
  TeamSlots<NW> slots;
};

/* A uniform batch's row for the thread's ranks: P and Q in the rewards' type, F (hi, lo) for rho,
 * and the row's constants. A block team's threads keep theirs in registers from the block's
 * build on (each thread's ranks are the same in every group); a sub-warp team's lanes read theirs
 * from the block's row in shared memory, built by the block's first warp, for each group (lane l
 * of every team holds the same ranks: one row serves the block's teams). */
template <int V, typename A>
struct TeamRow {
  A P[V], Q[V];
  double Fhi[V], Flo[V];
  RowConsts rc;
};

/* The row's P (QS false) or Q (QS true) for the thread's ranks; consts_of_row: its constants. Q is
 * read only where a formula has a backward scan (sloo_minus_one, the RL default, has none). */
template <bool QS, int W, int V, typename Key, typename A>
__device__ __forceinline__ void weights_of_row(const TeamSmem<W, V, Key>& sm, const TeamRow<V, A>& row, int l,
                                               A (&X)[V]) {
  if constexpr (W > 32) {
#pragma unroll
    for (int j = 0; j < V; ++j) X[j] = QS ? row.Q[j] : row.P[j];
  } else {
    load_items<V>((QS ? sm.Q : sm.P) + l * V, X);
  }
}

template <int W, int V, typename Key, typename A>
__device__ __forceinline__ RowConsts consts_of_row(const TeamSmem<W, V, Key>& sm, const TeamRow<V, A>& row) {
  if constexpr (W > 32) {
    return row.rc;
  } else {
    return sm.rc;
  }
}

template <int W, int V, typename Key, typename A>
__device__ __forceinline__ void f_of_row(const TeamSmem<W, V, Key>& sm, const TeamRow<V, A>& row, int l,
                                         double (&Fhi)[V], double (&Flo)[V]) {
  if constexpr (W > 32) {
#pragma unroll
    for (int j = 0; j < V; ++j) {
      Fhi[j] = row.Fhi[j];
      Flo[j] = row.Flo[j];
    }
  } else {
    load_items<V>(sm.Fhi + l * V, Fhi);
    load_items<V>(sm.Flo + l * V, Flo);
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

/* Slots per chunk of a uniform batch's loop: the bits of a mask of the slots left to PASS_LEFT. */
constexpr int kLeftChunk = 32;

/* The passes of team_group: PASS_ROW takes the block's uniform row (a uniform batch), which serves
 * every group whose m is the row's (no excluded reward), and leaves the others to PASS_LEFT;
 * PASS_OWN builds every group's own rows (rows.cuh team_rows; a batch without a row, or a curve). */
enum { PASS_ROW = 0, PASS_LEFT = 1, PASS_OWN = 2 };

/* One team slot of a launch: slot i's group through the team, from its load to its stores, in pass
 * PASS. Returns whether PASS_ROW left the team's group to PASS_LEFT. Every thread of the warp
 * (sub-warp teams) or of the block calls it. kc: a curve's ks (PASS_OWN only). take: whether the
 * team takes its slot at all (PASS_LEFT: only a slot that PASS_ROW left; another team of the warp
 * may be in PASS_LEFT for its own slot, and an in-place call must not reload a finished group's
 * outputs as its rewards). */
template <int W, int V, typename Key, int LAYOUT, int PASS>
__device__ __forceinline__ bool team_group(Team<W, V>& team, TeamSmem<W, V, Key>& sm,
                                           const TeamRow<V, typename KeyTraits<Key>::Value>& row, const Params& p,
                                           const KChunk* kc, int64_t lower, const ObjectiveCheck& oc, int64_t i,
                                           int64_t count, int wib, int sub, bool take) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  constexpr int C = W * V;
  constexpr bool BLOCK = Team<W, V>::kBlock;
  constexpr bool FULL = LAYOUT != TEAM_GENERAL; /* uniform, no index, one k, no curve */
  constexpr bool EXACT = LAYOUT == TEAM_EXACT;  /* ... and n = C */
  const int l = team.l;
  constexpr bool OWN = PASS != PASS_ROW;
  constexpr bool CURVES = PASS == PASS_OWN && !FULL; /* a curve has no uniform row */
  const bool curve = CURVES && kc->count > 0;
  int64_t g;
  GroupSpan s;
  const bool slot = team_slot_group<C, LAYOUT>(p, i, count, lower, &g, &s) && take;
  if (!team.any(slot)) return false; /* every team of the warp (block): another launch's groups */
  const int n = slot ? (int)s.n : 0;

  /* load: register j takes reward j*W + l of the group (its sample is found again for the store:
   * kept from here, the V positions took registers that the sort and the scans need) */
  Key keys[V], orig[V];
  bool bad = false;
  int nf_count = 0;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int e = j * W + l;
    Key key = KT::kNone;
    bool nf = false;
    int64_t src;
    if (EXACT ? slot : e < n) key = load_key<Key, !FULL>(p, s.begin + e, &src, &nf, &bad);
    keys[j] = key;
    orig[j] = key;
    nf_count += nf;
  }
  /* the group's non-finite rewards and unusable index entries, in one team sum (at most C <=
   * 4096 of the first, so the second counts in units of kBadUnit) */
  const int counts = team.sum(nf_count + (bad ? kBadUnit : 0));
  const int nonfinite = counts & (kBadUnit - 1);
  const bool any_bad = counts >= kBadUnit;

  /* the group's rules, and which pass takes it */
  const int64_t k_req = curve ? kc->kmax : s.k_req;
  const int64_t kmax = objective_kmax(p, oc, k_req);
  const pkpo__group_rule rule =
      pkpo__resolve_group(p.nonfinite, p.k_policy, n, nonfinite, kmax, slot && s.valid && !any_bad && oc.usable);
  /* a uniform batch's group of n = uniform_n: m is the row's unless a reward was excluded */
  const bool left = slot && rule.action == PKPO__ACT_GENERAL && nonfinite > 0;
  const bool mine = slot && (PASS == PASS_ROW ? !left : PASS == PASS_LEFT ? left : true);
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

  /* the sorted values, their neighbours and rank 1 (rank m: rho's, where rho is wanted) */
  A v[V], vn[V];
#pragma unroll
  for (int j = 0; j < V; ++j) v[j] = KT::to_value(keys[j]); /* NaN for kNone: past rank m */
  team.next(v, vn, A(0));
  const A v1 = team.first(v[0]);

  PKPO_REGION_BEGIN(curve_columns);
  if (curve) {
    const A vm = team.value_at(v, m > 0 ? m : 1);
    team_curve<W, V, A>(team, p, *kc, g, mine, act, m, v, vn, (double)v1, (double)vm);
    if (l == 0 && mine) {
      if (act == PKPO__ACT_ERROR) {
        report_error(p, g, rule.error_bits);
      } else if (p.flags) {
        p.flags[g] = rule.flags;
      }
    }
    if constexpr (BLOCK) __syncthreads(); /* shared memory is reused by the next group */
    return false;
  }
  PKPO_REGION_END(curve_columns);

  PKPO_REGION_BEGIN(transform_part);
  /* the rows of (m, objective): the block's uniform row, or the group's own; P and Q in the
   * rewards' type (the outputs' arithmetic), F only for rho */
  A P[V], Q[V];
  double Fhi[V], Flo[V];
  RowConsts rc;
  if constexpr (!OWN) {
    weights_of_row<false, W, V, Key, A>(sm, row, l, P);
    rc = consts_of_row<W, V, Key, A>(sm, row);
  } else {
    rc = RowConsts();
    PKPO_REGION_BEGIN(rows_of_group);
    if (team.any(gen)) {
      double P2[V], Q2[V];
      team_rows(team, p, m > 0 ? m : 1, s.k_req, p.write_out != 0, p.rho != nullptr, 0, BeyondNone(), P2, Q2, Fhi,
                Flo, &rc);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        P[j] = (A)P2[j];
        Q[j] = (A)Q2[j];
      }
    }
    PKPO_REGION_END(rows_of_group);
  }

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
    if constexpr (!OWN) f_of_row<W, V, Key, A>(sm, row, l, Fhi, Flo);
    const A vm = team.value_at(v, m > 0 ? m : 1);
    double d[V];
    team_gaps(team, m, v, vn, d);
    const double r = team_rho(team, d, Fhi, Flo, gen ? rc.W : 0.0, gen && rc.clamp, (double)v1, (double)vm);
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
      f[j] = in ? P[j] * d : A(0);
      b[j] = A(0);
      fx[j] = A(0);
    }
    PKPO_REGION_BEGIN(forward_scan);
    if (team.any(gen && rc.has_pre)) team.template scan_exclusive<false, false>(f, fx);
    PKPO_REGION_END(forward_scan);
    PKPO_REGION_BEGIN(backward_scan);
    if (team.any(gen && rc.has_suf)) {
      if constexpr (!OWN) weights_of_row<true, W, V, Key, A>(sm, row, l, Q);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const bool in = gen && team.rank(j) < m;
        b[j] = in ? Q[j] * (vn[j] - v[j]) : A(0);
      }
      team.template scan<true, false>(b);
    }
    PKPO_REGION_END(backward_scan);
    A outs[V];
    if (team.any(gen && (rc.has_suf || rc.has_ab))) {
      PKPO_REGION_BEGIN(output_full);
      const A cA = gen ? (A)rc.A : A(0), cB = gen ? (A)rc.B : A(0);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const bool in = gen && team.rank(j) <= m;
        outs[j] = in ? (fx[j] + (rc.has_suf ? b[j] : A(0))) + (cA * (v[j] - v1) + cB * v1) : A(0);
      }
      PKPO_REGION_END(output_full);
    } else {
      /* no suffix and A = B = +0: the output is the exclusive scan, plus +0 so that a -0 sum
       * comes out as the CPU engine's +0 (its scan starts from +0); no v - v1, which overflows
       * for rewards that span more than the type's range */
      PKPO_REGION_BEGIN(output_prefix);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const bool in = gen && team.rank(j) <= m;
        outs[j] = in ? fx[j] + A(0) : A(0);
      }
      PKPO_REGION_END(output_prefix);
    }

    /* each element takes the output of the first rank holding its key */
    Key ko[2 * V];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      ko[2 * j] = keys[j];
      ko[2 * j + 1] = KT::bits(outs[j]);
    }
    Key* sk;
    if constexpr (BLOCK) {
      static_assert(sizeof(sm.buf) == 2 * C * sizeof(Key), "the sort's buffers hold C keys and outputs");
      sk = sm.buf[0].k;
      __syncthreads(); /* the sort's last reads of the buffers are done */
      store_items<2 * V>(sk + 2 * l * V, ko);
      __syncthreads();
    } else {
      sk = sm.sorted[wib] + sub * 2 * C;
      __syncwarp();
      store_items<2 * V>(sk + 2 * l * V, ko);
      __syncwarp();
    }
    A res[V];
#pragma unroll
    for (int j = 0; j < V; ++j) res[j] = first_rank_output<C, Key, A>(sk, orig[j]);

    /* store: element j*W + l's output at its own position; NaN under PROPAGATE, 0 for an
     * excluded reward or an empty group; negated under the min statistic */
    if (mine && act != PKPO__ACT_ERROR && act != PKPO__ACT_INVALID) {
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const int e = j * W + l;
        if (!EXACT && e >= n) continue;
        A value = res[j];
        PKPO_REGION_BEGIN(other_outputs);
        if (!gen || orig[j] == KT::kNone) value = action_output<A>(act);
        PKPO_REGION_END(other_outputs);
        static_cast<A*>(p.out)[FULL ? s.begin + e : sample_of(p, s.begin + e)] = p.negate ? -value : value;
      }
    }
  }
  PKPO_REGION_END(transform_part);
  if constexpr (BLOCK) __syncthreads(); /* shared memory is reused by the next group */
  return PASS == PASS_ROW && left;
}

/* Groups of the launch (team_slot_group). __launch_bounds__: team_blocks_per_sm. */
template <int W, int V, typename Key, int LAYOUT>
__global__ void __launch_bounds__(team_threads(W), team_blocks_per_sm(W))
    team_kernel(const Params p, const KChunk kc, int64_t lower) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  typedef TeamSmem<W, V, Key> Sm;
  typedef Team<W, V> T;
  constexpr int C = W * V;
  constexpr bool BLOCK = T::kBlock;
  constexpr bool FULL = LAYOUT != TEAM_GENERAL; /* uniform, no index, one k, no curve */
  Sm& sm = PKPO_DYNAMIC_SMEM(Sm); /* sizeof(Sm) bytes: launch_team */
  T team = make_team<W, V>(&sm.slots);
  const int l = team.l;
  const bool curve = !FULL && kc.count > 0;

  /* a uniform batch: one row for m = n, built once per block (a block team: by the block, each
   * thread keeping its ranks' part; sub-warp teams: by the block's first warp, into shared memory) */
  /* a mixture's terms are checked once: they are the same for every group (an unusable mixture
   * makes every group invalid: no row) */
  const ObjectiveCheck oc = objective_check(p);
  const bool have_row = !curve && p.uniform_n > 0 && p.uniform_n <= C && !p.k_per_group && oc.usable;
  TeamRow<V, A> row;
  PKPO_REGION_BEGIN(uniform_row);
  if (have_row) {
    if (BLOCK || threadIdx.x < 32) {
      PKPO_REGION_BEGIN(row_build);
      double P[V], Q[V];
      team_rows(team, p, p.uniform_n, p.k, p.write_out != 0, p.rho != nullptr, 0, BeyondNone(), P, Q, row.Fhi,
                row.Flo, &row.rc);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        row.P[j] = (A)P[j];
        row.Q[j] = (A)Q[j];
      }
      if (!BLOCK && threadIdx.x < W) {
        store_items<V>(sm.P + l * V, row.P);
        store_items<V>(sm.Q + l * V, row.Q);
        store_items<V>(sm.Fhi + l * V, row.Fhi);
        store_items<V>(sm.Flo + l * V, row.Flo);
        if (threadIdx.x == 0) sm.rc = row.rc;
      }
      PKPO_REGION_END(row_build);
    }
    if constexpr (!BLOCK) __syncthreads(); /* the row is read-only from here on */
  }
  PKPO_REGION_END(uniform_row);

  constexpr int S = BLOCK ? 1 : 32 / W; /* teams per warp */
  const int sub = BLOCK ? 0 : (int)(threadIdx.x & 31) / W;
  const int wib = BLOCK ? 0 : (int)(threadIdx.x >> 5);
  const int64_t units = BLOCK ? 1 : (int64_t)(team_threads(W) / 32) * S; /* teams per block */
  const int64_t count = FULL ? p.num_groups : launch_groups(p); /* a bucketed launch: its class's */
  const int64_t first = (int64_t)blockIdx.x * units + wib * S, stride = (int64_t)gridDim.x * units;
  if (have_row) {
    /* a team's slots in chunks of up to kLeftChunk: PASS_ROW over the chunk's slots, then PASS_LEFT for the
     * slots whose group PASS_ROW left (a group with an excluded reward needs its own rows). Not in
     * one loop: their double-double product scans need many registers, and beside PASS_ROW's code
     * (inlined in the same loop, or called out of line) they made ptxas spill or recompute PASS_ROW's
     * values (the static cost model's run of 2026-12-07: 4.2 warp-instructions per reward in
     * team_kernel<4, 4, u32, 2> without PASS_LEFT, 5.6 with it inline, 5.7 out of line). */
    PKPO_REGION_BEGIN(row_groups);
    PKPO_REGION_BEGIN(slot_chunks);
    for (int64_t chunk = first; chunk < count; chunk += kLeftChunk * stride) {
      const int64_t end = count - chunk > (kLeftChunk - 1) * stride ? chunk + (kLeftChunk - 1) * stride + 1 : count;
      uint32_t left = 0, bit = 1;
      PKPO_REGION_BEGIN(chunk_slots);
      for (int64_t base = chunk; base < end; base += stride, bit <<= 1) {
        if (team_group<W, V, Key, LAYOUT, PASS_ROW>(team, sm, row, p, nullptr, lower, oc, base + sub, count, wib, sub,
                                                    true)) {
          left |= bit;
        }
      }
      PKPO_REGION_END(chunk_slots);
      PKPO_REGION_BEGIN(left_groups);
      if (team.any(left != 0)) {
        for (int u = 0; u < kLeftChunk; ++u) {
          if (team.any(((left >> u) & 1u) != 0)) {
            (void)team_group<W, V, Key, LAYOUT, PASS_LEFT>(team, sm, row, p, nullptr, lower, oc, chunk + u * stride + sub,
                                                           count, wib, sub, ((left >> u) & 1u) != 0);
          }
        }
      }
      PKPO_REGION_END(left_groups);
    }
    PKPO_REGION_END(slot_chunks);
    PKPO_REGION_END(row_groups);
  } else {
    PKPO_REGION_BEGIN(own_groups);
    PKPO_REGION_BEGIN(team_group_slots);
    for (int64_t base = first; base < count; base += stride) {
      (void)team_group<W, V, Key, LAYOUT, PASS_OWN>(team, sm, row, p, &kc, lower, oc, base + sub, count, wib, sub,
                                                    true);
    }
    PKPO_REGION_END(team_group_slots);
    PKPO_REGION_END(own_groups);
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_TEAM_KERNELS_CUH */
