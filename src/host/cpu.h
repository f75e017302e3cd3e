/*
 * cpu.h -- what the CPU backend's files share (not installed):
 *   cpu.c           the batch driver: workspace, validation, scheduling, the one-group road;
 *   cpu_blocks.c    the block road: PKPO__LANES small float32 groups at once;
 *   cpu_sort.c      the sorts: (value, position) items, and the sorting network of the blocks;
 *   cpu_features.c  which instruction sets this CPU has (the one place that asks).
 */
#ifndef PKPO_CPU_H
#define PKPO_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sorts (cpu_sort.c) ---- */

typedef struct pkpo__item {
  double v;
  int64_t pos; /* index into rewards / out */
} pkpo__item;

/* Sorts x[0..n-1] by value (stable); tmp holds n items. */
void pkpo__sort_items(pkpo__item* x, pkpo__item* tmp, int64_t n);

/* Groups of 2..PKPO__BLOCK_MAX_N float32 rewards are computed in blocks. */
#define PKPO__BLOCK_MAX_N 256
/* Comparators of the network for 256 rows (Batcher: (p^2 - p + 4) 2^(p-2) - 1 at n = 2^p). */
#define PKPO__NETWORK_MAX 3839

/* Batcher's odd-even merge sort network for n rows as pairs of row offsets into a block's keys;
 * returns the number of comparators (at most PKPO__NETWORK_MAX for n <= PKPO__BLOCK_MAX_N). */
int64_t pkpo__network_build(int64_t n, int32_t* net);

/* The network for n rows from the one for a power of two N >= n (full, count comparators): the
 * same comparators in the same order, less those that reach row n or beyond, which is exactly
 * pkpo__network_build(n, net) without its cost (it divides for every candidate comparator). */
int64_t pkpo__network_for(int64_t n, const int32_t* full, int64_t count, int32_t* net);

/* Runs the network on a block of keys (rank-major, PKPO__LANES per row), with AVX when
 * allow_avx and the CPU has it, else the baseline instruction set. */
void pkpo__network_sort(double* key, const int32_t* net, int64_t count, int allow_avx);

/* ---- CPU features (cpu_features.c) ---- */

/* 1 if this build can use AVX and the CPU it runs on has it. */
int pkpo__cpu_has_avx(void);

/* ---- a batch call (cpu.c, cpu_blocks.c) ---- */

/* What a call computes: transformed rewards (ks == NULL) or a pass@k curve. */
typedef struct pkpo__cpu_job {
  const pkpo_desc* d;
  const pkpo__plan* p;
  const void* rewards;
  void* out;
  void* rho;
  uint32_t* flags;
  const int64_t* ks; /* curve: num_ks ks */
  int64_t num_ks;
  int write_out; /* per-sample outputs (a transform whose estimator is not PKPO_RHO) */
  double sign;   /* +1 for the max statistic, -1 for min: rewards and results are negated */
  int64_t mix_kmax; /* a mixture's largest k (0: no mixture) */
} pkpo__cpu_job;

/* A cached set of rows: built for (m, k) (k = 0: the call's mixture, or a curve's column). */
typedef struct pkpo__row_cache {
  pkpo__rows rows;
  double* storage; /* pkpo__rows_doubles(capacity) doubles */
  int64_t m, k;    /* 0: none yet */
} pkpo__row_cache;

/* Per-thread scratch, carved from the handle's workspace. */
typedef struct pkpo__scratch {
  pkpo__item* items; /* group: finite items first, excluded ones from the back */
  pkpo__item* tmp;   /* second buffer of the sorts */
  double* v;
  double* a;
  pkpo__row_cache rows;
  /* Blocks (NULL when the batch has none): rank-major [n][PKPO__LANES] arrays. */
  double* bkey;  /* packed keys; sorted, their low bits give each value's position */
  double* bv;    /* the sorted values (keys with the position bits cleared) */
  double* ba;    /* outputs */
  int32_t* bnet;  /* the sorting network of bnet_n rows */
  int64_t bnet_n, bnet_count;
  int32_t* bfull; /* the network of the next power of two >= the largest block size, built once */
  int64_t bfull_count;
  pkpo__row_cache brows;
} pkpo__scratch;

/* Largest block group size of a plan (0: no blocks). */
int64_t pkpo__block_n(const pkpo__plan* p);
/* Bytes of a thread's block arrays. */
size_t pkpo__block_bytes(const pkpo__plan* p);
/* Carves the block arrays from `base` (pkpo__block_bytes bytes). */
void pkpo__block_scratch(const pkpo__plan* p, char* base, pkpo__scratch* s);

/* Group g's first grouped position, and its sample count. */
int64_t pkpo__group_begin(const pkpo__cpu_job* jb, int64_t g);
int64_t pkpo__group_count(const pkpo__cpu_job* jb, int64_t g);

/* The k requested for group g (the single k, the group's k, or a mixture's largest term). */
int64_t pkpo__requested_k(const pkpo__cpu_job* jb, int64_t g);

/* The rows of `jb`'s objective at m samples and (clamped) k, from the cache or built into it. k:
 * the single k clamped to m, or 0 for a mixture; curve columns pass their own k. */
const pkpo__rows* pkpo__rows_for(const pkpo__cpu_job* jb, pkpo__row_cache* c, int64_t m,
                                 int64_t k);

/* Group g on the one-group road. */
void pkpo__one_group(const pkpo__cpu_job* jb, int64_t g, pkpo__scratch* s);

/* Groups [g0, g1): the small float32 ones in blocks (use_blocks: PKPO__BLOCKS_*), the others on
 * the one-group road. */
void pkpo__run_range(const pkpo__cpu_job* jb, int use_blocks, int64_t g0, int64_t g1,
                     pkpo__scratch* s);

/* Stores x (a double) as element i of an array of elem_bytes-sized floats. */
static inline void pkpo__store(void* base, size_t elem_bytes, int64_t i, double x) {
  if (elem_bytes == 4) {
    ((float*)base)[i] = (float)x;
  } else {
    ((double*)base)[i] = x;
  }
}

#ifdef __cplusplus
}
#endif

#endif /* PKPO_CPU_H */
