/*
 * team.cuh -- the threads that compute one group of the block path together, and what they do
 * together: sort, scan, sum, look at a neighbour rank.
 *
 * A team of W threads holds C = W * V ranks, V per thread, after the sort thread l holding ranks
 * l*V + 1 .. l*V + V (blocked). It is either a sub-warp (W <= 32: 32 / W teams per warp, every
 * exchange a shuffle within segments of W lanes) or a whole thread block (W = 64 .. 512: shuffles
 * within each warp, shared memory across the NW = W / 32 warps, one barrier per exchange). The
 * kernels are written once against Team<W, V> (team_kernels.cuh); the two kinds differ only
 * inside the members below. Every thread of a warp (sub-warp teams) or of the block (block teams)
 * calls every member, so collectives never diverge.
 *
 * Scans and sums are fixed in shape: every output is formed by the same operations on every call,
 * so results are bitwise deterministic.
 */
#ifndef PKPO_CUDA_TEAM_CUH
#define PKPO_CUDA_TEAM_CUH

#include <stdint.h>

#include "dd.cuh"
#include "params.h"
#include "warp_primitives.cuh"

namespace pkpo_cuda {

/* Shared-memory slot of rank e in a block team's exchange buffer: the V registers of a warp's 32
 * lanes are stored register-major (slot (e / 32V) * 32V + j * 32 + lane for e = (warp * 32 + lane)
 * * V + j), so that a warp reading or writing one register of every lane touches 32 consecutive
 * slots (no bank conflicts). */
template <int V>
PKPO_HD int sidx(int e) {
  constexpr int R = 32 * V;
  return (e & ~(R - 1)) | ((e % V) << 5) | ((e / V) & 31);
}

/* Values per thread of one Team::sum_batch: 4, or 32 / NW for a block team of NW > 8 warps (its
 * warps' totals of each value are added by lanes whose index differs in the bits below NW). */
PKPO_HD constexpr int team_sum_batch(int W) { return W <= 32 ? (W < 4 ? W : 4) : (W > 256 ? 32 / (W / 32) : 4); }

/* The warps' totals of one block scan or sum, in the scan's own type (d2b: of a sum_batch). */
template <int NW>
union PartSlot {
  double d[NW];
  float f[NW];
  int i[NW];
  DD dd[NW];
  D2 d2[NW];
  D2 d2b[NW * 4 <= 32 ? NW * 4 : 32];
};
template <int NW>
__device__ __forceinline__ double* part_ptr(PartSlot<NW>& s, double*) { return s.d; }
template <int NW>
__device__ __forceinline__ float* part_ptr(PartSlot<NW>& s, float*) { return s.f; }
template <int NW>
__device__ __forceinline__ int* part_ptr(PartSlot<NW>& s, int*) { return s.i; }
template <int NW>
__device__ __forceinline__ DD* part_ptr(PartSlot<NW>& s, DD*) { return s.dd; }
template <int NW>
__device__ __forceinline__ D2* part_ptr(PartSlot<NW>& s, D2*) { return s.d2; }
template <int NW>
__device__ __forceinline__ D2* part_ptr_batch(PartSlot<NW>& s, D2*) { return s.d2b; }

/* Bitonic sort of a block team's C keys, ascending over e = tid * V + j, in the flip form: every
 * stage of size S merges two ascending runs, first comparing e with e ^ (S - 1), then with
 * e ^ stride for stride = S/4 .. 1, the lower rank keeping the minimum (no direction per rank, so
 * a register pair is one min and one max). Partners below V are the thread's own registers,
 * below 32 V another lane of the warp (a shuffle; the flip step reads register V-1-j of lane
 * l ^ (S/V - 1)), above that another warp (through the shared double buffer, at sidx slots:
 * sidx(e ^ mask) = sidx(e) ^ mask for these masks). Returns which buffer the last shared step
 * used (the other one is free to write without a barrier: its last reads preceded that step's
 * barrier). */
template <int C, int V, typename Key, typename Buf>
__device__ __forceinline__ int block_sort(Key (&k)[V], int tid, Buf* buf) {
  constexpr int R = 32 * V; /* ranks per warp */
  const int slot0 = (tid >> 5) * R + (tid & 31); /* sidx(tid * V): register j at slot0 + 32 j */
  int cur = 1;
#pragma unroll
  for (int size = 2; size <= C; size *= 2) {
#pragma unroll
    for (int stride = size / 2; stride >= 1; stride /= 2) {
      const bool flip = stride == size / 2;
      if (stride < V) { /* the thread's own registers */
        const int mask = flip ? size - 1 : stride;
#pragma unroll
        for (int j = 0; j < V; ++j) {
          if ((j & stride) == 0) {
            const Key a = k[j], b = k[j ^ mask];
            k[j] = b < a ? b : a;
            k[j ^ mask] = b < a ? a : b;
          }
        }
      } else {
        const bool keep_min = ((tid * V) & stride) == 0; /* e < partner */
        Key o[V];
        if (stride < R) { /* another lane of the warp */
          const int lane_mask = flip ? size / V - 1 : stride / V;
#pragma unroll
          for (int j = 0; j < V; ++j) o[j] = shfl_xor(k[flip ? V - 1 - j : j], lane_mask, 32);
        } else { /* another warp: through shared memory */
          cur ^= 1;
          Key* b = buf[cur].k;
#pragma unroll
          for (int j = 0; j < V; ++j) b[slot0 + 32 * j] = k[j];
          __syncthreads();
          const int p0 = slot0 ^ (flip ? (size - 1) & ~(32 * (V - 1)) : stride);
#pragma unroll
          for (int j = 0; j < V; ++j) o[j] = b[p0 + 32 * (flip ? V - 1 - j : j)];
        }
#pragma unroll
        for (int j = 0; j < V; ++j) {
          if ((o[j] < k[j]) == keep_min) k[j] = o[j];
        }
      }
    }
  }
  return cur;
}

/* In-place inclusive scan over a block team's ranks (forward or backward, sums or products):
 * warp_scan per warp, then each warp combines the totals of the warps before (after) it, scanned
 * over the first NW lanes by shuffles (the same operations for every call: deterministic).
 * Returns that carry (the identity for the first warp of the scan's direction). */
template <int NW, int V, bool BACKWARD, bool PRODUCT, typename T>
__device__ __forceinline__ T block_scan(T (&x)[V], int l, int w, PartSlot<NW>& slot) {
  warp_scan<32, V, BACKWARD, PRODUCT>(x, l);
  T* part = part_ptr(slot, (T*)nullptr);
  const T tot = shfl_idx(BACKWARD ? x[0] : x[V - 1], BACKWARD ? 0 : 31, 32);
  if (l == 0) part[w] = tot;
  __syncthreads();
  const T id = PRODUCT ? T(1) : T(0);
  T y = l < NW ? part[l] : id; /* inclusive scan of the warp totals over lanes 0..NW-1 */
#pragma unroll
  for (int o = 1; o < NW; o <<= 1) {
    const T z = BACKWARD ? shfl_down(y, o, 32) : shfl_up(y, o, 32);
    if (BACKWARD ? (l + o < NW) : (l >= o)) y = combine<PRODUCT>(z, y);
  }
  const bool any = BACKWARD ? w + 1 < NW : w > 0;
  const T c0 = shfl_idx(y, BACKWARD ? (w + 1) & 31 : (w + 31) & 31, 32);
  const T c = any ? c0 : id;
  if (any) {
#pragma unroll
    for (int j = 0; j < V; ++j) x[j] = combine<PRODUCT>(c, x[j]);
  }
  return c;
}

/* The block's total of value `idx` from its NW warps' totals s (lane % G == 0 of each warp holding
 * it; G >= NW): every thread of those lanes' groups gets the same bits (each group of NW lanes
 * adds the NW warp totals by the same butterfly). One barrier. */
template <int NW, int G, typename T>
__device__ __forceinline__ T warps_total(T s, int lane, int w, int idx, T* part) {
  static_assert(NW <= G, "a value's lanes cover the warps' totals");
  if (lane % G == 0) part[idx * NW + w] = s;
  __syncthreads();
  s = part[idx * NW + lane % NW];
#pragma unroll
  for (int o = NW / 2; o > 0; o >>= 1) s = s + shfl_xor(s, o, 32);
  return s;
}

/* Sum over the block of one value per thread; every thread gets the same bits. */
template <int NW, typename T>
__device__ __forceinline__ T block_sum(T x, int lane, int w, PartSlot<NW>& slot) {
  return warps_total<NW, 32>(warp_sum<32>(x), lane, w, 0, part_ptr(slot, (T*)nullptr));
}

/* What a block team keeps in shared memory besides its kernel's own arrays: the warps' totals of
 * the scans and sums, in two alternating slots (scan i writes slot i % 2 before its barrier and
 * reads it after; scan i + 2 writes it again only after scan i + 1's barrier, which every read of
 * scan i precedes; every thread runs the same scans). */
template <int NW>
struct TeamSlots {
  PartSlot<NW> part[2];
};

template <int W, int V>
struct Team {
  static constexpr int C = W * V;
  static constexpr bool kBlock = W > 32;
  static constexpr int NW = kBlock ? W / 32 : 1; /* warps of a block team */
  static_assert((W & (W - 1)) == 0 && W >= 2 && W <= 512, "W: a power of two from 2 to 512");

