/*
 * warp_kernels.cuh -- device code of the small-group path: groups of at most kWarpMaxN (128)
 * rewards, the sizes RL trainers sample (launchers in transform.cu).
 *
 * One group per sub-warp of W lanes (32 / W groups per warp), each lane holding V rewards in
 * registers: C = W*V ranks, the power of two >= n (transform.cu warp_class: V = 4 and W = C/4,
 * or 2 x 2 for n <= 4).
 * Register j of lane l first holds reward j*W + l of the group (striped, for coalesced loads and
 * stores); after the sort it holds rank e+1, e = l*V + j (blocked, so that strides below V compare
 * registers).
 *
 *   load   the group's rewards (through the optional index permutation), coalesced;
 *   sort   a bitonic network on the keys (KeyTraits): compare-exchanges between a lane's own
 *          registers for strides < V, shuffles between lanes (__shfl_xor_sync) for the others;
 *   weight mu_t and the tail sums T'_t from a table in shared memory, built once per thread block
 *          for the call's k and the group sizes m the launch can meet (WarpTab: the one row m = n
 *          of a uniform batch, built by the scans below in the block's first warp; a ragged
 *          launch's rows by the recurrence, one thread per row), so that the hot loop makes no
 *          division and no product scan; groups the table cannot serve (per-group k, k clamped to
 *          m, m below the table's rows) get them from two sub-warp scans in float64, and a pass@k
 *          curve's columns from those scans or elementwise from the previous column's weights;
 *   terms  the per-rank terms of group_math.cuh and only the scans the group's formula needs
 *          (sloo_minus_one: one forward scan; s: one backward scan; rho: one reduction and no
 *          per-sample pass): sequential over a lane's registers, then by shuffles over lanes;
 *   store  each element finds the first sorted rank holding its key (a branchless binary search
 *          in the warp's shared memory) and stores that rank's output at its own position: tied
 *          rewards get bit-identical outputs, as on every path.
 *
 * No block barrier after the table is built, no atomics except the error report, no divergence at
 * a collective: every lane of a warp runs every shuffle, and a sub-warp whose group needs nothing
 * computes on padding (kNone keys, zero terms) and stores nothing. The per-group decisions
 * (resolve_plain, the group's formula) take one branch per warp in a uniform batch.
 *
 * Arithmetic: float32 for float32 rewards, float64 for float64 (docs/math.md section 4 targets,
 * err <= 4e-6 and <= 1e-12, are met by the stable forms in either: the tests check every estimator
 * and k on offset rewards in every configuration). The weights are always built in float64 and
 * rounded once.
 */
#ifndef PKPO_CUDA_WARP_KERNELS_CUH
#define PKPO_CUDA_WARP_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "group_math.cuh"
#include "keys.cuh"
#include "model_region.h"
#include "params.h"
#include "warp_primitives.cuh"

