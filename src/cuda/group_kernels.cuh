/*
 * group_kernels.cuh -- device code of the block path: groups of kWarpMaxN < n <= kBlockMaxN
 * (129..4096) rewards, one group per thread block (launchers in transform.cu launch_block).
 *
 * The warp kernels' design (warp_kernels.cuh) spread over the NW = C / (32 V) warps of a block of
 * C / V threads, C = the power of two >= n (256, 512, 1024, 2048, 4096), V rewards per thread in
 * registers. Register j of thread i first holds reward j * (C/V) + i of the group (striped:
 * coalesced loads and stores); after the sort it holds rank e + 1, e = i * V + j (blocked).
 *
 *   load   the group's rewards (through the optional index permutation), coalesced; one block
 *          barrier gathers the warps' non-finite counts and bad-index marks;
 *   sort   a bitonic network on the keys (KeyTraits) in the "flip" form (every run sorted
 *          ascending, each merge starts by comparing e with e ^ (size - 1)): partners within a
 *          thread compare registers, within a warp exchange by shuffles, across warps through a
 *          shared-memory double buffer (one barrier per step). That buffer's layout (sidx) puts
 *          the 32 lanes' copies of one register next to each other: every exchange is free of
 *          bank conflicts;
 *   weight mu_t and T'_t from a table row in shared memory for (tab.m, tab.k), built once per
 *          block by the float64 scans below and rounded once; groups of another m or k (per-group
 *          k, non-finite rewards, ragged sizes, curves) get them from those scans directly. The
 *          float64 configuration of C = 4096 has no table (group_has_tab: the block's shared
 *          memory, dynamic, stays within 64 KiB);
 *   terms  group_math.cuh's per-rank terms and only the scans the group's formula needs; a block
 *          scan is warp_scan per warp plus a carry over the warps' totals (shared memory, one
 *          barrier, combined in a fixed order: deterministic);
 *   store  each element finds the first sorted rank holding its key (a branchless binary search
 *          over the sorted keys, stored in rank order in shared memory) and stores that rank's output at its own
 *          position: tied rewards get bit-identical outputs, as on every path.
 *
 * Every decision after the load is uniform over the block (one group per block). Arithmetic:
 * float32 for float32 rewards, float64 for float64, as on the warp path (the weights are always
 * formed in float64 and rounded once).
 */
#ifndef PKPO_CUDA_GROUP_KERNELS_CUH
#define PKPO_CUDA_GROUP_KERNELS_CUH

#include <stdint.h>

#include "group_common.cuh"
#include "group_math.cuh"
#include "kernel_launch.cuh"
#include "keys.cuh"
#include "model_region.h"
#include "params.h"
#include "warp_primitives.cuh"

