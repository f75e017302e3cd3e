/*
 * cpu.c -- the CPU backend: groups in parallel, one sort per group, the engine in sorted order.
 *
 * For each group: gather its finite rewards (through the optional index permutation) into
 * (value, position) items, sort them, build or reuse the weight rows of its objective at its size
 * (engine.h), run the engine, and scatter the outputs back to the positions. Groups are
 * independent, each is computed by exactly one thread with the same operations, so results do not
 * depend on the thread count.
 *
 * Small float32 groups take a faster road to the same numbers (cpu_blocks.c): PKPO__LANES groups of
 * the same size and objective are sorted together by a sorting network and run through the block
 * form of the engine, which performs for each group exactly the operations of the one-group form.
 * Both roads give bitwise-identical outputs; the tests check it.
 *
 * The min statistic is the max statistic of the negated rewards, negated (docs/math.md §5): the
 * rewards are negated as they are gathered and every output and rho as it is stored.
 *
 * Data errors (bad offsets, index, k, terms, strict policies) are found by validate() before
 * anything is written, so a failing call leaves every output untouched.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define PKPO__ALIGN 64
/* Doubles of a thread's scratch per sample of its largest group: items (2) + tmp (2) + v + a,
 * and the rows (pkpo__rows_doubles). */
#define PKPO__SCRATCH_DOUBLES 6
/* Target elements per dynamically scheduled chunk: large enough to amortise scheduling, small
 * enough to balance ragged batches on many cores. */
#define PKPO__CHUNK_ELEMS 16384

static size_t align_up(size_t x) { return (x + PKPO__ALIGN - 1) / PKPO__ALIGN * PKPO__ALIGN; }

static size_t per_thread_bytes(const pkpo__plan* p) {
  const int64_t max_n = p->max_group_size;
  if (max_n <= 0) return pkpo__block_bytes(p);
  const size_t n = (size_t)max_n;
  return align_up((n * PKPO__SCRATCH_DOUBLES + pkpo__rows_doubles(max_n)) * sizeof(double)) +
         pkpo__block_bytes(p);
}

int64_t pkpo__group_begin(const pkpo__cpu_job* jb, int64_t g) {
  return jb->d->offsets ? jb->d->offsets[g] : g * jb->p->uniform_n;
}

int64_t pkpo__group_count(const pkpo__cpu_job* jb, int64_t g) {
  return jb->d->offsets ? jb->d->offsets[g + 1] - jb->d->offsets[g] : jb->p->uniform_n;
}

int64_t pkpo__requested_k(const pkpo__cpu_job* jb, int64_t g) {
  if (jb->mix_kmax > 0) return jb->mix_kmax;
  return jb->d->k_per_group ? jb->d->k_per_group[g] : jb->d->k;
}

/* Rewards per worker thread when the handle leaves the count to the library (num_threads = 0).
 * Measured 2026-11-25 on a 2-core AMD EPYC (float32, k = 4, sloo_minus_one, wall-clock median of
 * 201 calls, 1 vs 2 threads): with the second core free, 2 threads first win at 32768 rewards
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

/* ---- element access -------------------------------------------------------------------------- */

