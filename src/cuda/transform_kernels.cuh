/*
 * transform_kernels.cuh -- device code of pkpo_transform and pkpo_rho_curve (launchers in
 * transform.cu).
 *
 * Two paths, chosen by the host from the plan's max_group_size:
 *
 * - Block path (kWarpMaxN < n <= kBlockMaxN): the group kernels of group_kernels.cuh, one group
 *   per thread block; groups of n <= kWarpMaxN take the warp kernels of warp_kernels.cuh. Both
 *   share this file's group bounds, error report and rho store.
 *
 * - Large path (n > 4096: two or more 4096-key runs per group): each 4096-key run of a group is read
 *   (coalesced) and sorted in shared memory (block_merge_sort: a register bitonic sort of 16 keys
 *   per thread, then 8 merge-path passes), and the run sort counts the group's non-finite samples
 *   once (gnone); merge passes then merge sorted lists four at a time (two levels of merge path,
 *   eight 4096-key output chunks per block, each planned by one warp) until each group is one run:
 *   ceil(log4(runs)) passes, a group taking part only in those it needs, so its keys end in the
 *   buffer that its own pass count picks. One uniform
 *   group instead gets CUB's multi-block radix sort. A tile pass (large_tile_pass) then runs once per
 *   2048-rank tile in a reduce-then-scan: the weights' product beyond each tile comes in closed form
 *   (beyond_tile_product), so the stages are TAIL (T' sums; only for sloo) and TERMS (the per-rank
 *   terms, their scans and the rho sum in the direct form of large_tile_pass), each followed by a
 *   one-block-per-group kernel that turns the tile totals into per-tile carries in a fixed order.
 *   A transform's TERMS stage also stores each rank's tile-local output (its carries taken as 0):
 *   every output formula is linear in the scans, so the scatter returns that plus the carries'
 *   part of the rank's tile (TileAgg::lin), for the first rank holding the sample's key (binary
 *   search: the tie rule of the block path). For uniform groups of at most 512 tiles the scatter
 *   forms the TERMS carries itself (no carry launch). The uniform layout maps blocks to (group,
 *   tile) arithmetically; a ragged one through a scan of the groups' tile counts (even counts, so
 *   that run j of the batch is tiles 2j and 2j + 1).
 *
 * All arithmetic of the large path is float64 (group_math.cuh); float32 outputs are rounded once,
 * when stored.
 * Indices of samples are int64 everywhere; ranks inside one tile are int.
 */
#ifndef PKPO_CUDA_TRANSFORM_KERNELS_CUH
#define PKPO_CUDA_TRANSFORM_KERNELS_CUH

#include <stdint.h>


#include "group_math.cuh"
#include "merge_kernels.cuh"
#include "model_region.h"
#include "params.h"
#include "scan_kernels.cuh"

namespace pkpo_cuda {

struct GroupSpan {
  int64_t begin;
  int64_t n;
  int64_t k_req;
  bool valid;
};

/* Bounds of group g, checked on the device (pkpo.h: 0 <= offsets[g] <= offsets[g+1] <=
 * num_samples, k >= 1). An invalid group gets n = 0 so that no code path can touch memory for it. */
__device__ __forceinline__ GroupSpan group_span(const Params& p, int64_t g) {
  GroupSpan s;
  PKPO_REGION_BEGIN(ragged_span);
  if (p.offsets) {
    const int64_t b = p.offsets[g];
    const int64_t e = p.offsets[g + 1];
    s.valid = 0 <= b && b <= e && e <= p.num_samples && e - b <= p.max_n;
    s.begin = s.valid ? b : 0;
    s.n = s.valid ? e - b : 0;
    PKPO_REGION_END(ragged_span);
  } else {
    s.valid = true;
    s.begin = g * p.uniform_n;
    s.n = p.uniform_n;
  }
  s.k_req = p.k_per_group ? p.k_per_group[g] : p.k;
  if (s.k_req < 1) {
    s.valid = false;
    s.n = 0;
  }
  return s;
}

__device__ __forceinline__ bool goes_large(const Params& p, const GroupSpan& s) {
  return p.large && s.valid && s.n > kBlockMaxN;
}

/* The groups a block-path launch visits: its class's bucket (a bucketed ragged call) or every
 * group; group_at(p, i) is the i-th of them. */
__device__ __forceinline__ int64_t launch_groups(const Params& p) {
  if (!p.bucket) return p.num_groups;
  const int64_t c = (int64_t)*p.bucket_count;
  return c < p.bucket_cap ? c : p.bucket_cap;
}

__device__ __forceinline__ int64_t group_at(const Params& p, int64_t i) {
  return p.bucket ? (int64_t)p.bucket[i] : i;
}

__device__ __forceinline__ int64_t sample_of(const Params& p, int64_t pos) {
  return p.index ? p.index[pos] : pos;
}

/* A sample reference of the grouped layout is usable: in range, and (with an index) named by no
 * other index entry. */
__device__ __forceinline__ bool sample_ok(const Params& p, int64_t src) {
  if (src < 0 || src >= p.num_samples) return false;
  return !p.refs || p.refs[src] == 1;
}

/* refs[i] = number of index entries equal to i (refs zeroed before). */
__global__ void index_refs_kernel(const Params p, unsigned int* refs) {
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < p.num_samples;
       j += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = p.index[j];
    if (i >= 0 && i < p.num_samples) atomicAdd(&refs[i], 1u);
  }
}

template <typename V>
__device__ __forceinline__ void store_value(void* base, int64_t i, double x) {
  static_cast<V*>(base)[i] = static_cast<V>(x);
}

__device__ __forceinline__ void report_error(const Params& p, int64_t g, unsigned int bits) {
  atomicOr(&p.status->error_bits, bits);
  atomicMax(&p.status->first_group_inv[(bits & ERR_NONFINITE) ? 0 : 1], ~(unsigned long long)g);
}

/* ---- the tile pass ---------------------------------------------------------------------------- */

enum Stage { STAGE_TAIL = 1, STAGE_TERMS = 2 }; /* the tile pass's stages (large_tile_pass) */

/* ---- rho store ---------------------------------------------------------------------------------- */

/* Writes rho (NaN, 0, v) for the non-general actions of one group. */
template <typename V>
__device__ __forceinline__ void write_rho(const Params& p, int64_t g, int64_t col, double value) {
  if (p.rho) store_value<V>(p.rho, g * p.rho_stride + col, value);
}

/* ---- large path --------------------------------------------------------------------------------- */

/* Where the tiles of each group start in the per-tile tables. Uniform layout: group g owns tiles
 * [g * per_group, (g+1) * per_group) (no table, no scan; a group that is not large, e.g. k < 1,
 * owns its tiles too and every kernel skips them). Ragged: base[g] is the exclusive scan of the
 * groups' tile counts (0 for groups the block path handles), num_groups + 1 entries. */
struct TileMap {
  const int64_t* base; /* ragged; nullptr for the uniform layout */
  int64_t per_group;   /* uniform: tiles of every group */
};

__device__ __forceinline__ int64_t tiles_before(const TileMap& tm, int64_t g) {
  return tm.base ? tm.base[g] : g * tm.per_group;
}

