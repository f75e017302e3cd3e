/*
 * warp_kernels.cuh -- device code of the small-group path: groups of at most kWarpMaxN (64)
 * rewards, the sizes RL trainers sample (launchers in transform.cu).
 *
 * One group per sub-warp of W = 4, 8, 16 or 32 lanes (32 / W groups per warp), each lane holding V
 * rewards in registers (V = 1, or V = 2 with W = 32 for 33..64 rewards). Element e of a group
 * (0-based, e = j*W + lane: the "striped" arrangement, so that consecutive lanes load consecutive
 * rewards of the uniform layout) is reward e of the group before the sort and rank e+1 after it.
 *
 *   load   one coalesced load per element (through the optional index permutation);
 *   sort   a bitonic network on the keys (KeyTraits): shuffles between lanes (__shfl_xor_sync),
 *          compare-exchanges between a lane's own registers for strides >= W;
 *   weight mu_t and the tail sums T'_t from a table in shared memory, built once per thread block
 *          for the call's k and every group size m the launch can meet (WarpTab), so that the hot
 *          loop makes no division and no product scan; groups the table cannot serve (per-group k,
 *          k clamped to m, a pass@k curve) get them from two sub-warp scans in float64;
 *   terms  the per-rank terms of group_math.cuh, and only the scans the estimator needs
 *          (sloo_minus_one: one forward scan; s: one backward scan; rho: one reduction and no
 *          per-sample pass), by shuffles;
 *   store  each element finds the first sorted rank holding its key (a branchless binary search
 *          by shuffles, or in per-warp shared memory when V > 1) and stores that rank's output
 *          at its own position: tied rewards get bitwise-identical outputs, as on every path.
 *
 * No block barrier after the table is built, no atomics except the error report, no
 * divergence at a collective: every lane of a warp runs every shuffle, and a sub-warp whose group
 * needs nothing computes on padding (kNone keys, zero terms) and stores nothing.
 *
 * Arithmetic: float32 for float32 rewards, float64 for float64 (docs/math.md section 4 targets,
 * err <= 4e-6 and <= 1e-12, are met by the stable forms in either: the tests check every estimator
 * and k on offset rewards at every W). The weights are always built in float64 and rounded once.
 */
#ifndef PKPO_CUDA_WARP_KERNELS_CUH
#define PKPO_CUDA_WARP_KERNELS_CUH

#include <stdint.h>
#include <string.h>

#include "group_math.cuh"
#include "params.h"
#include "transform_kernels.cuh"

namespace pkpo_cuda {

constexpr int kWarpBlock = 256;      /* threads per block of the warp kernels (8 warps) */
constexpr int kWarpMaxN = 64;        /* largest group of the warp path: W = 32, V = 2 */
constexpr unsigned kFullMask = 0xFFFFFFFFu;

/* Rows of the weight table: k, and the group sizes m_lo..m_hi (empty when m_lo > m_hi). */
struct WarpTab {
  int64_t k;
  int m_lo;
  int m_hi;
};

/* Entries of the rows 1..m of a triangular table. */
PKPO_HD int tri(int m) { return m * (m + 1) / 2; }

template <int W, int V, typename Key>
struct WarpSmem {
  typedef typename KeyTraits<Key>::Value A;
  static constexpr int C = W * V;
  static constexpr int NW = kWarpBlock / 32;
  A mu[C * (C + 1) / 2]; /* row m (m_lo <= m <= m_hi) at tri(m-1) - tri(m_lo-1): mu_1..mu_m */
  A tp[C * (C + 1) / 2]; /* T'_1..T'_m likewise */
  /* per m: k/m, k/(m-1), m/(m-k), 1/(m-k), k/(m(m-1)) */
  A c[C + 1], q[C + 1], w[C + 1], rinv[C + 1], sh[C + 1];
  /* V > 1: the sorted keys and outputs of each warp's group, for the tie search */
  Key keys[V > 1 ? NW : 1][V > 1 ? C : 1];
  A out[V > 1 ? NW : 1][V > 1 ? C : 1];
};

/* The value of an orderable key (the inverse of KeyTraits::to_key), in the rewards' own type. */
template <typename Key>
__device__ __forceinline__ typename KeyTraits<Key>::Value key_value(Key key) {
  const Key top = Key(1) << (sizeof(Key) * 8 - 1);
  const Key b = (key & top) ? (Key)(key & ~top) : (Key)~key;
  typename KeyTraits<Key>::Value x;
  memcpy(&x, &b, sizeof x);
  return x;
}

/* ---- sub-warp building blocks (every lane of the warp calls each of them) ------------------------ */

/* Bitonic sort, ascending over the elements e = j*W + l of each sub-warp. */
template <int W, int V, typename Key>
__device__ __forceinline__ void warp_sort(Key (&k)[V], int l) {
  constexpr int LOG_C = (W * V == 4) ? 2 : (W * V == 8) ? 3 : (W * V == 16) ? 4 : (W * V == 32) ? 5 : 6;
  static_assert((1 << LOG_C) == W * V, "W * V must be 4, 8, 16, 32 or 64");
#pragma unroll
  for (int s = 1; s <= LOG_C; ++s) {
    const int size = 1 << s;
#pragma unroll
    for (int qq = s - 1; qq >= 0; --qq) {
      const int stride = 1 << qq;
      if (stride >= W) { /* partner in the same lane, register j ^ (stride / W) */
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int js = stride / W;
          if ((j & js) == 0) {
            const bool asc = ((j * W) & size) == 0;
            const Key a = k[j], b = k[j | js];
            const bool swap = asc ? (b < a) : (a < b);
            k[j] = swap ? b : a;
            k[j | js] = swap ? a : b;
          }
        }
      } else {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int e = j * W + l;
          const Key o = __shfl_xor_sync(kFullMask, k[j], stride, W);
          const bool keep_min = ((e & stride) == 0) == ((e & size) == 0);
          const Key mn = o < k[j] ? o : k[j];
          const Key mx = o < k[j] ? k[j] : o;
          k[j] = keep_min ? mn : mx;
        }
      }
    }
  }
}

