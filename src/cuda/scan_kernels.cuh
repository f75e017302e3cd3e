/*
 * scan_kernels.cuh -- deterministic block-wide scans in float64, forward or backward.
 *
 * Why not cub::BlockScan: pkpo needs suffix (backward) scans as often as prefix ones, of sums and of
 * products, on structs of two doubles, with a carry from neighbouring tiles. cub::BlockScan scans
 * forward only, and reversing it through its linear_tid argument breaks its warp-lane mapping. The
 * scans here are small and fixed in shape (Kogge-Stone over lanes with shuffles, then a sequential
 * combination of the per-warp totals), so every output is formed by the same operations on every
 * call: bitwise deterministic.
 *
 * Items are in the blocked arrangement (thread t holds items t*IPT .. t*IPT+IPT-1).
 */
#ifndef PKPO_CUDA_SCAN_KERNELS_CUH
#define PKPO_CUDA_SCAN_KERNELS_CUH

#include "dd.cuh"
#include "warp_primitives.cuh"

namespace pkpo_cuda {

struct AddOp {
  template <typename T>
  __device__ __forceinline__ T operator()(const T& x, const T& y) const {
    return x + y;
  }
};
struct MulOp {
  template <typename T>
  __device__ __forceinline__ T operator()(const T& x, const T& y) const {
    return x * y;
  }
};

/* Exclusive scan of one value per thread across the block (REVERSE: over threads in descending
 * order, i.e. a suffix scan). Every thread of the block must call it. *block_total receives the
 * combination of all values in every thread. warp_buf: BLOCK/32 entries of shared memory. Ends
 * with a barrier, so warp_buf can be reused by the next call. */
template <int BLOCK, bool REVERSE, typename T, typename Op>
__device__ __forceinline__ T block_exclusive_scan(T x, Op op, T identity, T* warp_buf,
                                                  T* block_total) {
  static_assert(BLOCK % 32 == 0 && BLOCK <= 1024, "BLOCK must be a multiple of 32");
  constexpr int NW = BLOCK / 32;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  T inc = x;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T y = REVERSE ? shfl_down(inc, o, 32) : shfl_up(inc, o, 32);
    if (REVERSE ? (lane + o < 32) : (lane >= o)) inc = op(inc, y);
  }
  T exc = REVERSE ? shfl_down(inc, 1, 32) : shfl_up(inc, 1, 32);
  if (lane == (REVERSE ? 31 : 0)) exc = identity;
  if (lane == (REVERSE ? 0 : 31)) warp_buf[warp] = inc;
  __syncthreads();
  T before = identity;
  T total = identity;
#pragma unroll
  for (int i = 0; i < NW; ++i) {
    const int w = REVERSE ? NW - 1 - i : i;
    const T wv = warp_buf[w];
    if (REVERSE ? (w > warp) : (w < warp)) before = op(before, wv);
    total = op(total, wv);
  }
  __syncthreads();
  *block_total = total;
  return op(before, exc);
}

/* Scans IPT items per thread (blocked arrangement) in place: x[j] becomes the exclusive (or, with
 * inclusive = true, inclusive) scan value of item j, combined with `carry` (the combination of
 * everything before the tile in scan order, e.g. from other tiles of the same group).
 * *tile_total: combination of all items of the tile, without the carry. */
template <int BLOCK, int IPT, bool REVERSE, typename T, typename Op>
__device__ __forceinline__ void scan_items(T (&x)[IPT], Op op, T identity, T carry, bool inclusive,
                                           T* warp_buf, T* tile_total) {
  T agg = identity;
#pragma unroll
  for (int i = 0; i < IPT; ++i) agg = op(agg, x[REVERSE ? IPT - 1 - i : i]);
  T run = block_exclusive_scan<BLOCK, REVERSE>(agg, op, identity, warp_buf, tile_total);
  run = op(carry, run);
#pragma unroll
  for (int i = 0; i < IPT; ++i) {
    const int j = REVERSE ? IPT - 1 - i : i;
    const T xj = x[j];
    const T next = op(run, xj);
    x[j] = inclusive ? next : run;
    run = next;
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_SCAN_KERNELS_CUH */
