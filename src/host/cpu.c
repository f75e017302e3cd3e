/*
 * cpu.c -- the CPU backend: groups in parallel, one sort per group, the engine in sorted order.
 *
 * For each group: gather its finite rewards (through the optional index permutation) into
 * (value, position) items, sort them, build or reuse the float64 weight table of (m, k), run the
 * engine, and scatter the outputs back to the positions. Groups are independent, each is computed by
 * exactly one thread with the same operations, so results do not depend on the thread count.
 *
 * Small float32 groups take a faster road to the same numbers (see "blocks" below): PKPO__LANES
 * groups of the same size and k are transposed into one block, sorted together by a sorting network
 * whose compare-exchanges act on all of them at once, and run through the block form of the engine,
 * which performs for each group exactly the operations of the one-group form. The sorted values are
 * the same whichever sort produced them (rewards are canonicalised so that -0.0 and +0.0 cannot
 * tie with different bits), so both roads give bitwise-identical outputs; the tests check it.
 *
 * Data errors (bad offsets, index, k, strict policies) are found by validate() before anything is
 * written, so a failing call leaves every output untouched.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#define PKPO__X86_SIMD 1
#include <immintrin.h>
#else
#define PKPO__X86_SIMD 0
#endif

typedef struct item {
  double v;
  int64_t pos; /* index into rewards / out */
} item;

/* Per-thread scratch, carved from the handle's workspace. */
typedef struct scratch {
  item* items; /* group: finite items first, excluded ones from the back */
  item* tmp;   /* second buffer of the merge and radix sorts */
  double* v;
  double* mu;
  double* a;
  double* work;
  int64_t table_m, table_k; /* (m, k) of the table in mu, 0 if none */
  /* Blocks (NULL when the batch has none): rank-major [n][PKPO__LANES] arrays, see below. */
  double* bkey;    /* packed keys; sorted, their low bits give each value's position */
  double* bv;      /* the sorted values (keys with the position bits cleared) */
  double* ba;      /* outputs */
  double* bmu;     /* the block's weight table */
  double* bwork;   /* n doubles */
  int32_t* bnet;   /* the sorting network of bnet_n rows (pairs of offsets into bkey) */
  int64_t bnet_n, bnet_count;
  int64_t btable_m, btable_k;
} scratch;

#define PKPO__ALIGN 64
#define PKPO__SCRATCH_DOUBLES_PER_ELEM 8 /* items (2) + tmp (2) + v + mu + a + work */
/* Sort by group size: insertion sort up to PKPO__INSERTION_MAX, merge sort below PKPO__RADIX_MIN,
 * radix sort from there. Measured 2026-11-21 on this 2-core x86 machine (float32 U(0,1) rewards,
 * merge vs radix interleaved in one process): radix overtakes merge sort between n = 64 (0.87x) and
 * n = 128 (1.26x), and is 2.5x faster at 1024 and 4x at 65536. */
#define PKPO__INSERTION_MAX 24
#define PKPO__RADIX_MIN 128
/* Target elements per dynamically scheduled chunk: large enough to amortise scheduling, small
 * enough to balance ragged batches on many cores. */
#define PKPO__CHUNK_ELEMS 16384

static size_t align_up(size_t x) { return (x + PKPO__ALIGN - 1) / PKPO__ALIGN * PKPO__ALIGN; }

/* Groups of 2..PKPO__BLOCK_MAX_N float32 rewards are computed in blocks (see "blocks" below). */
#define PKPO__BLOCK_MAX_N 256
/* A float32 widened to double leaves the low 29 bits of the mantissa zero: room for a position. */
#define PKPO__POS_MASK ((UINT64_C(1) << 29) - 1)
/* Blocks being filled at once: a ragged batch mixing a few sizes (or per-group k values) still
 * fills its blocks; a new (n, k) beyond these flushes the fullest one, partly empty. */
#define PKPO__OPEN_BLOCKS 8
/* Comparators of the network for 256 rows (Batcher: (p^2 - p + 4) 2^(p-2) - 1 at n = 2^p). */
#define PKPO__NETWORK_MAX 3839

static int64_t block_n(const pkpo__plan* p) {
  if (p->elem_bytes != 4 || p->max_group_size < 2) return 0;
  return p->max_group_size < PKPO__BLOCK_MAX_N ? p->max_group_size : PKPO__BLOCK_MAX_N;
}

static size_t block_bytes(const pkpo__plan* p) {
  const size_t n = (size_t)block_n(p), L = PKPO__LANES;
  if (n == 0) return 0;
  return align_up(n * L * sizeof(double)) * 3 + align_up(n * sizeof(double)) * 2 +
         align_up(2 * PKPO__NETWORK_MAX * sizeof(int32_t));
}

static size_t per_thread_bytes(const pkpo__plan* p) {
  const int64_t max_n = p->max_group_size;
  return (max_n > 0 ? align_up((size_t)max_n * PKPO__SCRATCH_DOUBLES_PER_ELEM * sizeof(double))
                    : 0) +
         block_bytes(p);
}

