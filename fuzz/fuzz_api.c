/*
 * fuzz_api.c -- libFuzzer target for the public API on the CPU backend: pkpo_transform,
 * pkpo_rho_curve and pkpo_group_by_id with descriptors, layouts, k values, policies, rewards and
 * caller-owned workspaces decoded from the fuzz input.
 *
 * For every call it checks:
 * - the returned status equals expected_status(), a validity predicate written here from the
 *   contract in include/pkpo.h (it never calls pkpo's own validation; the only library answer it
 *   uses is pkpo_workspace_size, which is how the contract defines "a workspace too small");
 * - on failure nothing was written: every output, the rewards, and guard bytes past the ends of
 *   every array keep their values;
 * - on success: the per-group flags, excluded samples 0, propagated groups NaN, empty groups
 *   rho 0, tied samples bitwise equal, sloo_minus_one >= 0 (k >= 2), l2o summing to ~0, rho within
 *   [min, max]; groups of at most BRUTE_MAX finite samples agree with a brute-force average over
 *   k-subsets in long double (tolerance of docs/math.md §4); replacing the non-finite rewards of
 *   some groups by finite values leaves every other group's outputs bitwise unchanged; in-place and
 *   out-of-place results are bitwise equal; pkpo_group_by_id's outputs match a quadratic
 *   re-derivation.
 * ASan and UBSan catch the rest. Declared sizes larger than the arrays passed ("huge" groups) are
 * only used where the predicate says the call must fail before it reads those arrays.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkpo.h"

static void dump_current(void); /* prints the call being checked (to reproduce a failure) */