/* y[e] = x[e - 1] (fill at e = 0). */
template <int W, int V, typename T>
__device__ __forceinline__ void elem_prev(const T (&x)[V], T (&y)[V], int l, T fill) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const T up = __shfl_up_sync(kFullMask, x[j], 1, W);
    T wrap = fill;
    if (j > 0) wrap = __shfl_sync(kFullMask, x[j - 1], W - 1, W);
    y[j] = l > 0 ? up : wrap;
  }
}

/* y[e] = x[e + 1] (fill at the last element). */
template <int W, int V, typename T>
__device__ __forceinline__ void elem_next(const T (&x)[V], T (&y)[V], int l, T fill) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const T down = __shfl_down_sync(kFullMask, x[j], 1, W);
    T wrap = fill;
    if (j + 1 < V) wrap = __shfl_sync(kFullMask, x[j + 1], 0, W);
    y[j] = l + 1 < W ? down : wrap;
  }
}

/* In-place inclusive scan over the elements, forward (prefix) or backward (suffix), of sums or
 * products. Fixed shape: every output is formed by the same operations on every call. */
template <int W, int V, bool BACKWARD, bool PRODUCT, typename T>
__device__ __forceinline__ void warp_scan(T (&x)[V], int l) {
  T carry = T(0);
#pragma unroll
  for (int i = 0; i < V; ++i) {
    const int j = BACKWARD ? V - 1 - i : i;
#pragma unroll
    for (int o = 1; o < W; o <<= 1) {
      const T y = BACKWARD ? __shfl_down_sync(kFullMask, x[j], o, W) : __shfl_up_sync(kFullMask, x[j], o, W);
      if (BACKWARD ? (l + o < W) : (l >= o)) x[j] = PRODUCT ? x[j] * y : x[j] + y;
    }
    if (V > 1) {
      const T total = __shfl_sync(kFullMask, x[j], BACKWARD ? 0 : W - 1, W);
      if (i > 0) x[j] = PRODUCT ? carry * x[j] : carry + x[j];
      carry = i > 0 ? (PRODUCT ? carry * total : carry + total) : total;
    }
  }
}

/* Sum over the sub-warp of one value per lane; every lane gets the same bits (IEEE addition is
 * commutative, and the butterfly adds the same pairs in every lane). */
template <int W, typename T>
__device__ __forceinline__ T warp_sum(T x) {
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) x = x + __shfl_xor_sync(kFullMask, x, o, W);
  return x;
}

/* ---- weights --------------------------------------------------------------------------------- */

/* The table rows m_lo..m_hi for tab.k, built in float64 by the recurrence of engine.c
 * (mu_m = k/m, mu_{t-1} = mu_t (t-k)/(t-1), dropped below the floor), one row per thread. */
