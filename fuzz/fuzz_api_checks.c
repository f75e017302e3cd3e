/*
 * fuzz_api_checks.c -- what a successful call must have produced: the brute-force reference (long
 * double, from the definitions of docs/math.md §2 and §5), the contract's flags and invariants, and
 * the identities that tie a mixture to its terms and the min statistic to the max statistic.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "fuzz_api.h"

/* ---- brute-force reference ---------------------------------------------------------------------- */

static long double choose_ld(int n, int k) {
  long double c = 1;
  for (int i = 1; i <= k; ++i) c = c * (long double)(n - k + i) / (long double)i;
  return c;
}

/* U_k(x) = mean over k-subsets of x of their max; n <= BRUTE_MAX, 1 <= k <= n. */
static long double brute_u(const long double* x, int n, int k) {
  long double total = 0;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != k) continue;
    long double mx = -INFINITY;
    for (int i = 0; i < n; ++i) {
      if ((mask >> i & 1) && x[i] > mx) mx = x[i];
    }
    total += mx;
  }
  return total / choose_ld(n, k);
}

/* s_i = (1/C(n,k)) sum over k-subsets containing i of their max. */
static void brute_s(const long double* x, int n, int k, long double* s) {
  for (int i = 0; i < n; ++i) s[i] = 0;
  for (unsigned mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != k) continue;
    long double mx = -INFINITY;
    for (int i = 0; i < n; ++i) {
      if ((mask >> i & 1) && x[i] > mx) mx = x[i];
    }
    for (int i = 0; i < n; ++i) {
      if (mask >> i & 1) s[i] += mx;
    }
  }
  const long double c = choose_ld(n, k);
  for (int i = 0; i < n; ++i) s[i] /= c;
}

/* U_kk of x without sample i. */
static long double brute_u_without(const long double* x, int n, int i, int kk) {
  long double rest[BRUTE_MAX];
  int r = 0;
  for (int j = 0; j < n; ++j) {
    if (j != i) rest[r++] = x[j];
  }
  return brute_u(rest, r, kk);
}

/* Outputs of `est` at 2 <= n, 1 <= k <= n, with docs/math.md's rules for sloo at k = n,
 * sloo_minus_one at k = 1 and l2o at k = n. Shift-invariant estimators are computed on x - min for
 * accuracy. */
static void brute_outputs(int est, const long double* x, int n, int k, long double* a) {
  long double lo = x[0];
  for (int i = 1; i < n; ++i) lo = x[i] < lo ? x[i] : lo;
  long double h[BRUTE_MAX], s[BRUTE_MAX];
  for (int i = 0; i < n; ++i) h[i] = x[i] - lo;
  const long double kn = (long double)k / n;
  if (est == PKPO_S || (est == PKPO_SLOO && k == n)) {
    brute_s(x, n, k, a);
  } else if (est == PKPO_SLOO) {
    brute_s(x, n, k, s);
    for (int i = 0; i < n; ++i) a[i] = s[i] - (long double)k / (n - 1) * brute_u_without(x, n, i, k);
  } else if ((est == PKPO_SLOO_MINUS_ONE && k >= 2) || (est == PKPO_L2O && k == n)) {
    brute_s(h, n, k, s); /* a_i = s_i - (k/n) U_{k-1}(g without i) */
    for (int i = 0; i < n; ++i) a[i] = s[i] - kn * brute_u_without(h, n, i, k - 1);
  } else { /* l2o, and sloo_minus_one at k = 1: a_i = s_i - (k/n) U_k(g without i) */
    brute_s(h, n, k, s);
    for (int i = 0; i < n; ++i) a[i] = s[i] - kn * brute_u_without(h, n, i, k);
  }
}

/* The statistic's versions (docs/math.md §5): under min, T(g) = -T_max(-g), rho = -rho_max(-g). */
static void stat_outputs(int est, int min, const long double* x, int n, int k, long double* a) {
  long double y[BRUTE_MAX];
  for (int i = 0; i < n; ++i) y[i] = min ? -x[i] : x[i];
  brute_outputs(est, y, n, k, a);
  if (min) {
    for (int i = 0; i < n; ++i) a[i] = -a[i];
  }
}

static long double stat_u(int min, const long double* x, int n, int k) {
  long double y[BRUTE_MAX];
  for (int i = 0; i < n; ++i) y[i] = min ? -x[i] : x[i];
  const long double u = brute_u(y, n, k);
  return min ? -u : u;
}

