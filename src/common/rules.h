/*
 * rules.h -- the per-group rules of docs/math.md, written once for every backend.
 *
 * Plain C static inline functions, host and device qualified, with no CUDA intrinsics: the CPU
 * engine (src/host) and the CUDA kernels (src/cuda) include this header, so a boundary rule or a
 * weight formula exists in one place.
 *
 *   pkpo__resolve_group  what a group computes after the batch policies (non-finite rewards, k
 *                        above the group's size, empty and singleton groups);
 *   pkpo__term_rule      which formula one term of the objective (one k) applies at m samples
 *                        (the k = 1 and k = m rules of docs/math.md §2-3);
 *   pkpo__term_consts_of, pkpo__term_weights
 *                        the weights of that formula in the one form every estimator shares:
 *
 *     a(i) = (PRE_i + SUF_i) + (A (v_i - v_1) + B v_1),  PRE_i = sum_{t<i} P_t d_t,
 *                                                       SUF_i = sum_{t>=i} Q_t d_t,
 *
 *   over the sorted values v_1 <= ... <= v_m and their gaps d_t = v_{t+1} - v_t (docs/math.md §4):
 *   an exclusive forward scan and an inclusive backward scan of weighted gaps (each only where its
 *   weights are not all zero). Every weight is formed from mu_t, mu_{t+1} and the tail
 *   T'_t = sum_{j=t+1}^{m-1} mu_j of the top-down table (mu_t = C(t-1,k-1)/C(m,k)), never from a
 *   difference of quantities of the rewards' size. Objectives are linear in these weights, so a
 *   mixture of terms sums them.
 *
 *   pkpo__rho_weights    rho from the top: rho = W v_m - sum_t F_t d_t with F_t = C(t,k)/C(m,k), built
 *                        as a product of ratios in double-double arithmetic (F_hi + F_lo), so that
 *                        rho at k = m is v_m exactly, a constant group gives its constant, and a
 *                        binary group's pass@k is 1 - F correctly rounded to within one ulp.
 */
#ifndef PKPO_RULES_H
#define PKPO_RULES_H

#include <stdint.h>

#include "model_region.h"
#include "pkpo.h"

#if defined(__CUDACC__)
#define PKPO__HD __host__ __device__
#else
#define PKPO__HD
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Weights below this are dropped: they are then < 1e-300 and contribute nothing (docs/math.md §4). */
#define PKPO__WEIGHT_FLOOR 1e-300

/* ---- the group -------------------------------------------------------------------------------- */

enum {
  PKPO__ACT_INVALID = 0,   /* CUDA: bad offsets, k or index entries on the device: nothing written
                              but the flags, rho NaN */
  PKPO__ACT_ERROR = 1,     /* the strict k policy or the non-finite error policy tripped */
  PKPO__ACT_PROPAGATE = 2, /* a non-finite reward under PROPAGATE: every output and rho NaN */
  PKPO__ACT_EMPTY = 3,     /* no finite sample: outputs 0, rho 0 */
  PKPO__ACT_GENERAL = 4    /* m >= 1 finite samples: the formulas (m = 1 is flagged SINGLETON) */
};

enum { PKPO__ERR_K_STRICT = 1u, PKPO__ERR_NONFINITE = 2u };

typedef struct pkpo__group_rule {
  int action;
  int64_t m;           /* finite samples the formulas see */
  uint32_t flags;      /* PKPO_FLAG_* raised by the group rules (not FALLBACK: see pkpo__term_rule) */
  uint32_t error_bits; /* PKPO__ERR_* for PKPO__ACT_ERROR */
} pkpo__group_rule;

/* n samples of which `nonfinite` are NaN/Inf; k_max: the largest requested k of the objective (the
 * single k, the group's k, or the largest term of a mixture); valid: the layout checks passed. */
