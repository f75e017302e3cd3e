/*
 * engine.c -- the estimators of docs/math.md on sorted groups. See engine.h for conventions.
 *
 * Each estimator is written once, over L groups side by side (v[t*L + l] is rank t+1 of group l):
 * every loop over l repeats, for each group, exactly the operations of the one-group computation.
 * The one-group entry points are the L = 1 instance and the block entry points the
 * L = PKPO__LANES instance of the same code, so a group gives bitwise-identical outputs on either
 * path (the block path's inner loops over l are what the compiler vectorises).
 */
#include "engine.h"

void pkpo__weights(int64_t m, int64_t k, double* mu) {
  for (int64_t t = 0; t < m; ++t) mu[t] = 0.0;
  double w = (double)k / (double)m; /* mu_m */
  for (int64_t t = m; t >= k; --t) {
    mu[t - 1] = w;
    if (t == k) break;
    /* The ratio first: it is <= 1 after rounding, so the stored weights never increase with
       falling rank and k/m - mu_t >= 0 holds exactly (and k = 1 gives exact 1/m everywhere). */
    w = w * ((double)(t - k) / (double)(t - 1)); /* mu_{t-1} */
    if (w < PKPO__WEIGHT_FLOOR) break;
  }
}

/* Rank r (0-based) of group l in a block of L groups. */
#define AT(x, r, l) (x)[(r) * L + (l)]

/* rho = v_1 + sum_t T_t d_t with T_t = sum_{j>t} mu_j. */
static inline void rho_lanes(int64_t L, int64_t m, const double* v, const double* mu, double* rho,
                             double* acc) {
  double tail = 0.0; /* T_t, shared by the groups (same m and k) */
  for (int64_t l = 0; l < L; ++l) acc[l] = 0.0;
  for (int64_t t = m - 1; t >= 1; --t) {
    tail += mu[t]; /* mu_{t+1} */
    for (int64_t l = 0; l < L; ++l) acc[l] += tail * (AT(v, t, l) - AT(v, t - 1, l));
  }
  for (int64_t l = 0; l < L; ++l) rho[l] = AT(v, 0, l) + acc[l];
}

/* s(i) = (k/m) v_i + sum_{t=i}^{m-1} (k/m - mu_t) d_t.  mu_t <= mu_m = k/m, so every weight is >= 0. */
static inline void estimator_s(int64_t L, int64_t m, int64_t k, const double* v, const double* mu,
                               double* a, double* suffix) {
  const double kn = (double)k / (double)m;
  for (int64_t l = 0; l < L; ++l) {
    suffix[l] = 0.0;
    AT(a, m - 1, l) = kn * AT(v, m - 1, l) + suffix[l]; /* + 0.0 like every other rank */
  }
  for (int64_t t = m - 1; t >= 1; --t) {
    const double w = kn - mu[t - 1];
    for (int64_t l = 0; l < L; ++l) {
      suffix[l] += w * (AT(v, t, l) - AT(v, t - 1, l));
      AT(a, t - 1, l) = kn * AT(v, t - 1, l) + suffix[l];
    }
  }
}

/* sloo(i) = s_i - (k/(m-1)) U_k(g without i), 1 <= k <= m-1, rearranged so that the rewards'
 * absolute size enters only through one term:
 *   sloo(i) = (k/m)(v_i - v_1) + S_i - (k/(m-1)) B_i - v_1 k/(m(m-1)),
 * with S_i the s suffix above, U_k(g without i) = v_1 + B_i,
 *   B_i = sum_{t<i} W_t d_t + sum_{t>=i} W_{t-1} d_t,   W_t = (m/(m-k)) sum_{j=t+1}^{m-1} mu_j,
 * where W are the tail weights of a group of m-1 (mu'_j = mu_j m/(m-k) for j <= m-1), built as
 * sums of positive terms rather than as 1 - (a cumulative sum). w holds m doubles (shared by the
 * groups), acc 3 L. */
static inline void estimator_sloo(int64_t L, int64_t m, int64_t k, const double* v,
                                  const double* mu, double* a, double* w, double* acc) {
  const double kn = (double)k / (double)m;
  const double q = (double)k / (double)(m - 1);
  const double c = (double)m / (double)(m - k);
  const double r = (double)k / ((double)m * (double)(m - 1));
  double* prefix = acc;
  double* s_suffix = acc + L;
  double* b_suffix = acc + 2 * L;

  /* w[t] = W_t, t = 0..m-1 (W_{m-1} = 0). */
  double tail = 0.0;
  w[m - 1] = 0.0;
  for (int64_t t = m - 1; t >= 1; --t) {
    tail += mu[t - 1];
    w[t - 1] = c * tail;
  }
  /* a[i-1] = sum_{t<i} W_t d_t (forward). */
  for (int64_t l = 0; l < L; ++l) {
    prefix[l] = 0.0;
    AT(a, 0, l) = 0.0;
  }
  for (int64_t t = 1; t < m; ++t) {
    for (int64_t l = 0; l < L; ++l) {
      prefix[l] += w[t] * (AT(v, t, l) - AT(v, t - 1, l));
      AT(a, t, l) = prefix[l];
    }
  }
  /* Backward: S_i and sum_{t>=i} W_{t-1} d_t, then combine. */
  for (int64_t l = 0; l < L; ++l) {
    const double shift = AT(v, 0, l) * r;
    s_suffix[l] = 0.0;
    b_suffix[l] = 0.0;
    AT(a, m - 1, l) = kn * (AT(v, m - 1, l) - AT(v, 0, l)) - q * AT(a, m - 1, l) - shift;
  }
  for (int64_t t = m - 1; t >= 1; --t) {
    const double ws = kn - mu[t - 1];
    const double wb = w[t - 1];
    for (int64_t l = 0; l < L; ++l) {
      const double d = AT(v, t, l) - AT(v, t - 1, l);
      const double shift = AT(v, 0, l) * r;
      s_suffix[l] += ws * d;
      b_suffix[l] += wb * d;
      AT(a, t - 1, l) = kn * (AT(v, t - 1, l) - AT(v, 0, l)) + s_suffix[l] -
                        q * (AT(a, t - 1, l) + b_suffix[l]) - shift;
    }
  }
}