/* ---- the objective of a call ------------------------------------------------------------------ */

/* A transform's terms: the mixture's, or one term (k, 1) for group g's k. */
typedef struct objective {
  int64_t count;
  int64_t k[MAX_TERMS];
  double w[MAX_TERMS];
  int64_t k_max;
  long double wsum; /* sum |w| */
  int weights_ok;   /* every weight 0 or of a size whose products stay far from under/overflow */
} objective;

static objective objective_of(const call* c, int64_t g) {
  const pkpo_desc* d = &c->e;
  objective o;
  o.count = is_mixture(c) ? d->num_k_terms : 1;
  o.k_max = 0;
  o.wsum = 0;
  o.weights_ok = 1;
  for (int64_t j = 0; j < o.count; ++j) {
    o.k[j] = is_mixture(c) ? d->k_terms[j] : d->k_per_group ? d->k_per_group[g] : d->k;
    o.w[j] = is_mixture(c) ? d->k_weights[j] : 1.0;
    o.k_max = o.k[j] > o.k_max ? o.k[j] : o.k_max;
    o.wsum += fabsl((long double)o.w[j]);
    const double aw = fabs(o.w[j]);
    o.weights_ok &= aw == 0.0 || (aw >= 1e-100 && aw <= 1e6);
  }
  return o;
}

/* ---- checks of a successful call -------------------------------------------------------------- */

group_info info_of(const call* c, const void* rewards, int64_t g) {
  const pkpo_desc* d = &c->e;
  const int f32 = d->dtype == PKPO_FLOAT32;
  group_info r;
  r.begin = d->offsets ? d->offsets[g] : g * d->group_size;
  r.n = d->offsets ? d->offsets[g + 1] - r.begin : d->group_size;
  r.m = 0;
  r.nonfinite = 0;
  r.lo = INFINITY;
  r.hi = -INFINITY;
  r.amax = 0;
  for (int64_t j = r.begin; j < r.begin + r.n; ++j) {
    const int64_t i = d->index ? d->index[j] : j;
    const double x = load(rewards, f32, i);
    if (!isfinite(x)) {
      r.nonfinite = 1;
      continue;
    }
    ++r.m;
    if (x < r.lo) r.lo = x;
    if (x > r.hi) r.hi = x;
    if (fabsl((long double)x) > r.amax) r.amax = fabsl((long double)x);
  }
  return r;
}

/* Value checks need outputs that exist in the dtype and differences that exist in float64: the
 * rewards' magnitude times the weights' must stay in range. */
static int magnitudes_ok(const group_info* gi, int f32, long double wsum) {
  return gi->amax * (wsum > 1 ? wsum : 1) <= (f32 ? 1e37L : 1e300L);
}

static uint32_t expected_flags(const call* c, const group_info* gi, const objective* o) {
  const pkpo_desc* d = &c->e;
  uint32_t f = gi->nonfinite ? PKPO_FLAG_NONFINITE : 0;
  if (gi->nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE) return f;
  if (gi->m == 0) return f | PKPO_FLAG_EMPTY;
  if (o->k_max > gi->m) f |= PKPO_FLAG_K_CLAMPED;
  if (gi->m == 1) f |= PKPO_FLAG_SINGLETON;
  for (int64_t j = 0; j < o->count; ++j) { /* l2o falls back for a term at k >= m */
    if (c->op == 0 && d->estimator == PKPO_L2O && gi->m > 1 && o->k[j] >= gi->m) {
      f |= PKPO_FLAG_FALLBACK;
    }
  }
  return f;
}

static double tol_of(int f32) { return f32 ? 4e-6 : 1e-12; }
static long double slack_of(int f32, int64_t m) {
  return f32 ? (long double)FLT_TRUE_MIN : 64.0L * (long double)(m + 1) * DBL_TRUE_MIN;
}

/* Whether every term of non-zero weight keeps a property: sloo_minus_one's sign (k >= 2, and l2o's
 * fallback) when its weight is positive, or a zero sum (l2o below m, sloo_minus_one at k = 1). */
static int all_terms_signed(int est, const objective* o, int64_t m) {
  for (int64_t j = 0; j < o->count; ++j) {
    const int64_t ke = o->k[j] > m ? m : o->k[j];
    const int signed_term = (est == PKPO_SLOO_MINUS_ONE && ke >= 2) || (est == PKPO_L2O && ke == m);
    if (o->w[j] != 0.0 && !(o->w[j] > 0.0 && signed_term)) return 0;
  }
  return 1;
}