namespace pkpo_cuda {

/* Threads per block of the warp kernels. Unmeasured: 8 warps share each block's weight table, and
 * two such blocks fit an SM at the 128 registers of __launch_bounds__(kWarpBlock, 2). */
constexpr int kWarpBlock = 256;

/* The warp kernel's variants (its LAYOUT parameter). */
enum { WARP_GENERAL = 0, WARP_UNIFORM = 1, WARP_EXACT = 2 };

/* Rows of the weight table: k, and the group sizes m_lo..m_hi (empty when m_lo > m_hi). */
struct WarpTab {
  int64_t k;
  int m_lo;
  int m_hi;
};

/* Entries of the rows 1..m of a triangular table. */
PKPO_HD constexpr int tri(int m) { return m * (m + 1) / 2; }

/* Rows of the weight table of a warp configuration of C = W*V ranks: every m <= C up to 32, the
 * 32 largest for C = 64 and the 12 largest for C = 128 (so that a float64 table fits in 48 KB of
 * static shared memory with the tie search's buffers); groups whose m falls below get the float64
 * scans instead. */
PKPO_HD constexpr int warp_tab_rows(int C) { return C <= 32 ? C : C == 64 ? 32 : 12; }
PKPO_HD constexpr int warp_tab_entries(int C) { return tri(C) - tri(C - warp_tab_rows(C)); }

template <int W, int V, typename Key>
struct WarpSmem {
  typedef typename KeyTraits<Key>::Value A;
  static constexpr int C = W * V;
  static constexpr int NW = kWarpBlock / 32;
  static_assert(warp_tab_entries(C) >= C, "a uniform batch's row is read as C entries");
  alignas(16) A mu[warp_tab_entries(C)]; /* row m (m_lo <= m <= m_hi) at tri(m-1) - tri(m_lo-1): mu_1..mu_m */
  alignas(16) A tp[warp_tab_entries(C)]; /* T'_1..T'_m likewise */
  GroupConsts<A> consts[warp_tab_rows(C)]; /* group_consts(m, k) of row m at m - m_lo */
  double ratio[C + 1]; /* (t-k)/(t-1), t = 2..m_hi, while the table is built */
  /* the sorted keys and outputs of each warp's groups, for the tie search */
  alignas(16) Key keys[NW][32 * V];
  alignas(16) A out[NW][32 * V];
};

/* ---- weights --------------------------------------------------------------------------------- */

/* The table rows m_lo..m_hi for tab.k, built in float64 by the recurrence of engine.c
 * (mu_m = k/m, mu_{t-1} = mu_t (t-k)/(t-1), dropped below the floor), one row per thread. The
 * ratios (t-k)/(t-1) do not depend on m: the block divides once per rank, in parallel, so that a
 * row's sequential chain is multiplications only. Every thread of the block calls this. */
template <int W, int V, typename Key>
__device__ __forceinline__ void build_table(WarpSmem<W, V, Key>& sm, const WarpTab& tab) {
  typedef typename KeyTraits<Key>::Value A;
  const int rows = tab.m_hi - tab.m_lo + 1;
  PKPO_REGION_BEGIN(table_ratios);
  for (int t = (int)threadIdx.x + 2; t <= tab.m_hi; t += kWarpBlock) {
    sm.ratio[t] = (double)(t - tab.k) / (double)(t - 1);
  }
  PKPO_REGION_END(table_ratios);
  __syncthreads();
  PKPO_REGION_BEGIN(table_rows);
  for (int i = threadIdx.x; i < rows; i += kWarpBlock) {
    const int m = tab.m_lo + i;
    const int64_t k = tab.k;
    const int off = tri(m - 1) - tri(tab.m_lo - 1);
    double w = (double)k / (double)m;
    bool live = true;
    double tail = 0.0;  /* T'_t = sum_{j=t+1}^{m-1} mu_j */
    double above = 0.0; /* mu_{t+1} */
    PKPO_REGION_BEGIN(table_recurrence);
    for (int t = m; t >= 1; --t) {
      if (t + 1 <= m - 1) tail += above;
      double mu = 0.0;
      if (live && t >= k) {
        mu = w;
        if (t == k) {
          live = false;
        } else {
          w = w * sm.ratio[t];
          if (w < PKPO__CUDA_WEIGHT_FLOOR) live = false;
        }
      }
      sm.mu[off + t - 1] = (A)mu;
      sm.tp[off + t - 1] = (A)tail;
      above = mu;
    }
    PKPO_REGION_END(table_recurrence);
    sm.consts[i] = group_consts<A>(m, k);
  }
  PKPO_REGION_END(table_rows);
}

/* mu_t and T'_t of ranks t = l*V + j + 1 for (m, k), by a suffix product scan of the ratios and a
 * suffix sum, in float64 (group_math.cuh's weight_ratio / weight_from_product / tail_summand). */
template <int W, int V>
__device__ __forceinline__ void weights_by_scan(int l, int64_t m, int64_t k, double (&mu)[V],
                                                double (&tp)[V]) {
  double r[V];
#pragma unroll
  for (int j = 0; j < V; ++j) r[j] = weight_ratio((int64_t)(l * V + j + 1), m, k);
  warp_scan<W, V, true, true>(r, l);
  elem_next<W, V>(r, mu, l, 1.0); /* exclusive suffix product P_t */
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int64_t t = l * V + j + 1;
    mu[j] = weight_from_product(t, m, k, mu[j]);
    r[j] = tail_summand(t, m, mu[j]);
  }
  warp_scan<W, V, true, false>(r, l);
  elem_next<W, V>(r, tp, l, 0.0); /* exclusive suffix sum T'_t */
}

