/*
 * fuzz_api.h -- what the three files of the API fuzzer share:
 *   fuzz_api.c            decoding the input into a call, running it, the group-by-id target;
 *   fuzz_api_predicate.c  expected_status(): the validity predicate written from include/pkpo.h;
 *   fuzz_api_checks.c     the brute-force reference and the checks of a successful call,
 *                         including the calls that tie mixtures and the min statistic to one k.
 */
#ifndef PKPO_FUZZ_API_H
#define PKPO_FUZZ_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkpo.h"

void dump_current(void); /* prints the call being checked (to reproduce a failure) */

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
  MAX_TERMS = 6,   /* terms of a mixture the fuzzer allocates (declared counts may be larger) */
  BRUTE_MAX = 8,   /* groups up to this many finite samples are checked against brute force */
  GUARD = 16,      /* guard elements past the end of every output array */
  GUARD_BYTE = 0x7B
};

/* What the fuzzer passes, with the sizes it actually allocated. */
typedef struct call {
  int op; /* 0 transform, 1 rho curve */
  pkpo_desc d; /* as passed (a struct_size of 0.1 leaves garbage in the fields past its end) */
  pkpo_desc e; /* what d means: the fields past a 0.1 struct_size at their defaults */
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
  int64_t alloc_terms;   /* k_terms, k_weights */
  /* workspace */
  int caller_ws;
  size_t ws_bytes;
} call;

/* ---- input decoding and guarded buffers --------------------------------------------------------- */

/* The fuzz input, read byte by byte (zeros once it runs out). */
typedef struct src {
  const uint8_t* p;
  size_t n;
} src;

static inline unsigned u8(src* s) {
  if (s->n == 0) return 0;
  --s->n;
  return *s->p++;
}

static inline uint64_t u64(src* s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | u8(s);
  return v;
}

/* int64 values at the edges of sizes and their products. */
static const int64_t special_i64[] = {
    0, 1, -1, 2, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, (int64_t)1 << 31,
    ((int64_t)1 << 31) - 1, (int64_t)1 << 32, (int64_t)1 << 57, (int64_t)1 << 58,
    ((int64_t)1 << 58) + 1, (int64_t)1 << 59, (int64_t)1 << 60, (int64_t)1 << 62,
    INT64_MAX / 2, INT64_MAX / 3, INT64_MAX / 16, INT64_MAX / 64, INT64_MAX / 65};

static inline int64_t special(src* s) {
  return special_i64[u8(s) % (sizeof special_i64 / sizeof special_i64[0])];
}

/* bytes + guard, all set to GUARD_BYTE */
static inline void* alloc_guarded(size_t bytes) {
  unsigned char* p = (unsigned char*)malloc(bytes + GUARD * 8);
  REQUIRE(p);
  memset(p, GUARD_BYTE, bytes + GUARD * 8);
  return p;
}

static inline int all_guard(const void* p, size_t from, size_t to) {
  const unsigned char* c = (const unsigned char*)p;
  for (size_t i = from; i < to; ++i) {
    if (c[i] != GUARD_BYTE) return 0;
  }
  return 1;
}

/* The pkpo_group_by_id part (fuzz_api_group_by_id.c). */
void fuzz_group_by_id(src* s);

/* The call being checked (for dump_current). */
extern const call* g_current;

/* d as the library reads it: a desc of version 0.1 (PKPO_DESC_SIZE_V1) means one k and the max
 * statistic, whatever its memory holds past that size. */
pkpo_desc effective_desc(const pkpo_desc* d);

/* A transform with a mixture (terms past validation: only where expected_status said so). */
static inline int is_mixture(const call* c) { return c->op == 0 && c->e.num_k_terms > 0; }

/* Steps of a call, in the order the contract lets a caller observe them. A failure decided before
 * STEP_DATA never reads rewards, index, k_per_group or the mixture's terms. */
enum { STEP_ARGS = 1, STEP_LAYOUT = 2, STEP_WORKSPACE = 3, STEP_DATA = 4, STEP_DONE = 5 };

typedef struct verdict {
  pkpo_status status;
  int step; /* 0: the call would read past the arrays allocated here (a caller error): skip it */
} verdict;

/* The status the contract of include/pkpo.h gives for the call (fuzz_api_predicate.c). */
verdict expected_status(pkpo_handle h, const call* c);

/* ---- element access --------------------------------------------------------------------------- */

static inline double load(const void* base, int f32, int64_t i) {
  return f32 ? (double)((const float*)base)[i] : ((const double*)base)[i];
}

static inline void store(void* base, int f32, int64_t i, double x) {
  if (f32) {
    ((float*)base)[i] = (float)x;
  } else {
    ((double*)base)[i] = x;
  }
}

/* ---- checks of a successful call (fuzz_api_checks.c) ----------------------------------------- */

typedef struct group_info {
  int64_t begin, n, m;
  int nonfinite;
  long double lo, hi, amax; /* over finite values */
} group_info;

group_info info_of(const call* c, const void* rewards, int64_t g);

/* Runs the call on `h` and returns the status. */
pkpo_status invoke(pkpo_handle h, const call* c);

/* Flags, outputs and rho of a successful transform against the contract and brute force;
 * rewards0: the rewards as they were before the call. */
void check_transform_success(const call* c, const void* rewards0);
void check_curve_success(const call* c, const void* rewards0);

/* The identities that tie the objectives together, each by further calls on h: the min statistic
 * is the max statistic of the negated rewards, negated, bit for bit; a mixture is the weighted sum
 * of its terms' single-k calls (bit for bit for one term of weight 1), its flags their union. */
void check_objective_identities(pkpo_handle h, const call* c, const void* rewards0,
                                size_t rewards_bytes);

#endif /* PKPO_FUZZ_API_H */