static int all_terms_centred(int est, const objective* o, int64_t m) {
  for (int64_t j = 0; j < o->count; ++j) {
    const int64_t ke = o->k[j] > m ? m : o->k[j];
    const int centred = (est == PKPO_L2O && ke < m) || (est == PKPO_SLOO_MINUS_ONE && ke == 1);
    if (o->w[j] != 0.0 && !centred) return 0;
  }
  return 1;
}

/* Per-sample checks of one group of a successful transform, x/a its finite rewards and outputs. */
static void check_group_values(const call* c, int64_t g, const group_info* gi, const objective* o,
                               const long double* x, const double* a) {
  const int f32 = c->e.dtype == PKPO_FLOAT32;
  const int est = c->e.estimator, min = c->e.statistic == PKPO_STATISTIC_MIN;
  const int64_t mm = gi->m;
  const long double range = gi->hi - gi->lo, tol = tol_of(f32);
  const long double slack = slack_of(f32, mm) * (long double)(o->count + 1) * (o->wsum > 1 ? o->wsum : 1);
  long double scale = 0, sum_scale = 0; /* docs/math.md §4 scale, summed over the terms' |w| */
  for (int64_t j = 0; j < o->count; ++j) {
    const long double kn = (long double)(o->k[j] > mm ? mm : o->k[j]) / (long double)mm;
    const int shift_inv = est == PKPO_SLOO_MINUS_ONE || est == PKPO_L2O;
    scale += fabsl((long double)o->w[j]) * kn * (shift_inv ? range : gi->amax);
    sum_scale += fabsl((long double)o->w[j]) * 2 * tol * kn * range;
  }
  if (all_terms_signed(est, o, mm)) { /* >= 0 for the max statistic, <= 0 for min */
    for (int64_t i = 0; i < mm; ++i) REQUIRE(min ? a[i] <= 0.0 : a[i] >= 0.0);
  }
  if (all_terms_centred(est, o, mm)) {
    long double sum = 0;
    for (int64_t i = 0; i < mm; ++i) sum += a[i];
    REQUIRE(fabsl(sum) <= (long double)mm * (sum_scale + slack));
  }
  if (range == 0 && (est == PKPO_SLOO_MINUS_ONE || est == PKPO_L2O)) {
    for (int64_t i = 0; i < mm; ++i) REQUIRE(a[i] == 0.0); /* constant group: exactly 0 */
  }
  if (mm > BRUTE_MAX) return;
  long double ref[BRUTE_MAX] = {0}, rho_ref = 0;
  for (int64_t j = 0; j < o->count; ++j) {
    const int ke = (int)(o->k[j] > mm ? mm : o->k[j]);
    long double t[BRUTE_MAX];
    stat_outputs(est, min, x, (int)mm, ke, t);
    for (int64_t i = 0; i < mm; ++i) ref[i] += (long double)o->w[j] * t[i];
    rho_ref += (long double)o->w[j] * stat_u(min, x, (int)mm, ke);
  }
  for (int64_t i = 0; i < mm; ++i) {
    const long double err = fabsl((long double)a[i] - ref[i]);
    if (!(err <= tol * scale + slack)) {
      fprintf(stderr, "fuzz_api: est %d dtype %s statistic %s m %lld terms %lld sample %lld: got "
              "%.17g, reference %.20Lg, err %.3Lg > %.3Lg\n", est, f32 ? "f32" : "f64",
              min ? "min" : "max", (long long)mm, (long long)o->count, (long long)i, a[i], ref[i],
              err, tol * scale + slack);
      REQUIRE(!"outputs agree with the brute-force reference");
    }
  }
  if (c->rho) {
    const long double err = fabsl((long double)load(c->rho, f32, g) - rho_ref);
    REQUIRE(err <= tol * o->wsum * gi->amax + slack);
  }
}

