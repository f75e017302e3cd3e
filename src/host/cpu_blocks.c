/*
 * cpu_blocks.c -- the block road of the CPU backend: many small float32 groups at once.
 *
 * PKPO__LANES groups of the same size n and the same objective (the same clamped k, or the call's
 * mixture) are computed together. Their rewards are laid out rank-major, key[j*L + l] = sample j of
 * group l, so that one operation on the row j acts on every group of the block, and this is what
 * the compiler vectorises (SSE2 and up).
 *
 * Each key is the reward widened to double with the sample's position j in the 29 low mantissa
 * bits that widening leaves zero. Keys are then all distinct, their order is the rewards' order
 * (positions only break ties), and a compare-exchange is a min and a max: no position array to
 * carry along. Batcher's odd-even merge sort network sorts the rows (cpu_sort.c); the positions are
 * read back from the sorted keys, the values recovered by clearing those bits.
 *
 * Groups holding a non-finite reward leave the block and take the one-group road. Results do not
 * depend on which groups share a block.
 */
#include <math.h>
#include <string.h>

#include "cpu.h"

#define PKPO__ALIGN 64
/* A float32 widened to double leaves the low 29 bits of the mantissa zero: room for a position. */
#define PKPO__POS_MASK ((UINT64_C(1) << 29) - 1)
/* Blocks being filled at once: a ragged batch mixing a few sizes (or per-group k values) still
 * fills its blocks; a new (n, k) beyond these flushes the fullest one, partly empty. */
#define PKPO__OPEN_BLOCKS 8

static size_t align_up(size_t x) { return (x + PKPO__ALIGN - 1) / PKPO__ALIGN * PKPO__ALIGN; }

int64_t pkpo__block_n(const pkpo__plan* p) {
  if (p->elem_bytes != 4 || p->max_group_size < 2) return 0;
  return p->max_group_size < PKPO__BLOCK_MAX_N ? p->max_group_size : PKPO__BLOCK_MAX_N;
}

size_t pkpo__block_bytes(const pkpo__plan* p) {
  const size_t n = (size_t)pkpo__block_n(p), L = PKPO__LANES;
  if (n == 0) return 0;
  return align_up(n * L * sizeof(double)) * 3 +
         align_up(pkpo__rows_doubles((int64_t)n) * sizeof(double)) +
         2 * align_up(2 * PKPO__NETWORK_MAX * sizeof(int32_t));
}

void pkpo__block_scratch(const pkpo__plan* p, char* b, pkpo__scratch* s) {
  const size_t bn = (size_t)pkpo__block_n(p), L = PKPO__LANES;
  s->bnet_n = 0;
  s->bnet_count = 0;
  s->bfull_count = 0;
  s->brows.m = 0;
  s->brows.k = 0;
  if (bn == 0) {
    s->bkey = s->ba = s->bv = NULL;
    s->brows.storage = NULL;
    s->bnet = s->bfull = NULL;
    return;
  }
  const size_t keys = align_up(bn * L * sizeof(double));
  s->bkey = (double*)b;
  s->ba = (double*)(b + keys);
  s->bv = (double*)(b + 2 * keys);
  s->brows.storage = (double*)(b + 3 * keys);
  s->bnet = (int32_t*)(b + 3 * keys + align_up(pkpo__rows_doubles((int64_t)bn) * sizeof(double)));
  s->bfull = s->bnet + align_up(2 * PKPO__NETWORK_MAX * sizeof(int32_t)) / sizeof(int32_t);
}

typedef struct block {
  int64_t n, k; /* group size; the clamped k (0: the call's mixture, or a curve) */
  int count;    /* groups in g[] */
  int64_t g[PKPO__LANES];
} block;

/* The key of sample j of a group: its reward (negated under the min statistic) widened to double,
 * -0.0 made +0.0 (as on the one-group road), with j in the low bits that the widening leaves
 * zero. */
static inline uint64_t pack_key(float x, int64_t j) {
  const double y = x == 0.0f ? 0.0 : (double)x;
  uint64_t bits;
  memcpy(&bits, &y, sizeof bits);
  return bits | (uint64_t)j;
}

/* Computes the groups of b (every one of its rewards finite; the others are sent to the one-group
 * road) and empties it. Lanes beyond b->count repeat group 0 and are not written. */