  int l;    /* the thread's index in the team */
  int lane; /* within its warp */
  int w;    /* its warp in a block team (0 for a sub-warp team) */
  TeamSlots<(NW > 1 ? NW : 2)>* slots; /* block teams only */
  int slot;

  __device__ __forceinline__ PartSlot<(NW > 1 ? NW : 2)>& next_slot() {
    slot ^= 1;
    return slots->part[slot];
  }

  /* rank (1-based) of the thread's register j */
  __device__ __forceinline__ int rank(int j) const { return l * V + j + 1; }

  /* In-place inclusive scan, forward or backward, of sums or products. */
  template <bool BACKWARD, bool PRODUCT, typename T>
  __device__ __forceinline__ void scan(T (&x)[V]) {
    if constexpr (kBlock) {
      (void)block_scan<NW, V, BACKWARD, PRODUCT>(x, lane, w, next_slot());
    } else {
      warp_scan<W, V, BACKWARD, PRODUCT>(x, l);
    }
  }

  /* The exclusive scan of x (x keeps the inclusive one): y[j] combines the items before (after,
   * BACKWARD) item j; the identity for the first (last). */
  template <bool BACKWARD, bool PRODUCT, typename T>
  __device__ __forceinline__ void scan_exclusive(T (&x)[V], T (&y)[V]) {
    const T id = PRODUCT ? T(1) : T(0);
    if constexpr (kBlock) {
      const T c = block_scan<NW, V, BACKWARD, PRODUCT>(x, lane, w, next_slot());
      if (BACKWARD) {
        elem_next<32, V>(x, y, lane, c);
      } else {
        elem_prev<32, V>(x, y, lane, c);
      }
    } else {
      warp_scan<W, V, BACKWARD, PRODUCT>(x, l);
      if (BACKWARD) {
        elem_next<W, V>(x, y, l, id);
      } else {
        elem_prev<W, V>(x, y, l, id);
      }
    }
  }

