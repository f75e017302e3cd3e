/*
 * group_by_id.cu -- launcher of pkpo_group_by_id on the device: a stable cub::DeviceRadixSort of
 * (id, position) pairs, run heads, runs ordered by first position (a second radix sort), sizes,
 * offsets (cub::DeviceScan) and the index permutation. The caller (backend.cu) provides scratch and
 * synchronises to read the group count: this is a set-up call (pkpo.h).
 */
#include <stdint.h>

#include <algorithm>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include "group_by_id_kernels.cuh"
#include "kernel_launch.cuh"
#include "launch.h"

namespace pkpo_cuda {

namespace {

/* Unmeasured: chosen because these are one-pass elementwise kernels (any multiple of 32 works);
 * the grid is capped and the kernels stride. */
constexpr int kBlock = 256;
constexpr int64_t kMaxBlocks = 65535;

unsigned blocks_for(int64_t n) {
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>((n + kBlock - 1) / kBlock, kMaxBlocks));
}

size_t align_up(size_t x) { return (x + 255) / 256 * 256; }

/* Bits needed for the values 0..x. */
int bit_width(uint64_t x) {
  int b = 0;
  while (b < 64 && (x >> b) != 0) ++b;
  return b;
}

/* Scratch layout: 9 int64 arrays of n (+1) entries, the counts, and CUB temporary storage. */
struct GbiLayout {
  size_t sid, spos, iota_runid, first_pos, run_start, sorted_first, order, inv, offs, counts, tmp;
  size_t tmp_bytes, total;
};

cudaError_t gbi_layout(int64_t n, GbiLayout* L) {
  const size_t a = align_up(((size_t)n + 1) * sizeof(int64_t));
  size_t off = 0;
  L->sid = off; off += a;
  L->spos = off; off += a;
  L->iota_runid = off; off += a;
  L->first_pos = off; off += a;
  L->run_start = off; off += a;
  L->sorted_first = off; off += a;
  L->order = off; off += a;
  L->inv = off; off += a;
  L->offs = off; off += a;
  L->counts = off; off += align_up(4 * sizeof(unsigned long long)); /* counts[2], range[2] */
  size_t sort_bytes = 0, sort1_bytes = 0, scan_bytes = 0, scan2_bytes = 0;
  PKPO_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, sort1_bytes, (const unsigned long long*)nullptr,
                                                (unsigned long long*)nullptr, (const int64_t*)nullptr,
                                                (int64_t*)nullptr, n, 0, 64, (cudaStream_t)0));
  PKPO_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, (const int64_t*)nullptr,
                                                (int64_t*)nullptr, (const int64_t*)nullptr,
                                                (int64_t*)nullptr, n, 0, 64, (cudaStream_t)0));
  sort_bytes = std::max(sort_bytes, sort1_bytes);
  PKPO_CUDA_TRY(cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, (const int64_t*)nullptr,
                                              (int64_t*)nullptr, n, (cudaStream_t)0));
  PKPO_CUDA_TRY(cub::DeviceScan::ExclusiveSum(nullptr, scan2_bytes, (const int64_t*)nullptr,
                                              (int64_t*)nullptr, n + 1, (cudaStream_t)0));
  L->tmp_bytes = std::max(sort_bytes, std::max(scan_bytes, scan2_bytes));
  L->tmp = off; off += align_up(L->tmp_bytes);
  L->total = off;
  return cudaSuccess;
}

template <typename T>
T* at(void* base, size_t off) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + off);
}

}  // namespace

cudaError_t group_by_id_scratch(int64_t num_samples, size_t* bytes) {
  GbiLayout L;
  PKPO_CUDA_TRY(gbi_layout(num_samples, &L));
  *bytes = L.total;
  return cudaSuccess;
}

cudaError_t launch_group_by_id_range(const int64_t* ids, int64_t n, void* scratch, size_t scratch_bytes,
                                     uint64_t** d_range, cudaStream_t stream) {
  GbiLayout L;
  PKPO_CUDA_TRY(gbi_layout(n, &L));
  if (scratch_bytes < L.total || n < 1) return cudaErrorInvalidValue;
  unsigned long long* range = at<unsigned long long>(scratch, L.counts) + 2;
  PKPO_CUDA_TRY(cudaMemsetAsync(range, 0, 2 * sizeof(unsigned long long), stream));
  PKPO_CUDA_TRY(launch_kernel(gbi_range_kernel, blocks_for(n), kBlock, stream)(ids, n, range));
  *d_range = reinterpret_cast<uint64_t*>(range);
  return cudaSuccess;
}

void id_range(const uint64_t range[2], int64_t* id_min, int64_t* id_max) {
  *id_min = (int64_t)(~range[0] ^ 0x8000000000000000ull);
  *id_max = (int64_t)(range[1] ^ 0x8000000000000000ull);
}