/* Tiles of each group (0 for groups the block path handles): the input of the ragged scan. An even
 * count (two per 4096-key run, the last one maybe past the group's ranks), so that every group's
 * runs start at even tiles and run j of the batch is tiles 2j and 2j + 1 (run_owner). The sum stays
 * below the ragged tiles_bound 2N / 2048: a large group has n > 4096, so 2 ceil(n / 4096) < n / 1024. */
__global__ void large_plan_kernel(const Params p, int64_t* ntiles) {
  for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g <= p.num_groups;
       g += (int64_t)gridDim.x * blockDim.x) {
    if (g == p.num_groups) {
      ntiles[g] = 0;
      continue;
    }
    const GroupSpan s = group_span(p, g);
    ntiles[g] = goes_large(p, s) ? 2 * large_tile_count(s.n, kSortTile) : 0;
  }
}

/* Which (group, tile) block `b` of a large-path grid handles. Returns false if b is past the last
 * tile. */
__device__ __forceinline__ bool tile_owner(const TileMap& tm, int64_t num_groups, int64_t b, int64_t* g,
                                           int64_t* tile) {
  if (!tm.base) {
    if (b >= num_groups * tm.per_group) return false;
    *g = b / tm.per_group;
    *tile = b - *g * tm.per_group;
    return true;
  }
  PKPO_REGION_BEGIN(ragged_tile_map);
  const int64_t* tile_base = tm.base;
  if (b >= tile_base[num_groups]) return false;
  int64_t lo = 0, hi = num_groups; /* last g with tile_base[g] <= b */
  PKPO_REGION_BEGIN(tile_owner_search);
  while (hi - lo > 1) {
    const int64_t mid = lo + ((hi - lo) >> 1);
    if (tile_base[mid] <= b) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  PKPO_REGION_END(tile_owner_search);
  *g = lo;
  *tile = b - tile_base[lo];
  PKPO_REGION_END(ragged_tile_map);
  return true;
}

/* Which (group, 4096-key run) is run b of the batch (the run sort's blocks, the merge passes'
 * output chunks). Uniform layout: g * runs_per_group + run (a group of T 2048-rank tiles has
 * ceil(T / 2) runs). Ragged: tiles 2b and 2b + 1 (every group's tiles start at an even tile,
 * large_plan_kernel). False past the last run. */
__device__ __forceinline__ bool run_owner(const TileMap& tm, int64_t num_groups, int64_t b, int64_t* g,
                                          int64_t* run) {
  if (!tm.base) {
    const int64_t runs = (tm.per_group + 1) / 2;
    if (b >= num_groups * runs) return false;
    *g = b / runs;
    *run = b - *g * runs;
    return true;
  }
  int64_t tile;
  if (!tile_owner(tm, num_groups, 2 * b, g, &tile)) return false;
  *run = tile / 2;
  return true;
}

/* Merge passes that sort a group of n keys whose 4096-key runs are sorted (group_math.cuh). */
__device__ __forceinline__ int large_merge_passes(int64_t n) { return large_merge_pass_count(n, kSortTile); }

/* The two key buffers of the large path. Each group's keys end up sorted in one of them (the other
 * then holds its sorted outputs): after the merge sort, in b if the group took an odd number of
 * merge passes (every pass moves a group's keys to the other buffer, and a group takes part only
 * in the passes it needs); after the whole-array sort, where CUB's DoubleBuffer says. */
struct LargeKeys {
  void* a;
  void* b;
  int whole; /* -1: merge sort; 0 / 1: the whole-array sort's result is in a / b */
  double* local; /* float32: the tile-local outputs (N doubles); float64: nullptr, the other key buffer */
};

__device__ __forceinline__ bool large_sorted_in_b(const LargeKeys& lk, int64_t n) {
  return lk.whole >= 0 ? lk.whole != 0 : (large_merge_passes(n) & 1) != 0;
}

template <typename Key>
__device__ __forceinline__ const Key* large_sorted(const LargeKeys& lk, const GroupSpan& s) {
  return static_cast<const Key*>(large_sorted_in_b(lk, s.n) ? lk.b : lk.a) + s.begin;
}

/* The tile-local outputs of a group's sorted ranks (large_tile_pass, STAGE_TERMS of a transform),
 * float64: for float64 keys the buffer that does not hold the group's sorted keys. */
template <typename Key>
__device__ __forceinline__ double* large_local_out(const LargeKeys& lk, const GroupSpan& s) {
  if (sizeof(Key) == sizeof(double)) return static_cast<double*>(large_sorted_in_b(lk, s.n) ? lk.a : lk.b) + s.begin;
  return lk.local + s.begin;
}

/* Sorts the IPT (a power of two) keys of one thread in registers: a bitonic network of
 * compile-time compare-exchanges (80 for 16 keys), no memory and no branches. Keys only: equal keys
 * are identical, so the order of ties does not matter. */
template <int IPT, typename Key>
__device__ __forceinline__ void sort_in_registers(Key (&k)[IPT]) {
  static_assert((IPT & (IPT - 1)) == 0, "IPT must be a power of two");
#pragma unroll
  for (int size = 2; size <= IPT; size <<= 1) {
#pragma unroll
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
#pragma unroll
      for (int i = 0; i < IPT; ++i) {
        const int j = i ^ stride;
        if (j > i) {
          const Key a = k[i], b = k[j];
          const Key lo = a < b ? a : b, hi = a < b ? b : a;
          const bool up = (i & size) == 0;
          k[i] = up ? lo : hi;
          k[j] = up ? hi : lo;
        }
      }
    }
  }
}

/* Sorts the kSortTile keys of a block (kSortIpt per thread, any arrangement) into the blocked
 * arrangement of one sorted run: each thread sorts its keys in registers, then log2(kLargeBlock)
 * merge passes in shared memory double the sorted lists (16, 32, ..., 4096 keys): in each, a
 * thread finds by merge path where its kSortIpt outputs start in the pair of lists it belongs to and
 * merges them sequentially (one shared-memory load per output). Why not cub::BlockRadixSort: the
 * static cost model (bench/cost_model.md) counts ~17 warp-instructions per reward for its 8
 * passes of 4 bits over 32-bit keys; the merge sort needs no digit counters, ranks or scans.
 * Returns with the sorted run in buf[0 .. kSortTile) (blocked; visible to the whole block). */
template <typename Key>
__device__ __forceinline__ void block_merge_sort(Key (&keys)[kSortIpt], Key* buf) {
  sort_in_registers<kSortIpt>(keys);
  const int d0 = (int)threadIdx.x * kSortIpt;
  PKPO_REGION_BEGIN(run_sort_passes);
  for (int w = kSortIpt; w < kSortTile; w *= 2) {
    __syncthreads(); /* the previous pass has read buf */
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) buf[d0 + j] = keys[j];
    __syncthreads();
    const int pair = d0 & ~(2 * w - 1); /* the two lists [pair, pair + w), [pair + w, pair + 2w) */
    const int d = d0 - pair;
    PKPO_REGION_BEGIN(run_sort_split);
    int ia = merge_path_split(buf + pair, w, buf + pair + w, w, d);
    PKPO_REGION_END(run_sort_split);
    int ib = d - ia;
    /* buf has kSortIpt spare keys past the run: the head read of a used-up list (never taken)
     * stays inside it */
    Key ka = buf[pair + ia];
    Key kb = buf[pair + w + ib];
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) {
      const bool take_a = ib >= w || (ia < w && ka <= kb);
      keys[j] = take_a ? ka : kb;
      ia += take_a ? 1 : 0;
      ib += take_a ? 0 : 1;
      const Key x = buf[take_a ? pair + ia : pair + w + ib]; /* the next head of the list taken from */
      ka = take_a ? x : ka;
      kb = take_a ? kb : x;
    }
  }
  PKPO_REGION_END(run_sort_passes);
  __syncthreads(); /* the last pass has read buf */
