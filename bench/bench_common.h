/*
 * bench_common.h -- shared by bench_cpu.c and bench_gpu.cu (C99 and C++17 compatible, header-only).
 *
 * - an independent float64 oracle for every estimator, written from the definitions of docs/math.md
 *   section 2 (weights mu, nu and the leave-one-out U_k terms as prefix/suffix sums on ranks), NOT
 *   from the stable scan forms the library uses, so that a bug in one form is not hidden by the same
 *   bug in the other;
 * - the docs/math.md §4 accuracy measure (err = max |a - exact| / scale);
 * - a fixed-seed generator, a median, a timer and CSV helpers.
 *
 * Nothing here is part of the library; it only uses the public header.
 */
#ifndef PKPO_BENCH_COMMON_H
#define PKPO_BENCH_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkpo.h"

/* docs/math.md §4: float32 outputs must be within 4e-6 * scale of the exact value. */
#define BENCH_TOL_F32 4e-6

static inline const char* bench_estimator_name(pkpo_estimator e) {
  switch (e) {
    case PKPO_RHO: return "rho";
    case PKPO_S: return "s";
    case PKPO_SLOO: return "sloo";
    case PKPO_SLOO_MINUS_ONE: return "sloo_minus_one";
    case PKPO_L2O: return "l2o";
  }
  return "unknown";
}

/* Returns 0 and sets *e when `name` is an estimator name, else -1. */
static inline int bench_estimator_parse(const char* name, pkpo_estimator* e) {
  static const pkpo_estimator all[5] = {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};
  for (int i = 0; i < 5; ++i) {
    if (strcmp(name, bench_estimator_name(all[i])) == 0) {
      *e = all[i];
      return 0;
    }
  }
  return -1;
}

/* splitmix64: fixed seed, reproducible inputs on every machine. */
static inline uint64_t bench_next_u64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform float32 rewards in [0, 1): 24 random bits, so every value is exact in float32. */
static inline void bench_fill_uniform(float* x, int64_t count, uint64_t seed) {
  uint64_t s = seed;
  for (int64_t i = 0; i < count; ++i) {
    x[i] = (float)(bench_next_u64(&s) >> 40) * (1.0f / 16777216.0f);
  }
}

static inline double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* Median of v[0..count) (sorts v in place). */
static inline double bench_median(double* v, int count) {
  qsort(v, (size_t)count, sizeof(double), bench_cmp_double);
  return (count % 2) ? v[count / 2] : 0.5 * (v[count / 2 - 1] + v[count / 2]);
}

/* ---- Oracle ------------------------------------------------------------------------------------ */

/* mu[i] = C(i-1, k-1) / C(m, k) for i = 1..m (mu[0] unused), built top-down as docs/math.md §4
 * prescribes (mu_m = k/m, mu_{i-1} = mu_i (i-k)/(i-1)); entries below k, or after underflow, are 0.
 * k < 1 or k > m gives all zeros (used for U_0, which is never needed with a non-zero weight). */
static inline void bench_mu_table(int64_t m, int64_t k, double* mu) {
  for (int64_t i = 0; i <= m; ++i) mu[i] = 0.0;
  if (k < 1 || k > m) return;
  mu[m] = (double)k / (double)m;
  for (int64_t i = m; i > k; --i) {
    mu[i - 1] = mu[i] * (double)(i - k) / (double)(i - 1);
    if (mu[i - 1] < 1e-300) {
      mu[i - 1] = 0.0;
      break;
    }
  }
}

typedef struct bench_pair {
  double v;
  int64_t i;
} bench_pair;

static inline int bench_cmp_pair(const void* a, const void* b) {
  const bench_pair* x = (const bench_pair*)a;
  const bench_pair* y = (const bench_pair*)b;
  if (x->v != y->v) return (x->v > y->v) - (x->v < y->v);
  return (x->i > y->i) - (x->i < y->i);
}

/* Sum over ranks j != i of w_j' g(j), where w' is the weight table of the group without rank i:
 * ranks below i keep their rank, ranks above i move down by one. Filled for every i in O(m). */
static inline void bench_leave_one_out_u(int64_t n, const double* gs, const double* mu_m1,
                                         double* pre, double* u) {
  /* pre[i] = sum_{j<i} mu'_j g(j);  suffix: sum_{j>i} mu'_{j-1} g(j). */
  pre[1] = 0.0;
  for (int64_t i = 2; i <= n; ++i) pre[i] = pre[i - 1] + mu_m1[i - 1] * gs[i - 1];
  double suf = 0.0;
  for (int64_t i = n; i >= 1; --i) {
    u[i] = pre[i] + suf;
    suf += mu_m1[i - 1] * gs[i]; /* i-1 >= 0; mu_m1[0] is 0 */
  }
}

/*
 * Exact (float64) outputs of one group of n >= 2 finite rewards with 1 <= k <= n, in input order,
 * from the definitions of docs/math.md §2:
 *   rho = sum mu_i g(i);  s(i) = mu_i g(i) + sum_{j>i} nu_j g(j);
 *   sloo = s - k/(n-1) U_k(g \ i) (k = n: s);  sloo_minus_one = s - (k/n) U_{k-1}(g \ i) (k = 1:
 *   the l2o value);  l2o = s - (k/n) U_k(g \ i) (k = n: sloo_minus_one).
 * out may be NULL (rho only). Returns 0, or -1 when out of memory.
 */
