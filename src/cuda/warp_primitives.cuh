/*
 * warp_primitives.cuh -- the sub-warp building blocks of the warp and group kernels: the bitonic
 * sort of a sub-warp's W lanes x V registers, the exchange with the neighbouring element, scans and
 * sums over a sub-warp by shuffles (fixed in shape: every output is formed by the same operations
 * on every call), and a lane's V items in shared memory as one vector access. Every lane of the
 * warp calls each of them.
 */
#ifndef PKPO_CUDA_WARP_PRIMITIVES_CUH
#define PKPO_CUDA_WARP_PRIMITIVES_CUH

#include <stdint.h>

#include "dd.cuh"

namespace pkpo_cuda {

constexpr unsigned kFullMask = 0xFFFFFFFFu;

/* The warp shuffles of every lane (mask kFullMask) over segments of w lanes, for the scalar types
 * and for the pairs DD and D2 (two shuffles). */
template <typename T>
__device__ __forceinline__ T shfl_idx(T v, int src, int w) { return __shfl_sync(kFullMask, v, src, w); }
template <typename T>
__device__ __forceinline__ T shfl_up(T v, unsigned d, int w) { return __shfl_up_sync(kFullMask, v, d, w); }
template <typename T>
__device__ __forceinline__ T shfl_down(T v, unsigned d, int w) { return __shfl_down_sync(kFullMask, v, d, w); }
template <typename T>
__device__ __forceinline__ T shfl_xor(T v, int mask, int w) { return __shfl_xor_sync(kFullMask, v, mask, w); }
__device__ __forceinline__ DD shfl_idx(DD v, int src, int w) {
  return DD(shfl_idx(v.hi, src, w), shfl_idx(v.lo, src, w));
}
__device__ __forceinline__ DD shfl_up(DD v, unsigned d, int w) {
  return DD(shfl_up(v.hi, d, w), shfl_up(v.lo, d, w));
}
__device__ __forceinline__ DD shfl_down(DD v, unsigned d, int w) {
  return DD(shfl_down(v.hi, d, w), shfl_down(v.lo, d, w));
}
__device__ __forceinline__ DD shfl_xor(DD v, int mask, int w) {
  return DD(shfl_xor(v.hi, mask, w), shfl_xor(v.lo, mask, w));
}
__device__ __forceinline__ D2 shfl_idx(D2 v, int src, int w) {
  return make_d2(shfl_idx(v.a, src, w), shfl_idx(v.b, src, w));
}
__device__ __forceinline__ D2 shfl_up(D2 v, unsigned d, int w) {
  return make_d2(shfl_up(v.a, d, w), shfl_up(v.b, d, w));
}
__device__ __forceinline__ D2 shfl_down(D2 v, unsigned d, int w) {
  return make_d2(shfl_down(v.a, d, w), shfl_down(v.b, d, w));
}
__device__ __forceinline__ D2 shfl_xor(D2 v, int mask, int w) {
  return make_d2(shfl_xor(v.a, mask, w), shfl_xor(v.b, mask, w));
}

/* Bitonic sort, ascending over the elements e = l*V + j of each sub-warp, in the form whose
 * comparators all point the same way: each merge of two sorted halves of `size` elements first
 * compares e with its mirror e ^ (size - 1), then with e ^ stride for stride = size/4 .. 1, the
 * smaller key going to the lower index. Strides below V compare a lane's own registers (a min and a
 * max, no predicate); larger ones exchange with lane l ^ (stride / V) by a shuffle, and whether a
 * lane keeps the minimum is one bit of l, the same for all its registers. */
template <int W, int V, typename Key>
__device__ __forceinline__ void warp_sort(Key (&k)[V], int l) {
  constexpr int LOG_C = (W * V == 4) ? 2 : (W * V == 8) ? 3 : (W * V == 16) ? 4 : (W * V == 32) ? 5
                        : (W * V == 64) ? 6 : 7;
  static_assert((1 << LOG_C) == W * V, "W * V must be a power of two from 4 to 128");
#pragma unroll
  for (int s = 1; s <= LOG_C; ++s) {
    const int size = 1 << s;
    if (size <= V) { /* mirror step within the lane: j and j ^ (size - 1) */
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if ((j & (size / 2)) == 0) {
          const int i = j ^ (size - 1);
          const Key a = k[j], b = k[i];
          k[j] = b < a ? b : a;
          k[i] = b < a ? a : b;
        }
      }
    } else { /* mirror step across lanes: register V-1-j of lane l ^ (size/V - 1) */
      Key o[V];
#pragma unroll
      for (int j = 0; j < V; ++j) o[j] = __shfl_xor_sync(kFullMask, k[V - 1 - j], size / V - 1, W);
      const bool keep_min = (l & (size / (2 * V))) == 0;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if ((o[j] < k[j]) == keep_min) k[j] = o[j];
      }
    }
#pragma unroll
    for (int qq = s - 2; qq >= 0; --qq) {
      const int stride = 1 << qq;
      if (stride < V) { /* partner in the same lane, register j ^ stride */
#pragma unroll
        for (int j = 0; j < V; ++j) {
          if ((j & stride) == 0) {
            const Key a = k[j], b = k[j | stride];
            k[j] = b < a ? b : a;
            k[j | stride] = b < a ? a : b;
          }
        }
      } else { /* partner register j of lane l ^ (stride / V) */
        const bool keep_min = (l & (stride / V)) == 0;
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const Key o = __shfl_xor_sync(kFullMask, k[j], stride / V, W);
          /* take the partner's key if it is the smaller and this lane keeps the minimum, or the
           * larger and it keeps the maximum (one compare and one select) */
          if ((o < k[j]) == keep_min) k[j] = o;
        }
      }
    }
  }
}

