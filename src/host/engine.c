/*
 * engine.c -- the estimators of SPEC.md on one sorted group. See engine.h for conventions.
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

double pkpo__rho_sorted(int64_t m, const double* v, const double* mu) {
  double tail = 0.0; /* T_t = sum_{j>t} mu_j */
  double acc = 0.0;
  for (int64_t t = m - 1; t >= 1; --t) {
    tail += mu[t]; /* mu_{t+1} */
    acc += tail * (v[t] - v[t - 1]);
  }
  return v[0] + acc;
}

/* s(i) = (k/m) v_i + sum_{t=i}^{m-1} (k/m - mu_t) d_t.  mu_t <= mu_m = k/m, so every weight is >= 0. */
static void estimator_s(int64_t m, int64_t k, const double* v, const double* mu, double* a) {
  const double kn = (double)k / (double)m;
  double suffix = 0.0;
  a[m - 1] = kn * v[m - 1] + suffix; /* + 0.0 like every other rank: -0.0 ties give +0.0 */
  for (int64_t t = m - 1; t >= 1; --t) {
    suffix += (kn - mu[t - 1]) * (v[t] - v[t - 1]);
    a[t - 1] = kn * v[t - 1] + suffix;
  }
}

/* sloo(i) = s_i - (k/(m-1)) U_k(g without i), 1 <= k <= m-1, rearranged so that the rewards'
 * absolute size enters only through one term:
 *   sloo(i) = (k/m)(v_i - v_1) + S_i - (k/(m-1)) B_i - v_1 k/(m(m-1)),
 * with S_i the s suffix above, U_k(g without i) = v_1 + B_i,
 *   B_i = sum_{t<i} W_t d_t + sum_{t>=i} W_{t-1} d_t,   W_t = (m/(m-k)) sum_{j=t+1}^{m-1} mu_j,
 * where W are the tail weights of a group of m-1 (mu'_j = mu_j m/(m-k) for j <= m-1), built as
 * sums of positive terms rather than as 1 - (a cumulative sum). */
static void estimator_sloo(int64_t m, int64_t k, const double* v, const double* mu, double* a,
                           double* w) {
  const double kn = (double)k / (double)m;
  const double q = (double)k / (double)(m - 1);
  const double c = (double)m / (double)(m - k);
  const double shift = v[0] * ((double)k / ((double)m * (double)(m - 1)));

  /* w[t] = W_t, t = 0..m-1 (W_{m-1} = 0). */
  double tail = 0.0;
  w[m - 1] = 0.0;
  for (int64_t t = m - 1; t >= 1; --t) {
    tail += mu[t - 1];
    w[t - 1] = c * tail;
  }
  /* a[i-1] = sum_{t<i} W_t d_t (forward). */
  double prefix = 0.0;
  a[0] = 0.0;
  for (int64_t t = 1; t < m; ++t) {
    prefix += w[t] * (v[t] - v[t - 1]);
    a[t] = prefix;
  }
  /* Backward: S_i and sum_{t>=i} W_{t-1} d_t, then combine. */
  double s_suffix = 0.0, b_suffix = 0.0;
  a[m - 1] = kn * (v[m - 1] - v[0]) - q * a[m - 1] - shift;
  for (int64_t t = m - 1; t >= 1; --t) {
    const double d = v[t] - v[t - 1];
    s_suffix += (kn - mu[t - 1]) * d;
    b_suffix += w[t - 1] * d;
    a[t - 1] = kn * (v[t - 1] - v[0]) + s_suffix - q * (a[t - 1] + b_suffix) - shift;
  }
}

/* sloo_minus_one(i) = sum_{t=1}^{i-1} mu_{t+1} d_t: an exclusive scan, every term >= 0. k >= 2. */
static void estimator_sloo_minus_one(int64_t m, const double* v, const double* mu, double* a) {
  double prefix = 0.0;
  a[0] = 0.0;
  for (int64_t t = 1; t < m; ++t) {
    prefix += mu[t] * (v[t] - v[t - 1]);
    a[t] = prefix;
  }
}

/* l2o(i) = sum_{t<i} t e_t - sum_{t>=i} (m-t) e_t, e_t = mu_t d_t / (m-k), 1 <= k <= m-1. */
static void estimator_l2o(int64_t m, int64_t k, const double* v, const double* mu, double* a) {
  const double denom = (double)(m - k);
  double prefix = 0.0;
  a[0] = 0.0;
  for (int64_t t = 1; t < m; ++t) {
    const double e = mu[t - 1] * (v[t] - v[t - 1]) / denom;
    prefix += (double)t * e;
    a[t] = prefix;
  }
  double suffix = 0.0;
  for (int64_t t = m - 1; t >= 1; --t) {
    const double e = mu[t - 1] * (v[t] - v[t - 1]) / denom;
    suffix += (double)(m - t) * e;
    a[t - 1] -= suffix;
  }
}

uint32_t pkpo__transform_sorted(pkpo_estimator estimator, int64_t m, int64_t k, const double* v,
                                const double* mu, double* a, double* work) {
  if (m == 1) {
    a[0] = (estimator == PKPO_S) ? v[0] : 0.0;
    return PKPO_FLAG_SINGLETON;
  }
  switch (estimator) {
    case PKPO_S:
      estimator_s(m, k, v, mu, a);
      return 0;
    case PKPO_SLOO:
      if (k == m) {
        estimator_s(m, k, v, mu, a); /* no k-subset avoids i: the baseline is 0 */
      } else {
        estimator_sloo(m, k, v, mu, a, work);
      }
      return 0;
    case PKPO_SLOO_MINUS_ONE:
      if (k == 1) {
        estimator_l2o(m, k, v, mu, a); /* eq. 33 is undefined at k = 1: SPEC's convention */
      } else {
        estimator_sloo_minus_one(m, v, mu, a);
      }
      return 0;
    case PKPO_L2O:
      if (k == m) {
        estimator_sloo_minus_one(m, v, mu, a); /* no spare sample for the second leave-out */
        return PKPO_FLAG_FALLBACK;
      }
      estimator_l2o(m, k, v, mu, a);
      return 0;
    case PKPO_RHO:
    default:
      return 0;
  }
}