namespace pkpo_cuda {

/* The table row of a launch: (m, k), none when m < 2. */
struct GroupTab {
  int64_t k;
  int m;
};

/* A table row (mu and T' for C ranks) beside the sort's two buffers of C keys: where the four
 * arrays take at most 64 KiB of (dynamic) shared memory, i.e. all but the float64 C = 4096
 * configuration (128 KiB), so that every configuration fits the 99 KiB that every sm_80+ device
 * allows a block (sm_86/sm_89/sm_120; 163 KiB on sm_80, 227 KiB on sm_90). */
PKPO_HD constexpr bool group_has_tab(int C, int key_bytes) { return 4 * C * key_bytes <= 64 * 1024; }

/* Shared-memory slot of rank e: the V registers of a warp's 32 lanes are stored register-major
 * (slot (e / 32V) * 32V + j * 32 + lane for e = (warp * 32 + lane) * V + j), so that a warp
 * reading or writing one register of every lane touches 32 consecutive slots. */
template <int V>
PKPO_HD int sidx(int e) {
  constexpr int R = 32 * V;
  return (e & ~(R - 1)) | ((e % V) << 5) | ((e / V) & 31);
}

/* The warps' totals of one block scan or sum, in the scan's own type. */
template <int NW>
union PartSlot {
  double d[NW];
  float f[NW];
};
template <int NW>
__device__ __forceinline__ double* part_ptr(PartSlot<NW>& s, double*) { return s.d; }
template <int NW>
__device__ __forceinline__ float* part_ptr(PartSlot<NW>& s, float*) { return s.f; }

template <int C, int V, typename Key>
struct GroupSmem {
  typedef typename KeyTraits<Key>::Value A;
  static constexpr int NW = C / V / 32;
  static constexpr bool kTab = group_has_tab(C, (int)sizeof(Key));
  union Buf {
    Key k[C];
    A a[C];
  };
  alignas(16) Buf buf[2]; /* the sort's double buffer (sidx slots); then the sorted keys and the
                           * sorted outputs (rank order; vector stores, warp_primitives.cuh) */
  A mu[kTab ? C : 1];     /* the table row at sidx(t - 1): mu_t */
  A tp[kTab ? C : 1];     /* T'_t */
  GroupConsts<A> gc;      /* group_consts(tab.m, tab.k) */
  PartSlot<NW> part[2];   /* the warps' totals of a block scan or sum, alternating slots */
  int nonfinite[NW];      /* per warp, at the load */
  int bad[NW];
};

/* The alternating slots of the warp totals: scan i writes slot i % 2 before its barrier and reads
 * it after; scan i + 2 writes it again only after scan i + 1's barrier, which every read of scan
 * i precedes. Every thread runs the same scans (block-uniform decisions). */
template <int NW>
struct PartSlots {
  PartSlot<NW>* base;
  int i;
  __device__ __forceinline__ PartSlot<NW>& next() {
    i ^= 1;
    return base[i];
  }
};

/* ---- block building blocks (every thread of the block calls each of them) ------------------- */

/* Bitonic sort of the block's C keys, ascending over e = tid * V + j, in the flip form: every
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
          for (int j = 0; j < V; ++j) o[j] = __shfl_xor_sync(kFullMask, k[flip ? V - 1 - j : j], lane_mask);
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

/* In-place inclusive scan over the block's ranks (forward or backward, sums or products): warp_scan
 * per warp, then each warp combines the totals of the warps before (after) it, scanned over the
 * first NW lanes by shuffles (the same operations for every call: deterministic). Returns that
 * carry (the identity for the first warp of the scan's direction). */
template <int NW, int V, bool BACKWARD, bool PRODUCT, typename T>
__device__ __forceinline__ T block_scan(T (&x)[V], int l, int w, PartSlot<NW>& slot) {
  warp_scan<32, V, BACKWARD, PRODUCT>(x, l);
  T* part = part_ptr(slot, (T*)nullptr);
  const T tot = __shfl_sync(kFullMask, BACKWARD ? x[0] : x[V - 1], BACKWARD ? 0 : 31);
  if (l == 0) part[w] = tot;
  __syncthreads();
  const T id = PRODUCT ? T(1) : T(0);
  T y = l < NW ? part[l] : id; /* inclusive scan of the warp totals over lanes 0..NW-1 */
#pragma unroll
  for (int o = 1; o < NW; o <<= 1) {
    const T z = BACKWARD ? __shfl_down_sync(kFullMask, y, o) : __shfl_up_sync(kFullMask, y, o);
    if (BACKWARD ? (l + o < NW) : (l >= o)) y = PRODUCT ? z * y : z + y;
  }
  const bool any = BACKWARD ? w + 1 < NW : w > 0;
  const T c0 = __shfl_sync(kFullMask, y, BACKWARD ? (w + 1) & 31 : (w + 31) & 31);
  const T c = any ? c0 : id;
  if (any) {
#pragma unroll
    for (int j = 0; j < V; ++j) x[j] = PRODUCT ? c * x[j] : c + x[j];
  }
  return c;
}

/* Sum over the block of one value per thread; every thread gets the same bits (each group of NW
 * lanes adds the NW warp totals by the same butterfly). */
template <int NW, typename T>
__device__ __forceinline__ T block_sum(T x, int l, int w, PartSlot<NW>& slot) {
  x = warp_sum<32>(x);
  T* part = part_ptr(slot, (T*)nullptr);
  if (l == 0) part[w] = x;
  __syncthreads();
  T s = part[l % NW];
#pragma unroll
  for (int o = NW / 2; o > 0; o >>= 1) s = s + __shfl_xor_sync(kFullMask, s, o);
  return s;
}

/* mu_t and T'_t of ranks t = tid * V + j + 1 for (m, k) by a suffix product scan of the ratios and
 * a suffix sum, in float64 (weights_by_scan of the warp kernels over the block). */
template <int NW, int V>
__device__ __forceinline__ void block_weights(int tid, int64_t m, int64_t k, double (&mu)[V], double (&tp)[V],
                                              PartSlots<NW>& ps) {
  const int l = tid & 31, w = tid >> 5;
  double r[V];
#pragma unroll
  for (int j = 0; j < V; ++j) r[j] = weight_ratio((int64_t)(tid * V + j + 1), m, k);
  double c = block_scan<NW, V, true, true>(r, l, w, ps.next());
  elem_next<32, V>(r, mu, l, c); /* exclusive suffix product P_t */
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int64_t t = tid * V + j + 1;
    mu[j] = weight_from_product(t, m, k, mu[j]);
    r[j] = tail_summand(t, m, mu[j]);
  }
  c = block_scan<NW, V, true, false>(r, l, w, ps.next());
  elem_next<32, V>(r, tp, l, c); /* exclusive suffix sum T'_t */
}