static int64_t group_begin(const pkpo_desc* d, const pkpo__plan* p, int64_t g) {
  return d->offsets ? d->offsets[g] : g * p->uniform_n;
}

static int64_t group_count(const pkpo_desc* d, const pkpo__plan* p, int64_t g) {
  return d->offsets ? d->offsets[g + 1] - d->offsets[g] : p->uniform_n;
}

/* Rewards per worker thread when the handle leaves the count to the library (num_threads = 0).
 * Measured 2026-11-25 on this 2-core AMD EPYC (float32, k = 4, sloo_minus_one, wall-clock median
 * of 201 calls, 1 vs 2 threads): with the second core free, 2 threads first win at 32768 rewards
 * (1.36x at n = 16, 1.52x at n = 256; below that a call is one PKPO__CHUNK_ELEMS chunk anyway);
 * with the machine loaded by other processes (load average ~7), 2 threads were 5x to 100x slower
 * than 1 from 32768 to 262144 rewards (the fork waits for a busy core), which is what a trainer
 * process busy with torch sees. One thread per 64k rewards keeps trainer-sized batches on the
 * calling thread and gives each extra thread >= 0.2 ms of work. */
#define PKPO__REWARDS_PER_THREAD 65536

static int threads_for(const pkpo_handle h, const pkpo__plan* p) {
  const int64_t num_groups = p->num_groups, num_samples = p->num_samples;
  int64_t t = h->num_threads;
  if (t == 0) {
#ifdef _OPENMP
    t = omp_get_max_threads(); /* OMP_NUM_THREADS, omp_set_num_threads */
#else
    t = 1;
#endif
    const int64_t by_size = num_samples / PKPO__REWARDS_PER_THREAD;
    if (t > by_size) t = by_size;
  }
  if (t > num_groups) t = num_groups;
  return t < 1 ? 1 : (int)t;
}

/* ---- sorting (stable: ties keep input order; outputs are tie-invariant anyway) ---------------- */

static void insertion_sort(item* x, int64_t n) {
  for (int64_t i = 1; i < n; ++i) {
    const item key = x[i];
    int64_t j = i - 1;
    while (j >= 0 && x[j].v > key.v) {
      x[j + 1] = x[j];
      --j;
    }
    x[j + 1] = key;
  }
}

static void merge_sort(item* x, item* tmp, int64_t n) {
  for (int64_t lo = 0; lo < n; lo += PKPO__INSERTION_MAX) {
    const int64_t len = (n - lo < PKPO__INSERTION_MAX) ? n - lo : PKPO__INSERTION_MAX;
    insertion_sort(x + lo, len);
  }
  item* src = x;
  item* dst = tmp;
  for (int64_t width = PKPO__INSERTION_MAX; width < n; width *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * width) {
      const int64_t mid = (lo + width < n) ? lo + width : n;
      const int64_t hi = (lo + 2 * width < n) ? lo + 2 * width : n;
      int64_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi) dst[o++] = (src[j].v < src[i].v) ? src[j++] : src[i++];
      while (i < mid) dst[o++] = src[i++];
      while (j < hi) dst[o++] = src[j++];
    }
    item* swap = src;
    src = dst;
    dst = swap;
  }
  if (src != x) memcpy(x, src, (size_t)n * sizeof(item));
}

/* Unsigned key with the order of the (finite) double: flip all bits of negatives, set the sign bit
 * of the rest. (-0.0 never arrives here: gather_sort makes it +0.0.) */
static uint64_t order_key(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return (b & 0x8000000000000000ull) ? ~b : (b | 0x8000000000000000ull);
}

/* LSD radix sort, 8 passes of 8 bits, all histograms from one read; a pass whose byte is the same
 * for every item is skipped (float32 rewards widened to double have 29 zero mantissa bits, and
 * rewards of one sign and magnitude share their top byte). Branch-free, unlike merge sort, whose
 * mispredictions dominated the CPU time of groups above a few dozen samples. */
static void radix_sort(item* x, item* tmp, int64_t n) {
  enum { PASSES = 8, BUCKETS = 256 };
  int64_t count[PASSES][BUCKETS];
  memset(count, 0, sizeof count);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t key = order_key(x[i].v);
    for (int p = 0; p < PASSES; ++p) ++count[p][(key >> (8 * p)) & 0xFF];
  }
  item* src = x;
  item* dst = tmp;
  for (int p = 0; p < PASSES; ++p) {
    const uint64_t first = order_key(src[0].v);
    if (count[p][(first >> (8 * p)) & 0xFF] == n) continue; /* this byte is constant */
    int64_t next = 0;
    for (int b = 0; b < BUCKETS; ++b) {
      const int64_t c = count[p][b];
      count[p][b] = next;
      next += c;
    }
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t key = order_key(src[i].v);
      dst[count[p][(key >> (8 * p)) & 0xFF]++] = src[i];
    }
    item* swap = src;
    src = dst;
    dst = swap;
  }
  if (src != x) memcpy(x, src, (size_t)n * sizeof(item));
}