/* y[e] = x[e - 1] (fill at e = 0). */
template <int W, int V, typename T>
__device__ __forceinline__ void elem_prev(const T (&x)[V], T (&y)[V], int l, T fill) {
  const T up = shfl_up(x[V - 1], 1, W);
#pragma unroll
  for (int j = V - 1; j > 0; --j) y[j] = x[j - 1];
  y[0] = l > 0 ? up : fill;
}

/* y[e] = x[e + 1] (fill at the last element). */
template <int W, int V, typename T>
__device__ __forceinline__ void elem_next(const T (&x)[V], T (&y)[V], int l, T fill) {
  const T down = shfl_down(x[0], 1, W);
#pragma unroll
  for (int j = 0; j + 1 < V; ++j) y[j] = x[j + 1];
  y[V - 1] = l + 1 < W ? down : fill;
}

/* x + y, or x * y (a DD has only the product). */
template <bool PRODUCT, typename T>
__device__ __forceinline__ T combine(const T& x, const T& y) {
  if constexpr (PRODUCT) {
    return x * y;
  } else {
    return x + y;
  }
}

/* In-place inclusive scan over the elements, forward (prefix) or backward (suffix), of sums or
 * products: sequential over the lane's registers, then a scan of the lane totals by shuffles.
 * Fixed shape: every output is formed by the same operations on every call. */
template <int W, int V, bool BACKWARD, bool PRODUCT, typename T>
__device__ __forceinline__ void warp_scan(T (&x)[V], int l) {
#pragma unroll
  for (int i = 1; i < V; ++i) {
    const int j = BACKWARD ? V - 1 - i : i;
    const int p = BACKWARD ? j + 1 : j - 1;
    x[j] = combine<PRODUCT>(x[p], x[j]);
  }
  T run = x[BACKWARD ? 0 : V - 1]; /* lane total -> inclusive scan over lanes */
#pragma unroll
  for (int o = 1; o < W; o <<= 1) {
    const T y = BACKWARD ? shfl_down(run, o, W) : shfl_up(run, o, W);
    if (BACKWARD ? (l + o < W) : (l >= o)) run = combine<PRODUCT>(run, y);
  }
  /* the lanes before (after) this one */
  const T before = BACKWARD ? shfl_down(run, 1, W) : shfl_up(run, 1, W);
  if (BACKWARD ? (l + 1 < W) : (l > 0)) {
#pragma unroll
    for (int j = 0; j < V; ++j) x[j] = combine<PRODUCT>(before, x[j]);
  }
}

/* Sum over the sub-warp of one value per lane; every lane gets the same bits (IEEE addition is
 * commutative, and the butterfly adds the same pairs in every lane). */
template <int W, typename T>
__device__ __forceinline__ T warp_sum(T x) {
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) x = x + shfl_xor(x, o, W);
  return x;
}

/* Sums over the sub-warp of B values per lane (B a power of two, at most W): lane l gets the sum
 * of its team's values number l / (W / B), with warp_sum's bits. The butterfly's first log2(B)
 * levels each exchange half of the values a lane still holds (a reduce-scatter: the lane with the
 * level's bit set keeps the upper half), the others the one value left, so a lane adds the same
 * pairs in the same order as warp_sum does for each value. */
template <int W, int B, typename T>
__device__ __forceinline__ T warp_sum_batch(T (&x)[B], int l) {
  static_assert((B & (B - 1)) == 0 && B >= 1 && B <= W, "B: a power of two, at most W");
#pragma unroll
  for (int h = B / 2, o = W / 2; h > 0; h /= 2, o /= 2) {
    const bool upper = (l & o) != 0;
#pragma unroll
    for (int c = 0; c < h; ++c) {
      const T send = upper ? x[c] : x[c + h];
      const T keep = upper ? x[c + h] : x[c];
      x[c] = keep + shfl_xor(send, o, W);
    }
  }
  return warp_sum<W / B>(x[0]); /* the levels below W / B: partners within W / B lanes */
}

/* A lane's V consecutive items of shared memory as one access (vector loads and stores: V
 * scalar accesses at a stride of V words would meet V-way bank conflicts). p: aligned to the size
 * of V items (warp_kernel's arrays are 16-byte aligned, and its offsets multiples of V). */
template <int V, typename T>
struct alignas(sizeof(T) * V <= 16 ? sizeof(T) * V : 16) Items {
  T v[V];
};
template <int V, typename T>
__device__ __forceinline__ void store_items(T* p, const T (&x)[V]) {
  Items<V, T> it;
#pragma unroll
  for (int j = 0; j < V; ++j) it.v[j] = x[j];
  *reinterpret_cast<Items<V, T>*>(p) = it;
}
template <int V, typename T>
__device__ __forceinline__ void load_items(const T* p, T (&x)[V]) {
  const Items<V, T> it = *reinterpret_cast<const Items<V, T>*>(p);
#pragma unroll
  for (int j = 0; j < V; ++j) x[j] = it.v[j];
}

template <int V, typename T>
__device__ __forceinline__ void copy_items(const T (&x)[V], T (&y)[V]) {
#pragma unroll
  for (int j = 0; j < V; ++j) y[j] = x[j];
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_WARP_PRIMITIVES_CUH */