/* A uniform batch's one table row m = tab.m_lo = tab.m_hi (transform.cu launch_warp), built by the
 * float64 scans of the table-less groups in the block's first warp (log-depth, instead of one
 * thread's chain of m dependent steps); each of its sub-warps computes the row, the first stores
 * it. Every thread of the block calls this. */
template <int W, int V, typename Key>
__device__ __forceinline__ void build_row_by_scan(WarpSmem<W, V, Key>& sm, const WarpTab& tab) {
  typedef typename KeyTraits<Key>::Value A;
  if (threadIdx.x >= 32) return;
  const int l = threadIdx.x % W;
  const int m = tab.m_lo;
  double mu[V], tp[V];
  weights_by_scan<W, V>(l, m, tab.k, mu, tp);
  if (threadIdx.x < W) {
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int t = l * V + j + 1;
      if (t <= m) {
        sm.mu[t - 1] = (A)mu[j];
        sm.tp[t - 1] = (A)tp[j];
      }
    }
  }
  if (threadIdx.x == 0) sm.consts[0] = group_consts<A>(m, tab.k);
}

/* ---- outputs --------------------------------------------------------------------------------- */

/* The outputs (rank_output_of) of the lane's ranks of a group by formula FORMULA, with only the
 * scans FORMULA needs. sloo scans suf0 - q suf1 as one backward sum (rank_output_of's suf0_incl, with
 * suf1_incl = 0); sloo_minus_one's output is the inclusive forward scan itself. */
template <int FORMULA, int W, int V, typename A>
__device__ __forceinline__ void sorted_outputs(int l, int m, const A (&v)[V], A v1, const A (&vn)[V],
                                               const A (&mu)[V], const A (&tp)[V],
                                               const GroupConsts<A>& gc, A (&out)[V]) {
  A vp[V];
  if (FORMULA == PKPO_SLOO_MINUS_ONE) {
    elem_prev<W, V>(v, vp, l, A(0));
  } else {
    copy_items<V>(v, vp); /* unused */
  }
  RankTerms<A> x[V];
  lane_terms<FORMULA, V>(l, m, v, vp, vn, mu, tp, gc, x);
  A f[V], b[V], fx[V];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    f[j] = x[j].pre;
    b[j] = FORMULA == PKPO_SLOO ? x[j].suf0 - gc.q * x[j].suf1 : x[j].suf0;
    fx[j] = A(0);
  }
  if (FORMULA != PKPO_S) warp_scan<W, V, false, false>(f, l);
  if (FORMULA == PKPO_SLOO_MINUS_ONE) {
    copy_items<V>(f, out);
    return;
  }
  warp_scan<W, V, true, false>(b, l);
  if (FORMULA != PKPO_S) elem_prev<W, V>(f, fx, l, A(0)); /* exclusive forward sums */
#pragma unroll
  for (int j = 0; j < V; ++j) out[j] = rank_output_of<A>(FORMULA, gc, v[j], v1, x[j], fx[j], b[j], A(0));
}

/* Adds the outputs of the groups of the warp whose formula is FORMULA to `outs` (a pass only if one is). */
template <int FORMULA, int W, int V, typename A>
__device__ __forceinline__ void formula_pass(int formula, int l, int m, const A (&v)[V], A v1, const A (&vn)[V],
                                          const A (&mu)[V], const A (&tp)[V], const GroupConsts<A>& gc,
                                          A (&outs)[V]) {
  if (!__any_sync(kFullMask, formula == FORMULA)) return;
  A o[V];
  sorted_outputs<FORMULA, W, V>(l, m, v, v1, vn, mu, tp, gc, o);
  if (formula == FORMULA) copy_items<V>(o, outs);
}