static inline PKPO__HD pkpo__group_rule pkpo__resolve_group(int nonfinite_policy, int k_policy,
                                                             int64_t n, int64_t nonfinite,
                                                             int64_t k_max, int valid) {
  pkpo__group_rule r;
  r.action = PKPO__ACT_GENERAL;
  r.m = n - nonfinite;
  r.flags = 0;
  r.error_bits = 0;
  if (!valid) {
    PKPO_REGION_BEGIN(rare_group_rules);
    r.action = PKPO__ACT_INVALID;
    r.flags = PKPO_FLAG_INVALID;
    return r;
    PKPO_REGION_END(rare_group_rules);
  }
  if (nonfinite > 0) {
    PKPO_REGION_BEGIN(rare_group_rules);
    r.flags |= PKPO_FLAG_NONFINITE;
    if (nonfinite_policy == PKPO_NONFINITE_ERROR) {
      r.action = PKPO__ACT_ERROR;
      r.error_bits = PKPO__ERR_NONFINITE;
      return r;
    }
    if (nonfinite_policy == PKPO_NONFINITE_PROPAGATE) {
      /* the group keeps its n samples: the strict policy counts all of them */
      if (k_policy == PKPO_K_STRICT && k_max > n) {
        r.action = PKPO__ACT_ERROR;
        r.error_bits = PKPO__ERR_K_STRICT;
        return r;
      }
      r.action = PKPO__ACT_PROPAGATE;
      return r;
    }
    PKPO_REGION_END(rare_group_rules);
  }
  if (r.m == 0) {
    PKPO_REGION_BEGIN(rare_group_rules);
    r.action = PKPO__ACT_EMPTY;
    r.flags |= PKPO_FLAG_EMPTY;
    return r;
    PKPO_REGION_END(rare_group_rules);
  }
  if (k_max > r.m) {
    PKPO_REGION_BEGIN(rare_group_rules);
    if (k_policy == PKPO_K_STRICT) {
      r.action = PKPO__ACT_ERROR;
      r.error_bits = PKPO__ERR_K_STRICT;
      return r;
    }
    r.flags |= PKPO_FLAG_K_CLAMPED;
    PKPO_REGION_END(rare_group_rules);
  }
  if (r.m == 1) r.flags |= PKPO_FLAG_SINGLETON;
  return r;
}

/* ---- one term: the formula and its weights ----------------------------------------------------- */

enum {
  PKPO__FORMULA_ZERO = 0, /* no per-sample output (rho only, or a singleton's baselines) */
  PKPO__FORMULA_S = 1,
  PKPO__FORMULA_SLOO = 2,
  PKPO__FORMULA_SMO = 3,  /* sloo_minus_one */
  PKPO__FORMULA_L2O = 4
};

typedef struct pkpo__term {
  int formula;
  int64_t k;      /* the term's k clamped to m */
  uint32_t flags; /* PKPO_FLAG_FALLBACK where l2o falls back to sloo_minus_one */
} pkpo__term;

/* The formula estimator computes for a term of k_req at m >= 1 finite samples (docs/math.md §2-3):
 * k clamped to m; m = 1 gives s = the reward and 0 for the baselines; sloo at k = m is s (no
 * k-subset avoids the sample); sloo_minus_one at k = 1 is l2o's value (eq. 33 is undefined there);
 * l2o at k = m is sloo_minus_one (no spare sample), flagged FALLBACK. */
static inline PKPO__HD pkpo__term pkpo__term_rule(int estimator, int64_t m, int64_t k_req) {
  pkpo__term r;
  r.k = k_req < m ? k_req : m;
  r.flags = 0;
  r.formula = PKPO__FORMULA_ZERO;
  if (m == 1) {
    if (estimator == PKPO_S) r.formula = PKPO__FORMULA_S;
    return r;
  }
  switch (estimator) {
    case PKPO_S: r.formula = PKPO__FORMULA_S; break;
    case PKPO_SLOO: r.formula = r.k == m ? PKPO__FORMULA_S : PKPO__FORMULA_SLOO; break;
    case PKPO_SLOO_MINUS_ONE: r.formula = r.k == 1 ? PKPO__FORMULA_L2O : PKPO__FORMULA_SMO; break;
    case PKPO_L2O:
      if (r.k == m) {
        r.formula = PKPO__FORMULA_SMO;
        r.flags = PKPO_FLAG_FALLBACK;
      } else {
        r.formula = PKPO__FORMULA_L2O;
      }
      break;
    default: break;
  }
  return r;
}

