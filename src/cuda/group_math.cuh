/*
 * group_math.cuh -- the per-group arithmetic of the CUDA backend, shared by every kernel path.
 *
 * __host__ __device__ and free of CUDA intrinsics. Tested through the kernels themselves, on a GPU
 * or on the emulated device of tests/cuda/emu (ctest label cuda-emu).
 *
 * The formulas are those of src/host/engine.c (docs/math.md §4 stable forms), rearranged so that
 * each sorted rank t (1-based) contributes terms that depend only on its own weight mu_t, its tail
 * T'_t = sum_{j=t+1}^{m-1} mu_j and the neighbouring values v_{t-1}, v_t, v_{t+1}. Every output is
 * then one forward (prefix) and one backward (suffix) sum of these terms, which the kernels compute
 * with parallel scans:
 *
 *   mu_t  = (k/m) * prod_{j=t+1}^{m} r_j,  r_j = (j-k)/(j-1) for j > k, 0 for j <= k (a suffix
 *           product: mu_t = 0 below k; values under PKPO__CUDA_WEIGHT_FLOOR are dropped as in
 *           engine.c)
 *   rho   = v_1 + sum_t (T'_t + mu_m) d_t                       (mu_m = k/m; T_t = T'_t + mu_m)
 *   s     : out = (k/m) v_i + SUF0_i,           suf0_t = (k/m - mu_t) d_t
 *   sloo  : out = (k/m)(v_i - v_1) + SUF0_i - (k/(m-1)) (PRE_i + SUF1_i) - v_1 k/(m(m-1)),
 *           pre_t = W_t d_t, suf1_t = W_{t-1} d_t, W_t = (m/(m-k)) T'_t, W_{t-1} = (m/(m-k))(T'_t+mu_t)
 *   smo   : out = PRE_i + pre_i (inclusive),   pre_t = mu_t (v_t - v_{t-1})  [= sum_{t<i} mu_{t+1} d_t]
 *   l2o   : out = PRE_i - SUF0_i,              e_t = mu_t d_t / (m-k), pre_t = t e_t, suf0_t = (m-t) e_t
 * with d_t = v_{t+1} - v_t (0 at t = m), PRE_i = sum_{t<i} pre_t (exclusive), SUFx_i = sum_{t>=i}
 * sufx_t (inclusive).
 */
#ifndef PKPO_CUDA_GROUP_MATH_CUH
#define PKPO_CUDA_GROUP_MATH_CUH

#include <stdint.h>

#include "model_region.h"
#include "params.h"
#include "pkpo.h"

/* Same floor as engine.h's PKPO__WEIGHT_FLOOR (docs/math.md §4). */
#define PKPO__CUDA_WEIGHT_FLOOR 1e-300