/* The outputs of the thread's ranks by formula FORMULA with only the scans FORMULA needs (the
 * block form of warp_kernels.cuh's sorted_outputs). vp_fill: v_{e0} for the first rank e0 + 1 of the warp. */
template <int FORMULA, int NW, int V, typename A>
__device__ __forceinline__ void block_outputs(int tid, int m, const A (&v)[V], A v1, const A (&vn)[V],
                                              A vp_fill, const A (&mu)[V], const A (&tp)[V],
                                              const GroupConsts<A>& gc, A (&out)[V], PartSlots<NW>& ps) {
  const int l = tid & 31, w = tid >> 5;
  A vp[V];
  if (FORMULA == PKPO_SLOO_MINUS_ONE) {
    elem_prev<32, V>(v, vp, l, vp_fill);
  } else {
    copy_items<V>(v, vp); /* unused */
  }
  RankTerms<A> x[V];
  lane_terms<FORMULA, V>(tid, m, v, vp, vn, mu, tp, gc, x);
  A f[V], b[V], fx[V];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    f[j] = x[j].pre;
    b[j] = FORMULA == PKPO_SLOO ? x[j].suf0 - gc.q * x[j].suf1 : x[j].suf0;
    fx[j] = A(0);
  }
  A cf = A(0);
  if (FORMULA != PKPO_S) cf = block_scan<NW, V, false, false>(f, l, w, ps.next());
  if (FORMULA == PKPO_SLOO_MINUS_ONE) {
    copy_items<V>(f, out);
    return;
  }
  block_scan<NW, V, true, false>(b, l, w, ps.next());
  if (FORMULA != PKPO_S) elem_prev<32, V>(f, fx, l, cf); /* exclusive forward sums */
#pragma unroll
  for (int j = 0; j < V; ++j) out[j] = rank_output_of<A>(FORMULA, gc, v[j], v1, x[j], fx[j], b[j], A(0));
}

/* rho - v_1 of the group: the sum of its ranks' rho terms (same bits in every thread). */
template <int NW, int V, typename A>
__device__ __forceinline__ A block_rho_sum(int tid, int m, const A (&v)[V], const A (&vn)[V], const A (&mu)[V],
                                           const A (&tp)[V], const GroupConsts<A>& gc, PartSlots<NW>& ps) {
  RankTerms<A> x[V];
  lane_terms<PKPO_RHO, V>(tid, m, v, v, vn, mu, tp, gc, x);
  A part = A(0);
#pragma unroll
  for (int j = 0; j < V; ++j) part = part + x[j].rho;
  return block_sum<NW>(part, tid & 31, tid >> 5, ps.next());
}