void check_transform_success(const call* c, const void* rewards0) {
  const pkpo_desc* d = &c->e;
  const int f32 = d->dtype == PKPO_FLOAT32;
  const int est = d->estimator;
  for (int64_t g = 0; g < d->num_groups; ++g) {
    const group_info gi = info_of(c, rewards0, g);
    const objective o = objective_of(c, g);
    const int propagate = gi.nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE;
    if (c->flags) REQUIRE(c->flags[g] == expected_flags(c, &gi, &o));
    const int vals_ok = o.weights_ok && magnitudes_ok(&gi, f32, o.wsum);
    long double wtotal = 0; /* sum of the weights: rho lies in [W min, W max] when none < 0 */
    int nonneg = 1;
    for (int64_t j = 0; j < o.count; ++j) {
      wtotal += o.w[j];
      nonneg &= o.w[j] >= 0.0;
    }
    if (c->rho) {
      const double r = load(c->rho, f32, g);
      if (propagate) {
        REQUIRE(isnan(r));
      } else if (gi.m == 0) {
        REQUIRE(r == 0.0);
      } else if (vals_ok && nonneg) {
        const long double t = (tol_of(f32) * gi.amax + slack_of(f32, gi.m)) * (o.wsum + 1);
        REQUIRE(r >= wtotal * gi.lo - t && r <= wtotal * gi.hi + t);
      }
    }
    if (est == PKPO_RHO) continue;
    /* Gather this group's outputs and finite values in group order. */
    long double x[MAX_SAMPLES];
    double a[MAX_SAMPLES];
    int64_t mm = 0;
    for (int64_t j = gi.begin; j < gi.begin + gi.n; ++j) {
      const int64_t i = d->index ? d->index[j] : j;
      const double xi = load(rewards0, f32, i);
      const double ai = load(c->out, f32, i);
      if (propagate) {
        REQUIRE(isnan(ai));
      } else if (!isfinite(xi)) {
        REQUIRE(ai == 0.0);
      } else {
        x[mm] = xi;
        a[mm] = ai;
        ++mm;
      }
    }
    if (propagate || gi.m == 0) continue;
    REQUIRE(mm == gi.m);
    if (gi.m == 1) { /* s is the reward times the total weight; the baselines' outputs are 0 */
      if (est != PKPO_S) {
        REQUIRE(a[0] == 0.0);
      } else if (o.count == 1 && o.w[0] == 1.0) {
        REQUIRE(a[0] == (double)x[0]);
      } else if (vals_ok) {
        REQUIRE(fabsl(a[0] - wtotal * x[0]) <=
                tol_of(f32) * o.wsum * fabsl(x[0]) + slack_of(f32, 1) * (o.count + 1));
      }
      continue;
    }
    /* Ties: bitwise-identical outputs -- unless the weights' absolute sum overflows, where the
     * library combines rows that hold +-Inf and a tie's gap of 0 gives NaN (open bug 7 of
     * fuzz/README.md, tests/test_fuzz_regressions.cpp). */
    for (int64_t i = 0; i < mm && o.wsum <= (long double)DBL_MAX; ++i) {
      for (int64_t j = i + 1; j < mm && j < i + 64; ++j) {
        if (x[i] == x[j] && memcmp(&a[i], &a[j], sizeof(double)) != 0) {
          fprintf(stderr, "fuzz_api: group %lld: tied rewards %.17Lg (samples %lld, %lld of the "
                  "group) got %.17g and %.17g\n", (long long)g, x[i], (long long)i, (long long)j,
                  a[i], a[j]);
          REQUIRE(!"tied samples bitwise equal");
        }
      }
    }
    if (vals_ok) check_group_values(c, g, &gi, &o, x, a);
  }
}

void check_curve_success(const call* c, const void* rewards0) {
  const pkpo_desc* d = &c->e;
  const int f32 = d->dtype == PKPO_FLOAT32, min = d->statistic == PKPO_STATISTIC_MIN;
  for (int64_t g = 0; g < d->num_groups; ++g) {
    const group_info gi = info_of(c, rewards0, g);
    const int propagate = gi.nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE;
    uint32_t want = gi.nonfinite ? PKPO_FLAG_NONFINITE : 0;
    if (!propagate && gi.m == 0) want |= PKPO_FLAG_EMPTY;
    if (!propagate && gi.m == 1) want |= PKPO_FLAG_SINGLETON;
    long double x[MAX_SAMPLES];
    int64_t mm = 0;
    for (int64_t j = gi.begin; j < gi.begin + gi.n && !propagate; ++j) {
      const double xi = load(rewards0, f32, d->index ? d->index[j] : j);
      if (isfinite(xi)) x[mm++] = xi;
    }
    const long double tol = tol_of(f32) * gi.amax + slack_of(f32, gi.m);
    for (int64_t j = 0; j < c->num_ks; ++j) {
      const double r = load(c->rho, f32, g * c->num_ks + j);
      if (!propagate && gi.m > 0 && c->ks[j] > gi.m) want |= PKPO_FLAG_K_CLAMPED;
      if (propagate) {
        REQUIRE(isnan(r));
        continue;
      }
      if (gi.m == 0) {
        REQUIRE(r == 0.0);
        continue;
      }
      if (!magnitudes_ok(&gi, f32, 1)) continue;
      REQUIRE(r >= gi.lo - tol && r <= gi.hi + tol);
      if (gi.m <= BRUTE_MAX) {
        const int64_t ke = c->ks[j] > gi.m ? gi.m : c->ks[j];
        REQUIRE(fabsl((long double)r - stat_u(min, x, (int)gi.m, (int)ke)) <= tol);
      }
    }
    if (c->flags) REQUIRE(c->flags[g] == want);
  }
}

