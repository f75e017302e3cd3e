/*
 * fuzz_api_predicate.c -- expected_status(): the status include/pkpo.h gives a call, written from
 * the contract in the fuzzer itself (it never calls pkpo's own validation; the only library answer
 * it uses is pkpo_workspace_size, which is how the contract defines "a workspace too small").
 */
#include <math.h>
#include <string.h>

#include "fuzz_api.h"

pkpo_desc effective_desc(const pkpo_desc* d) {
  pkpo_desc e = *d;
  if (d->struct_size == PKPO_DESC_SIZE_V1) {
    const pkpo_desc defaults = PKPO_DESC_INIT;
    e.statistic = defaults.statistic;
    e.num_k_terms = defaults.num_k_terms;
    e.k_terms = defaults.k_terms;
    e.k_weights = defaults.k_weights;
  }
  return e;
}

static verdict decide(pkpo_status st, int step) {
  verdict v = {st, step};
  return v;
}

static int mul_ovf(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

/* Finite count of a group, and whether it holds non-finite values. */
static void group_scan(const call* c, int64_t begin, int64_t n, int64_t* finite, int* nonfinite) {
  const int f32 = c->e.dtype == PKPO_FLOAT32;
  *finite = 0;
  *nonfinite = 0;
  for (int64_t j = begin; j < begin + n; ++j) {
    const int64_t i = c->e.index ? c->e.index[j] : j;
    if (isfinite(load(c->rewards, f32, i))) {
      ++*finite;
    } else {
      *nonfinite = 1;
    }
  }
}

/* The mixture's terms, checked in order, each its k then its weight (pkpo.h: the status names the
 * term), then the weights' magnitude: sum |w_j| times max(2, the largest group size max_n) must be
 * a finite double (pkpo.h). Returns SUCCESS with *k_max set, or the failure; *unsafe when the terms
 * declared are more than the fuzzer allocated. */
static pkpo_status check_terms(const call* c, int64_t max_n, int64_t* k_max, int* unsafe) {
  const pkpo_desc* d = &c->e;
  *unsafe = d->num_k_terms > c->alloc_terms;
  if (*unsafe) return PKPO_SUCCESS;
  *k_max = 0;
  double magnitude = 0.0;
  for (int64_t j = 0; j < d->num_k_terms; ++j) {
    if (d->k_terms[j] < 1) return PKPO_ERROR_INVALID_K;
    if (!isfinite(d->k_weights[j])) return PKPO_ERROR_INVALID_ARGUMENT;
    if (d->k_terms[j] > *k_max) *k_max = d->k_terms[j];
    magnitude += fabs(d->k_weights[j]);
  }
  const double bound = max_n > 2 ? (double)max_n : 2.0;
  if (d->num_k_terms > 0 && !isfinite(magnitude * bound)) return PKPO_ERROR_INVALID_ARGUMENT;
  return PKPO_SUCCESS;
}

verdict expected_status(pkpo_handle h, const call* c) {
  const pkpo_desc* d = &c->e;
  const int curve = c->op == 1;
  if (c->desc_null) return decide(PKPO_ERROR_NULL_POINTER, STEP_ARGS);
  if (c->d.struct_size != sizeof(pkpo_desc) && c->d.struct_size != PKPO_DESC_SIZE_V1) {
    return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  }
  /* pkpo_rho_curve ignores desc->estimator, k, k_per_group and the mixture (pkpo.h). */
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
  if (d->statistic != PKPO_STATISTIC_MAX && d->statistic != PKPO_STATISTIC_MIN) {
    return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  }
  const int mixture = !curve && d->num_k_terms > 0;
  if (!curve && d->num_k_terms < 0) return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
  if (mixture) {
    int64_t bytes; /* a term is 16 bytes (k and weight): its count must address */
    if (mul_ovf(d->num_k_terms, 16, &bytes)) return decide(PKPO_ERROR_SIZE_OVERFLOW, STEP_ARGS);
    if (!d->k_terms || !d->k_weights) return decide(PKPO_ERROR_NULL_POINTER, STEP_ARGS);
    if (d->k_per_group) return decide(PKPO_ERROR_INVALID_ARGUMENT, STEP_ARGS);
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
  /* desc->k: one k for every group (no k_per_group, no mixture) */
  const int single_k = !curve && !d->k_per_group && !mixture;
  if (single_k && d->k < 1) return decide(PKPO_ERROR_INVALID_K, STEP_ARGS);
  if (single_k && d->k_policy == PKPO_K_STRICT && uniform_n > 0 && d->k > uniform_n) {
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
  if (G == 0) { /* no groups, but a mixture's terms are still checked (as desc->k is) */
    if (!mixture) return decide(PKPO_SUCCESS, STEP_DONE);
    int unsafe;
    const pkpo_status st = check_terms(c, max_n, &max_k, &unsafe);
    if (unsafe) return decide(PKPO_SUCCESS, 0);
    return decide(st, st == PKPO_SUCCESS ? STEP_DONE : STEP_DATA);
  }

  /* Workspace. The contract defines the need as pkpo_workspace_size's answer; the fuzzer only adds
   * that the CPU backend's scratch holds at least one byte per sample of the largest group (it sorts
   * a copy of the group there), so a size that wrapped around is caught. */
  size_t need = 0;
  pkpo_desc query = *d; /* the size query checks what a curve ignores: k, estimator, mixture */
  if (curve) {
    query.estimator = PKPO_RHO;
    query.k = 1;
    query.k_per_group = NULL;
    query.k_policy = PKPO_K_CLAMP;
    query.num_k_terms = 0;
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
  if (mixture) {
    int unsafe;
    const pkpo_status st = check_terms(c, max_n, &max_k, &unsafe);
    if (unsafe) return decide(PKPO_SUCCESS, 0);
    if (st != PKPO_SUCCESS) return decide(st, STEP_DATA);
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
    /* the strict policy compares a group with its largest requested k (a mixture's largest term) */
    const int64_t k = (!curve && d->k_per_group) ? d->k_per_group[g] : max_k;
    if (d->k_policy == PKPO_K_STRICT && m > 0 && k > m) {
      return decide(PKPO_ERROR_K_EXCEEDS_N, STEP_DATA);
    }
  }
  return decide(PKPO_SUCCESS, STEP_DONE);
}