static void sort_items(item* x, item* tmp, int64_t n) {
  if (n <= PKPO__INSERTION_MAX) {
    insertion_sort(x, n);
  } else if (n < PKPO__RADIX_MIN) {
    merge_sort(x, tmp, n);
  } else {
    radix_sort(x, tmp, n);
  }
}

/* ---- element access -------------------------------------------------------------------------- */

static double load(const void* base, size_t elem_bytes, int64_t i) {
  return elem_bytes == 4 ? (double)((const float*)base)[i] : ((const double*)base)[i];
}

static void store(void* base, size_t elem_bytes, int64_t i, double x) {
  if (elem_bytes == 4) {
    ((float*)base)[i] = (float)x;
  } else {
    ((double*)base)[i] = x;
  }
}

/* ---- workspace ------------------------------------------------------------------------------- */

static size_t bitmap_bytes(const pkpo_desc* d, const pkpo__plan* p) {
  return d->index ? align_up(((size_t)p->num_samples + 7) / 8) : 0;
}

/* The scratch of a call: every thread's, then the index bitmap. SIZE_OVERFLOW when it does not fit
 * in size_t (a group of 2^58 samples needs 2^64 bytes: num_samples * 16 alone does not catch it).
 * Once this succeeded, per_thread_bytes() of the same plan cannot overflow either. */
static pkpo_status total_bytes(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                               size_t* bytes) {
  const size_t elem = PKPO__SCRATCH_DOUBLES_PER_ELEM * sizeof(double);
  size_t per = 0, all = 0;
  if (__builtin_mul_overflow((size_t)p->max_group_size, elem, &per) ||
      per > SIZE_MAX - PKPO__ALIGN - block_bytes(p) ||
      __builtin_mul_overflow((size_t)threads_for(h, p), per_thread_bytes(p), &all) ||
      all > SIZE_MAX - bitmap_bytes(d, p)) {
    return pkpo__error(h, PKPO_ERROR_SIZE_OVERFLOW,
                       "the scratch for groups of %lld samples does not fit in size_t",
                       (long long)p->max_group_size);
  }
  *bytes = all + bitmap_bytes(d, p);
  return PKPO_SUCCESS;
}

pkpo_status pkpo__cpu_ensure_workspace(pkpo_handle h, size_t bytes) {
  if (bytes <= h->ws_bytes) return PKPO_SUCCESS;
  if (!h->ws_owned) {
    return pkpo__error(h, PKPO_ERROR_WORKSPACE_TOO_SMALL,
                       "caller workspace holds %zu bytes, this call needs %zu", h->ws_bytes, bytes);
  }
  free(h->ws);
  h->ws = NULL;
  h->ws_bytes = 0;
  void* mem = malloc(bytes);
  if (!mem) return pkpo__error(h, PKPO_ERROR_OUT_OF_MEMORY, "cannot allocate %zu bytes", bytes);
  h->ws = mem;
  h->ws_bytes = bytes;
  return PKPO_SUCCESS;
}

/* Fills the ragged layout's max_group_size (host-readable offsets) and checks the offsets. */
static pkpo_status resolve_layout(pkpo_handle h, const pkpo_desc* d, pkpo__plan* p) {
  if (!d->offsets) return PKPO_SUCCESS;
  const int64_t* off = d->offsets;
  if (off[0] != 0) {
    return pkpo__error(h, PKPO_ERROR_INVALID_LAYOUT, "offsets[0] is %lld, must be 0",
                       (long long)off[0]);
  }
  int64_t max_n = 0;
  for (int64_t g = 0; g < p->num_groups; ++g) {
    if (off[g + 1] < off[g]) {
      return pkpo__error(h, PKPO_ERROR_INVALID_LAYOUT,
                         "offsets decrease at group %lld (%lld then %lld)", (long long)g,
                         (long long)off[g], (long long)off[g + 1]);
    }
    /* Only now: 0 = off[0] <= ... <= off[g] <= off[g+1], so the difference cannot overflow. */
    const int64_t n = off[g + 1] - off[g];
    if (n > max_n) max_n = n;
  }
  if (off[p->num_groups] != p->num_samples) {
    return pkpo__error(h, PKPO_ERROR_INVALID_LAYOUT,
                       "offsets[num_groups] is %lld, must equal num_samples %lld",
                       (long long)off[p->num_groups], (long long)p->num_samples);
  }
  if (d->max_group_size > 0 && max_n > d->max_group_size) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                       "max_group_size is %lld but a group holds %lld samples",
                       (long long)d->max_group_size, (long long)max_n);
  }
  p->max_group_size = max_n;
  return PKPO_SUCCESS;
}