namespace pkpo_cuda {

/* ---- what to do with one group ---------------------------------------------------------------- */

enum Action {
  ACT_INVALID = 0,   /* bad offsets / k / index on the device: write nothing but flags and rho=NaN */
  ACT_ERROR = 1,     /* strict k or non-finite error policy tripped: write nothing, report */
  ACT_PROPAGATE = 2, /* non-finite under PROPAGATE: every output and rho NaN */
  ACT_EMPTY = 3,     /* no finite sample: outputs 0, rho 0 */
  ACT_SINGLE = 4,    /* one finite sample */
  ACT_GENERAL = 5    /* m >= 2 */
};

enum ErrorBits { ERR_K_STRICT = 1u, ERR_NONFINITE = 2u };

struct Resolved {
  int action;
  /* The estimator (pkpo_estimator) whose formula is computed, after the boundary rules of
   * docs/math.md §2: e.g. s's for sloo at k = m, l2o's for sloo_minus_one at k = 1; PKPO_RHO when
   * the group has no per-sample outputs. */
  int formula;
  int64_t m; /* finite samples */
  int64_t k; /* clamped k (valid for ACT_SINGLE / ACT_GENERAL) */
  uint32_t flags;
  uint32_t error_bits;
};

/* Mirrors transform_group / curve_group / validate of src/host/cpu.c.
 * n: samples in the group; nonfinite: how many of them are NaN/Inf; k_req: the requested k;
 * valid: offsets, k and index entries passed the device checks; write_out: estimator != RHO. */
PKPO_HD Resolved resolve_group(int estimator, int nonfinite_policy, int k_policy, int64_t n,
                               int64_t nonfinite, int64_t k_req, bool valid, bool write_out) {
  Resolved r;
  r.action = ACT_GENERAL;
  r.formula = PKPO_RHO;
  r.m = n - nonfinite;
  r.k = k_req;
  r.flags = 0;
  r.error_bits = 0;
  if (!valid) {
    r.action = ACT_INVALID;
    r.flags = PKPO_FLAG_INVALID;
    return r;
  }
  if (nonfinite > 0) {
    r.flags |= PKPO_FLAG_NONFINITE;
    if (nonfinite_policy == PKPO_NONFINITE_ERROR) {
      r.action = ACT_ERROR;
      r.error_bits |= ERR_NONFINITE;
      return r;
    }
    if (nonfinite_policy == PKPO_NONFINITE_PROPAGATE) {
      if (k_policy == PKPO_K_STRICT && k_req > n) { /* cpu.c counts all n under PROPAGATE */
        r.action = ACT_ERROR;
        r.error_bits |= ERR_K_STRICT;
        return r;
      }
      r.action = ACT_PROPAGATE;
      return r;
    }
  }
  if (r.m == 0) {
    r.action = ACT_EMPTY;
    r.flags |= PKPO_FLAG_EMPTY;
    r.k = 0;
    return r;
  }
  if (r.k > r.m) {
    if (k_policy == PKPO_K_STRICT) {
      r.action = ACT_ERROR;
      r.error_bits |= ERR_K_STRICT;
      return r;
    }
    r.k = r.m;
    r.flags |= PKPO_FLAG_K_CLAMPED;
  }
  if (r.m == 1) {
    r.action = ACT_SINGLE;
    r.flags |= PKPO_FLAG_SINGLETON;
    r.formula = (estimator == PKPO_S) ? PKPO_S : PKPO_RHO;
    return r;
  }
  switch (estimator) {
    case PKPO_S: r.formula = PKPO_S; break;
    case PKPO_SLOO: r.formula = (r.k == r.m) ? PKPO_S : PKPO_SLOO; break;
    case PKPO_SLOO_MINUS_ONE: r.formula = (r.k == 1) ? PKPO_L2O : PKPO_SLOO_MINUS_ONE; break;
    case PKPO_L2O:
      if (r.k == r.m) {
        r.formula = PKPO_SLOO_MINUS_ONE;
        if (write_out) r.flags |= PKPO_FLAG_FALLBACK;
      } else {
        r.formula = PKPO_L2O;
      }
      break;
    default: r.formula = PKPO_RHO; break;
  }
  return r;
}

/* ---- weights ----------------------------------------------------------------------------------- */

/* r_t = (t-k)/(t-1) for ranks k < t <= m; 0 for 2 <= t <= k (mu_{t-1} = 0 below rank k: the
 * recurrence's own factors there are negative or huge, and 0 * (their overflowing product) would be
 * NaN); 1 at t = 1 and beyond m (the identity of the product scan). Every factor is in [0, 1], so
 * no partial product of the scan can overflow. */
PKPO_HD double weight_ratio(int64_t t, int64_t m, int64_t k) {
  if (t < 2 || t > m) return 1.0;
  if (t <= k) return 0.0;
  return (double)(t - k) / (double)(t - 1);
}

/* mu_t from the suffix product P_t = prod_{j=t+1}^{m} r_j. */
PKPO_HD double weight_from_product(int64_t t, int64_t m, int64_t k, double suffix_product) {
  if (t > m) return 0.0;
  const double w = ((double)k / (double)m) * suffix_product;
  return w < PKPO__CUDA_WEIGHT_FLOOR ? 0.0 : w;
}

/* mu'_t, the summand of T': mu_t for t <= m-1, 0 at t = m (and beyond). */
PKPO_HD double tail_summand(int64_t t, int64_t m, double mu) { return t < m ? mu : 0.0; }

/* ---- per-rank terms and their combination ----------------------------------------------------- */

/* The per-group constants of the formulas below, for (m, k): computed in float64 and rounded once
 * to the arithmetic type T (float64 on the block and large paths, the rewards' type on the warp
 * path, which keeps them per table row). */
template <typename T>
struct GroupConsts {
  T c;  /* k/m */
  T q;  /* k/(m-1) */
  T w;  /* m/(m-k) */
  T mk; /* m-k */
  T sh; /* k/(m(m-1)) */
};

template <typename T>
PKPO_HD GroupConsts<T> group_consts(int64_t m, int64_t k) {
  GroupConsts<T> g;
  g.c = (T)((double)k / (double)m);
  g.q = (T)((double)k / (double)(m - 1));
  g.w = (T)((double)m / (double)(m - k));
  g.mk = (T)(double)(m - k);
  g.sh = (T)((double)k / ((double)m * (double)(m - 1)));
  return g;
}

template <typename T>
struct RankTerms {
  T pre;  /* forward (prefix) summand */
  T rho;  /* summand of rho - v_1 */
  T suf0; /* backward (suffix) summands */
  T suf1;
};
typedef RankTerms<double> Terms;

/* Rank t (1-based, t <= m); v_prev = v_{t-1} (ignored at t = 1), v_next = v_{t+1} (ignored at t = m);
 * mu = mu_t; tp = T'_t; g = group_consts(m, k). */
template <typename T>
PKPO_HD RankTerms<T> rank_terms_of(int formula, int64_t t, int64_t m, const GroupConsts<T>& g, T v_prev,
                                   T v, T v_next, T mu, T tp) {
  RankTerms<T> x;
  x.pre = T(0);
  x.suf0 = T(0);
  x.suf1 = T(0);
  const T d = (t < m) ? v_next - v : T(0);
  x.rho = (tp + g.c) * d;
  switch (formula) {
    PKPO_REGION_BEGIN(formula_s);
    case PKPO_S: x.suf0 = (g.c - mu) * d; break;
    PKPO_REGION_END(formula_s);
    PKPO_REGION_BEGIN(formula_sloo);
    case PKPO_SLOO: {
      x.suf0 = (g.c - mu) * d;
      x.pre = (g.w * tp) * d;
      x.suf1 = (g.w * (tp + mu)) * d;
      break;
    }
    PKPO_REGION_END(formula_sloo);
    PKPO_REGION_BEGIN(formula_smo);
    case PKPO_SLOO_MINUS_ONE: x.pre = (t > 1) ? mu * (v - v_prev) : T(0); break;
    PKPO_REGION_END(formula_smo);
    PKPO_REGION_BEGIN(formula_l2o);
    case PKPO_L2O: {
      const T e = mu * d / g.mk;
      x.pre = (T)t * e;
      x.suf0 = (T)(m - t) * e;
      break;
    }
    PKPO_REGION_END(formula_l2o);
    default: break;
  }
  return x;
}

/* The output of rank t from its own terms and the scans: pre_excl = sum_{j<t} pre_j,
 * suf0_incl = sum_{j>=t} suf0_j, suf1_incl likewise; v1 = v_1 (the group's smallest value). */
template <typename T>
PKPO_HD T rank_output_of(int formula, const GroupConsts<T>& g, T v, T v1, const RankTerms<T>& own,
                         T pre_excl, T suf0_incl, T suf1_incl) {
  switch (formula) {
    PKPO_REGION_BEGIN(formula_s);
    case PKPO_S: return g.c * v + suf0_incl;
    PKPO_REGION_END(formula_s);
    PKPO_REGION_BEGIN(formula_sloo);
    case PKPO_SLOO: return g.c * (v - v1) + suf0_incl - g.q * (pre_excl + suf1_incl) - v1 * g.sh;
    PKPO_REGION_END(formula_sloo);
    PKPO_REGION_BEGIN(formula_smo);
    case PKPO_SLOO_MINUS_ONE: return pre_excl + own.pre;
    PKPO_REGION_END(formula_smo);
    PKPO_REGION_BEGIN(formula_l2o);
    case PKPO_L2O: return pre_excl - suf0_incl;
    PKPO_REGION_END(formula_l2o);
    default: return T(0);
  }
}

/* Output of the single finite sample of an ACT_SINGLE group (docs/math.md §3). */
PKPO_HD double single_output(int estimator, double v) { return estimator == PKPO_S ? v : 0.0; }

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_GROUP_MATH_CUH */