#pragma unroll
  for (int j = 0; j < kSortIpt; ++j) buf[d0 + j] = keys[j];
  __syncthreads();
}

/* Keys of the large groups, each 4096-key run sorted in shared memory (block_merge_sort) and
 * stored in grouped positions of `keys` (the runs the merge passes start from); with sort_runs = 0
 * (the whole-array sort follows) stored unsorted. The grid has one block per run (run_owner).
 * Loads are striped (coalesced): the sort does not care in which order a run's keys arrive. */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_sort_tile_kernel(const Params p, const TileMap tm,
                                                                     Key* keys, int sort_runs) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value V;
  __shared__ Key buf[kSortTile + kSortIpt]; /* + spare keys: block_merge_sort */
  int64_t g, run;
  if (!run_owner(tm, p.num_groups, blockIdx.x, &g, &run)) return;
  const GroupSpan s = group_span(p, g);
  const int64_t lo = run * kSortTile;
  if (!goes_large(p, s)) {
    /* Uniform layout only (a ragged map gives such a group no tiles): its keys become kNone, so
     * that the whole-array sort of a lone invalid group reads defined keys. */
    PKPO_REGION_BEGIN(not_large_fill);
    const int64_t base = g * p.uniform_n;
    const int64_t hi = lo + kSortTile < p.uniform_n ? lo + kSortTile : p.uniform_n;
    for (int64_t lp = lo + threadIdx.x; lp < hi; lp += kLargeBlock) keys[base + lp] = KT::kNone;
    PKPO_REGION_END(not_large_fill);
    return;
  }
  const int64_t cnt = lo + kSortTile < s.n ? kSortTile : s.n - lo;
  Key tile_keys[kSortIpt];
  bool bad = false;
  unsigned int nonfinite = 0; /* this thread's non-finite samples */
  if (!p.index) { /* the grouped layout itself: every position of a valid group is in range */
    const V* x = static_cast<const V*>(p.rewards) + s.begin + lo;
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) {
      const int i = j * kLargeBlock + (int)threadIdx.x; /* striped */
      Key key = KT::kNone;
      if (i < cnt) {
        const V v = x[i];
        if (KT::finite(KT::bits(v))) {
          key = KT::to_key(v);
        } else {
          ++nonfinite;
        }
      }
      tile_keys[j] = key;
    }
  } else {
    PKPO_REGION_BEGIN(index_permutation);
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) {
      const int64_t i = (int64_t)j * kLargeBlock + threadIdx.x; /* striped */
      Key key = KT::kNone;
      if (i < cnt) {
        const int64_t src = sample_of(p, s.begin + lo + i);
        if (!sample_ok(p, src)) {
          bad = true;
        } else {
          const V x = static_cast<const V*>(p.rewards)[src];
          if (KT::finite(KT::bits(x))) {
            key = KT::to_key(x);
          } else {
            ++nonfinite;
          }
        }
      }
      tile_keys[j] = key;
    }
    PKPO_REGION_END(index_permutation);
  }
  PKPO_REGION_BEGIN(run_sort);
  if (sort_runs) {
    /* Padding is kNone, the largest key: the run's cnt keys are its first cnt sorted ones. */
    block_merge_sort(tile_keys, buf);
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) { /* striped: coalesced */
      const int i = j * kLargeBlock + (int)threadIdx.x;
      if (i < cnt) keys[s.begin + lo + i] = buf[i];
    }
  } else {
    PKPO_REGION_END(run_sort);
    /* the whole-array sort follows: keys in place, striped */
    PKPO_REGION_BEGIN(unsorted_store);
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) {
      const int64_t i = (int64_t)j * kLargeBlock + threadIdx.x;
      if (i < cnt) keys[s.begin + lo + i] = tile_keys[j];
    }
    PKPO_REGION_END(unsorted_store);
  }
  PKPO_REGION_BEGIN(index_permutation);
  if (bad) atomicOr(&p.gbad[g], 1u);
  PKPO_REGION_END(index_permutation);
  /* non-finite samples of this thread (kNone keys that are not padding): the group's count, read
   * by large_resolve; integer atomics, so the same total on every run */
  if (nonfinite) atomicAdd(&p.gnone[g], nonfinite);
}

/* ---- merge passes: four sorted lists into one (the splits and shared-memory merges:
 * merge_kernels.cuh) ---------------------------------------------------------------------------- */

/* One 4096-key output chunk of a merge pass, as planned by its warp: the group's keys start at
 * src/dst + begin; the chunk is outputs [o0, o0 + cnt) of the group (cnt = 0: nothing to do), the
 * four-way merge of the lists of the quad at `quad` (list j: n[j] keys) of which it takes
 * [from[j], from[j] + len[j]). */
struct MergeChunk {
  int64_t begin;
  int quad, o0, cnt;
  int n[4], from[4], len[4];
};

/* Most output chunks of 4096 keys per merge block: one warp plans each (its two splits, one per
 * half warp), so that the splits' dependent probes overlap, and the block then merges them one
 * after another, loading the next chunk's keys while it merges the current one. */
constexpr int kMergeChunks = kLargeBlock / 32;

/* The chunk's keys from global memory (striped: coalesced), list j's slots [start_j, start_j +
 * len[j]) from src + mc.begin + mc.quad + (list j's offset) + from[j]. Slots past the chunk's keys
 * are left as they are: the merges never take them (a used-up list's head is never compared), and
 * a predicated load needs its predicate only until it issues, not across the merges it overlaps. */
template <typename Key>
__device__ __forceinline__ void load_merge_chunk(const Key* src, const MergeChunk& mc, Key (&k)[kSortIpt]) {
  int s1 = mc.len[0], s2 = s1 + mc.len[1], s3 = s2 + mc.len[2], tot = s3 + mc.len[3];
  const int d0 = mc.from[0];
  const int d1 = mc.n[0] + mc.from[1] - s1;
  const int d2 = mc.n[0] + mc.n[1] + mc.from[2] - s2;
  const int d3 = mc.n[0] + mc.n[1] + mc.n[2] + mc.from[3] - s3;
  const Key* base = src + mc.begin + mc.quad;
#pragma unroll
  for (int j = 0; j < kSortIpt; ++j) {
    const int i = j * kLargeBlock + (int)threadIdx.x;
    const int delta = i < s1 ? d0 : (i < s2 ? d1 : (i < s3 ? d2 : d3));
    if (i < tot) k[j] = base[i + delta];
  }
}