pkpo_status pkpo__cpu_workspace_size(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                     size_t* bytes) {
  pkpo__plan q = *p;
  pkpo_status st = resolve_layout(h, d, &q);
  if (st != PKPO_SUCCESS) return st;
  return total_bytes(h, d, &q, bytes);
}

static scratch thread_scratch(const pkpo_handle h, const pkpo__plan* p, int thread) {
  const size_t per = per_thread_bytes(p);
  scratch s;
  memset(&s, 0, sizeof s);
  if (per == 0) return s; /* every group is empty: no scratch, and h->ws may be NULL */
  char* base = (char*)h->ws + (size_t)thread * per;
  const size_t n = (size_t)p->max_group_size;
  s.items = (item*)base;
  s.tmp = s.items + n;
  s.v = (double*)(s.tmp + n);
  s.mu = s.v + n;
  s.a = s.mu + n;
  s.work = s.a + n;
  s.table_m = 0;
  s.table_k = 0;
  const size_t bn = (size_t)block_n(p), L = PKPO__LANES;
  char* b = base + per - block_bytes(p);
  s.bkey = bn ? (double*)b : NULL;
  s.ba = bn ? (double*)(b + align_up(bn * L * sizeof(double))) : NULL;
  s.bv = bn ? (double*)(b + 2 * align_up(bn * L * sizeof(double))) : NULL;
  s.bmu = bn ? (double*)((char*)s.bv + align_up(bn * L * sizeof(double))) : NULL;
  s.bwork = bn ? (double*)((char*)s.bmu + align_up(bn * sizeof(double))) : NULL;
  s.bnet = bn ? (int32_t*)((char*)s.bwork + align_up(bn * sizeof(double))) : NULL;
  s.bnet_n = 0;
  s.bnet_count = 0;
  s.btable_m = 0;
  s.btable_k = 0;
  return s;
}

/* ---- validation of data (before anything is written) ----------------------------------------- */

static pkpo_status validate(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                            const void* rewards, int check_k_array, pkpo_k_policy k_policy,
                            int64_t max_k) {
  if (d->index && p->num_samples > 0) { /* no samples: nothing to check, and no bitmap exists */
    unsigned char* seen = (unsigned char*)h->ws + (size_t)threads_for(h, p) * per_thread_bytes(p);
    memset(seen, 0, ((size_t)p->num_samples + 7) / 8);
    for (int64_t j = 0; j < p->num_samples; ++j) {
      const int64_t i = d->index[j];
      if (i < 0 || i >= p->num_samples) {
        return pkpo__error(h, PKPO_ERROR_INVALID_LAYOUT,
                           "index[%lld] = %lld is outside [0, num_samples = %lld)", (long long)j,
                           (long long)i, (long long)p->num_samples);
      }
      const unsigned char bit = (unsigned char)(1u << (i & 7));
      if (seen[i >> 3] & bit) {
        return pkpo__error(h, PKPO_ERROR_INVALID_LAYOUT,
                           "index[%lld] = %lld repeats an earlier entry: index must be a "
                           "permutation", (long long)j, (long long)i);
      }
      seen[i >> 3] |= bit;
    }
  }
  if (check_k_array && d->k_per_group) {
    for (int64_t g = 0; g < p->num_groups; ++g) {
      if (d->k_per_group[g] < 1) {
        return pkpo__error(h, PKPO_ERROR_INVALID_K, "k_per_group[%lld] = %lld, must be >= 1",
                           (long long)g, (long long)d->k_per_group[g]);
      }
    }
  }
  const int check_nonfinite = d->nonfinite == PKPO_NONFINITE_ERROR;
  const int check_strict = k_policy == PKPO_K_STRICT;
  if (!check_nonfinite && !check_strict) return PKPO_SUCCESS;
  for (int64_t g = 0; g < p->num_groups; ++g) {
    const int64_t begin = group_begin(d, p, g), n = group_count(d, p, g);
    int64_t m = 0;
    for (int64_t j = begin; j < begin + n; ++j) {
      const int64_t i = d->index ? d->index[j] : j;
      const double x = load(rewards, p->elem_bytes, i);
      if (isfinite(x)) {
        ++m;
      } else if (check_nonfinite) {
        return pkpo__error(h, PKPO_ERROR_NON_FINITE,
                           "group %lld: reward at position %lld is not finite", (long long)g,
                           (long long)i);
      }
    }
    if (d->nonfinite != PKPO_NONFINITE_EXCLUDE) m = n;
    const int64_t k = check_k_array && d->k_per_group ? d->k_per_group[g] : max_k;
    if (check_strict && m > 0 && k > m) {
      return pkpo__error(h, PKPO_ERROR_K_EXCEEDS_N,
                         "group %lld: k = %lld exceeds its %lld usable samples (strict k policy)",
                         (long long)g, (long long)k, (long long)m);
    }
  }
  return PKPO_SUCCESS;
}

/* ---- one group -------------------------------------------------------------------------------- */