template <int V, typename A>
__device__ __forceinline__ void round_weights(const double (&dmu)[V], const double (&dtp)[V], A (&mu)[V],
                                              A (&tp)[V]) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    mu[j] = (A)dmu[j];
    tp[j] = (A)dtp[j];
  }
}

/* The keys of the block's group of n rewards: register j of thread tid takes reward j*T + tid
 * (striped, coalesced; src: its position). *nonfinite: the group's non-finite rewards. Returns
 * whether an index entry of the group is unusable. One block barrier gathers the warps' counts. */
template <int C, int V, typename Key>
__device__ __forceinline__ bool block_load(const Params& p, const GroupSpan& s, int n, int tid,
                                           GroupSmem<C, V, Key>& sm, Key (&keys)[V], Key (&orig)[V],
                                           int64_t (&src)[V], int* nonfinite) {
  typedef KeyTraits<Key> KT;
  constexpr int T = C / V;
  constexpr int NW = GroupSmem<C, V, Key>::NW;
  const int l = tid & 31, w = tid >> 5;
  bool bad = false;
  int nonfinite_w = 0;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int e = j * T + tid;
    Key key = KT::kNone;
    bool nf = false;
    src[j] = -1;
    if (e < n) key = load_key<Key, true>(p, s.begin + e, &src[j], &nf, &bad);
    keys[j] = key;
    orig[j] = key;
    nonfinite_w += __popc(__ballot_sync(kFullMask, nf));
  }
  const unsigned bad_w = __ballot_sync(kFullMask, bad);
  if (l == 0) {
    sm.nonfinite[w] = nonfinite_w;
    sm.bad[w] = bad_w != 0u;
  }
  __syncthreads();
  bool any_bad = false;
#pragma unroll
  for (int u = 0; u < NW; ++u) {
    *nonfinite += sm.nonfinite[u];
    any_bad = any_bad || sm.bad[u] != 0;
  }
  return any_bad;
}

/* A pass@k curve: rho of group g at each k of the chunk, by the warp path's rule (curve_can_step,
 * curve_steps): weights elementwise from the previous column's, else the float64 scans; rho in the
 * direct form. Unlike there, m reaches 4096: a weight the scans floored to 0 (below 1e-300, for k
 * far from 1 and m) stays 0 along a chain where the scans might give it back at ~1e-300, a
 * difference below every accuracy target. Every decision is uniform over the block. */
template <int NW, int V, typename A>
__device__ __forceinline__ void block_curve_columns(const Params& p, const KChunk& kc, int64_t g, int act, int m,
                                                    int tid, const A (&v)[V], A v1, PartSlots<NW>& ps) {
  const int l = tid & 31, w = tid >> 5;
  const bool gen = act == ACT_GENERAL;
  double dmu[V];
#pragma unroll
  for (int j = 0; j < V; ++j) dmu[j] = 0.0;
  int64_t kprev = 0;
  int chain = 0;
  for (int col_i = 0; col_i < kc.count; ++col_i) {
    A total = A(0);
    if (gen) {
      const int64_t kk = kc.k[col_i] < m ? kc.k[col_i] : (int64_t)m;
      PKPO_REGION_BEGIN(curve_scans);
      if (!curve_can_step(kprev, kk, chain)) {
        double dtp[V];
        block_weights<NW, V>(tid, m, kk, dmu, dtp, ps);
        chain = 0;
      } else {
        PKPO_REGION_END(curve_scans);
        curve_steps<V>(dmu, tid * V + 1, m, (int)kprev, (int)kk);
        ++chain;
      }
      kprev = kk;
      A part = A(0);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if (tid * V + j + 1 <= m) part = part + (A)dmu[j] * (v[j] - v1);
      }
      total = block_sum<NW>(part, l, w, ps.next());
    }
    if (tid == 0) write_rho<A>(p, g, kc.first + col_i, rho_value(act, v1, total));
  }
}

/* ---- the kernel ------------------------------------------------------------------------------- */