static void flush_block(const pkpo__cpu_job* jb, int use_blocks, block* b, pkpo__scratch* s) {
  enum { L = PKPO__LANES };
  const pkpo_desc* d = jb->d;
  const int64_t n = b->n;
  const int64_t* index = d->index;
  const float* rewards = (const float*)jb->rewards;
  const float sign = (float)jb->sign;
  uint64_t* key = (uint64_t*)(void*)s->bkey; /* the keys' bits */
  int finite[L];
  for (int l = 0; l < L; ++l) {
    const int64_t begin = pkpo__group_begin(jb, b->g[l < b->count ? l : 0]);
    int ok = 1;
    for (int64_t j = 0; j < n; ++j) {
      const float x = index ? rewards[index[begin + j]] : rewards[begin + j];
      ok &= isfinite(x) != 0;
      key[j * L + l] = pack_key(sign * x, j);
    }
    finite[l] = ok;
    if (!ok) { /* keys must stay ordered (no NaN); this lane is not written */
      for (int64_t j = 0; j < n; ++j) key[j * L + l] = (uint64_t)j;
    }
  }
  if (s->bnet_n != n) { /* a ragged batch changes sizes often: filter the largest network */
    if (s->bfull_count == 0) {
      int64_t full_n = 1;
      while (full_n < pkpo__block_n(jb->p)) full_n *= 2;
      s->bfull_count = pkpo__network_build(full_n, s->bfull);
    }
    s->bnet_count = pkpo__network_for(n, s->bfull, s->bfull_count, s->bnet);
    s->bnet_n = n;
  }
  pkpo__network_sort(s->bkey, s->bnet, s->bnet_count, use_blocks == PKPO__BLOCKS_DISPATCH);
  uint64_t* vbits = (uint64_t*)(void*)s->bv;
  for (int64_t r = 0; r < n * L; ++r) vbits[r] = key[r] & ~PKPO__POS_MASK;
  const double* v = s->bv;
  const double dsign = jb->sign;

  if (jb->ks) {
    uint32_t clamped = 0;
    for (int64_t j = 0; j < jb->num_ks; ++j) {
      const int64_t k = jb->ks[j] < n ? jb->ks[j] : n;
      if (jb->ks[j] > n) clamped = PKPO_FLAG_K_CLAMPED;
      double rho[L];
      pkpo__rho_rows_block(pkpo__rows_for(jb, &s->brows, n, k), v, rho);
      for (int l = 0; l < b->count; ++l) {
        if (finite[l]) pkpo__store(jb->rho, 4, b->g[l] * jb->num_ks + j, dsign * rho[l]);
      }
    }
    for (int l = 0; l < b->count; ++l) {
      if (finite[l] && jb->flags) jb->flags[b->g[l]] = clamped;
    }
  } else {
    const pkpo__rows* rows = pkpo__rows_for(jb, &s->brows, n, b->k);
    double rho[L];
    if (jb->rho) pkpo__rho_rows_block(rows, v, rho);
    if (jb->write_out) pkpo__transform_rows_block(rows, v, s->ba);
    const uint32_t f = jb->write_out ? rows->flags : 0;
    float* out = (float*)jb->out;
    const double* a = s->ba;
    for (int l = 0; l < b->count; ++l) {
      if (!finite[l]) continue;
      const int64_t g = b->g[l], begin = pkpo__group_begin(jb, g);
      if (jb->write_out) {
        for (int64_t t = 0; t < n; ++t) {
          const int64_t j = begin + (int64_t)(key[t * L + l] & PKPO__POS_MASK);
          out[index ? index[j] : j] = (float)(dsign * a[t * L + l]);
        }
      }
      if (jb->rho) pkpo__store(jb->rho, 4, g, dsign * rho[l]);
      if (jb->flags) jb->flags[g] = f | (pkpo__requested_k(jb, g) > n ? PKPO_FLAG_K_CLAMPED : 0);
    }
  }
  for (int l = 0; l < b->count; ++l) {
    if (!finite[l]) pkpo__one_group(jb, b->g[l], s);
  }
  b->count = 0;
}

void pkpo__run_range(const pkpo__cpu_job* jb, int use_blocks, int64_t g0, int64_t g1,
                     pkpo__scratch* s) {
  const pkpo_desc* d = jb->d;
  const pkpo__plan* p = jb->p;
  block open[PKPO__OPEN_BLOCKS];
  int num_open = 0;
  if (use_blocks && !d->offsets && !d->k_per_group && !jb->ks && p->uniform_n >= 2 &&
      p->uniform_n <= PKPO__BLOCK_MAX_N) { /* one size and one k: consecutive groups fill blocks */
    block b;
    b.n = p->uniform_n;
    b.k = jb->mix_kmax > 0 ? 0 : (d->k < b.n ? d->k : b.n);
    for (int64_t g = g0; g < g1; g += PKPO__LANES) {
      b.count = (int)(g1 - g < PKPO__LANES ? g1 - g : PKPO__LANES);
      for (int l = 0; l < b.count; ++l) b.g[l] = g + l;
      flush_block(jb, use_blocks, &b, s);
    }
    return;
  }
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t n = pkpo__group_count(jb, g);
    if (!use_blocks || n < 2 || n > PKPO__BLOCK_MAX_N) {
      pkpo__one_group(jb, g, s);
      continue;
    }
    int64_t k = 0;
    if (!jb->ks && jb->mix_kmax == 0) {
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
      flush_block(jb, use_blocks, b, s);
    }
    if (b->count == 0) {
      b->n = n;
      b->k = k;
    }
    b->g[b->count++] = g;
    if (b->count == PKPO__LANES) flush_block(jb, use_blocks, b, s);
  }
  for (int i = 0; i < num_open; ++i) {
    if (open[i].count > 0) flush_block(jb, use_blocks, &open[i], s);
  }
}