template <int W, int V, typename Key>
__device__ __forceinline__ void build_table(WarpSmem<W, V, Key>& sm, const WarpTab& tab) {
  typedef typename KeyTraits<Key>::Value A;
  const int rows = tab.m_hi - tab.m_lo + 1;
  for (int i = threadIdx.x; i < rows; i += kWarpBlock) {
    const int m = tab.m_lo + i;
    const int64_t k = tab.k;
    const int off = tri(m - 1) - tri(tab.m_lo - 1);
    double w = (double)k / (double)m;
    bool live = true;
    double tail = 0.0;  /* T'_t = sum_{j=t+1}^{m-1} mu_j */
    double above = 0.0; /* mu_{t+1} */
    for (int t = m; t >= 1; --t) {
      if (t + 1 <= m - 1) tail += above;
      double mu = 0.0;
      if (live && t >= k) {
        mu = w;
        if (t == k) {
          live = false;
        } else {
          w = w * ((double)(t - k) / (double)(t - 1));
          if (w < PKPO__CUDA_WEIGHT_FLOOR) live = false;
        }
      }
      sm.mu[off + t - 1] = (A)mu;
      sm.tp[off + t - 1] = (A)tail;
      above = mu;
    }
    sm.c[m] = (A)((double)k / (double)m);
    sm.q[m] = (A)((double)k / (double)(m - 1));
    sm.w[m] = (A)((double)m / (double)(m - k));
    sm.rinv[m] = (A)(1.0 / (double)(m - k));
    sm.sh[m] = (A)((double)k / ((double)m * (double)(m - 1)));
  }
}

/* The per-group constants of rank_terms / rank_output. */
template <typename A>
struct GroupConsts {
  A c, q, w, rinv, sh;
};

template <typename A>
__device__ __forceinline__ GroupConsts<A> consts_of(int64_t m, int64_t k) {
  GroupConsts<A> g;
  g.c = (A)((double)k / (double)m);
  g.q = (A)((double)k / (double)(m - 1));
  g.w = (A)((double)m / (double)(m - k));
  g.rinv = (A)(1.0 / (double)(m - k));
  g.sh = (A)((double)k / ((double)m * (double)(m - 1)));
  return g;
}

/* mu_t and T'_t of ranks t = j*W + l + 1 for (m, k), by a suffix product scan of the ratios and a
 * suffix sum, in float64 (group_math.cuh's weight_ratio / weight_from_product / tail_summand). */
template <int W, int V>
__device__ __forceinline__ void weights_by_scan(int l, int64_t m, int64_t k, double (&mu)[V],
                                                double (&tp)[V]) {
  double r[V];
#pragma unroll
  for (int j = 0; j < V; ++j) r[j] = weight_ratio((int64_t)(j * W + l + 1), m, k);
  warp_scan<W, V, true, true>(r, l);
  elem_next<W, V>(r, mu, l, 1.0); /* exclusive suffix product P_t */
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int64_t t = j * W + l + 1;
    mu[j] = weight_from_product(t, m, k, mu[j]);
    r[j] = tail_summand(t, m, mu[j]);
  }
  warp_scan<W, V, true, false>(r, l);
  elem_next<W, V>(r, tp, l, 0.0); /* exclusive suffix sum T'_t */
}

/* ---- the kernel ------------------------------------------------------------------------------- */

/* Groups of the launch: valid groups with lower < n <= W*V, and (lower == 0) the empty and the
 * invalid ones. */