typedef struct gathered {
  int64_t n;          /* samples in the group */
  int64_t m;          /* finite samples, sorted at items[0..m-1]; excluded at items[m..n-1] */
  int nonfinite;      /* the group held non-finite values */
} gathered;

static gathered gather_sort(const pkpo_desc* d, const pkpo__plan* p, const void* rewards,
                            int64_t g, scratch* s) {
  gathered r;
  const int64_t begin = group_begin(d, p, g);
  r.n = group_count(d, p, g);
  r.m = 0;
  int64_t back = r.n;
  for (int64_t j = 0; j < r.n; ++j) {
    const int64_t i = d->index ? d->index[begin + j] : begin + j;
    const double x = load(rewards, p->elem_bytes, i);
    if (isfinite(x)) {
      /* -0.0 becomes +0.0 and nothing else changes: the two zeros are one tied value, and every
       * backend gives them identical, +0.0-based outputs (bitwise as the CUDA kernels, whose sort
       * keys cannot tell them apart). */
      s->items[r.m].v = x == 0.0 ? 0.0 : x;
      s->items[r.m].pos = i;
      ++r.m;
    } else {
      --back;
      s->items[back].v = x;
      s->items[back].pos = i;
    }
  }
  r.nonfinite = r.m < r.n;
  sort_items(s->items, s->tmp, r.m);
  for (int64_t t = 0; t < r.m; ++t) s->v[t] = s->items[t].v;
  return r;
}

static void ensure_table(scratch* s, int64_t m, int64_t k) {
  if (s->table_m == m && s->table_k == k) return;
  pkpo__weights(m, k, s->mu);
  s->table_m = m;
  s->table_k = k;
}

static void transform_group(const pkpo_desc* d, const pkpo__plan* p, const void* rewards, void* out,
                            void* rho, uint32_t* flags, int64_t g, scratch* s) {
  const size_t eb = p->elem_bytes;
  const int write_out = d->estimator != PKPO_RHO;
  const gathered r = gather_sort(d, p, rewards, g, s);
  uint32_t f = 0;
  double rho_g = 0.0;

  if (r.nonfinite) f |= PKPO_FLAG_NONFINITE;
  if (r.nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE) {
    for (int64_t j = 0; j < r.n && write_out; ++j) store(out, eb, s->items[j].pos, NAN);
    rho_g = NAN;
  } else if (r.m == 0) {
    f |= PKPO_FLAG_EMPTY;
  } else {
    int64_t k = d->k_per_group ? d->k_per_group[g] : d->k;
    if (k > r.m) {
      k = r.m;
      f |= PKPO_FLAG_K_CLAMPED;
    }
    if (r.m == 1) f |= PKPO_FLAG_SINGLETON;
    ensure_table(s, r.m, k);
    if (rho) rho_g = pkpo__rho_sorted(r.m, s->v, s->mu);
    if (write_out) {
      f |= pkpo__transform_sorted(d->estimator, r.m, k, s->v, s->mu, s->a, s->work);
      for (int64_t t = 0; t < r.m; ++t) store(out, eb, s->items[t].pos, s->a[t]);
    }
  }
  if (write_out && !(r.nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE)) {
    for (int64_t j = r.m; j < r.n; ++j) store(out, eb, s->items[j].pos, 0.0);
  }
  if (rho) store(rho, eb, g, rho_g);
  if (flags) flags[g] = f;
}

static void curve_group(const pkpo_desc* d, const pkpo__plan* p, const void* rewards,
                        const int64_t* ks, int64_t num_ks, void* rho, uint32_t* flags, int64_t g,
                        scratch* s) {
  const size_t eb = p->elem_bytes;
  const gathered r = gather_sort(d, p, rewards, g, s);
  uint32_t f = r.nonfinite ? PKPO_FLAG_NONFINITE : 0;
  const int propagate = r.nonfinite && d->nonfinite == PKPO_NONFINITE_PROPAGATE;
  if (!propagate && r.m == 0) f |= PKPO_FLAG_EMPTY;
  if (!propagate && r.m == 1) f |= PKPO_FLAG_SINGLETON;
  for (int64_t j = 0; j < num_ks; ++j) {
    double value = 0.0;
    if (propagate) {
      value = NAN;
    } else if (r.m > 0) {
      int64_t k = ks[j];
      if (k > r.m) {
        k = r.m;
        f |= PKPO_FLAG_K_CLAMPED;
      }
      ensure_table(s, r.m, k);
      value = pkpo__rho_sorted(r.m, s->v, s->mu);
    }
    store(rho, eb, g * num_ks + j, value);
  }
  if (flags) flags[g] = f;
}