/* Merge pass `pass` of the large groups that need it (more than 4^pass runs of 4096): blocks of
 * `chunks` (1..kMergeChunks) output chunks of 4096 keys (chunk c of block b: the (b * chunks + c)-th
 * of the batch, run_owner). Warp c plans chunk c: its quad, and where the chunk starts and ends in
 * each of the four lists (quad_split_halfwarp). Then, chunk by chunk, the block puts the chunk's keys in
 * shared memory, merges A with B and C with D there (each thread 16 outputs: a merge-path split,
 * then one shared-memory load per output), then the two results, and stores the chunk through
 * shared memory (coalesced). */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_merge_kernel(const Params p, const TileMap tm,
                                                                 const Key* src, Key* dst, int pass,
                                                                 int chunks) {
  __shared__ Key buf[kSortTile + kSortIpt]; /* + spare keys: the merge's reads past a used-up list */
  __shared__ MergeChunk plan[kMergeChunks];
  const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
  { /* warp `warp` plans its chunk (warp-uniform conditions: every lane takes part in the splits) */
    MergeChunk mc;
    mc.begin = 0;
    mc.quad = mc.o0 = mc.cnt = 0;
    int64_t g, run;
    if (warp < chunks && run_owner(tm, p.num_groups, (int64_t)blockIdx.x * chunks + warp, &g, &run)) {
      const GroupSpan s = group_span(p, g);
      if (goes_large(p, s) && pass < large_merge_passes(s.n)) {
        const int n = (int)s.n; /* < 2^30 (kMaxLargeGroup) */
        const int len = kSortTile << (2 * pass);
        const int o0 = (int)run * kSortTile;
        const int o1 = o0 + kSortTile < n ? o0 + kSortTile : n;
        const int quad = o0 / (4 * len) * (4 * len); /* 4 * len <= 2^30: at most 9 passes for n < 2^30 */
        Quad<Key> q;
        q.base = src + s.begin + quad;
        for (int j = 0; j < 4; ++j) {
          const int rest = n - quad - j * len;
          q.n[j] = rest < 0 ? 0 : (rest < len ? rest : len);
        }
        int from[4], to[4];
        quad_split_halfwarp(q, lane < 16 ? o0 - quad : o1 - quad, from);
#pragma unroll
        for (int j = 0; j < 4; ++j) to[j] = __shfl_sync(0xFFFFFFFFu, from[j], 16);
        mc.begin = s.begin;
        mc.quad = quad;
        mc.o0 = o0;
        mc.cnt = o1 - o0;
        bool sorted = true;
        for (int j = 0; j < 4; ++j) {
          mc.n[j] = q.n[j];
          mc.from[j] = from[j];
          mc.len[j] = to[j] - from[j];
          sorted = sorted && mc.len[j] >= 0;
        }
        if (!sorted) { /* unsorted lists (invalid, overlapping offsets): any in-range keys will do */
          mc.len[0] = q.n[0] - from[0] < mc.cnt ? q.n[0] - from[0] : mc.cnt;
          mc.len[1] = mc.len[2] = mc.len[3] = 0;
        }
      }
    }
    if (lane == 0) plan[warp] = mc;
  }
  __syncthreads();
  Key next[kSortIpt];
#pragma unroll
  for (int j = 0; j < kSortIpt; ++j) next[j] = KeyTraits<Key>::kNone;
  int k0 = 0;
  PKPO_REGION_BEGIN(idle_chunks);
  while (k0 < kMergeChunks && plan[k0].cnt == 0) ++k0;
  PKPO_REGION_END(idle_chunks);
  if (k0 < kMergeChunks) load_merge_chunk(src, plan[k0], next);
  PKPO_REGION_BEGIN(merge_chunks);
  for (int k = k0; k < kMergeChunks; ++k) {
    const MergeChunk mc = plan[k];
    if (mc.cnt == 0) continue; /* uniform across the block */
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) buf[j * kLargeBlock + (int)threadIdx.x] = next[j];
    __syncthreads();
    int kn = k + 1; /* the next chunk's keys, in flight during this chunk's merges */
    PKPO_REGION_BEGIN(idle_chunks);
    while (kn < kMergeChunks && plan[kn].cnt == 0) ++kn;
    PKPO_REGION_END(idle_chunks);
    if (kn < kMergeChunks) load_merge_chunk(src, plan[kn], next);
    const int lx = mc.len[0] + mc.len[1], ly = mc.len[2] + mc.len[3], tot = lx + ly;
    const int d = (int)threadIdx.x * kSortIpt < tot ? (int)threadIdx.x * kSortIpt : tot;
    Key m[kSortIpt];
    /* Each merge runs only if both of its sides have keys in this chunk (otherwise buf already
     * holds its result): a group of two runs, or a quad of one or two lists, takes at most one. */
    if ((mc.len[0] > 0 && mc.len[1] > 0) || (mc.len[2] > 0 && mc.len[3] > 0)) { /* uniform across the block */
      smem_merge<true>(buf, d, mc.len[0], mc.len[1], mc.len[2], mc.len[3], m); /* X = merge(A, B), Y = merge(C, D) */
      __syncthreads(); /* every thread has read buf */
#pragma unroll
      for (int j = 0; j < kSortIpt; ++j) buf[(int)threadIdx.x * kSortIpt + j] = m[j];
      __syncthreads();
    }
    PKPO_REGION_BEGIN(merge_x_with_y);
    if (lx > 0 && ly > 0) { /* uniform across the block */
      smem_merge<false>(buf, d, lx, ly, 0, 0, m); /* merge(X, Y) */
      __syncthreads();
#pragma unroll
      for (int j = 0; j < kSortIpt; ++j) buf[(int)threadIdx.x * kSortIpt + j] = m[j];
      __syncthreads();
    }
    PKPO_REGION_END(merge_x_with_y);
    /* striped: coalesced. A thread reads only the slots it writes first thing for the next chunk,
     * so no barrier is needed before that. */
    Key* out = dst + mc.begin + mc.o0;
#pragma unroll
    for (int j = 0; j < kSortIpt; ++j) {
      const int i = j * kLargeBlock + (int)threadIdx.x;
      if (i < mc.cnt) out[i] = buf[i];
    }
  }
  PKPO_REGION_END(merge_chunks);
}

/* The state of a large group, identical in every large-path kernel. A group whose tiles end past
 * tiles_bound (possible only with overlapping offsets) is invalid: its per-tile slots do not exist. */
template <typename Key>
__device__ __forceinline__ Resolved large_resolve(const Params& p, const GroupSpan& s, int64_t g,
                                                  const Key* sorted, int64_t k_req, const TileMap& tm,
                                                  int64_t tiles_bound) {
  (void)sorted;
  const bool valid = p.gbad[g] == 0 && large_tiles_fit(tiles_before(tm, g + 1), tiles_bound);
  /* gnone[g]: the group's non-finite samples, counted once by the run sort (its sorted keys end
   * with them: m = n - gnone finite keys first) */
  const int64_t nonfinite = valid ? (int64_t)p.gnone[g] : 0;
  return resolve_group(p.estimator, p.nonfinite, p.k_policy, s.n, nonfinite, k_req, valid,
                       p.write_out != 0);
}

