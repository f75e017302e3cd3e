/*
 * rows.cuh -- the weight rows of a call's objective on the device (docs/math.md §4-5): for the ranks
 * a team holds, P_t and Q_t of the outputs' scans, F_t (hi, lo) of rho, and the group's constants,
 * summed over the objective's terms (one k, or a mixture's (k_j, w_j) in device memory).
 *
 * Each term's weights are backward product scans over the team's ranks (times the product beyond
 * them, for a tile of a larger group): the outputs' mu_t = C(t-1,k-1)/C(m,k) in doubles, from the
 * ratios of the CPU engine's top-down table, and P_t and Q_t from mu_t, mu_{t+1} and the tail
 * T'_t = sum_{j>t} mu_j by src/common/rules.h's pkpo__term_weights, the CPU engine's formulas;
 * rho's F_t = C(t,k)/C(m,k) = prod_{j>t} (j-k)/j in double-double, only where rho is wanted. So
 * the kernels need no weight table of their own and no special case per estimator: the rules pick
 * each term's formula, and the outputs are
 *   a(i) = (PRE_i + SUF_i) + (A (v_i - v_1) + B v_1),  PRE = sum_{t<i} P_t d_t, SUF = sum_{t>=i} Q_t d_t
 *   rho  = clamp((W v_m - sum_t Fhi_t d_t) - sum_t Flo_t d_t).
 */
#ifndef PKPO_CUDA_ROWS_CUH
#define PKPO_CUDA_ROWS_CUH

#include <stdint.h>

#include "dd.cuh"
#include "model_region.h"
#include "params.h"
#include "rules.h"
#include "team.cuh"

namespace pkpo_cuda {

/* The constants of a group's rows, and which parts of the output form its terms use. */
struct RowConsts {
  double A, B, W;
  int has_pre, has_suf, has_ab;
  int clamp;      /* every weight >= 0: rho lies in [W v_1, W v_m] */
  uint32_t flags; /* PKPO_FLAG_FALLBACK */
};

/* Term j of the call's objective for a group of m finite samples whose requested k is k_req (a
 * mixture's term, or the one term (k_req, 1)): its rule at m (rules.h), its weight in *w. */
__device__ __forceinline__ pkpo__term objective_term(const Params& p, int64_t j, int64_t m, int64_t k_req,
                                                     double* w) {
  PKPO_REGION_BEGIN(objective_term);
  const bool mixture = p.num_terms > 0;
  *w = mixture ? p.k_weights[j] : 1.0;
  return pkpo__term_rule(p.estimator, m, mixture ? p.k_terms[j] : k_req);
  PKPO_REGION_END(objective_term);
}

__device__ __forceinline__ int64_t objective_terms(const Params& p) { return p.num_terms > 0 ? p.num_terms : 1; }

/* A mixture's terms as a whole (the same for every group of a call): their largest k, and whether
 * they are usable: every k >= 1, every weight finite, and sum |w| times the largest group size
 * finite (the CPU backend's checks; a group of an unusable mixture is invalid). One k: kmax 0,
 * usable. */
struct ObjectiveCheck {
  int64_t kmax;
  bool usable;
};

__device__ __forceinline__ ObjectiveCheck objective_check(const Params& p) {
  ObjectiveCheck oc;
  oc.kmax = 0;
  oc.usable = true;
  if (p.num_terms == 0) return oc;
  double magnitude = 0.0;
  bool ok = true;
  PKPO_REGION_BEGIN(objective_checks);
  for (int64_t j = 0; j < p.num_terms; ++j) {
    const int64_t k = p.k_terms[j];
    const double w = p.k_weights[j];
    ok = ok && k >= 1 && (w - w) == 0.0; /* w - w is NaN for NaN and +-Inf */
    oc.kmax = k > oc.kmax ? k : oc.kmax;
    magnitude += w < 0 ? -w : w;
  }
  PKPO_REGION_END(objective_checks);
  const double bound = p.max_n > 2 ? (double)p.max_n : 2.0;
  const double total = magnitude * bound;
  oc.usable = ok && (total - total) == 0.0;
  return oc;
}

/* The largest requested k of a group's objective (its clamp flag and the strict policy read it):
 * a mixture's largest term, or the group's k_req. */
__device__ __forceinline__ int64_t objective_kmax(const Params& p, const ObjectiveCheck& oc, int64_t k_req) {
  return p.num_terms > 0 ? oc.kmax : k_req;
}

/* The weights' leading part, for the floor test. */
__device__ __forceinline__ double leading(double x) { return x; }
__device__ __forceinline__ double leading(const DD& x) { return x.hi; }

/* y_t = last * prod_{j > t} ratio(j) over the team's ranks t = rank0 + team.rank(j), where the
 * ratios of ranks above m and below 2 are 1 and those of ranks 2 .. k are 0 (1 <= k <= m): a
 * backward exclusive product scan, the product beyond the team (`last`: the weight at the team's
 * last rank) applied after it; values under the floor are dropped, as on the CPU. The one form of
 * rho's F (double-double) and the outputs' mu (double). */
template <int W, int V, typename T, typename Ratio>
__device__ __forceinline__ void team_backward_product(Team<W, V>& team, int64_t m, int64_t k, int64_t rank0, T last,
                                                      Ratio ratio, T (&y)[V]) {
  T r[V];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int64_t t = rank0 + team.rank(j);
    r[j] = (t > m || t < 2) ? T(1) : t <= k ? T(0) : ratio(t);
  }
  team.template scan_exclusive<true, true>(r, y);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    y[j] = y[j] * last;
    if (leading(y[j]) < PKPO__WEIGHT_FLOOR) y[j] = T(0);
  }
}