/* ---- blocks: many small groups at once ---------------------------------------------------------
 *
 * PKPO__LANES groups of the same size n and the same (clamped) k are computed together. Their
 * rewards are laid out rank-major, key[j*L + l] = sample j of group l, so that one operation on the
 * row j acts on every group of the block, and this is what the compiler vectorises (SSE2 and up).
 *
 * Each key is the reward widened to double with the sample's position j in the 29 low mantissa
 * bits that widening leaves zero. Keys are then all distinct, their order is the rewards' order
 * (positions only break ties), and a compare-exchange is a min and a max: no position array to
 * carry along. Batcher's odd-even merge sort network sorts the rows; the positions are read back
 * from the sorted keys, the values recovered by clearing those bits.
 *
 * Groups holding a non-finite reward leave the block and take the one-group road. Results do not
 * depend on which groups share a block. */

/* Batcher's odd-even merge sort network for n rows (any n >= 1), as pairs of row offsets into
 * net[]: the network for the next power of two with the comparators that reach beyond row n-1
 * left out, which is exact because those comparators would only meet +infinity padding. Returns
 * the number of comparators (at most PKPO__NETWORK_MAX for n <= PKPO__BLOCK_MAX_N). */
static int64_t build_network(int64_t n, int32_t* net) {
  int64_t count = 0;
  for (int64_t p = 1; p < n; p += p) {
    for (int64_t k = p; k > 0; k /= 2) {
      for (int64_t j = k % p; j + k < n; j += 2 * k) {
        for (int64_t i = 0; i < k && i + j + k < n; ++i) {
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
            net[2 * count] = (int32_t)((i + j) * PKPO__LANES);
            net[2 * count + 1] = (int32_t)((i + j + k) * PKPO__LANES);
            ++count;
          }
        }
      }
    }
  }
  return count;
}

/* The comparators of a block: rows a and b, a gets the smaller key of each group, b the larger.
 * Keys are distinct, so this is a min and a max; were two equal (only zeros under
 * denormals-are-zero can be), a keeps x and b gets y, so nothing is lost. Instruction selection:
 * measured 2026-11-25 on this machine (AMD EPYC, 2 cores, n = 16..256, float32, k = 4), GCC 12
 * leaves the plain C selects as branches unless the lane loop is in a function of its own with
 * -fno-trapping-math, and its AVX2 clone of that function spills through the stack (6x slower than
 * SSE2), so on x86-64 the min/max are written as SSE2 (baseline) and AVX (dispatched at run time)
 * intrinsics; other targets use the plain C form. */
#if !PKPO__X86_SIMD
static void sort_block_c(double* key, const int32_t* net, int64_t count) {
  for (int64_t c = 0; c < count; ++c) {
    double* a = key + net[2 * c];
    double* b = key + net[2 * c + 1];
    for (int l = 0; l < PKPO__LANES; ++l) {
      const double x = a[l], y = b[l];
      a[l] = y < x ? y : x;
      b[l] = y < x ? x : y;
    }
  }
}
#else
static void sort_block_sse2(double* key, const int32_t* net, int64_t count) {
  for (int64_t c = 0; c < count; ++c) {
    double* a = key + net[2 * c];
    double* b = key + net[2 * c + 1];
    for (int l = 0; l < PKPO__LANES; l += 2) {
      const __m128d x = _mm_loadu_pd(a + l), y = _mm_loadu_pd(b + l);
      _mm_storeu_pd(a + l, _mm_min_pd(y, x)); /* y < x ? y : x */
      _mm_storeu_pd(b + l, _mm_max_pd(x, y)); /* x > y ? x : y */
    }
  }
}

__attribute__((target("avx"))) static void sort_block_avx(double* key, const int32_t* net,
                                                          int64_t count) {
  for (int64_t c = 0; c < count; ++c) {
    double* a = key + net[2 * c];
    double* b = key + net[2 * c + 1];
    for (int l = 0; l < PKPO__LANES; l += 4) {
      const __m256d x = _mm256_loadu_pd(a + l), y = _mm256_loadu_pd(b + l);
      _mm256_storeu_pd(a + l, _mm256_min_pd(y, x));
      _mm256_storeu_pd(b + l, _mm256_max_pd(x, y));
    }
  }
}
#endif

static void sort_block(double* key, const int32_t* net, int64_t count, int allow_dispatch) {
#if PKPO__X86_SIMD
  if (allow_dispatch && __builtin_cpu_supports("avx")) {
    sort_block_avx(key, net, count);
  } else {
    sort_block_sse2(key, net, count);
  }
#else
  (void)allow_dispatch;
  sort_block_c(key, net, count);
#endif
}

typedef struct block {
  int64_t n, k;              /* group size; clamped k (0 for a rho curve) */
  int count;                 /* groups in g[] */
  int64_t g[PKPO__LANES];
} block;

/* What a batch call computes: transformed rewards (ks == NULL) or a pass@k curve. */
typedef struct job {
  const void* rewards;
  void* out;
  void* rho;
  uint32_t* flags;
  const int64_t* ks;
  int64_t num_ks;
} job;

static void one_group(const pkpo_desc* d, const pkpo__plan* p, const job* jb, int64_t g,
                      scratch* s) {
  if (jb->ks) {
    curve_group(d, p, jb->rewards, jb->ks, jb->num_ks, jb->rho, jb->flags, g, s);
  } else {
    transform_group(d, p, jb->rewards, jb->out, jb->rho, jb->flags, g, s);
  }
}

