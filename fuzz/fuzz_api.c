/*
 * fuzz_api.c -- libFuzzer target for the public API on the CPU backend: pkpo_transform,
 * pkpo_rho_curve and pkpo_group_by_id with descriptors, layouts, k values, objectives (the min
 * statistic, mixtures over k), policies, rewards and caller-owned workspaces decoded from the fuzz
 * input.
 *
 * For every call it checks:
 * - the returned status equals expected_status() (fuzz_api_predicate.c), a validity predicate
 *   written here from the contract in include/pkpo.h;
 * - on failure nothing was written: every output, the rewards, and guard bytes past the ends of
 *   every array keep their values;
 * - on success (fuzz_api_checks.c): the per-group flags, excluded samples 0, propagated groups
 *   NaN, empty groups rho 0, tied samples bitwise equal, the signs and zero sums of
 *   sloo_minus_one and l2o, rho within its bounds; groups of at most BRUTE_MAX finite samples agree
 *   with a brute-force average over k-subsets in long double (sum_j w_j brute(k_j) for a mixture,
 *   -brute(-g) under min; tolerance of docs/math.md §4); the min statistic is the max statistic of
 *   the negated rewards, negated, bit for bit; a mixture is the weighted sum of its terms run one
 *   k at a time (bit for bit for one term of weight 1); replacing the non-finite rewards of some
 *   groups by finite values leaves every other group's outputs bitwise unchanged; in-place and
 *   out-of-place results are bitwise equal; pkpo_group_by_id's outputs match a quadratic
 *   re-derivation.
 * ASan and UBSan catch the rest. Declared sizes larger than the arrays passed ("huge" groups, a
 * huge number of mixture terms) are only used where the predicate says the call must fail before
 * it reads those arrays.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_api.h"

const call* g_current;

/* ---- input decoding --------------------------------------------------------------------------- */

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

/* A mixture weight of every sign and size: small multiples of 1/4 (0 included), harmonic-like,
 * negative fractions, specials (+-0, tiny, huge, NaN, +-Inf) and raw bits. */
static const double special_w[] = {0.0,     -0.0,     1.0,     -1.0,     0.5,      1e-300,
                                   -1e-300, DBL_TRUE_MIN, DBL_MIN, 1e300, -1e300, DBL_MAX,
                                   -DBL_MAX, 1e6,     1e-100,  NAN,      INFINITY, -INFINITY};

static double pick_weight(src* s) {
  const unsigned b = u8(s);
  if (b < 110) return (double)((int)(b % 9) - 4) * 0.25;
  if (b < 180) return 1.0 / (double)(1 + b % 16);
  if (b < 200) return -(double)(1 + b % 7) / 3.0;
  if (b < 240) return special_w[u8(s) % (sizeof special_w / sizeof special_w[0])];
  const uint64_t bits = u64(s);
  double x;
  memcpy(&x, &bits, sizeof x);
  return x;
}

/* ---- buffers --------------------------------------------------------------------------------- */

static int same_bits(const void* a, const void* b, int f32, int64_t i) {
  const size_t es = f32 ? 4 : 8;
  return memcmp((const char*)a + (size_t)i * es, (const char*)b + (size_t)i * es, es) == 0;
}

void dump_current(void) {
  const call* c = g_current;
  if (!c) return;
  const pkpo_desc* d = &c->d;
  fprintf(stderr, "  op %s, desc%s: struct_size %zu est %d dtype %d G %lld group_size %lld N %lld "
          "max_group_size %lld k %lld nonfinite %d k_policy %d statistic %d num_k_terms %lld\n",
          c->op ? "rho_curve" : "transform", c->desc_null ? " NULL" : "", d->struct_size,
          (int)d->estimator, (int)d->dtype, (long long)d->num_groups, (long long)d->group_size,
          (long long)d->num_samples, (long long)d->max_group_size, (long long)d->k,
          (int)d->nonfinite, (int)d->k_policy, (int)d->statistic, (long long)d->num_k_terms);
  if (d->num_k_terms != 0 && (d->k_terms || d->k_weights)) {
    fprintf(stderr, "  terms (k, weight) of the %lld allocated:", (long long)c->alloc_terms);
    for (int64_t j = 0; j < c->alloc_terms; ++j) {
      fprintf(stderr, " (%lld, %.17g)", d->k_terms ? (long long)d->k_terms[j] : -1LL,
              d->k_weights ? d->k_weights[j] : NAN);
    }
    fprintf(stderr, "\n");
  }
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

  /* The objective: the statistic, and a mixture of terms of every k and weight (with k_per_group
   * in a quarter of the mixtures that drew it, which the contract refuses). */
  const unsigned obj = u8(s);
  d->statistic = (obj & 1) ? PKPO_STATISTIC_MIN : PKPO_STATISTIC_MAX;
  int64_t terms[MAX_TERMS];
  double weights[MAX_TERMS];
  c.alloc_terms = 1 + u8(s) % MAX_TERMS;
  for (int64_t j = 0; j < c.alloc_terms; ++j) {
    terms[j] = pick_k(s);
    weights[j] = pick_weight(s);
  }
  if ((obj >> 1) & 1) {
    d->num_k_terms = c.alloc_terms;
    d->k_terms = terms;
    d->k_weights = weights;
    if (((obj >> 2) & 3) != 0) d->k_per_group = NULL;
  }
  /* A desc of version 0.1 ignores whatever lies past its end (here: the objective just drawn). */
  if (((obj >> 4) & 7) == 0) d->struct_size = PKPO_DESC_SIZE_V1;

  /* Corruptions: invalid layouts, enums, sizes, pointers, and "huge" declared sizes. */
  if (corrupt) {
    const unsigned what = u8(s);
    const unsigned where = u8(s);
    switch (what % 26) {
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
      case 20: d->statistic = (pkpo_statistic)((int)(where % 7) - 2); break;
      case 21: /* a huge number of terms (the arrays hold alloc_terms) */
        d->num_k_terms = special(s);
        d->k_terms = terms;
        d->k_weights = weights;
        break;
      case 22:
      case 23: /* a mixture with a NULL array */
        d->num_k_terms = c.alloc_terms;
        d->k_terms = what % 26 == 22 ? NULL : terms;
        d->k_weights = what % 26 == 23 ? NULL : weights;
        break;
      case 24: d->num_k_terms = -1 - (int64_t)(where % 3); break;
      case 25: d->struct_size = PKPO_DESC_SIZE_V1 + where % 5 * 8 - 16; break; /* 0.1 +- 8, 16 */
      default: break; /* pointer corruptions below */
    }
    if (what % 26 == 18) c.num_ks = -(int64_t)(where % 2);
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
  if (!d->offsets && d->num_groups > 0 &&
      __builtin_mul_overflow(d->num_groups, d->group_size, &declared_n)) {
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

  c.e = effective_desc(d);
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
    check_objective_identities(h, &c, rewards0, b.rewards_bytes);

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
    c2.d.k_policy = c2.e.k_policy = PKPO_K_CLAMP;
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