template <int W, int V, typename Key>
__global__ void __launch_bounds__(kWarpBlock) warp_kernel(const Params p, const KChunk kc, int64_t lower,
                                                          const WarpTab tab) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  constexpr int C = W * V;
  constexpr int S = 32 / W; /* groups per warp */
  static_assert(V == 1 || W == 32, "several registers per lane only with whole warps");
  __shared__ WarpSmem<W, V, Key> sm;

  const bool curve = kc.count > 0;
  const bool have_tab = !curve && tab.m_lo <= tab.m_hi;
  if (have_tab) build_table<W, V, Key>(sm, tab);
  __syncthreads(); /* the only block barrier: the table is read-only from here on */

  const int lane = threadIdx.x & 31;
  const int sub = lane / W;
  const int l = lane % W;
  const unsigned seg = W == 32 ? kFullMask : (((1u << W) - 1u) << (sub * W));
  const int wib = threadIdx.x >> 5;
  const int64_t nwarps = (int64_t)gridDim.x * (kWarpBlock / 32);
  const A nan = (A)__longlong_as_double(0x7FF8000000000000LL);

  for (int64_t base = ((int64_t)blockIdx.x * (kWarpBlock / 32) + wib) * S; base < p.num_groups;
       base += nwarps * S) {
    const int64_t g = base + sub;
    GroupSpan s;
    s.begin = 0;
    s.n = 0;
    s.k_req = 1;
    s.valid = false;
    bool mine = false;
    if (g < p.num_groups) {
      s = group_span(p, g);
      mine = s.valid ? ((lower == 0 || s.n > lower) && s.n <= C) : (lower == 0);
    }
    if (!__any_sync(kFullMask, mine)) continue; /* uniform: the warp's groups are all another launch's */

    /* load */
    Key keys[V], orig[V];
    int64_t src[V];
    bool bad = false;
    int64_t nonfinite = 0;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int64_t lp = j * W + l;
      Key key = KT::kNone;
      bool nf = false;
      src[j] = -1;
      if (mine && lp < s.n) {
        src[j] = sample_of(p, s.begin + lp);
        if (!sample_ok(p, src[j])) {
          bad = true;
        } else {
          const A x = static_cast<const A*>(p.rewards)[src[j]];
          if (KT::finite(KT::bits(x))) {
            key = KT::to_key(x);
          } else {
            nf = true;
          }
        }
      }
      keys[j] = key;
      orig[j] = key;
      nonfinite += __popc(__ballot_sync(kFullMask, nf) & seg);
    }
    const unsigned bad_lanes = __ballot_sync(kFullMask, bad); /* every lane: no short circuit */
    const bool valid = s.valid && (bad_lanes & seg) == 0;
    const int64_t k_flags = curve ? kc.kmax : s.k_req;
    const Resolved r = resolve_group(p.estimator, p.nonfinite, p.k_policy, s.n, nonfinite, k_flags,
                                     valid, p.write_out != 0);
    const int act = mine ? r.action : -1;
    if (l == 0 && mine) {
      if (act == ACT_ERROR) {
        report_error(p, g, r.error_bits);
      } else if (p.flags) {
        p.flags[g] = r.flags;
      }
    }
    const bool gen = act == ACT_GENERAL;
    if (__any_sync(kFullMask, gen || act == ACT_SINGLE)) warp_sort<W, V>(keys, l);

    const int64_t m = r.m;
    A v[V];
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] = key_value(keys[j]); /* NaN for kNone: never used */
    const A v1 = __shfl_sync(kFullMask, v[0], 0, W);
    A vn[V];
    elem_next<W, V>(v, vn, l, A(0));
    A d[V];
#pragma unroll
    for (int j = 0; j < V; ++j) d[j] = (int64_t)(j * W + l + 1) < m ? vn[j] - v[j] : A(0);

    const int ncol = curve ? kc.count : 1;
    for (int col_i = 0; col_i < ncol; ++col_i) {
      const int64_t col = curve ? kc.first + col_i : 0;
      const int64_t kk = curve ? (kc.k[col_i] < m ? kc.k[col_i] : m) : r.k;
      const int mode = gen ? (curve ? (int)MODE_RHO : r.mode) : -1;

      /* weights and constants of (m, kk) */
      A mu[V], tp[V];
      GroupConsts<A> gc;
      const bool from_tab = have_tab && gen && kk == tab.k && m >= tab.m_lo && m <= tab.m_hi;
      if (from_tab) {
        const int off = tri((int)m - 1) - tri(tab.m_lo - 1);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int t = j * W + l + 1;
          mu[j] = t <= m ? sm.mu[off + t - 1] : A(0);
          tp[j] = t <= m ? sm.tp[off + t - 1] : A(0);
        }
        gc.c = sm.c[m];
        gc.q = sm.q[m];
        gc.w = sm.w[m];
        gc.rinv = sm.rinv[m];
        gc.sh = sm.sh[m];
      } else {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          mu[j] = A(0);
          tp[j] = A(0);
        }
        gc = consts_of<A>(gen ? m : 2, gen ? kk : 1);
      }
      if (__any_sync(kFullMask, gen && !from_tab)) {
        double dmu[V], dtp[V];
        weights_by_scan<W, V>(l, gen ? m : 0, gen ? kk : 1, dmu, dtp);
        if (!from_tab) {
#pragma unroll
          for (int j = 0; j < V; ++j) {
            mu[j] = (A)dmu[j];
            tp[j] = (A)dtp[j];
          }
        }
      }

      /* rho = v_1 + sum_t (T'_t + k/m) d_t */
      if (p.rho || curve) {
        A part = A(0);
#pragma unroll
        for (int j = 0; j < V; ++j) part = part + (tp[j] + gc.c) * d[j];
        const A total = warp_sum<W>(part);
        if (l == 0 && mine && act != ACT_ERROR) {
          double rho = 0.0;
          if (act == ACT_INVALID || act == ACT_PROPAGATE) {
            rho = __longlong_as_double(0x7FF8000000000000LL);
          } else if (act == ACT_SINGLE) {
            rho = (double)v1;
          } else if (gen) {
            rho = (double)(v1 + total);
          }
          write_rho<A>(p, g, col, rho);
        }
      }
      if (curve || !p.write_out) continue;

      /* outputs in sorted order: only the scans some group of the warp needs */
      A outs[V];