/* sloo_minus_one(i) = sum_{t=1}^{i-1} mu_{t+1} d_t: an exclusive scan, every term >= 0. k >= 2. */
static inline void estimator_sloo_minus_one(int64_t L, int64_t m, const double* v,
                                            const double* mu, double* a, double* prefix) {
  for (int64_t l = 0; l < L; ++l) {
    prefix[l] = 0.0;
    AT(a, 0, l) = 0.0;
  }
  for (int64_t t = 1; t < m; ++t) {
    for (int64_t l = 0; l < L; ++l) {
      prefix[l] += mu[t] * (AT(v, t, l) - AT(v, t - 1, l));
      AT(a, t, l) = prefix[l];
    }
  }
}

/* l2o(i) = sum_{t<i} t e_t - sum_{t>=i} (m-t) e_t, e_t = mu_t d_t / (m-k), 1 <= k <= m-1. */
static inline void estimator_l2o(int64_t L, int64_t m, int64_t k, const double* v,
                                 const double* mu, double* a, double* acc) {
  const double denom = (double)(m - k);
  for (int64_t l = 0; l < L; ++l) {
    acc[l] = 0.0; /* prefix */
    AT(a, 0, l) = 0.0;
  }
  for (int64_t t = 1; t < m; ++t) {
    for (int64_t l = 0; l < L; ++l) {
      const double e = mu[t - 1] * (AT(v, t, l) - AT(v, t - 1, l)) / denom;
      acc[l] += (double)t * e;
      AT(a, t, l) = acc[l];
    }
  }
  for (int64_t l = 0; l < L; ++l) acc[l] = 0.0; /* suffix */
  for (int64_t t = m - 1; t >= 1; --t) {
    for (int64_t l = 0; l < L; ++l) {
      const double e = mu[t - 1] * (AT(v, t, l) - AT(v, t - 1, l)) / denom;
      acc[l] += (double)(m - t) * e;
      AT(a, t - 1, l) -= acc[l];
    }
  }
}

/* The boundary rules of engine.h, for L groups of the same (m, k). */
static inline uint32_t transform_lanes(int64_t L, pkpo_estimator estimator, int64_t m, int64_t k,
                                       const double* v, const double* mu, double* a, double* work,
                                       double* acc) {
  if (m == 1) {
    for (int64_t l = 0; l < L; ++l) AT(a, 0, l) = (estimator == PKPO_S) ? AT(v, 0, l) : 0.0;
    return PKPO_FLAG_SINGLETON;
  }
  switch (estimator) {
    case PKPO_S:
      estimator_s(L, m, k, v, mu, a, acc);
      return 0;
    case PKPO_SLOO:
      if (k == m) {
        estimator_s(L, m, k, v, mu, a, acc); /* no k-subset avoids i: the baseline is 0 */
      } else {
        estimator_sloo(L, m, k, v, mu, a, work, acc);
      }
      return 0;
    case PKPO_SLOO_MINUS_ONE:
      if (k == 1) {
        estimator_l2o(L, m, k, v, mu, a, acc); /* eq. 33 is undefined at k = 1: docs/math.md's convention */
      } else {
        estimator_sloo_minus_one(L, m, v, mu, a, acc);
      }
      return 0;
    case PKPO_L2O:
      if (k == m) {
        estimator_sloo_minus_one(L, m, v, mu, a, acc); /* no spare sample for the second leave-out */
        return PKPO_FLAG_FALLBACK;
      }
      estimator_l2o(L, m, k, v, mu, a, acc);
      return 0;
    case PKPO_RHO:
    default:
      return 0;
  }
}

#undef AT

/* ---- one group (L = 1) ---- */

double pkpo__rho_sorted(int64_t m, const double* v, const double* mu) {
  double rho, acc;
  rho_lanes(1, m, v, mu, &rho, &acc);
  return rho;
}

uint32_t pkpo__transform_sorted(pkpo_estimator estimator, int64_t m, int64_t k, const double* v,
                                const double* mu, double* a, double* work) {
  double acc[3];
  return transform_lanes(1, estimator, m, k, v, mu, a, work, acc);
}

/* ---- PKPO__LANES groups at once ---- */

void pkpo__rho_block(int64_t m, const double* restrict v, const double* restrict mu,
                     double* restrict rho) {
  double acc[PKPO__LANES];
  rho_lanes(PKPO__LANES, m, v, mu, rho, acc);
}

uint32_t pkpo__transform_block(pkpo_estimator estimator, int64_t m, int64_t k,
                               const double* restrict v, const double* restrict mu,
                               double* restrict a, double* restrict work) {
  double acc[3 * PKPO__LANES];
  return transform_lanes(PKPO__LANES, estimator, m, k, v, mu, a, work, acc);
}