cudaError_t launch_group_by_id(const int64_t* ids, int64_t n, int64_t id_min, int64_t id_max,
                               int64_t* offsets, int64_t* index, void* scratch, size_t scratch_bytes,
                               int64_t** d_counts, cudaStream_t stream) {
  GbiLayout L;
  PKPO_CUDA_TRY(gbi_layout(n, &L));
  if (scratch_bytes < L.total || n < 1) return cudaErrorInvalidValue;
  int64_t* sid = at<int64_t>(scratch, L.sid);
  int64_t* spos = at<int64_t>(scratch, L.spos);
  int64_t* iota_runid = at<int64_t>(scratch, L.iota_runid);
  int64_t* first_pos = at<int64_t>(scratch, L.first_pos);
  int64_t* run_start = at<int64_t>(scratch, L.run_start);
  int64_t* sorted_first = at<int64_t>(scratch, L.sorted_first);
  int64_t* order = at<int64_t>(scratch, L.order);
  int64_t* inv = at<int64_t>(scratch, L.inv);
  int64_t* offs = at<int64_t>(scratch, L.offs);
  unsigned long long* counts = at<unsigned long long>(scratch, L.counts);
  void* tmp = at<void>(scratch, L.tmp);
  size_t tmp_bytes = L.tmp_bytes;
  const unsigned grid = blocks_for(n + 1);

  /* 1. stable sort of (id, position): runs of equal ids with ascending positions. The keys are
   * the ids less the smallest (in first_pos, free until step 2), sorted on the bits that vary:
   * e.g. 2 onesweep passes instead of 8 for ids that span fewer than 2^16 values. sid receives
   * the sorted keys (only compared for equality below). */
  unsigned long long* keys = reinterpret_cast<unsigned long long*>(first_pos);
  PKPO_CUDA_TRY(launch_kernel(gbi_keys_kernel, grid, kBlock, stream)(ids, n, id_min, keys));
  PKPO_CUDA_TRY(launch_kernel(gbi_iota_kernel, grid, kBlock, stream)(iota_runid, n));
  const int id_bits = std::max(1, bit_width((uint64_t)id_max - (uint64_t)id_min));
  PKPO_CUDA_TRY(cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, keys, reinterpret_cast<unsigned long long*>(sid),
                                                iota_runid, spos, n, 0, id_bits, stream));
  /* 2. run ids (1-based inclusive count of heads), first position and start of each run */
  PKPO_CUDA_TRY(launch_kernel(gbi_heads_kernel, grid, kBlock, stream)(sid, n, first_pos)); /* scratch */
  tmp_bytes = L.tmp_bytes;
  PKPO_CUDA_TRY(cub::DeviceScan::InclusiveSum(tmp, tmp_bytes, first_pos, iota_runid, n, stream));
  /* runs >= R sort last: first positions are < n, the slots of no run hold n */
  PKPO_CUDA_TRY(launch_kernel(gbi_fill_kernel, grid, kBlock, stream)(first_pos, n, n));
  PKPO_CUDA_TRY(launch_kernel(gbi_runs_kernel, grid, kBlock, stream)(sid, spos, iota_runid, n, first_pos,
                                                                      run_start));
  /* 3. runs in order of first appearance: sort (first position, run) over all n slots */
  /* sid is free now: run numbers 0..n-1 */
  PKPO_CUDA_TRY(launch_kernel(gbi_iota_kernel, grid, kBlock, stream)(sid, n));
  tmp_bytes = L.tmp_bytes;
  /* keys in [0, n]: only their low bits(n) bits vary (4 onesweep passes instead of 8 at n = 2^24) */
  PKPO_CUDA_TRY(cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, first_pos, sorted_first, sid, order, n,
                                                0, bit_width((uint64_t)n), stream));
  /* 4. sizes, offsets, index */
  PKPO_CUDA_TRY(cudaMemsetAsync(counts, 0, 2 * sizeof(unsigned long long), stream));
  PKPO_CUDA_TRY(launch_kernel(gbi_sizes_kernel, grid, kBlock, stream)(order, run_start, iota_runid, n, inv,
                                                                       first_pos, counts));
  tmp_bytes = L.tmp_bytes;
  PKPO_CUDA_TRY(cub::DeviceScan::ExclusiveSum(tmp, tmp_bytes, first_pos, offs, n + 1, stream));
  PKPO_CUDA_TRY(launch_kernel(gbi_scatter_kernel, grid, kBlock, stream)(spos, iota_runid, run_start, inv,
                                                                         offs, n, index, offsets));
  *d_counts = reinterpret_cast<int64_t*>(counts);
  return cudaSuccess;
}

}  // namespace pkpo_cuda