/* rho - v_1 of the sub-warp's group: the sum of its ranks' rho terms (same bits in every lane). */
template <int W, int V, typename A>
__device__ __forceinline__ A rho_sum(int l, int m, const A (&v)[V], const A (&vn)[V], const A (&mu)[V],
                                     const A (&tp)[V], const GroupConsts<A>& gc) {
  RankTerms<A> x[V];
  lane_terms<PKPO_RHO, V>(l, m, v, v, vn, mu, tp, gc, x);
  A part = A(0);
#pragma unroll
  for (int j = 0; j < V; ++j) part = part + x[j].rho;
  return warp_sum<W>(part);
}

/* ---- the kernel ------------------------------------------------------------------------------- */

/* resolve_group for the common case, with no branch on the rare ones: a valid group of n >= 2
 * finite rewards and 1 <= k < n (formula by estimator as resolve_group; no flag). */
__device__ __forceinline__ bool resolve_plain(int estimator, int64_t n, int64_t nonfinite, int64_t k,
                                              bool valid, Resolved* r) {
  if (!(valid && nonfinite == 0 && n >= 2 && k < n)) return false;
  r->action = ACT_GENERAL;
  r->m = n;
  r->k = k;
  r->flags = 0;
  r->error_bits = 0;
  r->formula = estimator == PKPO_S                                 ? (int)PKPO_S
            : estimator == PKPO_SLOO                            ? (int)PKPO_SLOO
            : estimator == PKPO_L2O                             ? (int)PKPO_L2O
            : estimator == PKPO_SLOO_MINUS_ONE                  ? (k == 1 ? (int)PKPO_L2O : (int)PKPO_SLOO_MINUS_ONE)
                                                                : (int)PKPO_RHO;
  return true;
}

/* The group of sub-warp slot i of a launch visiting `count` groups (*g = num_groups past the last)
 * and its span; whether the launch takes it: valid groups with lower < n <= C and (lower == 0) the
 * empty and the invalid ones. The uniform variants know the span from the layout. */
template <int C, int LAYOUT>
__device__ __forceinline__ bool warp_slot_group(const Params& p, int64_t i, int64_t count, int64_t lower,
                                                int64_t* g, GroupSpan* s) {
  constexpr bool FULL = LAYOUT != WARP_GENERAL;
  constexpr bool EXACT = LAYOUT == WARP_EXACT;
  *g = FULL ? i : (i < count ? group_at(p, i) : p.num_groups);
  s->begin = 0;
  s->n = 0;
  s->k_req = 1;
  s->valid = false;
  bool mine = false;
  if (*g < p.num_groups) {
    if (FULL) {
      s->begin = *g * (EXACT ? C : p.uniform_n);
      s->n = EXACT ? C : p.uniform_n;
      s->k_req = p.k;
      s->valid = true;
      mine = true;
    } else {
      *s = group_span(p, *g);
      mine = s->valid ? ((lower == 0 || s->n > lower) && s->n <= C) : (lower == 0);
    }
  }
  return mine;
}

/* The keys of a sub-warp's group of n rewards: register j of lane l takes reward j*W + l (the
 * striped arrangement: consecutive lanes read consecutive rewards of the uniform layout,
 * coalesced; the sort takes any order, and each register keeps its own position, src, for the
 * store). *nonfinite: the group's non-finite rewards. Returns false if an index entry of the group
 * is unusable. Every lane of the warp calls this (ballots). */
template <int W, int V, typename Key, int LAYOUT>
__device__ __forceinline__ bool warp_load(const Params& p, const GroupSpan& s, bool mine, int n, int l,
                                          unsigned seg, Key (&keys)[V], Key (&orig)[V], int64_t (&src)[V],
                                          int* nonfinite) {
  typedef KeyTraits<Key> KT;
  constexpr bool FULL = LAYOUT != WARP_GENERAL;
  constexpr bool EXACT = LAYOUT == WARP_EXACT;
  bool bad = false;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int e = j * W + l;
    Key key = KT::kNone;
    bool nf = false;
    src[j] = -1;
    if (EXACT ? mine : e < n) key = load_key<Key, !FULL>(p, s.begin + e, &src[j], &nf, &bad);
    keys[j] = key;
    orig[j] = key;
    *nonfinite += __popc(__ballot_sync(kFullMask, nf) & seg);
  }
  const unsigned bad_lanes = __ballot_sync(kFullMask, bad); /* every lane: no short circuit */
  return (bad_lanes & seg) == 0;
}