/* prod_{j=e+1}^{m} r_j (weight_ratio's factors: the suffix product of the weights beyond rank
 * e >= 1) in closed form, so that no pass over the other tiles is needed for it: the product
 * telescopes to C(e-1, k-1) / C(m-1, k-1) = prod_{i=1}^{k-1} (e-i)/(m-i) (k-1 factors) and is also
 * prod_{j=e+1}^{m} (j-k)/(j-1) (m-e factors); the shorter one is taken, its factors (all in
 * (0, 1]) spread over the block's threads in a fixed order and combined by a block scan's total:
 * the same bits on every run, in every thread. 1 if e >= m; 0 if e < k (the factor r_k = 0). */
__device__ __forceinline__ double beyond_tile_product(int64_t e, int64_t m, int64_t k, double* warp_buf) {
  if (e >= m) return 1.0; /* uniform across the block */
  if (e < k) return 0.0;
  double x = 1.0;
  if (k - 1 <= m - e) {
    PKPO_REGION_BEGIN(beyond_tile_factors);
    for (int64_t i = 1 + (int64_t)threadIdx.x; i < k; i += kLargeBlock) {
      x *= (double)(e - i) / (double)(m - i);
    }
    PKPO_REGION_END(beyond_tile_factors);
  } else {
    PKPO_REGION_BEGIN(beyond_tile_factors);
    for (int64_t j = e + 1 + (int64_t)threadIdx.x; j <= m; j += kLargeBlock) {
      x *= (double)(j - k) / (double)(j - 1);
    }
    PKPO_REGION_END(beyond_tile_factors);
  }
  double total;
  block_exclusive_scan<kLargeBlock, false>(x, MulOp(), 1.0, warp_buf, &total);
  return total;
}

/* The large path's tile pass: ranks rank0+1 .. rank0+kLargeTile of a group of m >= 2 finite values
 * sorted in skeys[0..m-1] (global memory), up to `last_stage` (STAGE_TAIL or STAGE_TERMS). The
 * formulas are group_math.cuh's, with rho in its direct form: the summand of rank t is
 * mu_t (v_t - v_1) instead of (T'_t + k/m) d_t. Both sum to rho - v_1 (sum_t T'_t d_t =
 * sum_j mu_j (v_j - v_1) - (k/m)(v_m - v_1), exchanging the sums) with only non-negative terms,
 * but this one needs no T'. What differs from the small-group paths is how the large path gets there in
 * few passes: the weights' product beyond the tile comes from beyond_tile_product (no PROD stage),
 * the group constants are computed once per thread, the T' scan runs only for sloo (the one
 * formula that reads T'), the backward scan only for the formulas with suffix sums (not
 * sloo_minus_one), and each thread reads its ranks' values and their two neighbours once.
 * `carry` holds the other tiles' tail, pre, suf0 and suf1 (from large_carry_kernel; zero for a
 * stage that has not run). Totals of the stages run go to sm.total (valid in every thread on
 * return); with STAGE_TERMS and local_out, the tile-local output of every rank r < m of the tile
 * is stored in local_out[r]. */
struct LargeSmem {
  double wd[kLargeBlock / 32];
  D2 wd2[kLargeBlock / 32];
  TileAgg total;
};

template <typename Key>
__device__ __forceinline__ void large_tile_pass(const Key* skeys, int64_t m, int64_t k, int mode,
                                                int64_t rank0, int last_stage, const TileAgg& carry,
                                                double* local_out, LargeSmem& sm) {
  typedef KeyTraits<Key> KT;
  constexpr int IPT = kLargeIpt;
  const int64_t t0 = rank0 + (int64_t)threadIdx.x * IPT + 1; /* rank of item 0 */
  const GroupConsts<double> gc = group_consts<double>(m, k);
  double tot;

  /* 1. mu_t = (k/m) prod_{j>t} r_j */
  const double beyond = beyond_tile_product(rank0 + kLargeTile, m, k, sm.wd);
  double mu[IPT];
#pragma unroll
  for (int j = 0; j < IPT; ++j) mu[j] = weight_ratio(t0 + j, m, k);
  scan_items<kLargeBlock, IPT, true>(mu, MulOp(), 1.0, beyond, false, sm.wd, &tot);
#pragma unroll
  for (int j = 0; j < IPT; ++j) {
    const double w = gc.c * mu[j]; /* weight_from_product with k/m computed once */
    mu[j] = (t0 + j > m || w < PKPO__CUDA_WEIGHT_FLOOR) ? 0.0 : w;
  }

  /* 2. T'_t = sum_{j=t+1}^{m-1} mu_j (a suffix exclusive sum), sloo only */
  double tp[IPT];
#pragma unroll
  for (int j = 0; j < IPT; ++j) tp[j] = 0.0;
  PKPO_REGION_BEGIN(tail_scan);
  if (mode == MODE_SLOO) { /* uniform across the block */
#pragma unroll
    for (int j = 0; j < IPT; ++j) tp[j] = tail_summand(t0 + j, m, mu[j]);
    scan_items<kLargeBlock, IPT, true>(tp, AddOp(), 0.0, carry.tail, false, sm.wd, &tot);
    if (threadIdx.x == 0) sm.total.tail = tot;
  }
  PKPO_REGION_END(tail_scan);
  if (last_stage == STAGE_TAIL) {
    __syncthreads();
    return;
  }

  /* 3. Per-rank terms; forward scan of (pre, rho), backward scan of (suf0, suf1). v[q] = v_{t0-1+q}. */
  double v[IPT + 2];
#pragma unroll
  for (int q = 0; q < IPT + 2; ++q) {
    const int64_t t = t0 - 1 + q;
    v[q] = (t >= 1 && t <= m) ? KT::to_double(skeys[t - 1]) : 0.0;
  }
  const double v_first = KT::to_double(skeys[0]);
  D2 fw[IPT], bw[IPT];
  double own_pre[IPT];
#pragma unroll
  for (int j = 0; j < IPT; ++j) {
    const int64_t t = t0 + j;
    Terms x;
    if (t <= m) {
      x = rank_terms_of<double>(mode, t, m, gc, v[j], v[j + 1], v[j + 2], mu[j], tp[j]);
      x.rho = mu[j] * (v[j + 1] - v_first);
    } else {
      x.pre = 0.0;
      x.rho = 0.0;
      x.suf0 = 0.0;
      x.suf1 = 0.0;
    }
    fw[j] = make_d2(x.pre, x.rho);
    bw[j] = make_d2(x.suf0, x.suf1);
    own_pre[j] = x.pre;
  }
  D2 ftot, btot = make_d2(0.0, 0.0);
  scan_items<kLargeBlock, IPT, false>(fw, AddOp(), make_d2(0.0, 0.0), make_d2(carry.pre, 0.0), false,
                                      sm.wd2, &ftot);
  PKPO_REGION_BEGIN(backward_scan);
  if (mode == MODE_S || mode == MODE_SLOO || mode == MODE_L2O) { /* uniform across the block */
    scan_items<kLargeBlock, IPT, true>(bw, AddOp(), make_d2(0.0, 0.0), make_d2(carry.suf0, carry.suf1),
                                       true, sm.wd2, &btot);
  }
  PKPO_REGION_END(backward_scan);
  if (threadIdx.x == 0) {
    sm.total.pre = ftot.a;
    sm.total.rho = ftot.b;
    sm.total.suf0 = btot.a;
    sm.total.suf1 = btot.b;
  }
  /* 4. A transform's tile-local outputs (local_out != nullptr): the output of each rank as if the
   * other tiles' carries were 0. Every formula is linear in the scans, so large_scatter_kernel adds
   * the carries' part (TileAgg::lin, from large_carry_kernel) to get the output: no second pass
   * over the tile. */
  PKPO_REGION_BEGIN(tile_local_outputs);
  if (local_out) {
#pragma unroll
    for (int j = 0; j < IPT; ++j) {
      const int64_t t = t0 + j;
      if (t <= m) {
        Terms own;
        own.pre = own_pre[j];
        own.rho = 0.0;
        own.suf0 = 0.0;
        own.suf1 = 0.0;
        local_out[t - 1] = rank_output_of<double>(mode, gc, v[j + 1], v_first, own, fw[j].a, bw[j].a, bw[j].b);
      }
    }
  }
  PKPO_REGION_END(tile_local_outputs);
  __syncthreads();
}