static void ensure_block_table(scratch* s, int64_t m, int64_t k) {
  if (s->btable_m == m && s->btable_k == k) return;
  pkpo__weights(m, k, s->bmu);
  s->btable_m = m;
  s->btable_k = k;
}

/* The key of sample j of a group: its reward widened to double, -0.0 made +0.0 (as on the
 * one-group road), with j in the low bits that the widening leaves zero. */
static inline uint64_t pack_key(float x, int64_t j) {
  const double y = x == 0.0f ? 0.0 : (double)x;
  uint64_t bits;
  memcpy(&bits, &y, sizeof bits);
  return bits | (uint64_t)j;
}

/* Computes the groups of b (every one of its rewards finite; the others are sent to one_group)
 * and empties it. Lanes beyond b->count repeat group 0 and are not written. */
static void flush_block(const pkpo_desc* d, const pkpo__plan* p, const job* jb, int use_blocks,
                        block* b, scratch* s) {
  enum { L = PKPO__LANES };
  const int64_t n = b->n;
  const int64_t* index = d->index;
  const float* rewards = (const float*)jb->rewards;
  uint64_t* key = (uint64_t*)(void*)s->bkey; /* the keys' bits */
  int finite[L];
  for (int l = 0; l < L; ++l) {
    const int64_t begin = group_begin(d, p, b->g[l < b->count ? l : 0]);
    int ok = 1;
    for (int64_t j = 0; j < n; ++j) {
      const float x = index ? rewards[index[begin + j]] : rewards[begin + j];
      ok &= isfinite(x) != 0;
      key[j * L + l] = pack_key(x, j);
    }
    finite[l] = ok;
    if (!ok) { /* keys must stay ordered (no NaN); this lane is not written */
      for (int64_t j = 0; j < n; ++j) key[j * L + l] = (uint64_t)j;
    }
  }
  if (s->bnet_n != n) {
    s->bnet_count = build_network(n, s->bnet);
    s->bnet_n = n;
  }
  sort_block(s->bkey, s->bnet, s->bnet_count, use_blocks == PKPO__BLOCKS_DISPATCH);
  uint64_t* vbits = (uint64_t*)(void*)s->bv;
  for (int64_t r = 0; r < n * L; ++r) vbits[r] = key[r] & ~PKPO__POS_MASK;
  const double* v = s->bv;

  if (jb->ks) {
    uint32_t clamped = 0;
    for (int64_t j = 0; j < jb->num_ks; ++j) {
      const int64_t k = jb->ks[j] < n ? jb->ks[j] : n;
      if (jb->ks[j] > n) clamped = PKPO_FLAG_K_CLAMPED;
      double rho[L];
      ensure_block_table(s, n, k);
      pkpo__rho_block(n, v, s->bmu, rho);
      for (int l = 0; l < b->count; ++l) {
        if (finite[l]) store(jb->rho, 4, b->g[l] * jb->num_ks + j, rho[l]);
      }
    }
    for (int l = 0; l < b->count; ++l) {
      if (finite[l] && jb->flags) jb->flags[b->g[l]] = clamped;
    }
  } else {
    const int write_out = d->estimator != PKPO_RHO;
    double rho[L];
    uint32_t f = 0;
    ensure_block_table(s, n, b->k);
    if (jb->rho) pkpo__rho_block(n, v, s->bmu, rho);
    if (write_out) f = pkpo__transform_block(d->estimator, n, b->k, v, s->bmu, s->ba, s->bwork);
    float* out = (float*)jb->out;
    const double* a = s->ba;
    for (int l = 0; l < b->count; ++l) {
      if (!finite[l]) continue;
      const int64_t g = b->g[l], begin = group_begin(d, p, g);
      if (write_out) {
        for (int64_t t = 0; t < n; ++t) {
          const int64_t j = begin + (int64_t)(key[t * L + l] & PKPO__POS_MASK);
          out[index ? index[j] : j] = (float)a[t * L + l];
        }
      }
      if (jb->rho) store(jb->rho, 4, g, rho[l]);
      if (jb->flags) {
        const int64_t k = d->k_per_group ? d->k_per_group[g] : d->k;
        jb->flags[g] = f | (k > n ? PKPO_FLAG_K_CLAMPED : 0);
      }
    }
  }
  for (int l = 0; l < b->count; ++l) {
    if (!finite[l]) one_group(d, p, jb, b->g[l], s);
  }
  b->count = 0;
}