/* What to do with the sub-warp's group (ACT_INVALID for a slot the launch does not take): the
 * common case by resolve_plain, the others by resolve_group; lane 0 reports an error or stores
 * the group's flags. */
__device__ __forceinline__ Resolved warp_resolve(const Params& p, int64_t g, const GroupSpan& s, bool mine, int n,
                                                 int nonfinite, int64_t k_flags, bool valid, int l) {
  Resolved r;
  r.action = ACT_INVALID;
  r.formula = PKPO_RHO;
  r.m = 0;
  r.k = 1;
  r.flags = 0;
  r.error_bits = 0;
  PKPO_REGION_BEGIN(rare_resolve);
  if (mine && !resolve_plain(p.estimator, n, nonfinite, k_flags, valid, &r)) {
    r = resolve_group(p.estimator, p.nonfinite, p.k_policy, s.n, nonfinite, k_flags, valid,
                      p.write_out != 0);
  }
  PKPO_REGION_END(rare_resolve);
  if (l == 0 && mine) report_status(p, g, r);
  return r;
}

/* A pass@k curve: rho of group g at each k of the chunk. The weights at the column's k come from
 * the previous column's when k grew by at most kCurveStep, elementwise: mu_t(k+1) = mu_t(k)
 * (t-k)(k+1) / (k (m-k)), 0 for t <= k (C(t-1,k) / C(m,k+1) over C(t-1,k-1) / C(m,k)); otherwise,
 * and every kCurveChain columns, by the float64 scans. For m <= 128 no weight is below
 * 1 / C(128, 64) ~ 4e-38, so the scans' floor (1e-300) never applies and the two give the same
 * weights up to rounding. rho in the direct form v_1 + sum_t mu_t (v_t - v_1) (no tail sums). */
template <int W, int V, typename A>
__device__ __forceinline__ void warp_curve_columns(const Params& p, const KChunk& kc, int64_t g, bool mine,
                                                   int act, int m, int l, const A (&v)[V], A v1) {
  const bool gen = act == ACT_GENERAL;
  double dmu[V];
#pragma unroll
  for (int j = 0; j < V; ++j) dmu[j] = 0.0;
  int64_t kprev = 0;
  int chain = 0;
  for (int col_i = 0; col_i < kc.count; ++col_i) {
    const int64_t kk = gen ? (kc.k[col_i] < m ? kc.k[col_i] : (int64_t)m) : 1;
    const bool step = curve_can_step(kprev, kk, chain);
    PKPO_REGION_BEGIN(curve_scans);
    if (__any_sync(kFullMask, !step)) { /* every lane: shuffles */
      double dtp[V];
      weights_by_scan<W, V>(l, m, kk, dmu, dtp);
      chain = 0;
    } else {
      PKPO_REGION_END(curve_scans);
      curve_steps<V>(dmu, l * V + 1, m, (int)kprev, (int)kk);
      ++chain;
    }
    kprev = kk;
    A part = A(0);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int t = l * V + j + 1;
      if (t <= m) part = part + (A)dmu[j] * (v[j] - v1);
    }
    const A total = warp_sum<W>(part);
    if (l == 0 && mine && act != ACT_ERROR) write_rho<A>(p, g, kc.first + col_i, rho_value(act, v1, total));
  }
}

/* Groups of the launch: valid groups with lower < n <= W*V, and (lower == 0) the empty and the
 * invalid ones. LAYOUT (transform.cu launch_warp): WARP_GENERAL, or for the RL batch of n answers
 * per prompt (a uniform layout without an index permutation, a per-group k or a curve) WARP_UNIFORM
 * (n < W*V) and WARP_EXACT (n = W*V): the group's span, the index and the curve code are
 * compiled out, and the bounds are one compare per register (none for WARP_EXACT). */