static double load(const void* base, size_t elem_bytes, int64_t i) {
  return elem_bytes == 4 ? (double)((const float*)base)[i] : ((const double*)base)[i];
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
  const size_t elem = (PKPO__SCRATCH_DOUBLES + 6) * sizeof(double);
  size_t per = 0, all = 0;
  if (__builtin_mul_overflow((size_t)p->max_group_size, elem, &per) ||
      per > SIZE_MAX - PKPO__ALIGN - pkpo__block_bytes(p) ||
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

static pkpo__scratch thread_scratch(const pkpo_handle h, const pkpo__plan* p, int thread) {
  const size_t per = per_thread_bytes(p);
  pkpo__scratch s;
  memset(&s, 0, sizeof s);
  if (per == 0) return s; /* every group is empty: no scratch, and h->ws may be NULL */
  char* base = (char*)h->ws + (size_t)thread * per;
  const size_t n = (size_t)p->max_group_size;
  s.items = (pkpo__item*)base;
  s.tmp = s.items + n;
  s.v = (double*)(s.tmp + n);
  s.a = s.v + n;
  s.rows.storage = s.a + n;
  pkpo__block_scratch(p, base + per - pkpo__block_bytes(p), &s);
  return s;
}

/* ---- validation of data (before anything is written) ----------------------------------------- */

static pkpo_status validate_index(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p) {
  if (!d->index || p->num_samples == 0) return PKPO_SUCCESS; /* no samples: no bitmap exists */
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
  return PKPO_SUCCESS;
}

/* The k arrays of a transform: per-group k, or the terms and weights of a mixture. */
static pkpo_status validate_ks(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p) {
  if (d->k_per_group) {
    for (int64_t g = 0; g < p->num_groups; ++g) {
      if (d->k_per_group[g] < 1) {
        return pkpo__error(h, PKPO_ERROR_INVALID_K, "k_per_group[%lld] = %lld, must be >= 1",
                           (long long)g, (long long)d->k_per_group[g]);
      }
    }
  }
  double magnitude = 0.0;
  for (int64_t j = 0; j < d->num_k_terms; ++j) {
    if (d->k_terms[j] < 1) {
      return pkpo__error(h, PKPO_ERROR_INVALID_K, "k_terms[%lld] = %lld, must be >= 1",
                         (long long)j, (long long)d->k_terms[j]);
    }
    if (!isfinite(d->k_weights[j])) {
      return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "k_weights[%lld] = %g is not finite",
                         (long long)j, d->k_weights[j]);
    }
    magnitude += fabs(d->k_weights[j]);
  }
  /* Every weight of a term's rows is at most max(2, m) in magnitude (docs/math.md §4's table), so
   * this bound keeps the combined rows finite: an infinite weight would meet a tie's gap of 0 and
   * give tied samples NaN. */
  const double bound = p->max_group_size > 2 ? (double)p->max_group_size : 2.0;
  if (d->num_k_terms > 0 && !isfinite(magnitude * bound)) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                       "the mixture's weights are too large: sum |k_weights| = %g times the group "
                       "size %lld overflows", magnitude, (long long)p->max_group_size);
  }
  return PKPO_SUCCESS;
}

/* The policies that fail a call: the group rules of src/common/rules.h, group by group. */
static pkpo_status validate_policies(pkpo_handle h, const pkpo__cpu_job* jb) {
  const pkpo_desc* d = jb->d;
  if (d->nonfinite != PKPO_NONFINITE_ERROR && d->k_policy != PKPO_K_STRICT) return PKPO_SUCCESS;
  for (int64_t g = 0; g < jb->p->num_groups; ++g) {
    const int64_t begin = pkpo__group_begin(jb, g), n = pkpo__group_count(jb, g);
    int64_t nonfinite = 0, first_bad = -1;
    for (int64_t j = begin; j < begin + n; ++j) {
      const int64_t i = d->index ? d->index[j] : j;
      if (!isfinite(load(jb->rewards, jb->p->elem_bytes, i))) {
        if (first_bad < 0) first_bad = i;
        ++nonfinite;
      }
    }
    const pkpo__group_rule r = pkpo__resolve_group(d->nonfinite, d->k_policy, n, nonfinite,
                                                   pkpo__requested_k(jb, g), 1);
    if (r.action != PKPO__ACT_ERROR) continue;
    if (r.error_bits & PKPO__ERR_NONFINITE) {
      return pkpo__error(h, PKPO_ERROR_NON_FINITE,
                         "group %lld: reward at position %lld is not finite", (long long)g,
                         (long long)first_bad);
    }
    const int64_t usable = d->nonfinite == PKPO_NONFINITE_EXCLUDE ? n - nonfinite : n;
    return pkpo__error(h, PKPO_ERROR_K_EXCEEDS_N,
                       "group %lld: k = %lld exceeds its %lld usable samples (strict k policy)",
                       (long long)g, (long long)pkpo__requested_k(jb, g), (long long)usable);
  }
  return PKPO_SUCCESS;
}

