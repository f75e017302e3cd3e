/*
 * params.h -- plain structs shared by the CUDA kernels and their launchers (no device code), and
 * the launch constants that size the workspace.
 */
#ifndef PKPO_CUDA_PARAMS_H
#define PKPO_CUDA_PARAMS_H

#include <stdint.h>

/* Functions for the host and the device (the workspace plan and the kernels share them). */
#if defined(__CUDACC__)
#define PKPO_HD __host__ __device__ __forceinline__
#else
#define PKPO_HD inline
#endif

namespace pkpo_cuda {

/* Largest group of the block path (the warp and group kernels: one group per sub-warp or block);
 * larger groups take the large path. 4096: the group kernels' largest configuration, 512 threads x
 * 8 keys (32 KiB of keys for float32; float64 uses dynamic shared memory), chosen by the static cost
 * model's run of 2026-12-03 (bench/results/2026-12-04-cuda-cost-model): at n = 4096 the group
 * kernel's 2 launches and 8 / 16 B per reward predict 25 / 29% of the copy roofline in float32 /
 * float64, the large path's 4 launches and 36 / 56 B 11 / 19%. */
constexpr int kBlockMaxN = 4096;
/* Largest group of the warp kernels (one group per sub-warp: W = 32 lanes x V = 4 keys); larger
 * groups of the block path take the group kernels (one group per thread block). */
constexpr int kWarpMaxN = 128;
/* Large-path tile: 256 threads x 8 ranks, a block team of the block path's widest kind but one
 * (Team<256, 8>, team.cuh), so that a tile builds its rows with the block path's code (rows.cuh).
 * Unmeasured: 8 ranks per thread as in the block path's block teams above 256 ranks. */
constexpr int kLargeBlock = 256;
constexpr int kLargeIpt = 8;
constexpr int kLargeTile = kLargeBlock * kLargeIpt;
/* Uniform groups of at most this many large-path tiles have their carries formed by the scatter
 * itself, two tiles per thread (no carry launch): 2^20 rewards are 512 tiles. Each scatter block
 * then reads its group's tile totals, 16 B per tile (8 KiB, from L2). Chosen by the static cost
 * model's run of 2026-12-04 (bench/results/2026-12-04-cuda-cost-model): at 2^20 the fold saves the
 * carry launch for about 1.1 warp-instructions per reward more in the scatter. */
constexpr int kLargeFoldTiles = 2 * kLargeBlock;
/* Large-path sort runs: the first step sorts 4096 keys per block (256 threads x 16 keys, in
 * registers and then by merge passes in shared memory: 16 KiB for 32-bit keys, 32 KiB for 64-bit),
 * so that the merge passes start from runs of 4096: one pass fewer than from the 2048-rank tiles
 * (each pass moves 2 keys per reward). Unmeasured: 4096 64-bit keys stay
 * under the 48 KiB of static shared memory; the merge kernel's output chunks have the same size. */
constexpr int kSortIpt = 16;
constexpr int kSortTile = kLargeBlock * kSortIpt;
/* Rho-curve ks handled per block-path launch (passed by value as a kernel parameter, so the call
 * stays capturable with no host buffer to keep alive). Unmeasured: 64 int64 = 512 bytes of
 * parameters, well inside the 4 KiB a launch may pass, and 64 columns per read of the rewards. */
constexpr int kCurveChunk = 64;

/* Large-path curve: ks computed side by side (gridDim.y) per pair of launches (the tile pass and
 * its carries); each has its own slot of per-tile totals. Unmeasured: chosen because 32 slots cost
 * 1280 bytes of workspace per 2048-rank tile (0.6 bytes per reward; a call zeroes only the slots it
 * uses) and a curve of k = 1..100 then takes 4 pairs of launches instead of 13 with 8 slots. */
constexpr int kCurveSlots = 32;

/* The ks of one large-path launch sequence (count == 0 for a transform: slot 0, the group's k). */
struct KSlots {
  int64_t k[kCurveSlots];
  int count;
  int64_t first; /* column of k[0] in the rho rows */
  int64_t kmax;  /* max over all ks of the call (the group rules' k, as the block path's KChunk) */
};

/* Size classes of the block path, each on its own kernel configuration: the warp classes n <= 8
 * (with the empty and the invalid groups), 9..16, 17..32, 33..64, 65..128 and the group classes
 * 129..256, ..., 2049..4096. Class c holds n <= 8 << c. */
constexpr int kBlockClasses = 10;

/* Device-side status of one call (workspace), read back by the host only for the synchronising
 * policies (strict k, non-finite error) and for an unknown max_group_size. */
struct DevStatus {
  unsigned int error_bits;
  unsigned int pad;
  unsigned long long max_n;       /* largest valid group (ragged, max_group_size = 0) */
  /* Smallest group that failed the non-finite error policy [0] / the strict k policy [1], stored
   * bit-inverted (~g, kept by atomicMax) so that the all-zero reset means "none": the whole status
   * is reset by one memset. The host reports the smaller, as the CPU backend (which stops at the
   * first failing group) would. */
  unsigned long long first_group_inv[2];
  /* Groups of each size class a bucketed ragged call found (bucket_kernel; may exceed the class's
   * capacity with invalid overlapping offsets, whose surplus groups are flagged INVALID). */
  unsigned int class_count[kBlockClasses];
};

/* The group lists of a bucketed ragged call (workspace): class c's group ids at
 * list[base[c] .. base[c] + cap[c]), cap[c] = how many groups of that class the batch can hold. */
struct BucketMap {
  unsigned int* list;
  int64_t base[kBlockClasses];
  int64_t cap[kBlockClasses];
};

struct Params {
  const void* rewards;
  void* out;
  void* rho;
  uint32_t* flags;
  const int64_t* offsets;
  const int64_t* index;
  const int64_t* k_per_group;
  int64_t num_groups;
  int64_t num_samples;
  int64_t uniform_n;  /* > 0: uniform layout */
  int64_t max_n;      /* groups above this are invalid (the plan was sized for it) */
  int64_t k;
  int estimator;
  int nonfinite;
  int k_policy;
  int negate;         /* the min statistic: rewards, outputs and rho negated (docs/math.md §5) */
  int64_t num_terms;  /* a mixture's terms in device memory (k_terms, k_weights), or 0 */
  const int64_t* k_terms;
  const double* k_weights;
  int write_out;      /* estimator != RHO and not a curve */
  int64_t rho_stride; /* 1 for a transform, num_ks for a curve */
  DevStatus* status;
  unsigned int* gbad; /* large path: per-group "bad index entry" marks */
  unsigned int* gnone; /* large path: per-group count of non-finite samples (the run sort's) */
  /* index != NULL: how many index entries name each sample (workspace, num_samples entries). A
   * group holding an entry whose sample is named more than once is invalid, as the CPU backend
   * rejects a repeated entry: two groups would otherwise write the same output. */
  const unsigned int* refs;
  int large;          /* groups with n > kBlockMaxN go to the large path */
  /* A block-path launch of a bucketed ragged call: the ids of its class's groups (bucket_count of
   * them, at most bucket_cap); NULL: the launch strides over every group and skips the others. */
  const unsigned int* bucket;
  const unsigned int* bucket_count;
  int64_t bucket_cap;
};

/* ks of a curve launch (count == 0 for a transform). */
struct KChunk {
  int64_t k[kCurveChunk];
  /* bit c of starts[b]: columns c .. c + 2^(b+1) - 1 (those below count) each one k above the
   * column before (c >= 1): where a team kernel's batch of that many columns may start */
  uint64_t starts[2];
  /* the largest m whose weights at the ks of columns c .. c + 3 stay far above the weight floor
   * (C(m, k) < e^680 < 1 / PKPO__WEIGHT_FLOOR), so that a batch needs no floor */
  int32_t mcap[kCurveChunk];
  int count;
  int64_t first; /* column of k[0] in the rho rows */
  int64_t kmax;  /* max over all ks of the call (for flags and the strict policy, as cpu.c) */
};
static_assert(kCurveChunk <= 64, "KChunk::starts has a bit per column");

/* One large-path tile's totals, written by the tile pass: pre = sum P_t d_t and suf = sum Q_t d_t
 * over its gaps (the outputs' scans), rho_hi + rho_lo = sum F_t d_t (rho's; only summed per
 * group). The carry kernel then replaces pre by the sum over the tiles before (its forward
 * carry) and writes lin = that + the sum of suf over the tiles after: the carries' part of the
 * output of every rank of the tile (outputs are linear in the scans). */
struct TileAgg {
  double pre, suf, rho_hi, rho_lo, lin;
};

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_PARAMS_H */
