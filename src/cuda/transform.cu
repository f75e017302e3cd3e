/*
 * transform.cu -- launchers of the transform and rho-curve kernels: workspace layout, path choice,
 * grid and shared-memory arithmetic. Host code; every CUDA call is checked and the first error
 * returned. Nothing here synchronises or allocates.
 */
#include <limits.h>
#include <stdint.h>

#include <algorithm>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include "kernel_launch.cuh"
#include "launch.h"
#include "transform_kernels.cuh"
#include "warp_kernels.cuh"

#define PKPO_CUDA_TRY(expr)              \
  do {                                   \
    const cudaError_t pkpo_e_ = (expr);  \
    if (pkpo_e_ != cudaSuccess) return pkpo_e_; \
  } while (0)

namespace pkpo_cuda {

namespace {

constexpr size_t kAlign = 256;
/* Grouped positions per segmented-sort call: CUB's segmented sort takes int offsets, so each call
 * covers the groups that begin in one window of 2^30 positions (offsets relative to the window
 * start stay below 2^30 + kMaxLargeGroup < 2^31). Batches of more than 2^31 rewards work. */
constexpr int64_t kWindow = int64_t(1) << 30;
/* Threads of the one-thread-per-group helper kernels. Unmeasured: chosen because they only read
 * two offsets and write a few words per group (bandwidth-bound, any multiple of 32 works). */
constexpr int kHelperBlock = 256;
constexpr int64_t kMaxGrid = INT_MAX;

size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

/* Segment t of the segmented sort is the large group whose first tile is t (tile_base: exclusive
 * scan of the tiles of each group), so that the sort has one segment per tile bound rather than
 * one per group: 4M small groups and one large group make ~N/1024 mostly empty segments, not 4M.
 * Begin/end are relative to the window [base, limit); groups that do not begin in the window (or
 * are not large) and tiles that are not a group's first get an empty segment. */
struct SegOffset {
  const int64_t* begin;
  const int64_t* end;
  const int64_t* tile_base;
  int64_t num_groups;
  int64_t base;
  int64_t limit;
  int want_end;
  __host__ __device__ int operator()(int t) const {
    if (t >= tile_base[num_groups]) return 0;
    int64_t lo = 0, hi = num_groups; /* last g with tile_base[g] <= t */
    while (hi - lo > 1) {
      const int64_t mid = lo + ((hi - lo) >> 1);
      if (tile_base[mid] <= t) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    if (tile_base[lo] != t) return 0;
    const int64_t b = begin[lo], e = end[lo];
    if (e <= b || b < base || b >= limit) return 0;
    return (int)((want_end ? e : b) - base);
  }
};
typedef thrust::transform_iterator<SegOffset, thrust::counting_iterator<int>> SegIter;

SegIter seg_iter(const int64_t* b, const int64_t* e, const int64_t* tile_base, int64_t num_groups,
                 int64_t base, int want_end) {
  SegOffset f;
  f.begin = b;
  f.end = e;
  f.tile_base = tile_base;
  f.num_groups = num_groups;
  f.base = base;
  f.limit = base + kWindow;
  f.want_end = want_end;
  return SegIter(thrust::counting_iterator<int>(0), f);
}

template <typename Key>
cudaError_t segmented_sort_bytes(int items, int segments, size_t* bytes) {
  cub::DoubleBuffer<Key> db(nullptr, nullptr);
  SegIter it = seg_iter(nullptr, nullptr, nullptr, 0, 0, 0);
  *bytes = 0;
  return cub::DeviceSegmentedRadixSort::SortKeys(nullptr, *bytes, db, items, segments, it, it, 0,
                                                  (int)sizeof(Key) * 8, (cudaStream_t)0);
}

template <typename Key>
cudaError_t whole_sort_bytes(int64_t items, size_t* bytes) {
  cub::DoubleBuffer<Key> db(nullptr, nullptr);
  *bytes = 0;
  return cub::DeviceRadixSort::SortKeys(nullptr, *bytes, db, items, 0, (int)sizeof(Key) * 8,
                                        (cudaStream_t)0);
}

unsigned grid_for(int64_t blocks) {
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>(blocks, kMaxGrid));
}

template <typename T>
T* at(void* ws, size_t off) {
  return reinterpret_cast<T*>(static_cast<char*>(ws) + off);
}

/* ---- block path ---------------------------------------------------------------------------------- */

/* Groups of at most kWarpMaxN rewards run on the warp kernels (warp_kernels.cuh), larger ones up
 * to kLargeTile on one thread block each: 128x4 (n <= 512) and 256x8 (n <= 2048). Unmeasured:
 * 128x4 holds 512 ranks with 4 float64 of each per-rank array per thread, and 256x8 (the large-path
 * tile) tops out at 2048 ranks within 48 KiB of static shared memory for 64-bit keys. */
/* Each group runs on the configuration of its own size (issue 9: one large group or a loose
 * max_group_size must not put every small group on 256x8). A uniform layout has one size: one
 * launch, which also takes the groups a device-side check found invalid. A ragged layout gets one
 * launch per configuration up to its max_group_size, each striding over all groups and skipping
 * those of other sizes (the smallest takes the invalid ones); a larger block configuration gets a
 * grid bounded by how many groups of its size the batch can hold (N / (lower + 1)) and by
 * kRouteGrid. kRouteGrid: unmeasured; chosen because 1024 blocks of 128-256 threads fill an H100
 * (132 SMs, register-bound at 1-4 blocks per SM) several times over, while the skipping costs two
 * offset reads per group per block. */
constexpr int64_t kRouteGrid = 1024;
/* Largest grid of a warp-kernel launch (grid-stride beyond it). Unmeasured: chosen because 2048
 * blocks of 8 warps are about two waves of an H100 (132 SMs x 64 warps), and each block builds its
 * weight table once for all the groups it strides over. */
constexpr int64_t kWarpGrid = 2048;

unsigned route_grid(int64_t groups, int64_t samples, int64_t lower, bool smallest) {
  if (smallest) return grid_for(groups);
  return grid_for(std::min<int64_t>(std::min<int64_t>(groups, samples / (lower + 1) + 1), kRouteGrid));
}

/* The warp configuration of groups of n <= kWarpMaxN: C = W*V ranks (the power of two >= n, at
 * least 4), V = 4 registers per lane (2 for C = 4) and W = C/V lanes per group. Chosen by the static
 * cost model (bench/cost_model.md): with one rank per lane the per-group work (bounds, resolve,
 * table lookups) is repeated by every lane and dominates; four ranks per lane amortise it, and the
 * bitonic stages with strides >= W compare registers without shuffles. */
struct WarpClass {
  int W, V;
};
WarpClass warp_class(int64_t n) {
  int C = 4;
  while (C < n) C *= 2;
  return C == 4 ? WarpClass{2, 2} : WarpClass{C / 4, 4}; /* C = 128: 32 x 4 */
}

/* One launch of the warp kernel of class c, for the valid groups with lower < n <= W*V (and the
 * invalid ones when lower == 0). The weight table covers every m the launch can meet with the
 * call's k (none for a curve or per-group k). */
template <typename Key>
cudaError_t launch_warp(const Params& p, const KChunk& kc, WarpClass c, int64_t lower, int64_t max_n,
                        cudaStream_t stream) {
  WarpTab tab;
  tab.k = p.k;
  const int64_t cap = c.W * c.V;
  tab.m_lo = (int)std::min<int64_t>(cap + 1, std::max<int64_t>(std::max<int64_t>(2, p.k), lower + 1));
  tab.m_hi = (int)std::min<int64_t>(cap, max_n);
  tab.m_lo = std::max(tab.m_lo, tab.m_hi - warp_tab_rows((int)cap) + 1);
  if (kc.count > 0 || p.k_per_group) tab.m_hi = tab.m_lo - 1; /* no table */
  /* Blocks for every group slot, or (a ragged launch above the smallest) for as many groups of
   * more than `lower` rewards as the batch can hold; grid-stride beyond kWarpGrid / kRouteGrid. */
  const int64_t groups_per_block = (kWarpBlock / 32) * (32 / c.W);
  const int64_t slots = lower > 0 ? std::min<int64_t>(p.num_groups, p.num_samples / (lower + 1) + 1) : p.num_groups;
  const unsigned grid = grid_for(std::min<int64_t>((slots + groups_per_block - 1) / groups_per_block,
                                                   lower > 0 ? kRouteGrid : kWarpGrid));
#define PKPO_WARP_CASE(w, v) \
  if (c.W == w && c.V == v) return launch_kernel(warp_kernel<w, v, Key>, grid, kWarpBlock, stream)(p, kc, lower, tab)
  PKPO_WARP_CASE(2, 2);
  PKPO_WARP_CASE(2, 4);
  PKPO_WARP_CASE(4, 4);
  PKPO_WARP_CASE(8, 4);
  PKPO_WARP_CASE(16, 4);
  PKPO_WARP_CASE(32, 4);
#undef PKPO_WARP_CASE
  return cudaErrorInvalidConfiguration;
}

template <typename Key>
cudaError_t launch_block(const Params& p, const KChunk& kc, int64_t max_n, cudaStream_t stream) {
  const int64_t G = p.num_groups, N = p.num_samples;
  if (p.uniform_n > 0) {
    /* One size. Groups are invalid only through a per-group k < 1; without one, a uniform batch
     * on the large path needs no launch here. */
    const int64_t n = p.uniform_n;
    if (n <= kWarpMaxN) return launch_warp<Key>(p, kc, warp_class(n), 0, max_n, stream);
    if (n <= 512) return launch_kernel(block_kernel<128, 4, Key>, grid_for(G), 128, stream)(p, kc, 0);
    if (n <= kLargeTile) return launch_kernel(block_kernel<256, 8, Key>, grid_for(G), 256, stream)(p, kc, 0);
    if (p.k_per_group) return launch_warp<Key>(p, kc, warp_class(1), 0, max_n, stream);
    return cudaSuccess;
  }
  /* Ragged: the warp classes of n <= 8 (and the empty and invalid groups), 9..16, 17..32, 33..64, 65..128,
   * then the block kernels. */
  PKPO_CUDA_TRY(launch_warp<Key>(p, kc, warp_class(8), 0, max_n, stream));
  for (int64_t lower = 8; lower < kWarpMaxN && max_n > lower; lower *= 2) {
    PKPO_CUDA_TRY(launch_warp<Key>(p, kc, warp_class(lower + 1), lower, max_n, stream));
  }
  if (max_n > kWarpMaxN) {
    PKPO_CUDA_TRY(launch_kernel(block_kernel<128, 4, Key>, route_grid(G, N, kWarpMaxN, false), 128, stream)(
        p, kc, int64_t(kWarpMaxN)));
  }
  if (max_n > 512) {
    PKPO_CUDA_TRY(launch_kernel(block_kernel<256, 8, Key>, route_grid(G, N, 512, false), 256, stream)(
        p, kc, int64_t(512)));
  }
  return cudaSuccess;
}

/* ---- large path ---------------------------------------------------------------------------------- */

struct LargeBuffers {
  const void* sorted; /* Key* */
  void* other;        /* Key*: free after the sort, holds the sorted outputs (V*) */
};

/* Keys, segmented sort, and the tile grid of the large groups. */
template <typename Key>
cudaError_t large_prepare(const Params& p, const Shape& sh, const WsLayout& L, void* ws,
                          cudaStream_t stream, LargeBuffers* out) {
  const int64_t G = sh.num_groups;
  int64_t* ntiles = at<int64_t>(ws, L.ntiles);
  int64_t* tile_base = at<int64_t>(ws, L.tile_base);
  int64_t* seg_begin = at<int64_t>(ws, L.seg_begin);
  int64_t* seg_end = at<int64_t>(ws, L.seg_end);
  PKPO_CUDA_TRY(launch_kernel(large_plan_kernel, grid_for((G + 1 + kHelperBlock - 1) / kHelperBlock),
                              kHelperBlock, stream)(p, ntiles, seg_begin, seg_end));
  size_t scan_bytes = L.scan_tmp_bytes;
  PKPO_CUDA_TRY(cub::DeviceScan::ExclusiveSum(at<void>(ws, L.scan_tmp), scan_bytes, ntiles, tile_base,
                                              G + 1, stream));
  PKPO_CUDA_TRY(cudaMemsetAsync(at<void>(ws, L.agg), 0,
                                (size_t)L.tiles_bound * kCurveSlots * sizeof(TileAgg), stream));
  Key* keys_a = at<Key>(ws, L.keys_a);
  Key* keys_b = at<Key>(ws, L.keys_b);
  if (L.whole_sort) {
    /* The whole-array sort reads all N keys, but the keys kernel writes only a valid large group's
     * (none if the one group is invalid, e.g. k < 1): the rest become kNone (all ones). */
    PKPO_CUDA_TRY(cudaMemsetAsync(keys_a, 0xFF, (size_t)sh.num_samples * sizeof(Key), stream));
  }
  PKPO_CUDA_TRY(launch_kernel(large_keys_kernel<Key>, grid_for(L.tiles_bound), kLargeBlock, stream)(
      p, tile_base, keys_a));
  int selector = 0;
  if (L.whole_sort) {
    /* One group covering [0, N): CUB's onesweep radix sort uses the whole GPU, where the segmented
     * sort would sort the single segment with one thread block. */
    cub::DoubleBuffer<Key> db(keys_a, keys_b);
    size_t sort_bytes = L.sort_tmp_bytes;
    PKPO_CUDA_TRY(cub::DeviceRadixSort::SortKeys(at<void>(ws, L.sort_tmp), sort_bytes, db,
                                                 sh.num_samples, 0, (int)sizeof(Key) * 8, stream));
    out->sorted = db.selector ? keys_b : keys_a;
    out->other = db.selector ? keys_a : keys_b;
    return cudaSuccess;
  }
  for (int w = 0; w < L.num_windows; ++w) {
    const int64_t base = (int64_t)w * L.window;
    const int64_t items = std::min<int64_t>(sh.num_samples - base, (int64_t)L.sort_items);
    cub::DoubleBuffer<Key> db(keys_a + base, keys_b + base);
    size_t sort_bytes = L.sort_tmp_bytes;
    PKPO_CUDA_TRY(cub::DeviceSegmentedRadixSort::SortKeys(
        at<void>(ws, L.sort_tmp), sort_bytes, db, (int)items, (int)L.tiles_bound,
        seg_iter(seg_begin, seg_end, tile_base, G, base, 0), seg_iter(seg_begin, seg_end, tile_base, G, base, 1),
        0, (int)sizeof(Key) * 8, stream));
    selector = db.selector; /* the same for every window: same key width, same passes */
  }
  out->sorted = selector ? keys_b : keys_a;
  out->other = selector ? keys_a : keys_b;
  return cudaSuccess;
}

/* Stages PROD, TAIL, TERMS with their carry scans; TERMS' carry kernel writes rho and flags.
 * ks.count > 0: up to kCurveSlots curve columns (MODE_RHO) side by side. */
template <typename Key>
cudaError_t large_rho_stages(const Params& p, const WsLayout& L, void* ws, const LargeBuffers& b,
                             const KSlots& ks, int64_t k_flags, cudaStream_t stream) {
  typedef typename KeyTraits<Key>::Value V;
  const int64_t* tile_base = at<int64_t>(ws, L.tile_base);
  TileAgg* agg = at<TileAgg>(ws, L.agg);
  const Key* sorted = static_cast<const Key*>(b.sorted);
  V* out_sorted = static_cast<V*>(b.other);
  const unsigned slots = (unsigned)std::max(1, ks.count);
  const dim3 tiles(grid_for(L.tiles_bound), slots);
  /* One block per large group at most: there are at most N / (kLargeTile + 1) of them (the carry
   * kernel strides over the groups and skips the others). */
  const dim3 groups(grid_for(std::min<int64_t>(p.num_groups, p.num_samples / (kLargeTile + 1) + 1)), slots);
  for (int stage = STAGE_PROD; stage <= STAGE_TERMS; ++stage) {
    PKPO_CUDA_TRY(launch_kernel(large_tile_kernel<Key>, tiles, kLargeBlock, stream)(
        p, tile_base, sorted, agg, out_sorted, stage, ks, L.tiles_bound));
    PKPO_CUDA_TRY(launch_kernel(large_carry_kernel<Key>, groups, kLargeBlock, stream)(
        p, tile_base, sorted, agg, stage, ks, k_flags, L.tiles_bound));
  }
  return cudaSuccess;
}

template <typename Key>
cudaError_t transform_typed(Params p, const Shape& sh, const WsLayout& L, void* ws,
                            cudaStream_t stream) {
  typedef typename KeyTraits<Key>::Value V;
  KChunk none = KChunk(); /* value-initialised: count 0 means "a transform, not a curve" */
  PKPO_CUDA_TRY(launch_block<Key>(p, none, sh.max_n, stream));
  if (!L.large) return cudaSuccess;
  LargeBuffers b;
  PKPO_CUDA_TRY(large_prepare<Key>(p, sh, L, ws, stream, &b));
  const KSlots own_k = KSlots(); /* count 0: each group's own k, slot 0 */
  PKPO_CUDA_TRY(large_rho_stages<Key>(p, L, ws, b, own_k, 0, stream));
  if (!p.write_out) return cudaSuccess;
  const int64_t* tile_base = at<int64_t>(ws, L.tile_base);
  TileAgg* agg = at<TileAgg>(ws, L.agg);
  const Key* sorted = static_cast<const Key*>(b.sorted);
  V* out_sorted = static_cast<V*>(b.other);
  const unsigned tiles = grid_for(L.tiles_bound);
  PKPO_CUDA_TRY(launch_kernel(large_tile_kernel<Key>, tiles, kLargeBlock, stream)(
      p, tile_base, sorted, agg, out_sorted, STAGE_OUT, own_k, L.tiles_bound));
  PKPO_CUDA_TRY(launch_kernel(large_scatter_kernel<Key>, tiles, kLargeBlock, stream)(
      p, tile_base, sorted, out_sorted, L.tiles_bound));
  return cudaSuccess;
}

template <typename Key>
cudaError_t curve_typed(Params p, const Shape& sh, const WsLayout& L, void* ws, const int64_t* h_ks,
                        int64_t num_ks, cudaStream_t stream) {
  int64_t kmax = 1;
  for (int64_t j = 0; j < num_ks; ++j) kmax = std::max(kmax, h_ks[j]);
  for (int64_t j0 = 0; j0 < num_ks; j0 += kCurveChunk) {
    KChunk kc = KChunk();
    kc.count = (int)std::min<int64_t>(kCurveChunk, num_ks - j0);
    kc.first = j0;
    kc.kmax = kmax;
    for (int c = 0; c < kCurveChunk; ++c) kc.k[c] = c < kc.count ? h_ks[j0 + c] : 1;
    PKPO_CUDA_TRY(launch_block<Key>(p, kc, sh.max_n, stream));
  }
  if (!L.large) return cudaSuccess;
  LargeBuffers b;
  PKPO_CUDA_TRY(large_prepare<Key>(p, sh, L, ws, stream, &b));
  for (int64_t j0 = 0; j0 < num_ks; j0 += kCurveSlots) {
    KSlots ks = KSlots();
    ks.count = (int)std::min<int64_t>(kCurveSlots, num_ks - j0);
    ks.first = j0;
    for (int c = 0; c < ks.count; ++c) ks.k[c] = h_ks[j0 + c];
    PKPO_CUDA_TRY(large_rho_stages<Key>(p, L, ws, b, ks, kmax, stream));
  }
  return cudaSuccess;
}

void finish_params(Params* p, const Shape& sh, const WsLayout& L, void* ws) {
  p->status = at<DevStatus>(ws, L.status);
  p->refs = sh.has_index ? at<unsigned int>(ws, L.refs) : nullptr;
  p->gbad = L.large ? at<unsigned int>(ws, L.gbad) : nullptr;
  p->large = L.large ? 1 : 0;
  p->max_n = sh.max_n;
}

}  // namespace

/* Counts the index entries naming each sample (the duplicate check of the kernels). */
cudaError_t count_index_refs(const Params& p, const Shape& sh, const WsLayout& L, void* ws,
                             cudaStream_t stream) {
  if (!sh.has_index || sh.num_samples == 0) return cudaSuccess;
  unsigned int* refs = at<unsigned int>(ws, L.refs);
  PKPO_CUDA_TRY(cudaMemsetAsync(refs, 0, (size_t)sh.num_samples * sizeof(unsigned int), stream));
  const int64_t blocks = std::min<int64_t>((sh.num_samples + kHelperBlock - 1) / kHelperBlock, 65535);
  return launch_kernel(index_refs_kernel, grid_for(blocks), kHelperBlock, stream)(p, refs);
}

/* ---- public launchers ------------------------------------------------------------------------------- */

cudaError_t plan_workspace(const Shape& sh, WsLayout* L) {
  *L = WsLayout();
  const int64_t N = sh.num_samples, G = sh.num_groups;
  size_t off = 0;
  L->status = off;
  off += align_up(sizeof(DevStatus));
  L->refs = off;
  if (sh.has_index) {
    if (N > (int64_t)(SIZE_MAX / 64)) return cudaErrorNotSupported;
    off += align_up((size_t)N * sizeof(unsigned int));
  }
  L->large = sh.max_n > kLargeTile;
  if (!L->large) {
    L->total = off;
    return cudaSuccess;
  }
  if (sh.max_n > kMaxLargeGroup || G > INT_MAX || N > (int64_t)(SIZE_MAX / 64) ||
      large_tiles_bound(N, G, sh.uniform_n, kLargeTile) > INT_MAX) {
    return cudaErrorNotSupported; /* our own limits; errors of CUB's size queries pass through */
  }
  const size_t n = (size_t)N, g = (size_t)G;
  L->keys_a = off;
  off += align_up(n * sh.elem_bytes);
  L->keys_b = off;
  off += align_up(n * sh.elem_bytes);
  L->gbad = off;
  off += align_up(g * sizeof(unsigned int));
  L->seg_begin = off;
  off += align_up(g * sizeof(int64_t));
  L->seg_end = off;
  off += align_up(g * sizeof(int64_t));
  L->ntiles = off;
  off += align_up((g + 1) * sizeof(int64_t));
  L->tile_base = off;
  off += align_up((g + 1) * sizeof(int64_t));
  /* Uniform: exactly G * ceil(n / T) tiles. Ragged: below 2N / T for disjoint groups (overlapping
   * offsets can exceed it; the kernels then flag the groups past the bound, large_tiles_fit). */
  L->tiles_bound = large_tiles_bound(N, G, sh.uniform_n, kLargeTile);
  L->agg = off;
  off += align_up((size_t)L->tiles_bound * kCurveSlots * sizeof(TileAgg));
  L->window = kWindow;
  L->num_windows = (int)((N + kWindow - 1) / kWindow);
  L->sort_items = (int)std::min<int64_t>(N, kWindow + sh.max_n);
  cudaError_t e = cub::DeviceScan::ExclusiveSum(nullptr, L->scan_tmp_bytes, (int64_t*)nullptr,
                                                (int64_t*)nullptr, G + 1, (cudaStream_t)0);
  if (e != cudaSuccess) return e;
  L->whole_sort = sh.uniform_n > 0 && G == 1;
  if (L->whole_sort) {
    e = sh.elem_bytes == 4 ? whole_sort_bytes<uint32_t>(N, &L->sort_tmp_bytes)
                           : whole_sort_bytes<uint64_t>(N, &L->sort_tmp_bytes);
  } else {
    e = sh.elem_bytes == 4 ? segmented_sort_bytes<uint32_t>(L->sort_items, (int)L->tiles_bound, &L->sort_tmp_bytes)
                           : segmented_sort_bytes<uint64_t>(L->sort_items, (int)L->tiles_bound, &L->sort_tmp_bytes);
  }
  if (e != cudaSuccess) return e;
  L->scan_tmp = off;
  off += align_up(L->scan_tmp_bytes);
  L->sort_tmp = off;
  off += align_up(L->sort_tmp_bytes);
  L->total = off;
  return cudaSuccess;
}

cudaError_t reset_status(void* ws, cudaStream_t stream) {
  DevStatus* st = static_cast<DevStatus*>(ws);
  PKPO_CUDA_TRY(cudaMemsetAsync(st, 0, sizeof(DevStatus), stream));
  PKPO_CUDA_TRY(cudaMemsetAsync(st->first_group, 0xFF, sizeof(st->first_group), stream));
  return cudaSuccess;
}

cudaError_t launch_max_group(Params p, void* ws, cudaStream_t stream) {
  p.status = static_cast<DevStatus*>(ws);
  PKPO_CUDA_TRY(reset_status(ws, stream));
  const int64_t blocks = std::min<int64_t>((p.num_groups + kHelperBlock - 1) / kHelperBlock, 4096);
  PKPO_CUDA_TRY(launch_kernel(max_group_kernel, grid_for(blocks), kHelperBlock, stream)(p));
  return cudaSuccess;
}

cudaError_t launch_transform(Params p, const Shape& sh, const WsLayout& L, void* ws,
                             cudaStream_t stream) {
  finish_params(&p, sh, L, ws);
  p.rho_stride = 1;
  PKPO_CUDA_TRY(reset_status(at<void>(ws, L.status), stream));
  PKPO_CUDA_TRY(count_index_refs(p, sh, L, ws, stream));
  return sh.elem_bytes == 4 ? transform_typed<uint32_t>(p, sh, L, ws, stream)
                            : transform_typed<uint64_t>(p, sh, L, ws, stream);
}

cudaError_t launch_rho_curve(Params p, const Shape& sh, const WsLayout& L, void* ws,
                             const int64_t* h_ks, int64_t num_ks, cudaStream_t stream) {
  finish_params(&p, sh, L, ws);
  p.rho_stride = num_ks;
  p.estimator = 0; /* PKPO_RHO */
  p.write_out = 0;
  p.k_per_group = nullptr;
  p.k = 1;
  PKPO_CUDA_TRY(reset_status(at<void>(ws, L.status), stream));
  PKPO_CUDA_TRY(count_index_refs(p, sh, L, ws, stream));
  return sh.elem_bytes == 4 ? curve_typed<uint32_t>(p, sh, L, ws, h_ks, num_ks, stream)
                            : curve_typed<uint64_t>(p, sh, L, ws, h_ks, num_ks, stream);
}

}  // namespace pkpo_cuda