/* ---- one group -------------------------------------------------------------------------------- */

const pkpo__rows* pkpo__rows_for(const pkpo__cpu_job* jb, pkpo__row_cache* c, int64_t m,
                                 int64_t k) {
  if (c->m == m && c->k == k) return &c->rows;
  pkpo__objective o;
  o.estimator = jb->d->estimator;
  if (k > 0) {
    o.num_terms = 1;
    o.k = &k;
    o.w = NULL;
  } else {
    o.num_terms = jb->d->num_k_terms;
    o.k = jb->d->k_terms;
    o.w = jb->d->k_weights;
  }
  const int curve = jb->ks != NULL;
  pkpo__build_rows(&o, m, !curve && jb->write_out, curve || jb->rho != NULL, c->storage,
                   &c->rows);
  c->m = m;
  c->k = k;
  return &c->rows;
}

typedef struct gathered {
  int64_t n;     /* samples in the group */
  int64_t m;     /* finite samples, sorted at items[0..m-1]; excluded at items[m..n-1] */
} gathered;

static gathered gather_sort(const pkpo__cpu_job* jb, int64_t g, pkpo__scratch* s) {
  gathered r;
  const pkpo_desc* d = jb->d;
  const int64_t begin = pkpo__group_begin(jb, g);
  r.n = pkpo__group_count(jb, g);
  r.m = 0;
  int64_t back = r.n;
  for (int64_t j = 0; j < r.n; ++j) {
    const int64_t i = d->index ? d->index[begin + j] : begin + j;
    const double x = jb->sign * load(jb->rewards, jb->p->elem_bytes, i);
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
  pkpo__sort_items(s->items, s->tmp, r.m);
  for (int64_t t = 0; t < r.m; ++t) s->v[t] = s->items[t].v;
  return r;
}

void pkpo__one_group(const pkpo__cpu_job* jb, int64_t g, pkpo__scratch* s) {
  const pkpo_desc* d = jb->d;
  const size_t eb = jb->p->elem_bytes;
  const double sign = jb->sign;
  const gathered r = gather_sort(jb, g, s);
  const int64_t k_req = jb->ks ? 0 : pkpo__requested_k(jb, g);
  pkpo__group_rule rule = pkpo__resolve_group(d->nonfinite, d->k_policy, r.n, r.n - r.m, k_req, 1);
  const int propagate = rule.action == PKPO__ACT_PROPAGATE;
  const double fill = propagate ? NAN : 0.0; /* excluded samples, empty and propagated groups */

  if (jb->ks) { /* a pass@k curve: rho at each k */
    for (int64_t j = 0; j < jb->num_ks; ++j) {
      double value = fill;
      if (rule.action == PKPO__ACT_GENERAL) {
        int64_t k = jb->ks[j];
        if (k > r.m) {
          k = r.m;
          rule.flags |= PKPO_FLAG_K_CLAMPED;
        }
        value = pkpo__rho_rows(pkpo__rows_for(jb, &s->rows, r.m, k), s->v);
      }
      pkpo__store(jb->rho, eb, g * jb->num_ks + j, sign * value);
    }
    if (jb->flags) jb->flags[g] = rule.flags;
    return;
  }

  double rho_g = fill;
  if (rule.action == PKPO__ACT_GENERAL) {
    const int64_t k = jb->mix_kmax > 0 ? 0 : (k_req < r.m ? k_req : r.m);
    const pkpo__rows* rows = pkpo__rows_for(jb, &s->rows, r.m, k);
    if (jb->rho) rho_g = pkpo__rho_rows(rows, s->v);
    if (jb->write_out) {
      rule.flags |= rows->flags;
      pkpo__transform_rows(rows, s->v, s->a);
      for (int64_t t = 0; t < r.m; ++t) pkpo__store(jb->out, eb, s->items[t].pos, sign * s->a[t]);
    }
  }
  if (jb->write_out) {
    const int64_t from = propagate ? 0 : r.m;
    for (int64_t j = from; j < r.n; ++j) pkpo__store(jb->out, eb, s->items[j].pos, sign * fill);
  }
  if (jb->rho) pkpo__store(jb->rho, eb, g, sign * rho_g);
  if (jb->flags) jb->flags[g] = rule.flags;
}

/* ---- batch drivers ---------------------------------------------------------------------------- */

static int64_t chunk_groups(const pkpo__plan* p) {
  const int64_t per = p->max_group_size > 0 ? PKPO__CHUNK_ELEMS / p->max_group_size : 1;
  return per < 1 ? 1 : per;
}

static pkpo_status run(pkpo_handle h, const pkpo__plan* plan, pkpo__cpu_job* jb) {
  const pkpo_desc* d = jb->d;
  pkpo__plan p = *plan;
  pkpo_status st = resolve_layout(h, d, &p);
  size_t bytes = 0;
  if (st == PKPO_SUCCESS) st = total_bytes(h, d, &p, &bytes);
  if (st == PKPO_SUCCESS) st = pkpo__cpu_ensure_workspace(h, bytes);
  if (st == PKPO_SUCCESS) st = validate_index(h, d, &p);
  if (st == PKPO_SUCCESS && !jb->ks) st = validate_ks(h, d, &p);
  if (st != PKPO_SUCCESS) return st;
  jb->p = &p;
  jb->sign = d->statistic == PKPO_STATISTIC_MIN ? -1.0 : 1.0;
  jb->mix_kmax = 0;
  if (jb->ks) {
    for (int64_t j = 0; j < jb->num_ks; ++j) jb->mix_kmax = jb->ks[j] > jb->mix_kmax ? jb->ks[j] : jb->mix_kmax;
  } else {
    for (int64_t j = 0; j < d->num_k_terms; ++j) {
      jb->mix_kmax = d->k_terms[j] > jb->mix_kmax ? d->k_terms[j] : jb->mix_kmax;
    }
  }
  st = validate_policies(h, jb);
  if (st != PKPO_SUCCESS) return st;

  const int use_blocks = pkpo__block_n(&p) > 0 ? h->cpu_blocks : PKPO__BLOCKS_OFF;
  const int64_t chunk = chunk_groups(&p);
  const int64_t num_chunks = (p.num_groups + chunk - 1) / chunk;
#ifdef _OPENMP
  const int threads = threads_for(h, &p);
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
  {
#ifdef _OPENMP
    pkpo__scratch s = thread_scratch(h, &p, omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
#else
    pkpo__scratch s = thread_scratch(h, &p, 0);
#endif
    for (int64_t c = 0; c < num_chunks; ++c) {
      const int64_t g1 = (c + 1) * chunk < p.num_groups ? (c + 1) * chunk : p.num_groups;
      pkpo__run_range(jb, use_blocks, c * chunk, g1, &s);
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
  pkpo__cpu_job jb;
  memset(&jb, 0, sizeof jb);
  jb.d = d;
  jb.rewards = rewards;
  jb.out = out;
  jb.rho = rho;
  jb.flags = flags;
  jb.write_out = d->estimator != PKPO_RHO;
  return run(h, plan, &jb);
}

pkpo_status pkpo__cpu_rho_curve(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* plan,
                                const void* rewards, const int64_t* ks, int64_t num_ks, void* rho,
                                uint32_t* flags) {
  pkpo__cpu_job jb;
  memset(&jb, 0, sizeof jb);
  jb.d = d;
  jb.rewards = rewards;
  jb.rho = rho;
  jb.flags = flags;
  jb.ks = ks;
  jb.num_ks = num_ks;
  return run(h, plan, &jb);
}