static inline int bench_oracle_group(pkpo_estimator est, int64_t n, int64_t k, const float* g,
                                     double* out, double* rho) {
  int rc = -1;
  bench_pair* p = (bench_pair*)malloc((size_t)n * sizeof(bench_pair));
  double* buf = (double*)malloc((size_t)(7 * (n + 1)) * sizeof(double));
  if (!p || !buf) goto done;
  {
    double* gs = buf;              /* sorted rewards, 1-based */
    double* mu = gs + (n + 1);     /* (n, k) */
    double* mu_k = mu + (n + 1);   /* (n-1, k) */
    double* mu_k1 = mu_k + (n + 1); /* (n-1, k-1) */
    double* s = mu_k1 + (n + 1);
    double* pre = s + (n + 1);
    double* u = pre + (n + 1);
    for (int64_t i = 0; i < n; ++i) {
      p[i].v = (double)g[i];
      p[i].i = i;
    }
    qsort(p, (size_t)n, sizeof(bench_pair), bench_cmp_pair);
    gs[0] = 0.0;
    for (int64_t i = 1; i <= n; ++i) gs[i] = p[i - 1].v;
    bench_mu_table(n, k, mu);
    double r = 0.0;
    for (int64_t i = 1; i <= n; ++i) r += mu[i] * gs[i];
    *rho = r;
    if (out) {
      double suf = 0.0; /* sum_{j>i} nu_j g(j), nu_j = mu_j (k-1)/(j-1) */
      for (int64_t i = n; i >= 1; --i) {
        s[i] = mu[i] * gs[i] + suf;
        if (i >= 2) suf += mu[i] * (double)(k - 1) / (double)(i - 1) * gs[i];
      }
      const double kn = (double)k / (double)n;
      double total = 0.0;
      for (int64_t i = 1; i <= n; ++i) total += gs[i];
      for (int64_t i = 1; i <= n; ++i) out[p[i - 1].i] = s[i]; /* s; sloo at k = n */
      if (est == PKPO_SLOO && k < n) {
        bench_mu_table(n - 1, k, mu_k);
        bench_leave_one_out_u(n, gs, mu_k, pre, u);
        for (int64_t i = 1; i <= n; ++i) out[p[i - 1].i] = s[i] - (double)k / (double)(n - 1) * u[i];
      } else if (est == PKPO_SLOO_MINUS_ONE || est == PKPO_L2O) {
        const int use_km1 = (est == PKPO_SLOO_MINUS_ONE) || (k == n); /* l2o at k = n falls back */
        if (k == 1) {
          for (int64_t i = 1; i <= n; ++i)
            out[p[i - 1].i] = (gs[i] - (total - gs[i]) / (double)(n - 1)) / (double)n;
        } else {
          bench_mu_table(n - 1, use_km1 ? k - 1 : k, mu_k1);
          bench_leave_one_out_u(n, gs, mu_k1, pre, u);
          for (int64_t i = 1; i <= n; ++i) out[p[i - 1].i] = s[i] - kn * u[i];
        }
      }
    }
    rc = 0;
  }
done:
  free(p);
  free(buf);
  return rc;
}

/* docs/math.md §4 scale of one group: (k/n)(max - min) for sloo_minus_one and l2o, (k/n) max|g|
 * for s, sloo and rho. A zero scale (constant group) is returned as 0; callers then need exact 0. */