#define REQUIRE(c)                                                                       \
  do {                                                                                   \
    if (!(c)) {                                                                          \
      fprintf(stderr, "fuzz_api: %s:%d: %s failed\n", __FILE__, __LINE__, #c);          \
      dump_current();                                                                    \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

#define REQUIRE_STATUS(got, want)                                                          \
  do {                                                                                     \
    if ((got) != (want)) {                                                                 \
      fprintf(stderr, "fuzz_api: %s:%d: status %d (%s), expected %d (%s)\n", __FILE__,     \
              __LINE__, (int)(got), pkpo_status_string(got), (int)(want),                  \
              pkpo_status_string(want));                                                   \
      dump_current();                                                                      \
      abort();                                                                             \
    }                                                                                      \
  } while (0)


enum {
  MAX_GROUPS = 24,
  MAX_SAMPLES = 1024,
  MAX_KS = 8,
  BRUTE_MAX = 8,   /* groups up to this many finite samples are checked against brute force */
  GUARD = 16,      /* guard elements past the end of every output array */
  GUARD_BYTE = 0x7B
};

/* ---- input decoding --------------------------------------------------------------------------- */

typedef struct src {
  const uint8_t* p;
  size_t n;
} src;

static unsigned u8(src* s) {
  if (s->n == 0) return 0;
  --s->n;
  return *s->p++;
}

static uint64_t u64(src* s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | u8(s);
  return v;
}

static const int64_t special_i64[] = {
    0, 1, -1, 2, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, (int64_t)1 << 31,
    ((int64_t)1 << 31) - 1, (int64_t)1 << 32, (int64_t)1 << 57, (int64_t)1 << 58,
    ((int64_t)1 << 58) + 1, (int64_t)1 << 59, (int64_t)1 << 60, (int64_t)1 << 62,
    INT64_MAX / 2, INT64_MAX / 3, INT64_MAX / 16, INT64_MAX / 64, INT64_MAX / 65};

static int64_t special(src* s) {
  return special_i64[u8(s) % (sizeof special_i64 / sizeof special_i64[0])];
}

/* A k: mostly small, sometimes anything in int64. */
static int64_t pick_k(src* s) {
  const unsigned mode = u8(s);
  if (mode < 200) return (int64_t)(mode % 12) + 1;
  if (mode < 215) return -(int64_t)(mode % 3);
  if (mode < 240) return special(s);
  return (int64_t)u64(s);
}

static const double special_f64[] = {
    NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 0.5, DBL_TRUE_MIN, -DBL_TRUE_MIN, DBL_MIN,
    DBL_MAX, -DBL_MAX, 1e300, -1e300, FLT_TRUE_MIN, FLT_MIN, FLT_MAX, -FLT_MAX, 1e37, 100.0,
    100.01, 1e-310, 3.0e38, -3.0e38};

/* Reward styles: binary, small integers (many ties), offset continuous, raw bits, specials. */
static double pick_reward(src* s, unsigned style, int f32) {
  const unsigned b = u8(s);
  double x;
  switch (style % 6) {
    case 0: x = (double)(b & 1); break;
    case 1: x = (double)((int)(b % 7) - 3); break;
    case 2: x = 100.0 + 0.01 * (double)b / 255.0; break;
    case 3: x = (double)b / 64.0 - 2.0; break;
    case 4: {
      if (f32) {
        uint32_t bits = (uint32_t)b << 24 | (uint32_t)u8(s) << 16 | (uint32_t)u8(s) << 8 | u8(s);
        float f;
        memcpy(&f, &bits, 4);
        x = (double)f;
      } else {
        uint64_t bits = (uint64_t)b << 56 | (u64(s) >> 8);
        memcpy(&x, &bits, 8);
      }
      break;
    }
    default: x = special_f64[b % (sizeof special_f64 / sizeof special_f64[0])]; break;
  }
  if ((b & 0xF0) == 0xF0 && style >= 6) x = special_f64[u8(s) % 5]; /* sprinkle NaN/Inf/0/-0 */
  return f32 ? (double)(float)x : x;
}

/* ---- element access --------------------------------------------------------------------------- */

static double load(const void* base, int f32, int64_t i) {
  return f32 ? (double)((const float*)base)[i] : ((const double*)base)[i];
}

static void store(void* base, int f32, int64_t i, double x) {
  if (f32) {
    ((float*)base)[i] = (float)x;
  } else {
    ((double*)base)[i] = x;
  }
}

static int same_bits(const void* a, const void* b, int f32, int64_t i) {
  const size_t es = f32 ? 4 : 8;
  return memcmp((const char*)a + (size_t)i * es, (const char*)b + (size_t)i * es, es) == 0;
}

static void* alloc_guarded(size_t bytes) { /* bytes + guard, all set to GUARD_BYTE */
  unsigned char* p = (unsigned char*)malloc(bytes + GUARD * 8);
  REQUIRE(p);
  memset(p, GUARD_BYTE, bytes + GUARD * 8);
  return p;
}

static int all_guard(const void* p, size_t from, size_t to) {
  const unsigned char* c = (const unsigned char*)p;
  for (size_t i = from; i < to; ++i) {
    if (c[i] != GUARD_BYTE) return 0;
  }
  return 1;
}

/* ---- brute-force reference (long double, from the definitions of docs/math.md §2) ---------- */

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

/* Outputs of `est` at 2 <= n, 1 <= k <= n, with docs/math.md's rules for sloo at k = n, sloo_minus_one at
 * k = 1 and l2o at k = n. Shift-invariant estimators are computed on x - min for accuracy. */
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

/* ---- the validity predicate ------------------------------------------------------------------- */

/* What the fuzzer passes, with the sizes it actually allocated. */
typedef struct call {
  int op; /* 0 transform, 1 rho curve */
  pkpo_desc d;
  int desc_null;
  const void* rewards;
  void* out;
  void* rho;
  uint32_t* flags;
  const int64_t* ks;
  int64_t num_ks;
  /* allocated sizes */
  int64_t alloc_groups;  /* offsets hold alloc_groups + 1, k_per_group / rho / flags alloc_groups */
  int64_t alloc_samples; /* rewards, out, index */
  int64_t alloc_ks;
  /* workspace */
  int caller_ws;
  size_t ws_bytes;
} call;

static const call* g_current;

static void dump_current(void) {
  const call* c = g_current;
  if (!c) return;
  const pkpo_desc* d = &c->d;
  fprintf(stderr, "  op %s, desc%s: struct_size %zu est %d dtype %d G %lld group_size %lld N %lld "
          "max_group_size %lld k %lld nonfinite %d k_policy %d\n", c->op ? "rho_curve" : "transform",
          c->desc_null ? " NULL" : "", d->struct_size, (int)d->estimator, (int)d->dtype,
          (long long)d->num_groups, (long long)d->group_size, (long long)d->num_samples,
          (long long)d->max_group_size, (long long)d->k, (int)d->nonfinite, (int)d->k_policy);
  fprintf(stderr, "  allocated groups %lld samples %lld; workspace %s %zu; rewards %p out %p rho %p "
          "flags %p\n", (long long)c->alloc_groups, (long long)c->alloc_samples,
          c->caller_ws ? "caller" : "owned", c->ws_bytes, c->rewards, c->out, c->rho,
          (void*)c->flags);
  if (d->offsets) {
    fprintf(stderr, "  offsets:");
    for (int64_t g = 0; g <= c->alloc_groups; ++g) fprintf(stderr, " %lld", (long long)d->offsets[g]);
    fprintf(stderr, "\n");
  }
  if (d->index) {
    fprintf(stderr, "  index:");
    for (int64_t i = 0; i < c->alloc_samples; ++i) fprintf(stderr, " %lld", (long long)d->index[i]);
    fprintf(stderr, "\n");
  }
  if (d->k_per_group) {
    fprintf(stderr, "  k_per_group:");
    for (int64_t g = 0; g < c->alloc_groups; ++g) {
      fprintf(stderr, " %lld", (long long)d->k_per_group[g]);
    }
    fprintf(stderr, "\n");
  }
  if (c->op == 1 && c->ks) {
    fprintf(stderr, "  num_ks %lld ks:", (long long)c->num_ks);
    for (int64_t j = 0; j < c->alloc_ks; ++j) fprintf(stderr, " %lld", (long long)c->ks[j]);
    fprintf(stderr, "\n");
  }
  if (c->rewards) {
    fprintf(stderr, "  rewards:");
    for (int64_t i = 0; i < c->alloc_samples && i < 64; ++i) {
      fprintf(stderr, " %.9g", load(c->rewards, c->d.dtype == PKPO_FLOAT32, i));
    }
    fprintf(stderr, "\n");
  }
}

/* Steps of a call, in the order the contract lets a caller observe them. A failure decided before
 * STEP_DATA never reads rewards, index or k_per_group. */
enum { STEP_ARGS = 1, STEP_LAYOUT = 2, STEP_WORKSPACE = 3, STEP_DATA = 4, STEP_DONE = 5 };

typedef struct verdict {
  pkpo_status status;
  int step; /* 0: the call would read past the arrays allocated here (a caller error): skip it */
} verdict;

static verdict decide(pkpo_status st, int step) {
  verdict v = {st, step};
  return v;
}

static int mul_ovf(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

/* Finite count of a group, and whether it holds non-finite values. */
static void group_scan(const call* c, int64_t begin, int64_t n, int64_t* finite, int* nonfinite) {
  const int f32 = c->d.dtype == PKPO_FLOAT32;
  *finite = 0;
  *nonfinite = 0;
  for (int64_t j = begin; j < begin + n; ++j) {
    const int64_t i = c->d.index ? c->d.index[j] : j;
    if (isfinite(load(c->rewards, f32, i))) {
      ++*finite;
    } else {
      *nonfinite = 1;
    }
  }
}

static verdict expected_status(pkpo_handle h, const call* c) {
  const pkpo_desc* d = &c->d;
  const int curve = c->op == 1;
  if (c->desc_null) return decide(PKPO_ERROR_NULL_POINTER, STEP_ARGS);
  if (d->struct_size != sizeof(pkpo_desc)) return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  /* pkpo_rho_curve ignores desc->estimator, k and k_per_group (pkpo.h). */
  if (!curve && !(d->estimator >= PKPO_RHO && d->estimator <= PKPO_L2O)) {
    return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  }
  if (d->dtype != PKPO_FLOAT32 && d->dtype != PKPO_FLOAT64) {
    return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  }
  if (!(d->nonfinite >= PKPO_NONFINITE_EXCLUDE && d->nonfinite <= PKPO_NONFINITE_ERROR)) {
    return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  }
  if (d->k_policy != PKPO_K_CLAMP && d->k_policy != PKPO_K_STRICT) {
    return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  }
  if (d->num_groups < 0) return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  const int64_t G = d->num_groups;
  int64_t N;
  int64_t uniform_n = 0;
  if (d->offsets) {
    if (G == INT64_MAX) return decide(PKPO_ERROR_SIZE_OVERFLOW, STEP_ARGS);
    if (d->num_samples < 0) return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
    if (d->max_group_size < 0 || d->max_group_size > d->num_samples) {
      return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
    }
    N = d->num_samples;
  } else {
    if (G > 0 && d->group_size < 1) return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
    N = 0;
    if (G > 0 && mul_ovf(G, d->group_size, &N)) return decide(PKPO_ERROR_SIZE_OVERFLOW, STEP_ARGS);
    if (d->num_samples != 0 && d->num_samples != N) {
      return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
    }
    uniform_n = G > 0 ? d->group_size : 0;
  }
  int64_t tmp;
  if (mul_ovf(N, 16, &tmp)) return decide(PKPO_ERROR_SIZE_OVERFLOW, STEP_ARGS);
  const int use_k = !curve;
  if (use_k && !d->k_per_group && d->k < 1) return decide(PKPO_ERROR_INVALID_K, STEP_ARGS);
  if (use_k && !d->k_per_group && d->k_policy == PKPO_K_STRICT && uniform_n > 0 &&
      d->k > uniform_n) {
    return decide(PKPO_ERROR_K_EXCEEDS_N, STEP_ARGS);
  }
  if (N > 0 && !c->rewards) return decide(PKPO_ERROR_NULL_POINTER, STEP_ARGS);
  int64_t max_k = d->k;
  if (curve) {
    if (!c->ks || !c->rho) return decide(PKPO_ERROR_NULL_POINTER, STEP_ARGS);
    if (c->num_ks < 1) return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
    if (mul_ovf(G, c->num_ks, &tmp) || mul_ovf(tmp, 8, &tmp)) {
      return decide(PKPO_ERROR_SIZE_OVERFLOW, STEP_ARGS);
    }
    if (c->num_ks > c->alloc_ks) return decide(PKPO_SUCCESS, 0); /* would read past ks: unsafe */
    max_k = 0;
    for (int64_t j = 0; j < c->num_ks; ++j) {
      if (c->ks[j] < 1) return decide(PKPO_ERROR_INVALID_K, STEP_ARGS);
      if (d->k_policy == PKPO_K_STRICT && uniform_n > 0 && c->ks[j] > uniform_n) {
        return decide(PKPO_ERROR_K_EXCEEDS_N, STEP_ARGS);
      }
      if (c->ks[j] > max_k) max_k = c->ks[j];
    }
  } else if (d->estimator != PKPO_RHO && N > 0 && !c->out) {
    return decide(PKPO_ERROR_NULL_POINTER, STEP_ARGS);
  }

  /* Layout (host-readable offsets on the CPU backend). */
  if (d->offsets && G > c->alloc_groups) return decide(PKPO_SUCCESS, 0); /* unsafe */
  int64_t max_n = uniform_n;
  if (d->offsets) {
    const int64_t* off = d->offsets;
    if (off[0] != 0 || off[G] != N) return decide(PKPO_ERROR_INVALID_LAYOUT, STEP_LAYOUT);
    max_n = 0;
    for (int64_t g = 0; g < G; ++g) {
      if (off[g + 1] < off[g]) return decide(PKPO_ERROR_INVALID_LAYOUT, STEP_LAYOUT);
      if (off[g + 1] - off[g] > max_n) max_n = off[g + 1] - off[g];
    }
    if (d->max_group_size > 0 && max_n > d->max_group_size) {
      return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_LAYOUT);
    }
  }
  if (G == 0) return decide(PKPO_SUCCESS, STEP_DONE);

  /* Workspace. The contract defines the need as pkpo_workspace_size's answer; the fuzzer only adds
   * that the CPU backend's scratch holds at least one byte per sample of the largest group (it sorts
   * a copy of the group there), so a size that wrapped around is caught. */
  size_t need = 0;
  pkpo_desc query = *d; /* the size query checks k and estimator, which a curve ignores */
  if (curve) {
    query.estimator = PKPO_RHO;
    query.k = 1;
    query.k_per_group = NULL;
    query.k_policy = PKPO_K_CLAMP;
  }
  const pkpo_status q = pkpo_workspace_size(h, &query, &need);
  if (q == PKPO_ERROR_SIZE_OVERFLOW) return decide(PKPO_ERROR_SIZE_OVERFLOW, STEP_WORKSPACE);
  REQUIRE_STATUS(q, PKPO_SUCCESS); /* everything else it checks was found valid above */
  if ((uint64_t)need < (uint64_t)max_n) {
    fprintf(stderr, "fuzz_api: pkpo_workspace_size says %zu bytes for a group of %lld samples\n",
            need, (long long)max_n);
    abort();
  }
  if (c->caller_ws && need > c->ws_bytes) {
    return decide(PKPO_ERROR_WORKSPACE_TOO_SMALL, STEP_WORKSPACE);
  }
  if (G > c->alloc_groups || N > c->alloc_samples) return decide(PKPO_SUCCESS, 0); /* unsafe */

  /* Data. */
  if (d->index && N > 0) {
    unsigned char seen[MAX_SAMPLES];
    memset(seen, 0, sizeof seen);
    for (int64_t j = 0; j < N; ++j) {
      const int64_t i = d->index[j];
      if (i < 0 || i >= N || seen[i]) return decide(PKPO_ERROR_INVALID_LAYOUT, STEP_DATA);
      seen[i] = 1;
    }
  }
  if (!curve && d->k_per_group) {
    for (int64_t g = 0; g < G; ++g) {
      if (d->k_per_group[g] < 1) return decide(PKPO_ERROR_INVALID_K, STEP_DATA);
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    const int64_t begin = d->offsets ? d->offsets[g] : g * uniform_n;
    const int64_t n = d->offsets ? d->offsets[g + 1] - begin : uniform_n;
    int64_t m;
    int nonfinite;
    group_scan(c, begin, n, &m, &nonfinite);
    if (nonfinite && d->nonfinite == PKPO_NONFINITE_ERROR) {
      return decide(PKPO_ERROR_NON_FINITE, STEP_DATA);
    }
    if (d->nonfinite != PKPO_NONFINITE_EXCLUDE) m = n;
    const int64_t k = (!curve && d->k_per_group) ? d->k_per_group[g] : max_k;
    if (d->k_policy == PKPO_K_STRICT && m > 0 && k > m) {
      return decide(PKPO_ERROR_K_EXCEEDS_N, STEP_DATA);
    }
  }
  return decide(PKPO_SUCCESS, STEP_DONE);
}

/* ---- checks of a successful call -------------------------------------------------------------- */

typedef struct group_info {
  int64_t begin, n, m;
  int nonfinite;
  long double lo, hi, amax; /* over finite values */
} group_info;

static group_info info_of(const call* c, const void* rewards, int64_t g) {
  const pkpo_desc* d = &c->d;
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

/* Value checks need outputs that exist in the dtype and differences that exist in float64. */
static int magnitudes_ok(const group_info* gi, int f32) {
  return gi->amax <= (f32 ? 1e37L : 1e300L);
}

static uint32_t expected_flags(const call* c, const group_info* gi, int64_t k) {
  const pkpo_desc* d = &c->d;
  uint32_t f = gi->nonfinite ? PKPO_FLAG_NONFINITE : 0;
  if (gi->nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE) return f;
  if (gi->m == 0) return f | PKPO_FLAG_EMPTY;
  if (k > gi->m) f |= PKPO_FLAG_K_CLAMPED;
  if (gi->m == 1) f |= PKPO_FLAG_SINGLETON;
  const int64_t ke = k > gi->m ? gi->m : k;
  if (c->op == 0 && d->estimator == PKPO_L2O && gi->m > 1 && ke == gi->m) f |= PKPO_FLAG_FALLBACK;
  return f;
}

static double tol_of(int f32) { return f32 ? 4e-6 : 1e-12; }
static long double slack_of(int f32, int64_t m) {
  return f32 ? (long double)FLT_TRUE_MIN : 64.0L * (long double)(m + 1) * DBL_TRUE_MIN;
}

static void check_transform_success(const call* c, const void* rewards0) {
  const pkpo_desc* d = &c->d;
  const int f32 = d->dtype == PKPO_FLOAT32;
  const int est = d->estimator;
  const int64_t G = d->num_groups;
  const size_t es = f32 ? 4 : 8;
  for (int64_t g = 0; g < G; ++g) {
    const group_info gi = info_of(c, rewards0, g);
    const int64_t k_req = d->k_per_group ? d->k_per_group[g] : d->k;
    const int64_t ke = k_req > gi.m ? gi.m : k_req;
    const int propagate = gi.nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE;
    if (c->flags) REQUIRE(c->flags[g] == expected_flags(c, &gi, k_req));
    const int vals_ok = magnitudes_ok(&gi, f32);
    if (c->rho) {
      const double r = load(c->rho, f32, g);
      if (propagate) {
        REQUIRE(isnan(r));
      } else if (gi.m == 0) {
        REQUIRE(r == 0.0);
      } else if (vals_ok) {
        const long double t = tol_of(f32) * gi.amax + slack_of(f32, gi.m);
        REQUIRE(r >= gi.lo - t && r <= gi.hi + t);
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
    if (gi.m == 1) {
      if (est == PKPO_S) {
        REQUIRE(a[0] == (double)x[0]);
      } else {
        REQUIRE(a[0] == 0.0);
      }
      continue;
    }
    /* Ties: bitwise-identical outputs. */
    for (int64_t i = 0; i < mm; ++i) {
      for (int64_t j = i + 1; j < mm && j < i + 64; ++j) {
        if (x[i] == x[j] && memcmp(&a[i], &a[j], sizeof(double)) != 0) {
          fprintf(stderr, "fuzz_api: group %lld: tied rewards %.17Lg (samples %lld, %lld of the "
                  "group) got %.17g and %.17g\n", (long long)g, x[i], (long long)i, (long long)j,
                  a[i], a[j]);
          REQUIRE(!"tied samples bitwise equal");
        }
      }
    }
    (void)es;
    if (!vals_ok) continue;
    const long double range = gi.hi - gi.lo;
    const long double kn = (long double)ke / (long double)gi.m;
    const long double tol = tol_of(f32);
    const long double slack = slack_of(f32, gi.m);
    const int centred = (est == PKPO_L2O && ke < gi.m) || (est == PKPO_SLOO_MINUS_ONE && ke == 1);
    if (est == PKPO_SLOO_MINUS_ONE && ke >= 2) {
      for (int64_t i = 0; i < mm; ++i) REQUIRE(a[i] >= 0.0);
    }
    if (est == PKPO_L2O && ke == gi.m) { /* fallback to sloo_minus_one */
      for (int64_t i = 0; i < mm; ++i) REQUIRE(a[i] >= 0.0);
    }
    if (centred) {
      long double sum = 0;
      for (int64_t i = 0; i < mm; ++i) sum += a[i];
      REQUIRE(fabsl(sum) <= (long double)mm * (2 * tol * kn * range + slack));
    }
    if (range == 0 && (est == PKPO_SLOO_MINUS_ONE || est == PKPO_L2O)) {
      for (int64_t i = 0; i < mm; ++i) REQUIRE(a[i] == 0.0); /* constant group: exactly 0 */
    }
    if (gi.m <= BRUTE_MAX) {
      long double ref[BRUTE_MAX];
      brute_outputs(est, x, (int)gi.m, (int)ke, ref);
      const int shift_inv = est == PKPO_SLOO_MINUS_ONE || est == PKPO_L2O;
      const long double scale = shift_inv ? kn * range : kn * gi.amax;
      for (int64_t i = 0; i < mm; ++i) {
        const long double err = fabsl((long double)a[i] - ref[i]);
        if (!(err <= tol * scale + slack)) {
          fprintf(stderr, "fuzz_api: est %d dtype %s m %lld k %lld sample %lld: got %.17g, "
                  "reference %.20Lg, err %.3Lg > %.3Lg\n", est, f32 ? "f32" : "f64",
                  (long long)gi.m, (long long)ke, (long long)i, a[i], ref[i], err,
                  tol * scale + slack);
          abort();
        }
      }
      if (c->rho) {
        const long double rr = brute_u(x, (int)gi.m, (int)ke);
        const long double err = fabsl((long double)load(c->rho, f32, g) - rr);
        REQUIRE(err <= tol * gi.amax + slack);
      }
    }
  }
}

static void check_curve_success(const call* c, const void* rewards0) {
  const pkpo_desc* d = &c->d;
  const int f32 = d->dtype == PKPO_FLOAT32;
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
      if (!magnitudes_ok(&gi, f32)) continue;
      REQUIRE(r >= gi.lo - tol && r <= gi.hi + tol);
      if (gi.m <= BRUTE_MAX) {
        const int64_t ke = c->ks[j] > gi.m ? gi.m : c->ks[j];
        REQUIRE(fabsl((long double)r - brute_u(x, (int)gi.m, (int)ke)) <= tol);
      }
    }
    if (c->flags) REQUIRE(c->flags[g] == want);
  }
}

/* ---- one fuzzed call -------------------------------------------------------------------------- */

static void* ws_alloc(size_t bytes) {
  void* p = NULL;
  REQUIRE(posix_memalign(&p, 256, bytes ? bytes : 1) == 0);
  return p;
}

typedef struct buffers {
  void* rewards;   /* alloc_samples (+ guard) */
  void* out;       /* alloc_samples (+ guard), or == rewards in place */
  void* rho;       /* rho_len (+ guard) */
  uint32_t* flags; /* alloc_groups (+ guard) */
  size_t rewards_bytes, out_bytes, rho_bytes, flags_bytes;
} buffers;

/* Runs the call on `h` with fresh copies of the outputs and returns the status. */
static pkpo_status invoke(pkpo_handle h, const call* c) {
  if (c->op == 0) {
    return pkpo_transform(h, c->desc_null ? NULL : &c->d, c->rewards, c->out, c->rho, c->flags,
                          NULL);
  }
  return pkpo_rho_curve(h, c->desc_null ? NULL : &c->d, c->rewards, c->ks, c->num_ks, c->rho,
                        c->flags, NULL);
}

static void fuzz_batch(src* s, int op) {
  call c;
  memset(&c, 0, sizeof c);
  c.op = op;
  const pkpo_desc init = PKPO_DESC_INIT;
  c.d = init;
  pkpo_desc* d = &c.d;
  const unsigned sel = u8(s);
  d->dtype = (sel & 1) ? PKPO_FLOAT64 : PKPO_FLOAT32;
  d->estimator = (pkpo_estimator)((sel >> 1) % 5);
  d->nonfinite = (pkpo_nonfinite_policy)((sel >> 4) % 3);
  d->k_policy = (pkpo_k_policy)((sel >> 6) & 1);
  const int ragged = (sel >> 7) & 1;
  const unsigned opt = u8(s); /* which pointers/modes */
  const int with_index = opt & 1;
  const int in_place = (opt >> 1) & 1;
  const int with_kpg = (opt >> 2) & 1;
  const int with_rho = !((opt >> 3) & 1) || op == 1;
  const int with_flags = !((opt >> 4) & 1);
  const int ws_mode = (opt >> 5) & 3; /* 0,1 owned; 2 caller exact-ish; 3 caller random size */
  const int corrupt = (opt >> 7) & 1;

  /* Group sizes. */
  int64_t G = u8(s) % (MAX_GROUPS + 1);
  int64_t sizes[MAX_GROUPS];
  int64_t N = 0;
  const int64_t uniform = 1 + (int64_t)(u8(s) % 12);
  for (int64_t g = 0; g < G; ++g) {
    int64_t n;
    if (!ragged) {
      n = uniform;
    } else {
      const unsigned b = u8(s);
      n = b < 40 ? 0 : b < 200 ? (int64_t)(b % 9) : b < 250 ? (int64_t)(b % 64) : 130 + (b % 70);
    }
    if (N + n > MAX_SAMPLES) n = 0;
    sizes[g] = ragged ? n : (N + n > MAX_SAMPLES ? 0 : n);
    if (!ragged && sizes[g] != uniform) { /* uniform batch does not fit: fewer groups */
      G = g;
      break;
    }
    N += sizes[g];
  }
  c.alloc_groups = G;
  c.alloc_samples = N;
  d->num_groups = G;
  int64_t offsets[MAX_GROUPS + 1];
  offsets[0] = 0;
  for (int64_t g = 0; g < G; ++g) offsets[g + 1] = offsets[g] + sizes[g];
  int64_t max_n = 0;
  for (int64_t g = 0; g < G; ++g) max_n = sizes[g] > max_n ? sizes[g] : max_n;
  if (ragged) {
    d->offsets = offsets;
    d->num_samples = N;
    const unsigned m = u8(s) % 4;
    d->max_group_size = m == 0 ? 0 : m == 1 ? max_n : m == 2 ? (max_n + 1 <= N ? max_n + 1 : N)
                                                             : (int64_t)(u8(s) % 8);
  } else {
    d->group_size = uniform;
    d->num_samples = (u8(s) & 1) ? N : 0;
  }

  /* Index permutation (Fisher-Yates from the input). */
  int64_t index[MAX_SAMPLES];
  for (int64_t i = 0; i < N; ++i) index[i] = i;
  for (int64_t i = N - 1; i > 0; --i) {
    const int64_t j = (int64_t)(((unsigned)u8(s) << 8 | u8(s)) % (unsigned)(i + 1));
    const int64_t t = index[i];
    index[i] = index[j];
    index[j] = t;
  }
  if (with_index) d->index = index;

  int64_t kpg[MAX_GROUPS];
  d->k = pick_k(s);
  for (int64_t g = 0; g < G; ++g) kpg[g] = pick_k(s);
  if (with_kpg) d->k_per_group = kpg;

  int64_t ks[MAX_KS];
  c.alloc_ks = 1 + u8(s) % MAX_KS;
  for (int64_t j = 0; j < c.alloc_ks; ++j) ks[j] = pick_k(s);
  c.num_ks = c.alloc_ks;
  c.ks = ks;

  /* Corruptions: invalid layouts, enums, sizes, pointers, and "huge" declared sizes. */
  if (corrupt) {
    const unsigned what = u8(s);
    const unsigned where = u8(s);
    switch (what % 20) {
      case 0: if (G > 0) offsets[where % (G + 1)] = special(s); break;
      case 1: if (G > 0) offsets[where % (G + 1)] += (int64_t)(u8(s) % 5) - 2; break;
      case 2: if (N > 1) index[where % N] = index[(where / 7) % N]; break;    /* duplicate */
      case 3: if (N > 0) index[where % N] = (int64_t)((uint64_t)special(s) - 1); break;             /* out of range */
      case 4: d->num_samples = special(s); break;
      case 5: d->group_size = special(s); break;
      case 6: d->num_groups = special(s); break;
      case 7: d->max_group_size = special(s); break;
      case 8: d->estimator = (pkpo_estimator)((int)(where % 9) - 2); break;
      case 9: d->dtype = (pkpo_dtype)((int)(where % 6) - 2); break;
      case 10: d->nonfinite = (pkpo_nonfinite_policy)((int)(where % 8) - 2); break;
      case 11: d->k_policy = (pkpo_k_policy)((int)(where % 6) - 2); break;
      case 12: d->struct_size = where % 3 == 0 ? 0 : sizeof(pkpo_desc) + where % 3 * 8 - 16; break;
      case 13: c.num_ks = special(s); break;
      case 14: c.desc_null = 1; break;
      case 15: /* a huge group: sizes beyond what is allocated */
        if (ragged && G > 0) {
          const int64_t big = special(s);
          for (int64_t g = where % G; g < G; ++g) {
            offsets[g + 1] = (int64_t)((uint64_t)offsets[g + 1] + (uint64_t)big); /* may wrap */
          }
          d->num_samples = offsets[G];
        } else {
          d->group_size = special(s);
        }
       
        break;
      case 16: if (G > 0) { offsets[1 + where % G] = offsets[where % G] - 1; /* small: no wrap */ } break; /* decrease */
      case 17: d->k = special(s); break;
      default: break; /* pointer corruptions below */
    }
    if (what % 20 == 18) c.num_ks = -(int64_t)(where % 2);
  }
  const unsigned ptr_bits = corrupt ? u8(s) : 0;

  /* Rewards, in the dtype the desc now names (4-byte elements for an invalid one). */
  const int f32 = d->dtype != PKPO_FLOAT64;
  const size_t es = f32 ? 4 : 8;
  const unsigned style = u8(s);
  buffers b;
  b.rewards_bytes = (size_t)N * es;
  b.rewards = alloc_guarded(b.rewards_bytes);
  for (int64_t i = 0; i < N; ++i) store(b.rewards, f32, i, pick_reward(s, style, f32));
  b.out_bytes = b.rewards_bytes;
  b.out = in_place && op == 0 ? b.rewards : alloc_guarded(b.out_bytes);
  const int64_t rho_len = op == 1 ? G * c.alloc_ks : G;
  b.rho_bytes = (size_t)rho_len * es;
  b.rho = alloc_guarded(b.rho_bytes);
  b.flags_bytes = (size_t)G * 4;
  b.flags = (uint32_t*)alloc_guarded(b.flags_bytes);
  c.rewards = b.rewards;
  c.out = op == 0 ? b.out : NULL;
  c.rho = with_rho ? b.rho : NULL;
  c.flags = with_flags ? b.flags : NULL;
  if (ptr_bits & 1) c.rewards = NULL;
  if (ptr_bits & 2) c.out = NULL;
  if (ptr_bits & 4) c.rho = NULL;
  if ((ptr_bits & 8) && op == 1) c.ks = NULL;

  pkpo_handle h = NULL;
  pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
  ho.num_threads = 1;
  REQUIRE(pkpo_create(&h, &ho) == PKPO_SUCCESS);

  /* Caller-owned workspace. Declared sizes beyond the arrays only with a small one (an owned
   * workspace would try to allocate for the declared size). */
  void* ws = NULL;
  int64_t declared_n = d->num_samples;
  if (!d->offsets && d->num_groups > 0 && mul_ovf(d->num_groups, d->group_size, &declared_n)) {
    declared_n = INT64_MAX;
  }
  const int declared_beyond = d->num_groups > G || declared_n > N;
  if (ws_mode >= 2 || declared_beyond) {
    size_t need = 0;
    if (!declared_beyond && ws_mode == 2 && pkpo_workspace_size(h, d, &need) == PKPO_SUCCESS) {
      const unsigned m = u8(s) % 4;
      c.ws_bytes = m == 0 ? need : m == 1 ? (need > 0 ? need - 1 : 0) : need + (u8(s) % 300);
    } else {
      c.ws_bytes = (size_t)(u8(s) << 4);
    }
    ws = ws_alloc(c.ws_bytes);
    if ((u8(s) & 0x1F) == 0) { /* misaligned: refused, the handle keeps its own workspace */
      REQUIRE(pkpo_set_workspace(h, (char*)ws + 8, c.ws_bytes - (c.ws_bytes ? 1 : 0)) ==
              PKPO_ERROR_INVALID_ARGUMENT);
    }
    REQUIRE(pkpo_set_workspace(h, ws, c.ws_bytes) == PKPO_SUCCESS);
    c.caller_ws = 1;
  }

  g_current = &c;
  const verdict v = expected_status(h, &c);
  if (v.step == 0) goto done; /* would read past the arrays allocated here: a caller error */

  /* Snapshots for the "nothing written" checks. */
  void* rewards0 = malloc(b.rewards_bytes + GUARD * 8);
  void* out0 = malloc(b.out_bytes + GUARD * 8);
  void* rho0 = malloc(b.rho_bytes + GUARD * 8);
  void* flags0 = malloc(b.flags_bytes + GUARD * 8);
  REQUIRE(rewards0 && out0 && rho0 && flags0);
  memcpy(rewards0, b.rewards, b.rewards_bytes + GUARD * 8);
  memcpy(out0, b.out, b.out_bytes + GUARD * 8);
  memcpy(rho0, b.rho, b.rho_bytes + GUARD * 8);
  memcpy(flags0, b.flags, b.flags_bytes + GUARD * 8);

  const pkpo_status st = invoke(h, &c);
  REQUIRE_STATUS(st, v.status);
  REQUIRE(strlen(pkpo_last_error(h)) < 512);
  if (st != PKPO_SUCCESS) REQUIRE(pkpo_last_error(h)[0] != '\0'); /* names what was wrong */

  /* Guards past the ends, always; and everything when the call failed. */
  REQUIRE(all_guard(b.rewards, b.rewards_bytes, b.rewards_bytes + GUARD * 8) || in_place);
  REQUIRE(all_guard(b.out, b.out_bytes, b.out_bytes + GUARD * 8));
  REQUIRE(all_guard(b.rho, b.rho_bytes, b.rho_bytes + GUARD * 8));
  REQUIRE(all_guard(b.flags, b.flags_bytes, b.flags_bytes + GUARD * 8));
  if (!(in_place && op == 0 && st == PKPO_SUCCESS)) {
    REQUIRE(memcmp(b.rewards, rewards0, b.rewards_bytes) == 0);
  }
  if (st != PKPO_SUCCESS) {
    REQUIRE(memcmp(b.out, out0, b.out_bytes) == 0);
    REQUIRE(memcmp(b.rho, rho0, b.rho_bytes) == 0);
    REQUIRE(memcmp(b.flags, flags0, b.flags_bytes) == 0);
  } else if (G > 0 && d->num_groups == G) {
    if (!c.rho) REQUIRE(memcmp(b.rho, rho0, b.rho_bytes) == 0);
    if (!c.flags) REQUIRE(memcmp(b.flags, flags0, b.flags_bytes) == 0);
    if (op == 0 && d->estimator == PKPO_RHO && !in_place) {
      REQUIRE(memcmp(b.out, out0, b.out_bytes) == 0); /* out unused */
    }
    if (op == 0) {
      check_transform_success(&c, rewards0);
    } else {
      check_curve_success(&c, rewards0);
    }

    /* Independence and in-place parity: recompute out of place on a copy in which the
     * non-finite rewards of every group are replaced by finite values. Groups that held no
     * non-finite value must come out bitwise identical. */
    void* r2 = malloc(b.rewards_bytes + 1);
    void* o2 = malloc(b.out_bytes + 1);
    void* rho2 = malloc(b.rho_bytes + 1);
    uint32_t* fl2 = (uint32_t*)malloc(b.flags_bytes + 1);
    REQUIRE(r2 && o2 && rho2 && fl2);
    memcpy(r2, rewards0, b.rewards_bytes);
    const double fill = (double)((int)u8(s) % 5 - 2);
    int replaced = 0;
    for (int64_t i = 0; i < N; ++i) {
      if (!isfinite(load(r2, f32, i))) {
        store(r2, f32, i, fill);
        replaced = 1;
      }
    }
    call c2 = c;
    /* A group whose samples were all excluded is exempt from the strict k policy; filled in, it
     * may not be. The policy does not change the outputs of the groups compared below. */
    c2.d.k_policy = PKPO_K_CLAMP;
    c2.rewards = r2;
    c2.out = op == 0 ? o2 : NULL;
    c2.rho = c.rho ? rho2 : NULL;
    c2.flags = c.flags ? fl2 : NULL;
    if (replaced || (in_place && op == 0)) {
      const pkpo_status st2 = invoke(h, &c2);
      REQUIRE_STATUS(st2, PKPO_SUCCESS); /* fewer non-finite values, clamped k: cannot fail */
      for (int64_t g = 0; g < G; ++g) {
        const group_info gi = info_of(&c, rewards0, g);
        if (gi.nonfinite) continue;
        if (c.flags) REQUIRE(fl2[g] == b.flags[g]);
        if (c.rho) {
          const int64_t per = op == 1 ? c.num_ks : 1;
          for (int64_t j = 0; j < per; ++j) REQUIRE(same_bits(rho2, b.rho, f32, g * per + j));
        }
        if (op == 0 && d->estimator != PKPO_RHO) {
          for (int64_t j = gi.begin; j < gi.begin + gi.n; ++j) {
            const int64_t i = d->index ? d->index[j] : j;
            REQUIRE(same_bits(o2, b.out, f32, i));
          }
        }
      }
    }
    free(r2);
    free(o2);
    free(rho2);
    free(fl2);
  }
  free(rewards0);
  free(out0);
  free(rho0);
  free(flags0);
done:
  g_current = NULL;
  pkpo_destroy(h);
  free(ws);
  free(b.rewards);
  if (b.out != b.rewards) free(b.out);
  free(b.rho);
  free(b.flags);
}

/* ---- pkpo_group_by_id ------------------------------------------------------------------------- */

static void fuzz_group_by_id(src* s) {
  const unsigned sel = u8(s);
  const int64_t N = (int64_t)(u8(s) | (sel & 1) << 8) % (MAX_SAMPLES / 2);
  int64_t* ids = (int64_t*)alloc_guarded((size_t)N * 8);
  const unsigned alphabet = 1 + u8(s) % 16;
  for (int64_t i = 0; i < N; ++i) {
    const unsigned b = u8(s);
    ids[i] = b < 230 ? (int64_t)(b % alphabet) - 3 : special(s);
  }
  int64_t* offsets = (int64_t*)alloc_guarded((size_t)(N + 1) * 8);
  int64_t* index = (int64_t*)alloc_guarded((size_t)N * 8);
  int64_t num_groups = -7, max_group = -7;
  int64_t declared = N;
  const unsigned corrupt = (sel >> 1) % 16;
  pkpo_status want = PKPO_SUCCESS;
  int64_t* p_offsets = offsets;
  int64_t* p_index = index;
  const int64_t* p_ids = ids;
  int64_t* p_groups = &num_groups;
  int64_t* p_max = (sel & 0x80) ? NULL : &max_group;
  if (corrupt == 1) {
    declared = -1 - (int64_t)(u8(s) % 3);
    want = PKPO_ERROR_INVALID_ARGUMENT;
  } else if (corrupt == 2) {
    declared = (u8(s) & 1) ? INT64_MAX : ((int64_t)1 << 58) + (int64_t)u8(s);
    want = PKPO_ERROR_SIZE_OVERFLOW;
  } else if (corrupt == 3) {
    p_offsets = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  } else if (corrupt == 4) {
    p_groups = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  } else if (corrupt == 5 && N > 0) {
    p_ids = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  } else if (corrupt == 6 && N > 0) {
    p_index = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  }
  pkpo_handle h = NULL;
  REQUIRE(pkpo_create(&h, NULL) == PKPO_SUCCESS);
  const pkpo_status st =
      pkpo_group_by_id(h, p_ids, declared, p_offsets, p_index, p_groups, p_max, NULL);
  REQUIRE_STATUS(st, want);
  REQUIRE(all_guard(ids, (size_t)N * 8, (size_t)N * 8 + GUARD * 8));
  REQUIRE(all_guard(offsets, (size_t)(N + 1) * 8, (size_t)(N + 1) * 8 + GUARD * 8));
  REQUIRE(all_guard(index, (size_t)N * 8, (size_t)N * 8 + GUARD * 8));
  if (st != PKPO_SUCCESS) {
    REQUIRE(all_guard(offsets, 0, (size_t)(N + 1) * 8) && all_guard(index, 0, (size_t)N * 8));
    REQUIRE(num_groups == -7 && max_group == -7);
  } else {
    /* Re-derive: group g is the g-th distinct id in order of first appearance, samples of a group
     * keep their input order, offsets are the prefix sums of the group sizes. */
    int64_t groups = 0, largest = 0, pos = 0;
    REQUIRE(offsets[0] == 0);
    for (int64_t i = 0; i < N; ++i) {
      int first = 1;
      for (int64_t j = 0; j < i; ++j) {
        if (ids[j] == ids[i]) {
          first = 0;
          break;
        }
      }
      if (!first) continue;
      REQUIRE(offsets[groups] == pos);
      int64_t count = 0;
      for (int64_t j = i; j < N; ++j) {
        if (ids[j] == ids[i]) {
          REQUIRE(index[pos] == j);
          ++pos;
          ++count;
        }
      }
      largest = count > largest ? count : largest;
      ++groups;
      REQUIRE(offsets[groups] == pos);
    }
    REQUIRE(pos == N && num_groups == groups);
    if (p_max) {
      REQUIRE(max_group == largest);
    } else {
      REQUIRE(max_group == -7);
    }
  }
  pkpo_destroy(h);
  free(ids);
  free(offsets);
  free(index);
}

/* Huge-workspace requests from declared sizes must come back as OUT_OF_MEMORY, not abort. */
const char* __asan_default_options(void);
const char* __asan_default_options(void) { return "allocator_may_return_null=1"; }

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  src s = {data, size};
  const unsigned op = u8(&s) % 3;
  if (op == 2) {
    fuzz_group_by_id(&s);
  } else {
    fuzz_batch(&s, (int)op);
  }
  return 0;
}
