/*
 * transform.cu -- launchers of the transform and rho-curve kernels: workspace layout, path choice,
 * grid and shared-memory arithmetic. Host code; every CUDA call is checked and the first error
 * returned. Nothing here synchronises or allocates.
 */
#include <limits.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include "batch_kernels.cuh"
#include "kernel_launch.cuh"
#include "large_scatter_kernels.cuh"
#include "large_sort_kernels.cuh"
#include "large_tile_kernels.cuh"
#include "launch.h"
#include "team_kernels.cuh"

namespace pkpo_cuda {

namespace {

constexpr size_t kAlign = 256;
/* Threads of the one-thread-per-group helper kernels. Unmeasured: chosen because they only read
 * two offsets and write a few words per group (bandwidth-bound, any multiple of 32 works). */
constexpr int kHelperBlock = 256;
constexpr int64_t kMaxGrid = INT_MAX;

size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

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

/* Every group of at most kBlockMaxN rewards runs on the team kernel (team_kernels.cuh) of its
 * size class: C the power of two >= n. Each group runs on the configuration of its own size, so
 * that one large group or a loose max_group_size does not put every small group on the largest
 * configuration. A uniform layout has one size: one launch, which also takes the groups a
 * device-side check found invalid. A ragged layout gets one launch per configuration up to its
 * max_group_size, each striding over all groups and skipping those of other sizes (the smallest
 * class takes the invalid ones); a larger configuration gets a grid bounded by how many groups of
 * its size the batch can hold (N / (lower + 1)) and by kRouteGrid blocks (sub-warp teams) or
 * kRouteThreads threads (block teams). Unmeasured: chosen because 1024 blocks of 256 threads, or
 * 2^17 threads of 64-512 per block, fill an H100 (132 SMs) once or more, while the skipping costs
 * two offset reads per group per block. */
constexpr int64_t kRouteGrid = 1024;
constexpr int64_t kRouteThreads = int64_t(1) << 17;
/* Largest grid of a ragged batch's first team launch (the classes of n <= 8: sub-warp teams;
 * grid-stride beyond it). Unmeasured: 2048 blocks are about eight waves of an H100 at the two
 * blocks per SM of __launch_bounds__. */
constexpr int64_t kTeamGrid = 2048;
/* Fewest groups of a uniform large batch that get a row bank (large_bank_kernel): its 32 bytes
 * per rank of n then cost at most 2 bytes per reward of workspace (16 to 24 without it); a lone
 * group builds each tile's rows once anyway. */
constexpr int64_t kBankMinGroups = 16;
/* Largest grid of a uniform batch's team launch, in waves of the blocks an SM holds at the
 * registers __launch_bounds__ allows (team_blocks_per_sm). Each block builds the batch's row once
 * (per term of a mixture), so fewer, longer blocks amortise it: chosen by the static cost model's
 * run of 2026-12-07, where grids of about eight waves spent 0.5-0.8
 * warp-instructions per reward on block teams' rows (5-9% of the launch) and a 16-term mixture's
 * rows cost sub-warp teams ~15%; two waves, a quarter of that. Two, not one: a block that finds no
 * room (another kernel on the SM) then delays the call by a wave, not by all its groups. */
constexpr int64_t kTeamWaves = 2;
/* Fewest merge-kernel blocks per SM a batch gets before its blocks take more than one chunk each.
 * Unmeasured: two, so that a small batch's merges still spread over the device. */
constexpr int64_t kMergeBlocksPerSm = 2;

/* The team of groups of n <= kBlockMaxN: C = W*V ranks, the power of two >= n (at least 4).
 * C <= kWarpMaxN: a sub-warp of W = C/4 lanes with V = 4 registers each (2 x 2 for C = 4); chosen
 * by the static cost model's runs of 2026-11-25 (bench/results/2026-12-04-cuda-cost-model, the warp
 * kernels): with one rank per lane the per-group work is repeated by every lane and dominates;
 * four ranks per lane amortise it, and the bitonic stages with strides below V compare registers
 * without shuffles. Above: a block of C/V threads, V = 4 at C = 256 (two warps) and 8 above (512
 * threads at C = 4096); chosen by the model's run of 2026-11-25 (the group kernels): V = 8 turns
 * the sort's shuffle steps of stride 4 into register steps and halves the per-group work of each
 * thread, 1.1x (float64) to 1.4x (float32) the predicted throughput of V = 4 at C = 512..2048. */
struct TeamClass {
  int W, V;
};
TeamClass team_class(int64_t n) {
  int C = 4;
  while (C < n) C *= 2;
  if (C == 4) return TeamClass{2, 2};
  if (C <= kWarpMaxN) return TeamClass{C / 4, 4};
  return C == 2 * kWarpMaxN ? TeamClass{C / 4, 4} : TeamClass{C / 8, 8};
}

template <int W, int V, typename Key>
constexpr size_t team_smem() {
  return sizeof(TeamSmem<W, V, Key>);
}

/* One launch of the team kernel of class c, for the valid groups with lower < n <= W*V (and the
 * invalid ones when lower == 0). */
template <typename Key>
cudaError_t launch_team(const Params& p, const KChunk& kc, TeamClass c, int64_t lower, int sm_count,
                        cudaStream_t stream) {
  const int64_t cap = c.W * c.V;
  const int threads = team_threads(c.W);
  const int64_t per_block = c.W > 32 ? 1 : (kTeamBlock / 32) * (32 / c.W);
  const int64_t slots = lower > 0 ? std::min<int64_t>(p.num_groups, p.num_samples / (lower + 1) + 1) : p.num_groups;
  /* lower == 0: a uniform batch's launch, or a ragged batch's first class (sub-warp teams) */
  const int64_t limit = lower > 0       ? (c.W > 32 ? kRouteThreads / threads : kRouteGrid)
                        : p.uniform_n > 0 ? kTeamWaves * std::max(1, sm_count) * team_blocks_per_sm(c.W)
                                          : kTeamGrid;
  const unsigned grid = grid_for(std::min<int64_t>((slots + per_block - 1) / per_block, limit));
  /* the common RL batch (n answers per prompt, uniform, one k, no index) on its specialised
   * sub-warp variants: TEAM_EXACT when n fills the class, TEAM_UNIFORM otherwise */
  const bool full = c.W <= 32 && p.uniform_n > 0 && !p.index && !p.k_per_group && kc.count == 0 && lower == 0;
  const int layout = !full ? TEAM_GENERAL : p.uniform_n == cap ? TEAM_EXACT : TEAM_UNIFORM;
#define PKPO_TEAM_LAUNCH(w, v, L) \
  launch_kernel(team_kernel<w, v, Key, L>, grid, threads, stream, team_smem<w, v, Key>())(p, kc, lower)
#define PKPO_SUBWARP_CASE(w, v)                                                     \
  if (c.W == w && c.V == v) {                                                       \
    if (layout == TEAM_EXACT) return PKPO_TEAM_LAUNCH(w, v, TEAM_EXACT);            \
    if (layout == TEAM_UNIFORM) return PKPO_TEAM_LAUNCH(w, v, TEAM_UNIFORM);        \
    return PKPO_TEAM_LAUNCH(w, v, TEAM_GENERAL);                                    \
  }
#define PKPO_BLOCK_CASE(w, v) \
  if (c.W == w && c.V == v) return PKPO_TEAM_LAUNCH(w, v, TEAM_GENERAL)
  PKPO_SUBWARP_CASE(2, 2);
  PKPO_SUBWARP_CASE(2, 4);
  PKPO_SUBWARP_CASE(4, 4);
  PKPO_SUBWARP_CASE(8, 4);
  PKPO_SUBWARP_CASE(16, 4);
  PKPO_SUBWARP_CASE(32, 4);
  PKPO_BLOCK_CASE(64, 4);
  PKPO_BLOCK_CASE(64, 8);
  PKPO_BLOCK_CASE(128, 8);
  PKPO_BLOCK_CASE(256, 8);
  PKPO_BLOCK_CASE(512, 8);
#undef PKPO_BLOCK_CASE
#undef PKPO_SUBWARP_CASE
#undef PKPO_TEAM_LAUNCH
  return cudaErrorInvalidConfiguration;
}

/* The launch of class c of a bucketed ragged call visits the groups of its bucket only. */
Params bucket_params(const Params& p, const BucketMap* bm, int c) {
  Params q = p;
  if (bm) {
    q.bucket = bm->list + bm->base[c];
    q.bucket_count = &p.status->class_count[c];
    q.bucket_cap = bm->cap[c];
  }
  return q;
}

template <typename Key>
cudaError_t launch_block(const Params& p, const KChunk& kc, int64_t max_n, int sm_count, const BucketMap* bm,
                         cudaStream_t stream) {
  if (p.uniform_n > 0) {
    /* One size. Groups are invalid only through a per-group k < 1; without one, a uniform batch
     * on the large path needs no launch here. */
    const int64_t n = p.uniform_n;
    if (n <= kBlockMaxN) return launch_team<Key>(p, kc, team_class(n), 0, sm_count, stream);
    if (p.k_per_group) return launch_team<Key>(p, kc, team_class(1), 0, sm_count, stream);
    return cudaSuccess;
  }
  /* Ragged: the classes of n <= 8 (and the empty and invalid groups), 9..16, 17..32, 33..64,
   * 65..128, 129..256, 257..512, 513..1024, 1025..2048, 2049..4096. */
  int c = 0; /* class c: n <= 8 << c (params.h kBlockClasses) */
  PKPO_CUDA_TRY(launch_team<Key>(bucket_params(p, bm, c++), kc, team_class(8), 0, sm_count, stream));
  for (int64_t lower = 8; lower < kBlockMaxN && max_n > lower; lower *= 2) {
    PKPO_CUDA_TRY(launch_team<Key>(bucket_params(p, bm, c++), kc, team_class(lower + 1), lower, sm_count, stream));
  }
  return cudaSuccess;
}

/* Lower bound (exclusive) of the sizes of block-path class c: n > class_lower(c), n <= 8 << c. */
constexpr int64_t class_lower(int c) { return c == 0 ? 0 : int64_t(4) << c; }

BucketMap bucket_map(const WsLayout& L, void* ws) {
  BucketMap bm;
  bm.list = at<unsigned int>(ws, L.buckets);
  for (int c = 0; c < kBlockClasses; ++c) {
    bm.base[c] = L.bucket_base[c];
    bm.cap[c] = L.bucket_cap[c];
  }
  return bm;
}

/* A bucketed call's first block-path work: the groups' class lists (once, for every curve chunk). */
template <typename Key>
cudaError_t launch_buckets(const Params& p, const WsLayout& L, void* ws, cudaStream_t stream) {
  const int64_t blocks = std::min<int64_t>((p.num_groups + kHelperBlock - 1) / kHelperBlock, 4096);
  return launch_kernel(bucket_kernel<Key>, grid_for(blocks), kHelperBlock, stream)(p, bucket_map(L, ws));
}

/* ---- large path ---------------------------------------------------------------------------------- */

TileMap tile_map(const WsLayout& L, void* ws) {
  TileMap tm;
  tm.base = L.tiles_per_group > 0 ? nullptr : at<int64_t>(ws, L.tile_base);
  tm.per_group = L.tiles_per_group;
  return tm;
}

/* The tile map (ragged: a scan of the groups' tile counts) and the large groups' keys sorted (the
 * per-group marks and per-tile tables were zeroed by reset_call): 4096-key runs sorted in shared memory, then merged
 * four at a time (L.merge_passes passes), or for one uniform group one multi-block CUB radix sort. */
template <typename Key>
cudaError_t large_prepare(const Params& p, const Shape& sh, const WsLayout& L, void* ws,
                          cudaStream_t stream, LargeKeys* out) {
  const int64_t G = sh.num_groups;
  const TileMap tm = tile_map(L, ws);
  if (tm.base) {
    int64_t* ntiles = at<int64_t>(ws, L.ntiles);
    int64_t* tile_base = at<int64_t>(ws, L.tile_base);
    PKPO_CUDA_TRY(launch_kernel(large_plan_kernel, grid_for((G + 1 + kHelperBlock - 1) / kHelperBlock),
                                kHelperBlock, stream)(p, ntiles));
    size_t scan_bytes = L.scan_tmp_bytes;
    PKPO_CUDA_TRY(cub::DeviceScan::ExclusiveSum(at<void>(ws, L.scan_tmp), scan_bytes, ntiles, tile_base,
                                                G + 1, stream));
  }
  Key* keys_a = at<Key>(ws, L.keys_a);
  Key* keys_b = at<Key>(ws, L.keys_b);
  /* run_owner: one block per 4096-key run (ragged: tiles 2j and 2j + 1 are run j) */
  const int64_t runs = tm.base ? (L.tiles_bound + 1) / 2 : sh.num_groups * ((L.tiles_per_group + 1) / 2);
  PKPO_CUDA_TRY(launch_kernel(large_sort_tile_kernel<Key>, grid_for(runs), kLargeBlock, stream)(
      p, tm, keys_a, L.whole_sort ? 0 : 1));
  out->a = keys_a;
  out->b = keys_b;
  out->whole = -1;
  out->local = sizeof(Key) == sizeof(double) ? nullptr : at<double>(ws, L.local);
  if (L.whole_sort) {
    /* One group covering [0, N): CUB's onesweep radix sort spreads it over the whole GPU. In bytes
     * it is close to the merge passes: about 9E (float32) or 17E (float64) per key (a histogram
     * read, then E read and E written per 8-bit pass), against 2E per four-way merge pass,
     * ceil(log4(N / 4096)) of them (fewer bytes up to N = 2^20 float32 keys, 2^28 float64). Kept
     * for a lone group: unmeasured either way, and onesweep needs no merge-path searches.
     * Its input: the keys kernel's N keys, unsorted (kNone for a group that is not large). */
    cub::DoubleBuffer<Key> db(keys_a, keys_b);
    size_t sort_bytes = L.sort_tmp_bytes;
    PKPO_CUDA_TRY(cub::DeviceRadixSort::SortKeys(at<void>(ws, L.sort_tmp), sort_bytes, db,
                                                 sh.num_samples, 0, (int)sizeof(Key) * 8, stream));
    out->whole = db.selector;
    return cudaSuccess;
  }
  /* merge passes: L.merge_chunks 4096-key output chunks (runs) per block */
  const int chunks = L.merge_chunks;
  const unsigned merge_blocks = grid_for((runs + chunks - 1) / chunks);
  for (int pass = 0; pass < L.merge_passes; ++pass) {
    const Key* src = (pass & 1) ? keys_b : keys_a;
    Key* dst = (pass & 1) ? keys_a : keys_b;
    PKPO_CUDA_TRY(launch_kernel(large_merge_kernel<Key>, merge_blocks, kLargeBlock, stream)(p, tm, src, dst, pass,
                                                                                           chunks));
  }
  return cudaSuccess;
}

/* The row bank of a uniform batch (plan_workspace: several groups of one size), unless its groups
 * have a k each or the call is a curve: m = 0 then, every tile builds its own rows. */
RowBank row_bank(const Params& p, const WsLayout& L, void* ws, bool curve) {
  RowBank bank = RowBank();
  if (L.bank_m == 0 || curve || p.k_per_group) return bank;
  double* rows = at<double>(ws, L.bank);
  const size_t n = (size_t)L.bank_m;
  bank.P = rows;
  bank.Q = rows + n;
  bank.Fhi = rows + 2 * n;
  bank.Flo = rows + 3 * n;
  bank.head = at<BankHead>(ws, L.bank_head);
  bank.m = L.bank_m;
  return bank;
}

/* The tile pass and, unless the scatter forms them (fold), its carries with rho and flags; with a
 * row bank first its rows. ks.count > 0: up to kCurveSlots curve columns side by side. */
template <typename Key>
cudaError_t large_tile_pass(const Params& p, const WsLayout& L, void* ws, const LargeKeys& lk, const KSlots& ks,
                            bool fold, cudaStream_t stream) {
  const TileMap tm = tile_map(L, ws);
  TileAgg* agg = at<TileAgg>(ws, L.agg);
  const RowBank bank = row_bank(p, L, ws, ks.count > 0);
  if (bank.m > 0) {
    PKPO_CUDA_TRY(launch_kernel(large_bank_kernel, grid_for(large_tile_count(bank.m, kLargeTile)), kLargeBlock,
                                stream)(p, bank));
  }
  const unsigned slots = (unsigned)std::max(1, ks.count);
  const dim3 tiles(grid_for(L.tiles_bound), slots);
  /* with a bank: its groups' tiles, then (the same grid) those of the groups with excluded rewards */
  if (bank.m > 0) {
    PKPO_CUDA_TRY(launch_kernel(large_tile_kernel<Key, true>, tiles, kLargeBlock, stream)(p, tm, lk, agg, ks,
                                                                                          L.tiles_bound, bank));
  }
  PKPO_CUDA_TRY(launch_kernel(large_tile_kernel<Key, false>, tiles, kLargeBlock, stream)(p, tm, lk, agg, ks,
                                                                                         L.tiles_bound, bank));
  if (fold) return cudaSuccess;
  /* One block per large group at most: there are at most N / (kBlockMaxN + 1) of them (the carry
   * kernel strides over the groups and skips the others). */
  const dim3 groups(grid_for(std::min<int64_t>(p.num_groups, p.num_samples / (kBlockMaxN + 1) + 1)), slots);
  return launch_kernel(large_carry_kernel<Key>, groups, kLargeBlock, stream)(p, tm, lk, agg, ks, L.tiles_bound,
                                                                             bank);
}

template <typename Key>
cudaError_t transform_typed(Params p, const Shape& sh, const WsLayout& L, void* ws,
                            cudaStream_t stream) {
  KChunk none = KChunk(); /* value-initialised: count 0 means "a transform, not a curve" */
  const BucketMap bm = bucket_map(L, ws);
  if (L.bucketed) PKPO_CUDA_TRY(launch_buckets<Key>(p, L, ws, stream));
  PKPO_CUDA_TRY(launch_block<Key>(p, none, sh.max_n, sh.sm_count, L.bucketed ? &bm : nullptr, stream));
  if (!L.large) return cudaSuccess;
  LargeKeys lk;
  PKPO_CUDA_TRY(large_prepare<Key>(p, sh, L, ws, stream, &lk));
  const KSlots own_k = KSlots(); /* count 0: each group's own objective, slot 0 */
  /* Uniform groups of at most kLargeFoldTiles tiles: the scatter forms the carries itself (one
   * launch fewer; each of its blocks reads its group's tile totals: at most 8 KiB, from L2). */
  const bool fold = p.write_out && L.tiles_per_group > 0 && L.tiles_per_group <= kLargeFoldTiles;
  PKPO_CUDA_TRY(large_tile_pass<Key>(p, L, ws, lk, own_k, fold, stream));
  if (!p.write_out) return cudaSuccess;
  /* The tile pass stored the tile-local outputs and the carries each tile's carries' part: the
   * scatter adds the two (no second pass over the tiles). */
  const TileMap tm = tile_map(L, ws);
  const TileAgg* agg = at<TileAgg>(ws, L.agg);
  const unsigned tiles = grid_for(L.tiles_bound);
  PKPO_CUDA_TRY(launch_kernel(large_scatter_kernel<Key>, tiles, kLargeBlock, stream)(
      p, tm, lk, agg, L.tiles_bound, fold ? 1 : 0, row_bank(p, L, ws, false)));
  return cudaSuccess;
}

/* The largest m <= kBlockMaxN with ln C(m, k) < 680, C(m, k) growing with m: a weight of column k
 * is at least 1 / C(m, k), and ln(1 / PKPO__WEIGHT_FLOOR) is 690.8 (lgamma errs far below that). */
int32_t weights_clear_of_floor(int64_t k) {
  const auto clear = [k](int64_t m) {
    return std::lgamma(m + 1.0) - std::lgamma(k + 1.0) - std::lgamma((double)(m - k) + 1.0) < 680.0;
  };
  if (k >= kBlockMaxN || clear(kBlockMaxN)) return kBlockMaxN;
  int64_t lo = k, hi = kBlockMaxN; /* clear(lo), not clear(hi) */
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (clear(mid) ? lo : hi) = mid;
  }
  return (int32_t)lo;
}

/* A curve chunk's batch starts and weight caps (KChunk::starts, mcap). */
void curve_batches(KChunk* kc) {
  bool unit[kCurveChunk];
  int32_t clear[kCurveChunk];
  for (int c = 0; c < kc->count; ++c) {
    unit[c] = c > 0 && kc->k[c - 1] < INT64_MAX && kc->k[c] == kc->k[c - 1] + 1;
    clear[c] = kc->k[c] >= 1 ? weights_clear_of_floor(kc->k[c]) : 0;
  }
  for (int c = 0; c < kc->count; ++c) {
    bool run = true;
    int32_t cap = kBlockMaxN;
    for (int b = 0; b < 2; ++b) {
      for (int j = b == 0 ? 0 : 2; j < 2 << b && c + j < kc->count; ++j) run = run && unit[c + j];
      if (run) kc->starts[b] |= 1ull << c;
    }
    for (int j = 0; j < 4 && c + j < kc->count; ++j) cap = std::min(cap, clear[c + j]);
    kc->mcap[c] = cap;
  }
}

template <typename Key>
cudaError_t curve_typed(Params p, const Shape& sh, const WsLayout& L, void* ws, const int64_t* h_ks,
                        int64_t num_ks, cudaStream_t stream) {
  int64_t kmax = 1;
  for (int64_t j = 0; j < num_ks; ++j) kmax = std::max(kmax, h_ks[j]);
  const BucketMap bm = bucket_map(L, ws);
  if (L.bucketed) PKPO_CUDA_TRY(launch_buckets<Key>(p, L, ws, stream));
  for (int64_t j0 = 0; j0 < num_ks; j0 += kCurveChunk) {
    KChunk kc = KChunk();
    kc.count = (int)std::min<int64_t>(kCurveChunk, num_ks - j0);
    kc.first = j0;
    kc.kmax = kmax;
    for (int c = 0; c < kCurveChunk; ++c) kc.k[c] = c < kc.count ? h_ks[j0 + c] : 1;
    curve_batches(&kc);
    PKPO_CUDA_TRY(launch_block<Key>(p, kc, sh.max_n, sh.sm_count, L.bucketed ? &bm : nullptr, stream));
  }
  if (!L.large) return cudaSuccess;
  LargeKeys lk;
  PKPO_CUDA_TRY(large_prepare<Key>(p, sh, L, ws, stream, &lk));
  for (int64_t j0 = 0; j0 < num_ks; j0 += kCurveSlots) {
    KSlots ks = KSlots();
    ks.count = (int)std::min<int64_t>(kCurveSlots, num_ks - j0);
    ks.first = j0;
    ks.kmax = kmax;
    for (int c = 0; c < ks.count; ++c) ks.k[c] = h_ks[j0 + c];
    PKPO_CUDA_TRY(large_tile_pass<Key>(p, L, ws, lk, ks, false, stream));
  }
  return cudaSuccess;
}

void finish_params(Params* p, const Shape& sh, const WsLayout& L, void* ws) {
  p->status = at<DevStatus>(ws, L.status);
  p->refs = sh.has_index ? at<unsigned int>(ws, L.refs) : nullptr;
  p->gbad = L.large ? at<unsigned int>(ws, L.gbad) : nullptr;
  p->gnone = L.large ? at<unsigned int>(ws, L.gnone) : nullptr;
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

namespace {
template <int W, int V, typename Key>
cudaError_t allow_team_smem(int optin) {
  const size_t bytes = team_smem<W, V, Key>();
  if (bytes <= 48 * 1024) return cudaSuccess;
  if (bytes > (size_t)optin) return cudaErrorNotSupported;
  return cudaFuncSetAttribute(team_kernel<W, V, Key, TEAM_GENERAL>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              (int)bytes);
}
}  // namespace

cudaError_t prepare_device(int device) {
  int optin = 0;
  PKPO_CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  PKPO_CUDA_TRY((allow_team_smem<256, 8, uint32_t>(optin)));
  PKPO_CUDA_TRY((allow_team_smem<512, 8, uint32_t>(optin)));
  PKPO_CUDA_TRY((allow_team_smem<256, 8, uint64_t>(optin)));
  PKPO_CUDA_TRY((allow_team_smem<512, 8, uint64_t>(optin)));
  return cudaSuccess;
}

cudaError_t plan_workspace(const Shape& sh, WsLayout* L) {
  *L = WsLayout();
  const int64_t N = sh.num_samples, G = sh.num_groups;
  size_t off = 0;
  L->status = off;
  off += align_up(sizeof(DevStatus));
  L->large = sh.max_n > kBlockMaxN;
  if (L->large) {
    if (sh.max_n > kMaxLargeGroup || G > INT_MAX || N > (int64_t)(SIZE_MAX / 64) ||
        large_tiles_bound(N, G, sh.uniform_n, kLargeTile) > INT_MAX) {
      return cudaErrorNotSupported; /* our own limits; errors of CUB's size queries pass through */
    }
    /* Uniform: exactly G * ceil(n / T) tiles. Ragged: below 2N / T for disjoint groups (overlapping
     * offsets can exceed it; the kernels then flag the groups past the bound, large_tiles_fit). */
    L->tiles_bound = large_tiles_bound(N, G, sh.uniform_n, kLargeTile);
    L->tiles_per_group = sh.uniform_n > 0 ? large_tile_count(sh.uniform_n, kLargeTile) : 0;
    /* gbad, gnone, then agg, right after the status: one memset (reset_call) zeroes the four. agg:
     * kCurveSlots slots of tiles_bound TileAggs, slot-major. */
    const size_t g = (size_t)G;
    L->gbad = off;
    off += align_up(g * sizeof(unsigned int));
    L->gnone = off;
    off += align_up(g * sizeof(unsigned int));
    L->agg = off;
    off += align_up((size_t)L->tiles_bound * kCurveSlots * sizeof(TileAgg));
  }
  L->refs = off;
  if (sh.has_index) {
    if (N > (int64_t)(SIZE_MAX / 64)) return cudaErrorNotSupported;
    off += align_up((size_t)N * sizeof(unsigned int));
  }
  /* Ragged with three or more block-path classes: the class lists. Class c can hold at most
   * N / (class_lower(c) + 1) disjoint groups (class 0: every group, the invalid ones too); 4 B per
   * entry, about G + N / 4 entries in all. */
  L->buckets = off;
  L->bucketed = sh.uniform_n == 0 && sh.max_n > 16 && G > 0 && G <= (int64_t)UINT_MAX &&
                N <= (int64_t)(SIZE_MAX / 64);
  if (L->bucketed) {
    int64_t entries = 0;
    for (int c = 0; c < kBlockClasses; ++c) {
      const int64_t cap = c == 0 ? G : std::min<int64_t>(G, N / (class_lower(c) + 1) + 1);
      L->bucket_base[c] = entries;
      L->bucket_cap[c] = class_lower(c) < sh.max_n ? cap : 0; /* classes above max_n get no launch */
      entries += L->bucket_cap[c];
    }
    off += align_up((size_t)entries * sizeof(unsigned int));
  }
  if (!L->large) {
    L->total = off;
    return cudaSuccess;
  }
  const size_t n = (size_t)N, g = (size_t)G;
  L->keys_a = off;
  off += align_up(n * sh.elem_bytes);
  L->keys_b = off;
  off += align_up(n * sh.elem_bytes);
  /* float32: the tile-local outputs, float64 (float64 keys use the buffer without their sorted keys) */
  L->local = off;
  if (sh.elem_bytes < sizeof(double)) off += align_up(n * sizeof(double));
  cudaError_t e = cudaSuccess;
  if (sh.uniform_n == 0) { /* ragged: the tile map is a scan of the groups' tile counts */
    L->ntiles = off;
    off += align_up((g + 1) * sizeof(int64_t));
    L->tile_base = off;
    off += align_up((g + 1) * sizeof(int64_t));
    e = cub::DeviceScan::ExclusiveSum(nullptr, L->scan_tmp_bytes, (int64_t*)nullptr, (int64_t*)nullptr,
                                      G + 1, (cudaStream_t)0);
    if (e != cudaSuccess) return e;
    L->scan_tmp = off;
    off += align_up(L->scan_tmp_bytes);
  }
  /* A uniform batch of several groups: the rows of m = n once per call (the row bank, 4 rows of n
   * doubles and the constants), which its tiles read instead of building their own. */
  if (sh.uniform_n > 0 && G >= kBankMinGroups) {
    L->bank_m = sh.uniform_n;
    L->bank = off;
    off += align_up(4 * (size_t)sh.uniform_n * sizeof(double));
    L->bank_head = off;
    off += align_up(sizeof(BankHead));
  }
  L->whole_sort = sh.uniform_n > 0 && G == 1;
  if (L->whole_sort) {
    e = sh.elem_bytes == 4 ? whole_sort_bytes<uint32_t>(N, &L->sort_tmp_bytes)
                           : whole_sort_bytes<uint64_t>(N, &L->sort_tmp_bytes);
    if (e != cudaSuccess) return e;
    L->sort_tmp = off;
    off += align_up(L->sort_tmp_bytes);
  } else {
    /* the largest group's passes: smaller groups skip the later ones */
    L->merge_passes = large_merge_pass_count(sh.max_n, kSortTile);
    /* kMergeChunks runs per merge block, fewer when the batch has too few runs to give every SM
     * kMergeBlocksPerSm blocks of them (a block merges its chunks one after another) */
    const int64_t runs = L->tiles_per_group > 0 ? G * ((L->tiles_per_group + 1) / 2) : (L->tiles_bound + 1) / 2;
    const int64_t per_block = runs / (kMergeBlocksPerSm * std::max(1, sh.sm_count));
    L->merge_chunks = (int)std::max<int64_t>(1, std::min<int64_t>(kMergeChunks, per_block));
  }
  L->total = off;
  return cudaSuccess;
}

cudaError_t reset_status(void* ws, cudaStream_t stream) {
  DevStatus* st = static_cast<DevStatus*>(ws);
  return cudaMemsetAsync(st, 0, sizeof(DevStatus), stream);
}

/* The first stream operation of a call: zeroes the status and, on the large path, gbad, gnone and
 * the per-tile tables of the `slots` k slots the call uses, which follow the status in the layout
 * (slot j's tables are agg[j * tiles_bound ...]): one memset. */
cudaError_t reset_call(void* ws, const WsLayout& L, int slots, cudaStream_t stream) {
  const size_t bytes = L.large ? L.agg - L.status + (size_t)slots * (size_t)L.tiles_bound * sizeof(TileAgg)
                               : sizeof(DevStatus);
  return cudaMemsetAsync(at<void>(ws, L.status), 0, bytes, stream);
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
  PKPO_CUDA_TRY(reset_call(ws, L, 1, stream));
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
  PKPO_CUDA_TRY(reset_call(ws, L, (int)std::min<int64_t>(kCurveSlots, num_ks), stream));
  PKPO_CUDA_TRY(count_index_refs(p, sh, L, ws, stream));
  return sh.elem_bytes == 4 ? curve_typed<uint32_t>(p, sh, L, ws, h_ks, num_ks, stream)
                            : curve_typed<uint64_t>(p, sh, L, ws, h_ks, num_ks, stream);
}

}  // namespace pkpo_cuda