/* F_t = C(t,k)/C(m,k) of the team's ranks (1 <= k <= m): the backward product of the ratios
 * (t-k)/t in double-double, times `beyond` (F at the team's last rank; 1 when the team holds the
 * group's top). F_t = 1 for t >= m and 0 below k. */
template <int W, int V>
__device__ __forceinline__ void team_term_f(Team<W, V>& team, int64_t m, int64_t k, int64_t rank0, DD beyond,
                                            DD (&F)[V]) {
  team_backward_product(team, m, k, rank0, beyond, [k](int64_t t) { return dd_ratio(t - k, t); }, F);
}

/* F at rank `after` - 1 (a team's last rank) from F at rank `after`: F_{after} (after-k)/after, the
 * ratio team_term_f takes at rank `after`; F_{after} itself past rank m, 0 at or below rank k. */
__device__ __forceinline__ DD f_before(DD f_after, int64_t m, int64_t k, int64_t after) {
  return after > m ? f_after : after <= k ? DD(0) : f_after * dd_ratio(after - k, after);
}

/* mu_t = C(t-1,k-1)/C(m,k) of the team's ranks t <= m (1 <= k <= m; 0 above m): the backward
 * product of the CPU engine's ratios mu_{j-1}/mu_j = (j-k)/(j-1) (rules.h pkpo__weight_ratio),
 * times mu_last, mu at the team's last rank (k/m, mu_m, for a team past rank m: its ranks above m
 * take the ratio 1). Plain doubles: the outputs' weights need no more (their relative error grows
 * with m as that of the CPU engine's top-down table does), and a double-double product cost a tile
 * about four times the rest of its work (bench/cost_model.md). */
template <int W, int V>
__device__ __forceinline__ void team_term_mu(Team<W, V>& team, int64_t m, int64_t k, int64_t rank0, double mu_last,
                                             double (&mu)[V]) {
  team_backward_product(team, m, k, rank0, mu_last, [k](int64_t t) { return pkpo__weight_ratio(t, k); }, mu);
#pragma unroll
  for (int j = 0; j < V; ++j) mu[j] = rank0 + team.rank(j) > m ? 0.0 : mu[j];
}

/* A group's row constants before its first term. */
__device__ __forceinline__ RowConsts row_consts_none() {
  RowConsts rc;
  rc.A = rc.B = rc.W = 0.0;
  rc.has_pre = rc.has_suf = rc.has_ab = 0;
  rc.clamp = 1;
  rc.flags = 0;
  return rc;
}

/* Term `term` of weight w added to a group's row constants *rc; returns the term's own constants
 * (pkpo__term_consts_of) where its outputs are wanted, zeros otherwise. */