/* The per-term constants of the formulas, in float64. */
typedef struct pkpo__term_consts {
  double A, B; /* the output's v_i - v_1 and v_1 coefficients */
  double kn;   /* k/m */
  double qc;   /* sloo: k/(m-1) * m/(m-k), the leave-one-out tail weight's scale */
  double mk;   /* l2o: m-k */
} pkpo__term_consts;

static inline PKPO__HD pkpo__term_consts pkpo__term_consts_of(int formula, int64_t m, int64_t k) {
  pkpo__term_consts c;
  c.kn = (double)k / (double)m;
  c.A = 0.0;
  c.B = 0.0;
  c.qc = 0.0;
  c.mk = (double)(m - k);
  if (formula == PKPO__FORMULA_S) {
    PKPO_REGION_BEGIN(formula_s);
    c.A = c.kn; /* s(i) = (k/m) v_i + sum_{t>=i} (k/m - mu_t) d_t */
    c.B = c.kn;
    PKPO_REGION_END(formula_s);
  } else if (formula == PKPO__FORMULA_SLOO) {
    PKPO_REGION_BEGIN(formula_sloo);
    /* s's (k/m) v_1 and the baseline's -(k/(m-1)) v_1 leave -k/(m(m-1)) v_1; s's (k/m)(v_i - v_1)
     * goes into the forward weights, where it nearly cancels the baseline's */
    c.B = -((double)k / ((double)m * (double)(m - 1)));
    c.qc = ((double)k / (double)(m - 1)) * ((double)m / (double)(m - k));
    PKPO_REGION_END(formula_sloo);
  }
  return c;
}

/* The forward weight P_t and the backward weight Q_t of gap t (1 <= t <= m-1) of a term, from
 * mu_t, mu_{t+1} and T'_t (docs/math.md §4):
 *   s:              P = 0,                   Q = k/m - mu_t
 *   sloo:           P = k/m - qc T'_t,       Q = k/m - mu_t - qc (T'_t + mu_t)
 *                   (s minus k/(m-1) times U_k of the group without the sample, whose tail weights
 *                   are W_t = m/(m-k) T'_t before rank i and W_{t-1} = m/(m-k) (T'_t + mu_t) from
 *                   it on; s's k/m (v_i - v_1) is in P, one weight per gap, because it and the
 *                   baseline's part nearly cancel: separate sums of the two lost ~1e-13 of the
 *                   scale at m = 65536, k = m/2)
 *   sloo_minus_one: P = mu_{t+1},            Q = 0
 *   l2o:            P = t mu_t / (m-k),      Q = -(m-t) mu_t / (m-k) */
static inline PKPO__HD void pkpo__term_weights(int formula, const pkpo__term_consts* c, int64_t t,
                                               int64_t m, double mu_t, double mu_next,
                                               double tail, double* P, double* Q) {
  switch (formula) {
    case PKPO__FORMULA_S: {
      PKPO_REGION_BEGIN(formula_s);
      *P = 0.0;
      *Q = c->kn - mu_t;
      return;
      PKPO_REGION_END(formula_s);
    }
    case PKPO__FORMULA_SLOO: {
      PKPO_REGION_BEGIN(formula_sloo);
      *P = c->kn - c->qc * tail;
      *Q = (c->kn - mu_t) - c->qc * (tail + mu_t);
      return;
      PKPO_REGION_END(formula_sloo);
    }
    case PKPO__FORMULA_SMO: {
      PKPO_REGION_BEGIN(formula_smo);
      *P = mu_next;
      *Q = 0.0;
      return;
      PKPO_REGION_END(formula_smo);
    }
    case PKPO__FORMULA_L2O: {
      PKPO_REGION_BEGIN(formula_l2o);
      *P = ((double)t * mu_t) / c->mk;
      *Q = -(((double)(m - t) * mu_t) / c->mk);
      return;
      PKPO_REGION_END(formula_l2o);
    }
    default:
      *P = 0.0;
      *Q = 0.0;
      return;
  }
}