/* Groups of the launch: valid groups with lower < n <= C (not on the large path), and (lower == 0)
 * the invalid ones. __launch_bounds__: at most 128 registers per thread (512 threads per SM at
 * least). Unmeasured: the same cap as the warp kernels'. */
template <int C, int V, typename Key>
__global__ void __launch_bounds__(C / V, (C / V) >= 512 ? 1 : 512 / (C / V))
    group_kernel(const Params p, const KChunk kc, int64_t lower, const GroupTab tab) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  typedef GroupSmem<C, V, Key> Sm;
  constexpr int NW = Sm::NW;
  static_assert(NW >= 2 && NW * 32 * V == C, "C / V must be a multiple of 64 threads");
  Sm& sm = PKPO_DYNAMIC_SMEM(Sm); /* sizeof(Sm) bytes, up to 64 KiB: launch_group */

  const int tid = threadIdx.x;
  const int l = tid & 31, w = tid >> 5;
  PartSlots<NW> ps;
  ps.base = sm.part;
  ps.i = 0;
  const bool curve = kc.count > 0;
  const bool have_tab = Sm::kTab && !curve && tab.m >= 2 && tab.m <= C;
  PKPO_REGION_BEGIN(table_row);
  if (have_tab) { /* once per block */
    double dmu[V], dtp[V];
    block_weights<NW, V>(tid, tab.m, tab.k, dmu, dtp, ps);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int s = sidx<V>(tid * V + j);
      sm.mu[Sm::kTab ? s : 0] = (A)dmu[j];
      sm.tp[Sm::kTab ? s : 0] = (A)dtp[j];
    }
    if (tid == 0) sm.gc = group_consts<A>(tab.m, tab.k);
  }
  PKPO_REGION_END(table_row);
  __syncthreads(); /* the table is read-only from here on */

  const int64_t count = launch_groups(p); /* a bucketed launch: its class's groups */
  PKPO_REGION_BEGIN(groups_of_block);
  for (int64_t gi = blockIdx.x; gi < count; gi += gridDim.x) {
    const int64_t g = group_at(p, gi);
    const GroupSpan s = group_span(p, g);
    if (goes_large(p, s)) continue; /* uniform across the block; nothing shared touched yet */
    if (s.valid ? (s.n <= lower || s.n > C) : lower > 0) continue; /* another launch's group */
    const int n = (int)s.n;

    Key keys[V], orig[V];
    int64_t src[V];
    int nonfinite = 0;
    const bool any_bad = block_load<C, V, Key>(p, s, n, tid, sm, keys, orig, src, &nonfinite);
    const bool valid = s.valid && !any_bad;
    const int64_t k_flags = curve ? kc.kmax : s.k_req;
    const Resolved r = resolve_group(p.estimator, p.nonfinite, p.k_policy, s.n, nonfinite, k_flags, valid,
                                     p.write_out != 0);
    const int act = r.action;
    if (tid == 0) report_status(p, g, r);

    if (act != ACT_ERROR) { /* to the group's closing barrier: no early exit below */
      const bool gen = act == ACT_GENERAL;
      const int m = gen ? (int)r.m : 0;
      Key* sk = sm.buf[0].k;
      A* so = sm.buf[1].a;
      A v1 = A(0);
      if (gen || act == ACT_SINGLE) {
        const int last = block_sort<C, V>(keys, tid, sm.buf);
        sk = sm.buf[last ^ 1].k;
        so = sm.buf[last].a; /* written only after the barrier below */
        store_items<V>(sk + tid * V, keys); /* rank order, for the search */
        __syncthreads();
        v1 = KT::to_value(sk[0]);
      }

      /* the sorted values and their neighbours v_{t+1} (the next warp's first rank from shared
       * memory) */
      A v[V], vn[V];
#pragma unroll
      for (int j = 0; j < V; ++j) v[j] = KT::to_value(keys[j]); /* NaN for kNone: never used */
      const int e0 = tid * V;
      const A vn_fill = (gen && l == 31 && w + 1 < NW) ? KT::to_value(sk[e0 + V]) : A(0);
      const A vp_fill = (gen && l == 0 && w > 0) ? KT::to_value(sk[e0 - 1]) : A(0);
      elem_next<32, V>(v, vn, l, vn_fill);

      PKPO_REGION_BEGIN(curve_columns);
      if (curve) {
        block_curve_columns<NW, V, A>(p, kc, g, act, m, tid, v, v1, ps);
      } else {
        PKPO_REGION_END(curve_columns);
        PKPO_REGION_BEGIN(transform_part);
        A res[V]; /* the outputs of the thread's elements (input order, striped) */
#pragma unroll
        for (int j = 0; j < V; ++j) res[j] = A(0);
        A total = A(0);
        if (gen) {
          /* weights and constants of (m, k): the table row, or float64 scans where there is none */
          A mu[V], tp[V];
          GroupConsts<A> gc;
          if (have_tab && r.k == tab.k && m == tab.m) {
#pragma unroll
            for (int j = 0; j < V; ++j) {
              const int sl = Sm::kTab ? sidx<V>(tid * V + j) : 0;
              mu[j] = sm.mu[sl];
              tp[j] = sm.tp[sl];
            }
            gc = sm.gc;
          } else {
            PKPO_REGION_BEGIN(weights_without_row);
            double dmu[V], dtp[V];
            block_weights<NW, V>(tid, m, r.k, dmu, dtp, ps);
            round_weights<V>(dmu, dtp, mu, tp);
            gc = group_consts<A>(m, r.k);
            PKPO_REGION_END(weights_without_row);
          }

          /* rho = v_1 + sum_t (T'_t + k/m) d_t */
          PKPO_REGION_BEGIN(rho_sum);
          if (p.rho) total = block_rho_sum<NW, V>(tid, m, v, vn, mu, tp, gc, ps);
          PKPO_REGION_END(rho_sum);

          if (p.write_out) {
            /* outputs in sorted order by the group's formula, then each element takes the output
             * of the first rank holding its key (tied rewards: bit-identical outputs) */
            A outs[V];
#pragma unroll
            for (int j = 0; j < V; ++j) outs[j] = A(0);
            switch (r.formula) {
              PKPO_REGION_BEGIN(formula_s);
              case PKPO_S: block_outputs<PKPO_S, NW, V>(tid, m, v, v1, vn, vp_fill, mu, tp, gc, outs, ps); break;
              PKPO_REGION_END(formula_s);
              PKPO_REGION_BEGIN(formula_sloo);
              case PKPO_SLOO: block_outputs<PKPO_SLOO, NW, V>(tid, m, v, v1, vn, vp_fill, mu, tp, gc, outs, ps); break;
              PKPO_REGION_END(formula_sloo);
              PKPO_REGION_BEGIN(formula_smo);
              case PKPO_SLOO_MINUS_ONE:
                block_outputs<PKPO_SLOO_MINUS_ONE, NW, V>(tid, m, v, v1, vn, vp_fill, mu, tp, gc, outs, ps);
                break;
              PKPO_REGION_END(formula_smo);
              PKPO_REGION_BEGIN(formula_l2o);
              case PKPO_L2O: block_outputs<PKPO_L2O, NW, V>(tid, m, v, v1, vn, vp_fill, mu, tp, gc, outs, ps); break;
              PKPO_REGION_END(formula_l2o);
              default: break;
            }
            store_items<V>(so + tid * V, outs);
            __syncthreads();
#pragma unroll
            for (int j = 0; j < V; ++j) res[j] = first_rank_output<C>(sk, so, orig[j]);
          }
        }

        if (tid == 0) write_rho<A>(p, g, 0, rho_value(act, v1, total));

        /* store: element j * (C / V) + tid's output at its own position */
        if (p.write_out && act != ACT_INVALID) store_outputs<V, Key, true>(p, act, src, orig, res);
        PKPO_REGION_END(transform_part);
      }
    }
    __syncthreads(); /* shared memory is reused by the next group */
  }
  PKPO_REGION_END(groups_of_block);
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_GROUP_KERNELS_CUH */