/* One stage of the tile pass (STAGE_TAIL or STAGE_TERMS) on every tile (blockIdx.x) of every
 * large group, for the k of slot blockIdx.y (a curve) or the group's k (a transform, ks.count ==
 * 0; with p.write_out its TERMS stage also stores the tile-local outputs). */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_tile_kernel(const Params p, const TileMap tm,
                                                                const LargeKeys lk, TileAgg* agg,
                                                                int stage, const KSlots ks,
                                                                int64_t tiles_bound) {
  __shared__ LargeSmem sm;
  __shared__ TileAgg carry;
  int64_t g, tile;
  if (!tile_owner(tm, p.num_groups, blockIdx.x, &g, &tile)) return;
  const int64_t k_curve = ks.count > 0 ? ks.k[blockIdx.y] : 0;
  agg += (int64_t)blockIdx.y * tiles_bound;
  const GroupSpan s = group_span(p, g);
  if (!goes_large(p, s)) return;
  const Key* sorted = large_sorted<Key>(lk, s);
  const Resolved r = large_resolve(p, s, g, sorted, k_curve > 0 ? k_curve : s.k_req, tm, tiles_bound);
  if (r.action != ACT_GENERAL) return;
  const int64_t k = k_curve > 0 ? (k_curve < r.m ? k_curve : r.m) : r.k;
  const int mode = k_curve > 0 ? (int)MODE_RHO : r.mode;
  const int64_t rank0 = tile * kLargeTile;
  if (rank0 >= r.m) return; /* every rank of this tile is an excluded sample: no terms */
  if (threadIdx.x == 0) carry = agg[blockIdx.x];
  __syncthreads();
  const TileAgg c = carry;
  double* local_out = (stage == STAGE_TERMS && k_curve == 0 && p.write_out) ? large_local_out<Key>(lk, s) : nullptr;
  large_tile_pass<Key>(sorted, r.m, k, mode, rank0, stage, c, local_out, sm);
  if (threadIdx.x == 0) {
    TileAgg a = c;
    if (stage == STAGE_TAIL) a.tail = sm.total.tail;
    if (stage == STAGE_TERMS) {
      a.pre = sm.total.pre;
      a.rho = sm.total.rho;
      a.suf0 = sm.total.suf0;
      a.suf1 = sm.total.suf1;
    }
    agg[blockIdx.x] = a;
  }
}

/* Per group (blockIdx.x, grid-stride) and k slot (blockIdx.y, as large_tile_kernel): turns the tile
 * totals of `stage` into carries (fixed order), and after STAGE_TERMS writes rho and flags (also for
 * large groups that are not ACT_GENERAL). Tiles at or past rank m have no totals (large_tile_kernel
 * skipped them) and count as identities. */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_carry_kernel(const Params p, const TileMap tm,
                                                                 const LargeKeys lk, TileAgg* agg, int stage,
                                                                 const KSlots ks, int64_t k_flags,
                                                                 int64_t tiles_bound) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value V;
  __shared__ double wd[kLargeBlock / 32];
  __shared__ D2 wd2[kLargeBlock / 32];
  const int64_t k_curve = ks.count > 0 ? ks.k[blockIdx.y] : 0;
  const int64_t col = ks.count > 0 ? ks.first + blockIdx.y : 0;
  agg += (int64_t)blockIdx.y * tiles_bound;
  PKPO_REGION_BEGIN(groups_of_block);
  for (int64_t g = blockIdx.x; g < p.num_groups; g += gridDim.x) {
    const GroupSpan s = group_span(p, g);
    if (!goes_large(p, s)) continue;
    const Key* sorted = large_sorted<Key>(lk, s);
    const int64_t tb = tiles_before(tm, g);
    const int64_t nt = tiles_before(tm, g + 1) - tb;
    const Resolved rf = large_resolve(p, s, g, sorted, k_flags > 0 ? k_flags : s.k_req, tm, tiles_bound);
    const Resolved r = large_resolve(p, s, g, sorted, k_curve > 0 ? k_curve : s.k_req, tm, tiles_bound);
    const bool last = stage == STAGE_TERMS;
    PKPO_REGION_BEGIN(not_general);
    if (r.action != ACT_GENERAL) {
      if (last && threadIdx.x == 0) {
        if (rf.action == ACT_ERROR) {
          report_error(p, g, rf.error_bits);
        } else {
          if (p.flags) p.flags[g] = rf.flags;
          double rho = 0.0;
          if (r.action == ACT_INVALID || r.action == ACT_PROPAGATE) {
            rho = __longlong_as_double(0x7FF8000000000000LL);
          } else if (r.action == ACT_SINGLE) {
            rho = KT::to_double(sorted[0]);
          }
          write_rho<V>(p, g, col, rho);
        }
      }
      __syncthreads();
      continue;
    }
    PKPO_REGION_END(not_general);
    const int64_t used = (r.m + kLargeTile - 1) / kLargeTile; /* tiles with ranks <= m */
    if (stage == STAGE_TAIL) {
      PKPO_REGION_BEGIN(tail_carries);
      /* suffix exclusive sum over tiles, from the last tile down */
      double carry = 0.0;
      const int64_t nchunks = (nt + kLargeBlock - 1) / kLargeBlock;
      PKPO_REGION_BEGIN(tile_chunks);
      for (int64_t ch = nchunks - 1; ch >= 0; --ch) {
        const int64_t i = ch * kLargeBlock + threadIdx.x;
        const double x = i < used ? agg[tb + i].tail : 0.0;
        double total;
        const double ex = block_exclusive_scan<kLargeBlock, true>(x, AddOp(), 0.0, wd, &total) + carry;
        carry = total + carry;
        if (i < nt) agg[tb + i].tail = ex;
      }
      PKPO_REGION_END(tile_chunks);
    } else {
      PKPO_REGION_END(tail_carries);
      /* forward exclusive sum of pre (and the rho total), backward exclusive sums of suf0/suf1 */
      D2 fcarry = make_d2(0.0, 0.0);
      const int64_t nchunks = (nt + kLargeBlock - 1) / kLargeBlock;
      PKPO_REGION_BEGIN(tile_chunks);
      for (int64_t ch = 0; ch < nchunks; ++ch) {
        const int64_t i = ch * kLargeBlock + threadIdx.x;
        D2 x = make_d2(0.0, 0.0);
        if (i < used) x = make_d2(agg[tb + i].pre, agg[tb + i].rho);
        D2 total;
        D2 ex = block_exclusive_scan<kLargeBlock, false>(x, AddOp(), make_d2(0.0, 0.0), wd2, &total);
        ex = fcarry + ex;
        fcarry = fcarry + total;
        if (i < nt) agg[tb + i].pre = ex.a;
      }
      PKPO_REGION_END(tile_chunks);
      /* A transform's outputs: each tile's carries' part of them (TileAgg::lin, read by
       * large_scatter_kernel with the tile-local outputs). */
      const bool lin = ks.count == 0 && p.write_out;
      const GroupConsts<double> gc = group_consts<double>(r.m, r.k);
      Terms zero;
      zero.pre = 0.0;
      zero.rho = 0.0;
      zero.suf0 = 0.0;
      zero.suf1 = 0.0;
      D2 bcarry = make_d2(0.0, 0.0);
      PKPO_REGION_BEGIN(tile_chunks);
      for (int64_t ch = nchunks - 1; ch >= 0; --ch) {
        const int64_t i = ch * kLargeBlock + threadIdx.x;
        D2 x = make_d2(0.0, 0.0);
        if (i < used) x = make_d2(agg[tb + i].suf0, agg[tb + i].suf1);
        D2 total;
        D2 ex = block_exclusive_scan<kLargeBlock, true>(x, AddOp(), make_d2(0.0, 0.0), wd2, &total);
        ex = bcarry + ex;
        bcarry = bcarry + total;
        if (i < nt) {
          agg[tb + i].suf0 = ex.a;
          agg[tb + i].suf1 = ex.b;
          /* agg[tb + i].pre: this thread's own store of the forward loop */
          if (lin) agg[tb + i].lin = rank_output_of<double>(r.mode, gc, 0.0, 0.0, zero, agg[tb + i].pre, ex.a, ex.b);
        }
      }
      PKPO_REGION_END(tile_chunks);
      if (threadIdx.x == 0) {
        if (rf.action == ACT_ERROR) {
          report_error(p, g, rf.error_bits);
        } else {
          if (p.flags) p.flags[g] = rf.flags;
          write_rho<V>(p, g, col, KT::to_double(sorted[0]) + fcarry.b);
        }
      }
    }
    __syncthreads();
  }
  PKPO_REGION_END(groups_of_block);
}