template <int W, int V, typename Key, int LAYOUT>
/* __launch_bounds__(256, 2): at most 128 registers, two blocks (16 warps) per SM. Unmeasured: the
 * float64 kernels would take ~154 registers and one block per SM otherwise; ptxas spills 16-88
 * bytes (in their cold code) to keep two. */
__global__ void __launch_bounds__(kWarpBlock, 2) warp_kernel(const Params p, const KChunk kc, int64_t lower,
                                                          const WarpTab tab) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  constexpr int C = W * V;
  constexpr int S = 32 / W; /* groups per warp */
  constexpr bool FULL = LAYOUT != WARP_GENERAL;  /* uniform, no index, one k, no curve */
  constexpr bool EXACT = LAYOUT == WARP_EXACT;   /* ... and n = C */
  __shared__ WarpSmem<W, V, Key> sm;

  const bool curve = !FULL && kc.count > 0;
  const bool have_tab = !curve && tab.m_lo <= tab.m_hi;
  if (have_tab) {
    if (FULL) {
      build_row_by_scan<W, V, Key>(sm, tab);
    } else {
      build_table<W, V, Key>(sm, tab);
    }
  }
  __syncthreads(); /* the last block barrier: the table is read-only from here on */

  const int lane = threadIdx.x & 31;
  const int sub = lane / W;
  const int l = lane % W;
  const unsigned seg = W == 32 ? kFullMask : (((1u << W) - 1u) << (sub * W));
  const int wib = threadIdx.x >> 5;
  const int64_t nwarps = (int64_t)gridDim.x * (kWarpBlock / 32);

  const int64_t count = FULL ? p.num_groups : launch_groups(p); /* a bucketed launch: its class's */
  PKPO_REGION_BEGIN(warp_group_slots);
  for (int64_t base = ((int64_t)blockIdx.x * (kWarpBlock / 32) + wib) * S; base < count;
       base += nwarps * S) {
    int64_t g;
    GroupSpan s;
    const bool mine = warp_slot_group<C, LAYOUT>(p, base + sub, count, lower, &g, &s);
    if (!__any_sync(kFullMask, mine)) continue; /* uniform: the warp's groups are all another launch's */
    const int n = mine ? (int)s.n : 0;

    Key keys[V], orig[V];
    int64_t src[V];
    int nonfinite = 0;
    const bool indexed_ok = warp_load<W, V, Key, LAYOUT>(p, s, mine, n, l, seg, keys, orig, src, &nonfinite);
    const bool valid = s.valid && indexed_ok;
    const Resolved r = warp_resolve(p, g, s, mine, n, nonfinite, curve ? kc.kmax : s.k_req, valid, l);
    const int act = mine ? r.action : -1;
    const bool gen = act == ACT_GENERAL;
    if (__any_sync(kFullMask, gen || act == ACT_SINGLE)) warp_sort<W, V>(keys, l);

    const int m = gen ? (int)r.m : 0;
    A v[V];
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] = KT::to_value(keys[j]); /* NaN for kNone: never used */
    const A v1 = __shfl_sync(kFullMask, v[0], 0, W);
    A vn[V];
    elem_next<W, V>(v, vn, l, A(0));

    PKPO_REGION_BEGIN(curve_columns);
    if (curve) {
      warp_curve_columns<W, V, A>(p, kc, g, mine, act, m, l, v, v1);
      continue;
    }
    PKPO_REGION_END(curve_columns);

    PKPO_REGION_BEGIN(transform_part);
    /* weights and constants of (m, k): a table row, or float64 scans where there is none */
    A mu[V], tp[V];
    GroupConsts<A> gc;
    gc.c = gc.q = gc.w = gc.mk = gc.sh = A(0);