/* Groups [g0, g1): the small ones into blocks by (n, k), the others one by one. */
static void run_range(const pkpo_desc* d, const pkpo__plan* p, const job* jb, int use_blocks,
                      int64_t g0, int64_t g1, scratch* s) {
  block open[PKPO__OPEN_BLOCKS];
  int num_open = 0;
  if (use_blocks && !d->offsets && !d->k_per_group && !jb->ks && p->uniform_n >= 2 &&
      p->uniform_n <= PKPO__BLOCK_MAX_N) { /* one size and one k: consecutive groups fill blocks */
    block b;
    b.n = p->uniform_n;
    b.k = d->k < b.n ? d->k : b.n;
    for (int64_t g = g0; g < g1; g += PKPO__LANES) {
      b.count = (int)(g1 - g < PKPO__LANES ? g1 - g : PKPO__LANES);
      for (int l = 0; l < b.count; ++l) b.g[l] = g + l;
      flush_block(d, p, jb, use_blocks, &b, s);
    }
    return;
  }
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t n = group_count(d, p, g);
    if (!use_blocks || n < 2 || n > PKPO__BLOCK_MAX_N) {
      one_group(d, p, jb, g, s);
      continue;
    }
    int64_t k = 0;
    if (!jb->ks) {
      k = d->k_per_group ? d->k_per_group[g] : d->k;
      if (k > n) k = n;
    }
    block* b = NULL;
    for (int i = 0; i < num_open && !b; ++i) {
      if (open[i].n == n && open[i].k == k) b = &open[i];
    }
    for (int i = 0; i < num_open && !b; ++i) {
      if (open[i].count == 0) b = &open[i];
    }
    if (!b && num_open < PKPO__OPEN_BLOCKS) {
      b = &open[num_open++];
      b->count = 0;
    }
    if (!b) {
      b = &open[0];
      for (int i = 1; i < num_open; ++i) b = open[i].count > b->count ? &open[i] : b;
      flush_block(d, p, jb, use_blocks, b, s);
    }
    if (b->count == 0) {
      b->n = n;
      b->k = k;
    }
    b->g[b->count++] = g;
    if (b->count == PKPO__LANES) flush_block(d, p, jb, use_blocks, b, s);
  }
  for (int i = 0; i < num_open; ++i) {
    if (open[i].count > 0) flush_block(d, p, jb, use_blocks, &open[i], s);
  }
}

/* ---- batch drivers ---------------------------------------------------------------------------- */

static int64_t chunk_groups(const pkpo__plan* p) {
  const int64_t per = p->max_group_size > 0 ? PKPO__CHUNK_ELEMS / p->max_group_size : 1;
  return per < 1 ? 1 : per;
}

static pkpo_status run(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* plan, const job* jb) {
  pkpo__plan p = *plan;
  pkpo_status st = resolve_layout(h, d, &p);
  size_t bytes = 0;
  if (st == PKPO_SUCCESS) st = total_bytes(h, d, &p, &bytes);
  if (st == PKPO_SUCCESS) st = pkpo__cpu_ensure_workspace(h, bytes);
  if (st != PKPO_SUCCESS) return st;
  int64_t max_k = d->k;
  if (jb->ks) {
    max_k = 0;
    for (int64_t j = 0; j < jb->num_ks; ++j) max_k = jb->ks[j] > max_k ? jb->ks[j] : max_k;
  }
  st = validate(h, d, &p, jb->rewards, jb->ks == NULL, d->k_policy, max_k);
  if (st != PKPO_SUCCESS) return st;

  const int use_blocks = block_n(&p) > 0 ? h->cpu_blocks : PKPO__BLOCKS_OFF;
  const int64_t chunk = chunk_groups(&p);
  const int64_t num_chunks = (p.num_groups + chunk - 1) / chunk;
#ifdef _OPENMP
  const int threads = threads_for(h, &p);
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
#ifdef _OPENMP
    scratch s = thread_scratch(h, &p, omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
#else
    scratch s = thread_scratch(h, &p, 0);
#endif
    for (int64_t c = 0; c < num_chunks; ++c) {
      const int64_t g1 = (c + 1) * chunk < p.num_groups ? (c + 1) * chunk : p.num_groups;
      run_range(d, &p, jb, use_blocks, c * chunk, g1, &s);
    }
  }
  return PKPO_SUCCESS;
}

pkpo_status pkpo__cpu_set_blocks(pkpo_handle h, int mode) {
  if (!h) return PKPO_ERROR_NULL_POINTER;
  if (mode < PKPO__BLOCKS_OFF || mode > PKPO__BLOCKS_DISPATCH) return PKPO_ERROR_INVALID_ARGUMENT;
  h->cpu_blocks = mode;
  return PKPO_SUCCESS;
}

pkpo_status pkpo__cpu_transform(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* plan,
                                const void* rewards, void* out, void* rho, uint32_t* flags) {
  const job jb = {rewards, out, rho, flags, NULL, 0};
  return run(h, d, plan, &jb);
}

pkpo_status pkpo__cpu_rho_curve(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* plan,
                                const void* rewards, const int64_t* ks, int64_t num_ks, void* rho,
                                uint32_t* flags) {
  const job jb = {rewards, NULL, rho, flags, ks, num_ks};
  return run(h, d, plan, &jb);
}