/* Outputs of the large groups, from sorted order to input order (the tie rule of the block path:
 * a sample takes the output of the first rank holding its key). */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_scatter_kernel(const Params p, const TileMap tm,
                                                                   const LargeKeys lk, const TileAgg* agg,
                                                                   int64_t tiles_bound, int fold) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value V;
  __shared__ double lin_s[kLargeFoldTiles];
  __shared__ double wd[kLargeBlock / 32];
  __shared__ D2 wd2[kLargeBlock / 32];
  int64_t g, tile;
  if (!tile_owner(tm, p.num_groups, blockIdx.x, &g, &tile)) return;
  const GroupSpan s = group_span(p, g);
  if (!goes_large(p, s)) return;
  const Key* sorted = large_sorted<Key>(lk, s);
  const double* local_out = large_local_out<Key>(lk, s);
  const TileAgg* tile_agg = agg + tiles_before(tm, g);
  const Resolved r = large_resolve(p, s, g, sorted, s.k_req, tm, tiles_bound);
  PKPO_REGION_BEGIN(fold_carries);
  if (fold) {
    /* The TERMS carry kernel's work, folded in (uniform layout, at most kLargeFoldTiles tiles per
     * group): every block forms the carries' part of all tiles of its group from their totals
     * (tiles 2t and 2t + 1 in thread t; the same fixed-order scans in every block, so the same
     * bits), and the block of tile 0 writes rho and flags or reports the group's error. */
    if (r.action == ACT_GENERAL) { /* uniform across the block */
      const int64_t used = (r.m + kLargeTile - 1) / kLargeTile; /* tiles with ranks <= m */
      const int i0 = 2 * (int)threadIdx.x, i1 = i0 + 1;
      const bool own0 = i0 < used, own1 = i1 < used;
      /* Only the carries the group's formula reads: forward sums of pre (all but s), backward
       * sums of suf0 and suf1 (s, sloo, l2o). */
      double fw0 = 0.0, fw1 = 0.0;
      D2 bw0 = make_d2(0.0, 0.0), bw1 = bw0;
      if (r.mode != MODE_S) { /* uniform across the block */
        const double x0 = own0 ? tile_agg[i0].pre : 0.0, x1 = own1 ? tile_agg[i1].pre : 0.0;
        double total;
        fw0 = block_exclusive_scan<kLargeBlock, false>(x0 + x1, AddOp(), 0.0, wd, &total);
        fw1 = fw0 + x0;
      }
      PKPO_REGION_BEGIN(backward_carries);
      if (r.mode == MODE_S || r.mode == MODE_SLOO || r.mode == MODE_L2O) { /* uniform across the block */
        const D2 y0 = own0 ? make_d2(tile_agg[i0].suf0, tile_agg[i0].suf1) : make_d2(0.0, 0.0);
        const D2 y1 = own1 ? make_d2(tile_agg[i1].suf0, tile_agg[i1].suf1) : make_d2(0.0, 0.0);
        D2 total;
        bw1 = block_exclusive_scan<kLargeBlock, true>(y0 + y1, AddOp(), make_d2(0.0, 0.0), wd2, &total);
        bw0 = bw1 + y1;
      }
      PKPO_REGION_END(backward_carries);
      /* The carries' part of an output (v = v_1 = 0) reads only k/(m-1), and only for sloo: no
       * other constant (each a float64 division) in every thread. */
      GroupConsts<double> gc;
      gc.c = gc.w = gc.mk = gc.sh = 0.0;
      gc.q = r.mode == MODE_SLOO ? (double)r.k / (double)(r.m - 1) : 0.0;
      Terms zero;
      zero.pre = 0.0;
      zero.rho = 0.0;
      zero.suf0 = 0.0;
      zero.suf1 = 0.0;
      lin_s[i0] = rank_output_of<double>(r.mode, gc, 0.0, 0.0, zero, fw0, bw0.a, bw0.b);
      lin_s[i1] = rank_output_of<double>(r.mode, gc, 0.0, 0.0, zero, fw1, bw1.a, bw1.b);
      if (tile == 0) { /* uniform across the block: the group's rho and flags, once */
        double rho_sum = 0.0;
        PKPO_REGION_BEGIN(rho_sum);
        if (p.rho) {
          /* in large_carry_kernel's order (chunks of kLargeBlock tiles, one per thread), so that
           * rho is bit for bit the rho of the same call without outputs or of a rho curve */
          PKPO_REGION_BEGIN(tile_chunks);
          for (int64_t ch = 0; ch * kLargeBlock < tm.per_group; ++ch) {
            const int64_t i = ch * kLargeBlock + threadIdx.x;
            double total;
            (void)block_exclusive_scan<kLargeBlock, false>(i < used ? tile_agg[i].rho : 0.0, AddOp(), 0.0, wd, &total);
            rho_sum = rho_sum + total;
          }
          PKPO_REGION_END(tile_chunks);
        }
        PKPO_REGION_END(rho_sum);
        if (threadIdx.x == 0) {
          if (p.flags) p.flags[g] = r.flags;
          write_rho<V>(p, g, 0, KT::to_double(sorted[0]) + rho_sum);
        }
      }
      __syncthreads();
    } else if (tile == 0 && threadIdx.x == 0) {
      if (r.action == ACT_ERROR) {
        report_error(p, g, r.error_bits);
      } else {
        if (p.flags) p.flags[g] = r.flags;
        double rho = 0.0;
        if (r.action == ACT_INVALID || r.action == ACT_PROPAGATE) {
          rho = __longlong_as_double(0x7FF8000000000000LL);
        } else if (r.action == ACT_SINGLE) {
          rho = KT::to_double(sorted[0]);
        }
        write_rho<V>(p, g, 0, rho);
      }
    }
  }
  PKPO_REGION_END(fold_carries);
  if (r.action == ACT_INVALID || r.action == ACT_ERROR) return;
  const int64_t lo = tile * kLargeTile;
  const int cnt = (int)(lo + kLargeTile < s.n ? kLargeTile : s.n - lo);
  const int m = (int)r.m; /* m <= kMaxLargeGroup < 2^31: int ranks */
  /* the thread's samples and keys (striped: coalesced); kNone for a non-finite reward and past the
   * tile */
  Key key[kLargeIpt];
  int64_t src[kLargeIpt];
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) {
    const int i = j * kLargeBlock + (int)threadIdx.x;
    key[j] = KT::kNone;
    src[j] = -1;
    if (i < cnt) {
      src[j] = sample_of(p, s.begin + lo + i);
      const V x = static_cast<const V*>(p.rewards)[src[j]];
      if (KT::finite(KT::bits(x))) key[j] = KT::to_key(x);
    }
  }
  /* The first rank holding each key (the tie rule): a branchless lower bound over the m sorted keys,
   * level by level for all of the thread's keys at once (their probes are independent loads in
   * flight together; ceil(log2 m) levels, the same for every key). Every index stays inside the
   * group even if overlapping (invalid) offsets made two groups race in the sort. */
  int at[kLargeIpt];
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) at[j] = 0;
  if (r.action == ACT_GENERAL) { /* uniform across the block */
    PKPO_REGION_BEGIN(rank_search);
    for (int len = m; len > 1;) {
      const int half = len >> 1;
#pragma unroll
      for (int j = 0; j < kLargeIpt; ++j) at[j] = sorted[at[j] + half] < key[j] ? at[j] + half : at[j];
      len -= half;
    }
    PKPO_REGION_END(rank_search);
#pragma unroll
    for (int j = 0; j < kLargeIpt; ++j) {
      if (sorted[at[j]] < key[j] && at[j] + 1 < m) ++at[j];
    }
  }
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) {
    if (src[j] < 0) continue; /* past the tile */
    double value;
    if (r.action == ACT_PROPAGATE) {
      value = __longlong_as_double(0x7FF8000000000000LL);
    } else if (key[j] == KT::kNone) {
      value = 0.0; /* excluded */
    } else if (r.action == ACT_SINGLE) {
      value = single_output(p.estimator, KT::to_double(key[j])); /* -0.0 -> +0.0, as the CPU */
    } else {
      /* the tile-local output of the rank plus its tile's carries' part: the same two values, so
       * the same bits, for every sample tied with it */
      const int rank = at[j];
      value = local_out[rank] + (fold ? lin_s[rank / kLargeTile] : tile_agg[rank / kLargeTile].lin);
    }
    store_value<V>(p.out, src[j], value);
  }
}

