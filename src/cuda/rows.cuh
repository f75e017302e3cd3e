/*
 * rows.cuh -- the weight rows of a call's objective on the device (docs/math.md §4-5): for the ranks
 * a team holds, P_t and Q_t of the outputs' scans, F_t (hi, lo) of rho, and the group's constants,
 * summed over the objective's terms (one k, or a mixture's (k_j, w_j) in device memory).
 *
 * Each term's F_t = C(t,k)/C(m,k) = prod_{j>t} (j-k)/j is a backward product scan of double-double
 * ratios over the team's ranks (times the product beyond them, for a tile of a larger group), and
 * every other weight follows from F rank by rank: mu_t = F_t k / t, T'_t = F_{m-1} - F_t (in
 * double-double, then rounded), P_t and Q_t by src/common/rules.h's pkpo__term_weights, the same
 * formulas as the CPU engine's. So the kernels need no weight table of their own and no special
 * case per estimator: the rules pick each term's formula, and the outputs are
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

/* F_t = C(t,k)/C(m,k) of the team's ranks t = rank0 + team.rank(j) (1 <= k <= m): the backward
 * product of the ratios r_t = (t-k)/t over the ranks above t, times `beyond` (the product over the
 * ranks above the team's last one; 1 when the team holds the group's top). F_t = 1 for t >= m, 0
 * below k, and values under the floor are dropped, as on the CPU. */
template <int W, int V>
__device__ __forceinline__ void team_term_f(Team<W, V>& team, int64_t m, int64_t k, int64_t rank0, DD beyond,
                                            DD (&F)[V]) {
  DD r[V];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int64_t t = rank0 + team.rank(j);
    r[j] = (t > m || t < 2) ? DD(1) : t <= k ? DD(0) : dd_ratio(t - k, t);
  }
  team.template scan_exclusive<true, true>(r, F);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    F[j] = F[j] * beyond;
    if (F[j].hi < PKPO__WEIGHT_FLOOR) F[j] = DD(0);
  }
}

/* The constants of a group's rows (A, B, W, which parts of the output form its terms use, the
 * clamp and the FALLBACK flag) without the weights: what team_rows returns in *rc, for the kernels
 * that need only them (the large path's carries and its scatter). */
__device__ __forceinline__ RowConsts objective_consts(const Params& p, int64_t m, int64_t k_req, bool want_out,
                                                      bool want_rho) {
  RowConsts rc;
  rc.A = rc.B = rc.W = 0.0;
  rc.has_pre = rc.has_suf = rc.has_ab = 0;
  rc.clamp = 1;
  rc.flags = 0;
  const int64_t terms = objective_terms(p);
  PKPO_REGION_BEGIN(objective_terms);
  for (int64_t i = 0; i < terms; ++i) {
    double w;
    const pkpo__term term = objective_term(p, i, m, k_req, &w);
    rc.clamp &= w >= 0.0;
    if (want_rho) rc.W += w;
    if (!want_out || term.formula == PKPO__FORMULA_ZERO) continue;
    const pkpo__term_consts c = pkpo__term_consts_of(term.formula, m, term.k);
    rc.A += w * c.A;
    rc.B += w * c.B;
    rc.flags |= term.flags;
    rc.has_ab |= pkpo__formula_has_ab(term.formula);
    if (m < 2) continue;
    rc.has_pre |= pkpo__formula_has_pre(term.formula);
    rc.has_suf |= pkpo__formula_has_suf(term.formula);
  }
  PKPO_REGION_END(objective_terms);
  return rc;
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

/* The weight rows of the team's ranks for a group of m >= 1 finite samples whose requested k is
 * k_req (see the file comment): P, Q (want_out) and Fhi, Flo (want_rho) of gap t = rank, zero
 * past rank m - 1; the constants in *rc. rank0 and beyond as for team_term_f: a tile of a larger
 * group passes its ranks' offset and, for each term's k, the products beyond the tile,
 * beyond.at(k) = F at the tile's last rank and beyond.after(k) = F at the rank after it (at(k) is
 * asked first). Every thread of the team calls this with the same arguments. */
template <int W, int V, typename Beyond>
__device__ __forceinline__ void team_rows(Team<W, V>& team, const Params& p, int64_t m, int64_t k_req, bool want_out,
                                          bool want_rho, int64_t rank0, Beyond beyond_of, double (&P)[V],
                                          double (&Q)[V], double (&Fhi)[V], double (&Flo)[V], RowConsts* rc) {
  *rc = objective_consts(p, m, k_req, want_out, want_rho);
#pragma unroll
  for (int j = 0; j < V; ++j) P[j] = Q[j] = Fhi[j] = Flo[j] = 0.0;
  const int64_t terms = objective_terms(p);
  PKPO_REGION_BEGIN(row_terms);
  for (int64_t i = 0; i < terms; ++i) {
    double w;
    const pkpo__term term = objective_term(p, i, m, k_req, &w);
    const bool out = want_out && term.formula != PKPO__FORMULA_ZERO;
    /* the collectives below run where any team of the warp needs them (teams of one warp may hold
     * groups of different sizes, hence different formulas) */
    if (!team.any(want_rho || out)) continue;
    DD F[V];
    team_term_f(team, m, term.k, rank0, beyond_of.at(term.k), F);
    if (want_rho) {
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if (rank0 + team.rank(j) < m) {
          Fhi[j] += w * F[j].hi;
          Flo[j] += w * F[j].lo;
        }
      }
    }
    const bool gaps = out && m >= 2;
    if (!team.any(gaps)) continue;
    DD Fn[V]; /* F_{t+1} */
    team.next(F, Fn, beyond_of.after(term.k));
    if (!gaps) continue;
    const pkpo__term_consts c = pkpo__term_consts_of(term.formula, m, term.k);
    const DD fm1 = dd_ratio(m - term.k, m); /* F_{m-1} */
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int64_t t = rank0 + team.rank(j);
      if (t >= m) continue;
      const double mu_t = dd_scale(F[j], term.k, t).hi;
      const double mu_next = dd_scale(Fn[j], term.k, t + 1).hi;
      const double tail = t + 1 < m ? (fm1.hi - F[j].hi) + (fm1.lo - F[j].lo) : 0.0;
      double pw, qw;
      pkpo__term_weights(term.formula, &c, t, m, mu_t, mu_next, tail, &pw, &qw);
      P[j] += w * pw;
      Q[j] += w * qw;
    }
  }
  PKPO_REGION_END(row_terms);
}

/* The products beyond a team that holds the group's top: F_t = 1 from rank m on. */
struct BeyondNone {
  __device__ __forceinline__ DD at(int64_t) const { return DD(1); }
  __device__ __forceinline__ DD after(int64_t) const { return DD(1); }
};

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_ROWS_CUH */