  /* Sum over the team of one value per thread; every thread gets the same bits. */
  template <typename T>
  __device__ __forceinline__ T sum(T x) {
    if constexpr (kBlock) {
      return block_sum<NW>(x, lane, w, next_slot());
    } else {
      return warp_sum<W>(x);
    }
  }

  /* B = team_sum_batch(W) sums over the team, one of each value per thread, in one exchange:
   * thread l gets the sum of value batch_index() with sum's bits (warp_sum_batch, and for a block
   * team its warps' totals added as block_sum adds them). */
  static constexpr int kBatch = team_sum_batch(W);
  __device__ __forceinline__ int batch_index() const { return kBlock ? lane / (32 / kBatch) : l / (W / kBatch); }
  /* one thread of the team per value, for its store */
  __device__ __forceinline__ bool batch_leader() const {
    return kBlock ? (w == 0 && lane % (32 / kBatch) == 0) : l % (W / kBatch) == 0;
  }
  template <typename T>
  __device__ __forceinline__ T sum_batch(T (&x)[kBatch]) {
    if constexpr (kBlock) {
      /* 32 / kBatch lanes per value after the warp's reduce-scatter */
      return warps_total<NW, 32 / kBatch>(warp_sum_batch<32, kBatch>(x, lane), lane, w, batch_index(),
                                          part_ptr_batch(next_slot(), (T*)nullptr));
    } else {
      return warp_sum_batch<W, kBatch>(x, l);
    }
  }