/* Largest valid group of a ragged layout (max_group_size = 0 on the host). */
__global__ void max_group_kernel(const Params p) {
  unsigned long long mx = 0;
  for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < p.num_groups;
       g += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = p.offsets[g], e = p.offsets[g + 1];
    if (0 <= b && b <= e && e <= p.num_samples && (unsigned long long)(e - b) > mx) {
      mx = (unsigned long long)(e - b);
    }
  }
  if (mx > 0) atomicMax(&p.status->max_n, mx);
}

/* Block-path size class of group g (kBlockClasses): 0 for n <= 8 and for the invalid groups (the
 * class whose launch flags them), -1 for the large path's groups; the same rule as the warp and
 * group kernels' own test of which groups a launch takes. */
__device__ __forceinline__ int block_class_of(const Params& p, int64_t g) {
  const GroupSpan s = group_span(p, g);
  if (!s.valid || s.n <= 8) return 0;
  if (goes_large(p, s)) return -1;
  int c = 0;
  while ((int64_t(8) << c) < s.n) ++c; /* n <= kBlockMaxN = 8 << 9: at most 9 steps */
  return c;
}

/* Buckets the groups of a ragged call by size class (one thread per group): class c's ids go to
 * bm.list[bm.base[c] ...], in an order that depends on the atomics (every group's results are
 * its own, so the order changes no output bit); one atomic per class present in a warp. A group
 * beyond its class's capacity (only possible when invalid, overlapping offsets make the groups
 * hold more samples than the batch has) is flagged INVALID here, its rho NaN and its outputs
 * untouched, as the large path treats groups beyond its tables. */
template <typename Key>
__global__ void bucket_kernel(const Params p, const BucketMap bm) {
  typedef typename KeyTraits<Key>::Value V;
  const int lane = threadIdx.x & 31;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  /* every lane of a warp runs the same trips (the ballots below) */
  for (int64_t base = (int64_t)blockIdx.x * blockDim.x + (threadIdx.x & ~31u); base < p.num_groups; base += stride) {
    const int64_t g = base + lane;
    const int c = g < p.num_groups ? block_class_of(p, g) : -1;
    unsigned pending = __ballot_sync(0xFFFFFFFFu, c >= 0);
    while (pending) {
      const int leader = __ffs((int)pending) - 1;
      const int cl = __shfl_sync(0xFFFFFFFFu, c, leader);
      const unsigned peers = __ballot_sync(0xFFFFFFFFu, c == cl);
      unsigned first = 0;
      if (lane == leader) first = atomicAdd(&p.status->class_count[cl], (unsigned)__popc(peers));
      first = __shfl_sync(0xFFFFFFFFu, first, leader);
      if (c == cl) {
        const int64_t slot = (int64_t)first + __popc(peers & ((1u << lane) - 1u));
        if (slot < bm.cap[cl]) {
          bm.list[bm.base[cl] + slot] = (unsigned)g;
        } else {
          if (p.flags) p.flags[g] = PKPO_FLAG_INVALID;
          for (int64_t col = 0; col < p.rho_stride; ++col)
            write_rho<V>(p, g, col, __longlong_as_double(0x7FF8000000000000LL));
        }
      }
      pending &= ~peers;
    }
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_TRANSFORM_KERNELS_CUH */