__device__ __forceinline__ pkpo__term_consts add_term_consts(RowConsts* rc, const pkpo__term& term, double w,
                                                             int64_t m, bool want_out, bool want_rho) {
  pkpo__term_consts c = pkpo__term_consts();
  rc->clamp &= w >= 0.0;
  if (want_rho) rc->W += w;
  if (!want_out || term.formula == PKPO__FORMULA_ZERO) return c;
  c = pkpo__term_consts_of(term.formula, m, term.k);
  rc->A += w * c.A;
  rc->B += w * c.B;
  rc->flags |= term.flags;
  rc->has_ab |= pkpo__formula_has_ab(term.formula);
  if (m < 2) return c;
  rc->has_pre |= pkpo__formula_has_pre(term.formula);
  rc->has_suf |= pkpo__formula_has_suf(term.formula);
  return c;
}

/* The constants of a group's rows (A, B, W, which parts of the output form its terms use, the
 * clamp and the FALLBACK flag) without the weights: what team_rows returns in *rc, for the kernels
 * that need only them (the large path's carries and its scatter). */
__device__ __forceinline__ RowConsts objective_consts(const Params& p, int64_t m, int64_t k_req, bool want_out,
                                                      bool want_rho) {
  RowConsts rc = row_consts_none();
  const int64_t terms = objective_terms(p);
  PKPO_REGION_BEGIN(objective_terms);
  for (int64_t i = 0; i < terms; ++i) {
    double w;
    const pkpo__term term = objective_term(p, i, m, k_req, &w);
    (void)add_term_consts(&rc, term, w, m, want_out, want_rho);
  }
  PKPO_REGION_END(objective_terms);
  return rc;
}

/* A thread's part of rho's sums, (sum Fhi d, sum Flo d) over its ranks' weights and gaps d (zero
 * past rank m - 1), in rank order: every sum of rho goes through this, so that a curve's columns
 * and the transforms add the same terms in the same order. */
template <int V>
__device__ __forceinline__ D2 rho_part(const double (&d)[V], const double (&Fhi)[V], const double (&Flo)[V]) {
  D2 part = make_d2(0.0, 0.0);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    part.a += Fhi[j] * d[j];
    part.b += Flo[j] * d[j];
  }
  return part;
}

/* rho's sums over the team: every thread gets the same bits. */
template <int W, int V>
__device__ __forceinline__ D2 team_rho_sums(Team<W, V>& team, const double (&d)[V], const double (&Fhi)[V],
                                            const double (&Flo)[V]) {
  return team.sum(rho_part(d, Fhi, Flo));
}

/* rho from the sums of a group's weighted gaps (docs/math.md §4): (W v_m - sum Fhi d) - sum Flo d,
 * clamped to [W v_1, W v_m] when every weight is >= 0. */
PKPO_HD double rho_from_sums(const RowConsts& rc, double sum_hi, double sum_lo, double v1, double vm) {
  const double top = rc.W * vm;
  double x = (top - sum_hi) - sum_lo;
  if (rc.clamp) {
    const double bottom = rc.W * v1;
    x = x < bottom ? bottom : x;
    x = x > top ? top : x;
  }
  return x;
}

/* P += w P_t and Q += w Q_t over the team's ranks t < m of a term (rules.h pkpo__term_weights). */
template <int W, int V>
__device__ __forceinline__ void add_term_weights(const Team<W, V>& team, int formula, const pkpo__term_consts& c,
                                                 int64_t rank0, int64_t m, double w, const double (&mu)[V],
                                                 const double (&mu_next)[V], const double (&tail)[V], double (&P)[V],
                                                 double (&Q)[V]) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int64_t t = rank0 + team.rank(j);
    if (t >= m) continue;
    double pw, qw;
    pkpo__term_weights(formula, &c, t, m, mu[j], mu_next[j], tail[j], &pw, &qw);
    P[j] += w * pw;
    Q[j] += w * qw;
  }
}

/* The weight rows of the team's ranks for a group of m >= 1 finite samples whose requested k is
 * k_req (see the file comment): P, Q (want_out) and Fhi, Flo (want_rho) of gap t = rank, zero
 * past rank m - 1; the constants in *rc. A tile of a larger group passes its ranks' offset rank0
 * and the product beyond it: beyond_of.after(k) = F at the rank after the tile's last, asked once
 * per term (a collective for a tile). Every thread of the team calls this with the same arguments. */