#pragma unroll
      for (int j = 0; j < V; ++j) outs[j] = A(0);
      if (__any_sync(kFullMask, gen)) {
        const bool need_fw = __any_sync(kFullMask, mode == MODE_SLOO || mode == MODE_SMO || mode == MODE_L2O);
        const bool need_bw = __any_sync(kFullMask, mode == MODE_S || mode == MODE_SLOO || mode == MODE_L2O);
        const bool need_ex = __any_sync(kFullMask, mode == MODE_SLOO || mode == MODE_L2O);
        const bool need_dp = __any_sync(kFullMask, mode == MODE_SMO);
        A dp[V]; /* d_{t-1} = v_t - v_{t-1} */
        if (need_dp) {
          elem_prev<W, V>(d, dp, l, A(0));
        } else {
#pragma unroll
          for (int j = 0; j < V; ++j) dp[j] = A(0);
        }
        A fw[V], bw[V];
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int64_t t = j * W + l + 1;
          A f = A(0), b = A(0);
          if (t <= m) {
            switch (mode) {
              case MODE_S: b = (gc.c - mu[j]) * d[j]; break;
              case MODE_SLOO:
                f = (gc.w * tp[j]) * d[j];
                b = (gc.c - mu[j]) * d[j] - gc.q * ((gc.w * (tp[j] + mu[j])) * d[j]);
                break;
              case MODE_SMO: f = t > 1 ? mu[j] * dp[j] : A(0); break;
              case MODE_L2O: {
                const A e = mu[j] * d[j] * gc.rinv;
                f = (A)t * e;
                b = (A)(m - t) * e;
                break;
              }
              default: break;
            }
          }
          fw[j] = f;
          bw[j] = b;
        }
        if (need_fw) warp_scan<W, V, false, false>(fw, l);
        if (need_bw) warp_scan<W, V, true, false>(bw, l);
        A fx[V]; /* exclusive forward sums */
        if (need_ex) {
          elem_prev<W, V>(fw, fx, l, A(0));
        } else {
#pragma unroll
          for (int j = 0; j < V; ++j) fx[j] = A(0);
        }
#pragma unroll
        for (int j = 0; j < V; ++j) {
          switch (mode) {
            case MODE_S: outs[j] = gc.c * v[j] + bw[j]; break;
            case MODE_SLOO: outs[j] = gc.c * (v[j] - v1) + bw[j] - gc.q * fx[j] - v1 * gc.sh; break;
            case MODE_SMO: outs[j] = fw[j]; break;
            case MODE_L2O: outs[j] = fx[j] - bw[j]; break;
            default: break;
          }
        }
      }

      /* each element takes the output of the first rank holding its key */
      A mine_out[V];
#pragma unroll
      for (int j = 0; j < V; ++j) mine_out[j] = A(0);
      if (!__any_sync(kFullMask, gen)) {
        /* no sorted outputs in this warp */
      } else if (V == 1) {
        int pos = 0;
#pragma unroll
        for (int step = C / 2; step > 0; step >>= 1) {
          const Key probe = __shfl_sync(kFullMask, keys[0], pos + step - 1, W);
          if (probe < orig[0]) pos += step;
        }
        mine_out[0] = __shfl_sync(kFullMask, outs[0], pos, W);
      } else {
        __syncwarp();
#pragma unroll
        for (int j = 0; j < V; ++j) {
          sm.keys[wib][j * W + l] = keys[j];
          sm.out[wib][j * W + l] = outs[j];
        }
        __syncwarp();
#pragma unroll
        for (int j = 0; j < V; ++j) {
          int pos = 0;
#pragma unroll
          for (int step = C / 2; step > 0; step >>= 1) {
            if (sm.keys[wib][pos + step - 1] < orig[j]) pos += step;
          }
          mine_out[j] = sm.out[wib][pos];
        }
      }

      if (mine && act != ACT_INVALID && act != ACT_ERROR) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          if (src[j] < 0) continue;
          A value;
          if (act == ACT_PROPAGATE) {
            value = nan;
          } else if (orig[j] == KT::kNone) {
            value = A(0); /* excluded (or the group is empty) */
          } else if (act == ACT_SINGLE) {
            value = p.estimator == PKPO_S ? key_value(orig[j]) : A(0);
          } else {
            value = mine_out[j];
          }
          static_cast<A*>(p.out)[src[j]] = value;
        }
      }
    }
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_WARP_KERNELS_CUH */