pkpo_status invoke(pkpo_handle h, const call* c) {
  if (c->op == 0) {
    return pkpo_transform(h, c->desc_null ? NULL : &c->d, c->rewards, c->out, c->rho, c->flags,
                          NULL);
  }
  return pkpo_rho_curve(h, c->desc_null ? NULL : &c->d, c->rewards, c->ks, c->num_ks, c->rho,
                        c->flags, NULL);
}

/* ---- identities between calls ----------------------------------------------------------------- */

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Element i of a result array of the call's dtype, widened. */
static double elem(const void* p, int f32, int64_t i) { return load(p, f32, i); }

typedef struct outputs {
  double* out;   /* num_samples */
  double* rho;   /* num_groups * per */
  uint32_t* flags;
} outputs;

/* Runs `c` with fresh out-of-place outputs (rewards r) and returns them widened to double. */
static void run_fresh(pkpo_handle h, call c, const void* r, size_t rewards_bytes, outputs* o) {
  const int f32 = c.e.dtype == PKPO_FLOAT32;
  const int64_t N = c.alloc_samples, per = c.op == 1 ? c.num_ks : 1, R = c.e.num_groups * per;
  void* out = malloc(rewards_bytes + 8);
  void* rho = malloc((size_t)R * 8 + 8);
  o->flags = (uint32_t*)malloc((size_t)c.e.num_groups * 4 + 4);
  o->out = (double*)malloc((size_t)N * 8 + 8);
  o->rho = (double*)malloc((size_t)R * 8 + 8);
  REQUIRE(out && rho && o->flags && o->out && o->rho);
  c.rewards = r;
  c.out = c.op == 0 ? out : NULL;
  c.rho = rho;
  c.flags = o->flags;
  REQUIRE_STATUS(invoke(h, &c), PKPO_SUCCESS);
  for (int64_t i = 0; i < N && c.op == 0 && c.e.estimator != PKPO_RHO; ++i) {
    o->out[i] = elem(out, f32, i);
  }
  for (int64_t i = 0; i < R; ++i) o->rho[i] = elem(rho, f32, i);
  free(out);
  free(rho);
}

static void free_outputs(outputs* o) {
  free(o->out);
  free(o->rho);
  free(o->flags);
}

/* Under min, every output and rho is the max statistic's of the negated rewards, negated, bit for
 * bit (NaN: any NaN), and the flags are the same. */
static void check_min_identity(pkpo_handle h, const call* c, const void* rewards0,
                               size_t rewards_bytes) {
  const int f32 = c->e.dtype == PKPO_FLOAT32;
  const int64_t N = c->alloc_samples;
  void* neg = malloc(rewards_bytes + 8);
  REQUIRE(neg);
  for (int64_t i = 0; i < N; ++i) store(neg, f32, i, -load(rewards0, f32, i));
  call cmin = *c, cmax = *c;
  cmax.d.statistic = PKPO_STATISTIC_MAX;
  cmax.e.statistic = PKPO_STATISTIC_MAX;
  outputs a, b;
  run_fresh(h, cmin, rewards0, rewards_bytes, &a);
  run_fresh(h, cmax, neg, rewards_bytes, &b);
  const int64_t per = c->op == 1 ? c->num_ks : 1;
  for (int64_t g = 0; g < c->e.num_groups; ++g) {
    REQUIRE(a.flags[g] == b.flags[g]);
    for (int64_t j = 0; j < per; ++j) {
      const double x = a.rho[g * per + j], y = b.rho[g * per + j];
      REQUIRE(same_bits(x, -y) || (isnan(x) && isnan(y)));
    }
  }
  for (int64_t i = 0; i < N && c->op == 0 && c->e.estimator != PKPO_RHO; ++i) {
    REQUIRE(same_bits(a.out[i], -b.out[i]) || (isnan(a.out[i]) && isnan(b.out[i])));
  }
  free_outputs(&a);
  free_outputs(&b);
  free(neg);
}