/* Which parts of the output form a formula uses: the forward scan, the backward scan, A and B. */
static inline PKPO__HD int pkpo__formula_has_pre(int formula) {
  return formula == PKPO__FORMULA_SLOO || formula == PKPO__FORMULA_SMO ||
         formula == PKPO__FORMULA_L2O;
}
static inline PKPO__HD int pkpo__formula_has_suf(int formula) {
  return formula == PKPO__FORMULA_S || formula == PKPO__FORMULA_SLOO ||
         formula == PKPO__FORMULA_L2O;
}
static inline PKPO__HD int pkpo__formula_has_ab(int formula) {
  return formula == PKPO__FORMULA_S || formula == PKPO__FORMULA_SLOO;
}

/* The output of a rank from its scans (pre exclusive, suf inclusive), its value v and the group's
 * smallest value v1: the one order of operations of every backend. */
static inline PKPO__HD double pkpo__rank_output(double A, double B, double pre, double suf,
                                                double v, double v1) {
  return (pre + suf) + (A * (v - v1) + B * v1);
}

/* mu_{t-1} from mu_t (k < t <= m): mu_t (t-k)/(t-1), the ratio first (it is <= 1 after rounding, so
 * the weights never increase with falling rank and k/m - mu_t >= 0 holds exactly, and k = 1 gives
 * exactly the rounded 1/m everywhere). */
static inline PKPO__HD double pkpo__weight_ratio(int64_t t, int64_t k) {
  return (double)(t - k) / (double)(t - 1);
}
static inline PKPO__HD double pkpo__weight_down(double mu_t, int64_t t, int64_t k) {
  return mu_t * pkpo__weight_ratio(t, k);
}

/* ---- rho's weights in double-double ------------------------------------------------------------ */

/* a * b = *p + *e exactly (no overflow assumed). On the device one fused multiply-add gives the
 * error term; on the host Dekker's splitting (the host code is built without contraction), which
 * gives the same exact error term. */
static inline PKPO__HD void pkpo__two_prod(double a, double b, double* p, double* e) {
  *p = a * b;
#if defined(__CUDA_ARCH__)
  *e = fma(a, b, -*p);
#else
  const double split = 134217729.0; /* 2^27 + 1 */
  const double ca = split * a, cb = split * b;
  const double ah = ca - (ca - a), al = a - ah;
  const double bh = cb - (cb - b), bl = b - bh;
  *e = ((ah * bh - *p) + ah * bl + al * bh) + al * bl;
#endif
}

/* a / b as a double-double (hi + lo within ~2^-106 of it), a and b exact. */
static inline PKPO__HD void pkpo__dd_ratio(double a, double b, double* hi, double* lo) {
  const double q = a / b;
  double p, e;
  pkpo__two_prod(q, b, &p, &e); /* q b = p + e exactly */
  *hi = q;
  *lo = ((a - p) - e) / b;
}

/* (hi, lo) <- (hi + lo) (rh + rl), renormalised; relative error ~2^-104. */
static inline PKPO__HD void pkpo__dd_mul(double* hi, double* lo, double rh, double rl) {
  double p, e;
  pkpo__two_prod(*hi, rh, &p, &e);
  e += *hi * rl + *lo * rh;
  const double s = p + e;
  *lo = e - (s - p);
  *hi = s;
}

/* F_t = C(t,k)/C(m,k) for the gaps t = 1..m-1, top-down from F_m = 1 (F_t = 0 for t < k), into
 * fhi[t-1] + flo[t-1]; values below the floor are dropped. */
static inline PKPO__HD void pkpo__rho_weights(int64_t m, int64_t k, double* fhi, double* flo) {
  double hi = 1.0, lo = 0.0;
  int live = 1;
  for (int64_t t = m; t >= 2; --t) {
    if (live && t - k > 0) {
      double rh, rl; /* off the chain of dependent steps: only the product is on it */
      pkpo__dd_ratio((double)(t - k), (double)t, &rh, &rl);
      pkpo__dd_mul(&hi, &lo, rh, rl); /* F_{t-1} */
      if (hi < PKPO__WEIGHT_FLOOR) live = 0;
    } else {
      live = 0;
    }
    fhi[t - 2] = live ? hi : 0.0;
    flo[t - 2] = live ? lo : 0.0;
  }
}

#ifdef __cplusplus
}
#endif

#endif /* PKPO_RULES_H */
