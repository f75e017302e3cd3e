/*
 * large_sort_kernels.cuh -- the large path's sort: every large group's keys sorted into one of the
 * two key buffers (large_common.cuh, LargeKeys). large_plan_kernel counts a ragged batch's tiles
 * (the input of the tile map's scan). large_sort_tile_kernel reads each 4096-key run of a group
 * (coalesced; the keys of the negated rewards under the min statistic), counts its non-finite
 * samples once and sorts it in shared memory (block_merge_sort: a register bitonic sort of 16 keys
 * per thread, then 8 merge-path passes). large_merge_kernel then
 * merges a group's sorted lists four at a time (the splits and shared-memory merges:
 * merge_kernels.cuh), eight 4096-key output chunks per block, each planned by one warp, until each
 * group is one run: ceil(log4(runs)) passes, a group taking part only in those it needs, so its
 * keys end in the buffer that its own pass count picks.
 */
#ifndef PKPO_CUDA_LARGE_SORT_KERNELS_CUH
#define PKPO_CUDA_LARGE_SORT_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "keys.cuh"
#include "large_common.cuh"
#include "merge_kernels.cuh"
#include "model_region.h"
#include "params.h"

namespace pkpo_cuda {

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
 * static cost model's run of 2026-11-25 (bench/results/2026-12-04-cuda-cost-model) counts ~17
 * warp-instructions per reward for its 8 passes of 4 bits over 32-bit keys; the merge sort needs no
 * digit counters, ranks or scans.
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
#pragma unroll
  for (int j = 0; j < kSortIpt; ++j) {
    const int64_t i = (int64_t)j * kLargeBlock + threadIdx.x; /* striped */
    Key key = KT::kNone;
    if (i < cnt) { /* negated under the min statistic; kNone for a non-finite reward or a bad entry */
      int64_t src;
      bool nf = false;
      key = load_key<Key, true>(p, s.begin + lo + i, &src, &nf, &bad);
      nonfinite += nf ? 1u : 0u;
    }
    tile_keys[j] = key;
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
  if (bad) atomicOr(&p.gbad[g], 1u);
  /* non-finite samples of this thread (kNone keys that are not padding): the group's count, read
   * by large_resolve; integer atomics, so the same total on every run */
  if (nonfinite) atomicAdd(&p.gnone[g], nonfinite);
}

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
 * after another, loading the next chunk's keys while it merges the current one. Chosen by the
 * static cost model's run of 2026-12-04 (bench/results/2026-12-04-cuda-cost-model): one chunk per
 * block, its splits found by all 256 threads, cost 11.7 warp-instructions per reward and pass. */
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

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LARGE_SORT_KERNELS_CUH */