  /* y[j] = x at the next rank (fill_last past rank C). A block team passes each warp's first
   * rank to the warp before through shared memory (one barrier). */
  template <typename T>
  __device__ __forceinline__ void next(const T (&x)[V], T (&y)[V], T fill_last) {
    if constexpr (kBlock) {
      T* part = part_ptr(next_slot(), (T*)nullptr);
      if (lane == 0) part[w] = x[0];
      __syncthreads();
      const T fill = (lane == 31 && w + 1 < NW) ? part[w + 1] : fill_last;
      elem_next<32, V>(x, y, lane, fill);
    } else {
      elem_next<W, V>(x, y, l, fill_last);
    }
  }

  /* y[j] = x at the previous rank (fill_first before rank 1). */
  template <typename T>
  __device__ __forceinline__ void prev(const T (&x)[V], T (&y)[V], T fill_first) {
    if constexpr (kBlock) {
      T* part = part_ptr(next_slot(), (T*)nullptr);
      if (lane == 31) part[w] = x[V - 1];
      __syncthreads();
      const T fill = (lane == 0 && w > 0) ? part[w - 1] : fill_first;
      elem_prev<32, V>(x, y, lane, fill);
    } else {
      elem_prev<W, V>(x, y, l, fill_first);
    }
  }

  /* How many threads of the team have b, in every thread. */
  __device__ __forceinline__ int count(bool b) {
    const unsigned bits = __ballot_sync(kFullMask, b);
    if constexpr (kBlock) {
      double* part = part_ptr(next_slot(), (double*)nullptr);
      if (lane == 0) part[w] = (double)__popc(bits);
      __syncthreads();
      double total = 0.0;
#pragma unroll
      for (int u = 0; u < NW; ++u) total += part[u];
      return (int)total;
    } else {
      const unsigned seg = W == 32 ? kFullMask : (((1u << W) - 1u) << (lane / W * W));
      return __popc(bits & seg);
    }
  }

  /* Whether b holds for any team of the warp (sub-warp teams), or for the team (a block team's
   * decisions are uniform over it): a collective runs where any team needs it. */
  __device__ __forceinline__ bool any(bool b) const {
    if constexpr (kBlock) {
      return b;
    } else {
      return __any_sync(kFullMask, b) != 0;
    }
  }

  /* x at rank `rank` (1 <= rank <= C), in every thread. */
  template <typename T>
  __device__ __forceinline__ T value_at(const T (&x)[V], int64_t rank) {
    const int e = (int)(rank - 1), owner = e / V, reg = e % V;
    T c = x[0];
#pragma unroll
    for (int j = 1; j < V; ++j) c = j == reg ? x[j] : c;
    if constexpr (kBlock) {
      T* part = part_ptr(next_slot(), (T*)nullptr);
      if (l == owner) part[0] = c;
      __syncthreads();
      return part[0];
    } else {
      return shfl_idx(c, owner, W);
    }
  }

  /* The value of rank 1 (x0: the thread's register 0), in every thread. */
  template <typename T>
  __device__ __forceinline__ T first(T x0) {
    if constexpr (kBlock) {
      T* part = part_ptr(next_slot(), (T*)nullptr);
      if (l == 0) part[0] = x0;
      __syncthreads();
      return part[0];
    } else {
      return shfl_idx(x0, 0, W);
    }
  }
};

/* The calling thread's view of its team (slots: a block team's shared totals, unused by sub-warp
 * teams). */
template <int W, int V>
__device__ __forceinline__ Team<W, V> make_team(TeamSlots<(Team<W, V>::NW > 1 ? Team<W, V>::NW : 2)>* slots) {
  Team<W, V> t;
  t.lane = threadIdx.x & 31;
  t.l = Team<W, V>::kBlock ? (int)threadIdx.x : t.lane % W;
  t.w = Team<W, V>::kBlock ? (int)(threadIdx.x >> 5) : 0;
  t.slots = slots;
  t.slot = 0;
  return t;
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_TEAM_CUH */