static inline double bench_scale(pkpo_estimator est, int64_t n, int64_t k, const float* g) {
  double lo = g[0], hi = g[0], amax = fabs((double)g[0]);
  for (int64_t i = 1; i < n; ++i) {
    const double v = g[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    amax = fabs(v) > amax ? fabs(v) : amax;
  }
  const double kn = (double)k / (double)n;
  return (est == PKPO_SLOO_MINUS_ONE || est == PKPO_L2O) ? kn * (hi - lo) : kn * amax;
}

/*
 * Checks one group of float32 outputs (out may be NULL for rho-only) and its rho against the
 * oracle. Returns the docs/math.md error (max |a - exact| / scale, over outputs and rho), or a negative
 * value when the oracle could not run, or INFINITY when scale is 0 and an output is not exactly 0.
 */
static inline double bench_check_group(pkpo_estimator est, int64_t n, int64_t k, const float* g,
                                       const float* out, float rho) {
  double* exact = out ? (double*)malloc((size_t)n * sizeof(double)) : NULL;
  double exact_rho = 0.0;
  if ((out && !exact) || bench_oracle_group(est, n, k, g, exact, &exact_rho) != 0) {
    free(exact);
    return -1.0;
  }
  const double scale = bench_scale(est, n, k, g);
  double worst = 0.0;
  if (out) {
    for (int64_t i = 0; i < n; ++i) {
      const double e = fabs((double)out[i] - exact[i]);
      if (e != e) { worst = INFINITY; break; }
      worst = e > worst ? e : worst;
    }
  }
  /* rho is measured against max|g|, its own magnitude (docs/math.md §4): float32 rounding of rho
   * alone (2^-24 max|g|) would exceed 4e-6 (k/n) max|g| once n/k > ~67. */
  const double rho_scale = bench_scale(PKPO_RHO, n, n, g);
  double erho = fabs((double)rho - exact_rho);
  free(exact);
  if (scale == 0.0) return worst == 0.0 ? 0.0 : INFINITY;
  double err = worst / scale;
  if (rho_scale > 0.0) {
    erho /= rho_scale;
    err = erho > err ? erho : err;
  }
  return err != err ? INFINITY : err;
}

/*
 * Checks the oracle itself against the worked examples of docs/math.md §2 (exact fractions):
 * g = (1/2, 0, 1, 1/4, 3/4) for k = 1..5 and every estimator, and the binary group
 * (1,0,0,1,0,0,0,1) at k = 4. Returns 0, or -1 after printing the first mismatch to stderr.
 */
static inline int bench_oracle_selftest(void) {
  static const float g5[5] = {0.5f, 0.0f, 1.0f, 0.25f, 0.75f};
  /* [k-1][estimator s, sloo, sloo_minus_one, l2o][sample]; rho separately. */
  static const double rho5[5] = {1.0 / 2, 3.0 / 4, 7.0 / 8, 19.0 / 20, 1.0};
  static const double t5[5][4][5] = {
      {{1.0 / 10, 0, 1.0 / 5, 1.0 / 20, 3.0 / 20},
       {-1.0 / 40, -5.0 / 32, 17.0 / 160, -29.0 / 320, 13.0 / 320},
       {0, -1.0 / 8, 1.0 / 8, -1.0 / 16, 1.0 / 16},
       {0, -1.0 / 8, 1.0 / 8, -1.0 / 16, 1.0 / 16}},
      {{11.0 / 40, 1.0 / 4, 2.0 / 5, 1.0 / 4, 13.0 / 40},
       {-29.0 / 240, -1.0 / 6, 13.0 / 120, -1.0 / 6, -7.0 / 240},
       {3.0 / 40, 0, 1.0 / 4, 1.0 / 40, 3.0 / 20},
       {-1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 12, 1.0 / 24}},
      {{1.0 / 2, 1.0 / 2, 3.0 / 5, 1.0 / 2, 21.0 / 40},
       {-13.0 / 64, -13.0 / 64, 27.0 / 320, -13.0 / 64, -21.0 / 160},
       {1.0 / 40, 0, 1.0 / 4, 0, 1.0 / 10},
       {-1.0 / 16, -1.0 / 16, 3.0 / 16, -1.0 / 16, 0}},
      {{3.0 / 4, 3.0 / 4, 4.0 / 5, 3.0 / 4, 3.0 / 4},
       {-1.0 / 4, -1.0 / 4, 1.0 / 20, -1.0 / 4, -1.0 / 4},
       {0, 0, 1.0 / 4, 0, 1.0 / 20},
       {-1.0 / 20, -1.0 / 20, 1.0 / 5, -1.0 / 20, -1.0 / 20}},
      {{1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}, {0, 0, 1.0 / 4, 0, 0}, {0, 0, 1.0 / 4, 0, 0}}};
  static const pkpo_estimator ests[4] = {PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};
  double out[8], rho;
  for (int k = 1; k <= 5; ++k) {
    for (int e = 0; e < 4; ++e) {
      if (bench_oracle_group(ests[e], 5, k, g5, out, &rho) != 0) return -1;
      for (int i = 0; i < 5; ++i) {
        if (fabs(out[i] - t5[k - 1][e][i]) > 1e-14 || fabs(rho - rho5[k - 1]) > 1e-14) {
          fprintf(stderr, "oracle self-test: %s k=%d sample %d: %.17g, math says %.17g\n",
                  bench_estimator_name(ests[e]), k, i, out[i], t5[k - 1][e][i]);
          return -1;
        }
      }
    }
  }
  static const float gb[8] = {1, 0, 0, 1, 0, 0, 0, 1};
  /* correct, wrong */
  static const double tb[4][2] = {{1.0 / 2, 31.0 / 70}, {1.0 / 98, -11.0 / 98}, {1.0 / 7, 0},
                                  {1.0 / 14, -3.0 / 70}};
  for (int e = 0; e < 4; ++e) {
    if (bench_oracle_group(ests[e], 8, 4, gb, out, &rho) != 0) return -1;
    for (int i = 0; i < 8; ++i) {
      const double want = tb[e][gb[i] == 1.0f ? 0 : 1];
      if (fabs(out[i] - want) > 1e-14 || fabs(rho - 13.0 / 14) > 1e-14) {
        fprintf(stderr, "oracle self-test: binary %s sample %d: %.17g, math says %.17g\n",
                bench_estimator_name(ests[e]), i, out[i], want);
        return -1;
      }
    }
  }
  return 0;
}

#endif /* PKPO_BENCH_COMMON_H */