template <int W, int V, typename Beyond>
__device__ __forceinline__ void team_rows(Team<W, V>& team, const Params& p, int64_t m, int64_t k_req, bool want_out,
                                          bool want_rho, int64_t rank0, Beyond beyond_of, double (&P)[V],
                                          double (&Q)[V], double (&Fhi)[V], double (&Flo)[V], RowConsts* rc) {
  *rc = row_consts_none();
#pragma unroll
  for (int j = 0; j < V; ++j) P[j] = Q[j] = Fhi[j] = Flo[j] = 0.0;
  const int64_t terms = objective_terms(p);
  PKPO_REGION_BEGIN(row_terms);
  for (int64_t i = 0; i < terms; ++i) {
    double w;
    const pkpo__term term = objective_term(p, i, m, k_req, &w);
    const pkpo__term_consts c = add_term_consts(rc, term, w, m, want_out, want_rho);
    const bool out = want_out && term.formula != PKPO__FORMULA_ZERO;
    /* the collectives below run where any team of the warp needs them (teams of one warp may hold
     * groups of different sizes, hence different formulas) */
    if (!team.any(want_rho || out)) continue;
    /* F at the rank after the team's last (a tile's product beyond it) */
    const int64_t last = rank0 + W * V, after = last + 1;
    const DD f_after = beyond_of.after(term.k);
    PKPO_REGION_BEGIN(rho_rows);
    if (want_rho) {
      DD F[V];
      team_term_f(team, m, term.k, rank0, f_before(f_after, m, term.k, after), F);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if (rank0 + team.rank(j) < m) {
          Fhi[j] += w * F[j].hi;
          Flo[j] += w * F[j].lo;
        }
      }
    }
    PKPO_REGION_END(rho_rows);
    const bool gaps = out && m >= 2;
    if (!team.any(gaps)) continue;
    /* mu of the ranks t <= m, from mu at the team's last rank e: rank m's k/m where e >= m, else
     * mu_{e+1} = F_{e+1} k/(e+1) one step down (plain doubles, as the rest; 0 where e < k) */
    const double mu_after = after <= m ? (f_after.hi * (double)term.k) / (double)after : 0.0;
    const double mu_last = last >= m ? (double)term.k / (double)m : pkpo__weight_down(mu_after, after, term.k);
    double mu[V], mu_next[V], tail[V];
    team_term_mu(team, m, term.k, rank0, mu_last, mu);
#pragma unroll
    for (int j = 0; j < V; ++j) mu_next[j] = tail[j] = 0.0;
    /* mu_{t+1} (sloo_minus_one's formula): the next rank's mu */
    if (team.any(gaps && term.formula == PKPO__FORMULA_SMO)) team.next(mu, mu_next, mu_after);
    /* T'_t = sum_{j=t+1}^{m-1} mu_j (sloo's formula): a backward sum of non-negative terms inside
     * the team, plus F_{m-1} - F_e beyond its last rank e (double-double, then rounded) */
    PKPO_REGION_BEGIN(sloo_tail);
    if (team.any(gaps && term.formula == PKPO__FORMULA_SLOO)) {
      double x[V];
#pragma unroll
      for (int j = 0; j < V; ++j) x[j] = rank0 + team.rank(j) < m ? mu[j] : 0.0;
      team.template scan_exclusive<true, false>(x, tail);
      if (last + 1 < m) {
        const DD fm1 = dd_ratio(m - term.k, m), f_last = f_before(f_after, m, term.k, after); /* F_{m-1}, F_e */
        const double beyond = (fm1.hi - f_last.hi) + (fm1.lo - f_last.lo);
#pragma unroll
        for (int j = 0; j < V; ++j) tail[j] += beyond;
      }
    }
    PKPO_REGION_END(sloo_tail);
    if (!gaps) continue;
    /* sloo_minus_one, the RL default, without a switch on the formula per rank (a tile building
     * its own rows: about 4% of its instructions, bench/cost_model.md) */
    if (term.formula == PKPO__FORMULA_SMO) {
      add_term_weights(team, PKPO__FORMULA_SMO, c, rank0, m, w, mu, mu_next, tail, P, Q);
    } else {
      PKPO_REGION_BEGIN(other_formulas);
      add_term_weights(team, term.formula, c, rank0, m, w, mu, mu_next, tail, P, Q);
      PKPO_REGION_END(other_formulas);
    }
  }
  PKPO_REGION_END(row_terms);
}

/* The product beyond a team that holds the group's top: F_t = 1 from rank m on. */
struct BeyondNone {
  __device__ __forceinline__ DD after(int64_t) const { return DD(1); }
};

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_ROWS_CUH */