#pragma unroll
    for (int j = 0; j < V; ++j) mu[j] = tp[j] = A(0);
    const bool from_tab = have_tab && gen && r.k == tab.k && m >= tab.m_lo && m <= tab.m_hi;
    if (from_tab) {
      const int off = tri(m - 1) - tri(tab.m_lo - 1);
      if (FULL) { /* a uniform batch's one row m = n, at offset 0 (the arrays hold >= C entries) */
        load_items<V>(sm.mu + l * V, mu);
        load_items<V>(sm.tp + l * V, tp);
        if (!EXACT) {
#pragma unroll
          for (int j = 0; j < V; ++j) {
            const int t = l * V + j + 1;
            mu[j] = t <= m ? mu[j] : A(0);
            tp[j] = t <= m ? tp[j] : A(0);
          }
        }
      } else {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int t = l * V + j + 1;
          mu[j] = t <= m ? sm.mu[off + t - 1] : A(0);
          tp[j] = t <= m ? sm.tp[off + t - 1] : A(0);
        }
      }
      gc = sm.consts[m - tab.m_lo];
    }
    PKPO_REGION_BEGIN(weights_without_row);
    if (__any_sync(kFullMask, gen && !from_tab)) {
      double dmu[V], dtp[V];
      weights_by_scan<W, V>(l, m, gen ? r.k : 1, dmu, dtp);
      if (gen && !from_tab) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          mu[j] = (A)dmu[j];
          tp[j] = (A)dtp[j];
        }
        gc = group_consts<A>(m, r.k);
      }
    }
    PKPO_REGION_END(weights_without_row);

    /* rho = v_1 + sum_t (T'_t + k/m) d_t */
    PKPO_REGION_BEGIN(rho_sum);
    if (p.rho) {
      const A total = rho_sum<W, V>(l, m, v, vn, mu, tp, gc);
      if (l == 0 && mine && act != ACT_ERROR) write_rho<A>(p, g, 0, rho_value(act, v1, total));
    }
    PKPO_REGION_END(rho_sum);
    if (!p.write_out) continue;

    /* outputs in sorted order, by each group's formula (one pass per formula present in the
     * warp: one for a uniform batch) */
    const int formula = gen ? r.formula : -1;
    A outs[V];
#pragma unroll
    for (int j = 0; j < V; ++j) outs[j] = A(0);
    if (__any_sync(kFullMask, gen)) {
      PKPO_REGION_BEGIN(formula_s);
      formula_pass<PKPO_S, W, V>(formula, l, m, v, v1, vn, mu, tp, gc, outs);
      PKPO_REGION_END(formula_s);
      PKPO_REGION_BEGIN(formula_sloo);
      formula_pass<PKPO_SLOO, W, V>(formula, l, m, v, v1, vn, mu, tp, gc, outs);
      PKPO_REGION_END(formula_sloo);
      PKPO_REGION_BEGIN(formula_smo);
      formula_pass<PKPO_SLOO_MINUS_ONE, W, V>(formula, l, m, v, v1, vn, mu, tp, gc, outs);
      PKPO_REGION_END(formula_smo);
      PKPO_REGION_BEGIN(formula_l2o);
      formula_pass<PKPO_L2O, W, V>(formula, l, m, v, v1, vn, mu, tp, gc, outs);
      PKPO_REGION_END(formula_l2o);
      /* each element takes the output of the first rank holding its key (tied rewards get
       * bit-identical outputs), found by a branchless binary search over the sorted keys in the
       * warp's shared memory */
      Key* wkeys = sm.keys[wib] + sub * C;
      A* wout = sm.out[wib] + sub * C;
      __syncwarp();
      store_items<V>(wkeys + l * V, keys);
      store_items<V>(wout + l * V, outs);
      __syncwarp();
#pragma unroll
      for (int j = 0; j < V; ++j) outs[j] = first_rank_output<C>(wkeys, wout, orig[j]);
    }

    if (mine && act != ACT_INVALID && act != ACT_ERROR) store_outputs<V, Key, !EXACT>(p, act, src, orig, outs);
    PKPO_REGION_END(transform_part);
  }
  PKPO_REGION_END(warp_group_slots);
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_WARP_KERNELS_CUH */