/* A mixture against its terms run one k at a time (clamped, as each term is): the flags are their
 * union; one term of weight 1 is that k bit for bit; otherwise outputs and rho are the weighted
 * sums within the terms' tolerances. */
static void check_mixture_identity(pkpo_handle h, const call* c, const void* rewards0,
                                   size_t rewards_bytes) {
  const int f32 = c->e.dtype == PKPO_FLOAT32;
  const int64_t T = c->e.num_k_terms, G = c->e.num_groups, N = c->alloc_samples;
  outputs mix, single[MAX_TERMS];
  call cm = *c;
  cm.d.k_policy = PKPO_K_CLAMP; /* under strict the mixture passed: the terms' policy is moot */
  cm.e.k_policy = PKPO_K_CLAMP;
  run_fresh(h, cm, rewards0, rewards_bytes, &mix);
  for (int64_t j = 0; j < T; ++j) {
    call cs = cm;
    cs.d.num_k_terms = cs.e.num_k_terms = 0;
    cs.d.k = cs.e.k = c->e.k_terms[j];
    run_fresh(h, cs, rewards0, rewards_bytes, &single[j]);
  }
  const int exact = T == 1 && c->e.k_weights[0] == 1.0;
  for (int64_t g = 0; g < G; ++g) {
    uint32_t any = 0;
    for (int64_t j = 0; j < T; ++j) any |= single[j].flags[g];
    REQUIRE(mix.flags[g] == any);
    const group_info gi = info_of(c, rewards0, g);
    const objective o = objective_of(c, g);
    if (exact) {
      REQUIRE(same_bits(mix.rho[g], single[0].rho[g]) || (isnan(mix.rho[g]) && isnan(single[0].rho[g])));
    }
    const int propagate = gi.nonfinite && c->e.nonfinite == PKPO_NONFINITE_PROPAGATE;
    if (propagate || gi.m == 0 || !o.weights_ok || !magnitudes_ok(&gi, f32, o.wsum)) continue;
    const long double tol = tol_of(f32), slack = slack_of(f32, gi.m) * (T + 1) * (o.wsum + 1);
    long double rho_sum = 0, scale = 0;
    for (int64_t j = 0; j < T; ++j) {
      rho_sum += (long double)o.w[j] * single[j].rho[g];
      const long double kn = (long double)(o.k[j] > gi.m ? gi.m : o.k[j]) / (long double)gi.m;
      const int shift_inv = c->e.estimator == PKPO_SLOO_MINUS_ONE || c->e.estimator == PKPO_L2O;
      scale += fabsl((long double)o.w[j]) * kn * (shift_inv ? gi.hi - gi.lo : gi.amax);
    }
    REQUIRE(fabsl(mix.rho[g] - rho_sum) <= 2 * tol * o.wsum * gi.amax + slack);
    if (c->e.estimator == PKPO_RHO) continue;
    for (int64_t t = gi.begin; t < gi.begin + gi.n; ++t) {
      const int64_t i = c->e.index ? c->e.index[t] : t;
      if (!isfinite(load(rewards0, f32, i))) continue;
      long double sum = 0;
      for (int64_t j = 0; j < T; ++j) sum += (long double)o.w[j] * single[j].out[i];
      if (gi.m == 1 && c->e.estimator == PKPO_S) scale = o.wsum * gi.amax;
      REQUIRE(fabsl(mix.out[i] - sum) <= 2 * tol * scale + slack);
    }
  }
  for (int64_t i = 0; exact && c->e.estimator != PKPO_RHO && i < N; ++i) {
    REQUIRE(same_bits(mix.out[i], single[0].out[i]) ||
            (isnan(mix.out[i]) && isnan(single[0].out[i])));
  }
  free_outputs(&mix);
  for (int64_t j = 0; j < T; ++j) free_outputs(&single[j]);
}

void check_objective_identities(pkpo_handle h, const call* c, const void* rewards0,
                                size_t rewards_bytes) {
  if (c->e.statistic == PKPO_STATISTIC_MIN) check_min_identity(h, c, rewards0, rewards_bytes);
  if (is_mixture(c)) check_mixture_identity(h, c, rewards0, rewards_bytes);
}
