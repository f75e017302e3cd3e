/*
 * group_common.cuh -- the per-group pieces every kernel path uses: a group's bounds and k
 * (group_span; goes_large: which path takes it), the groups a launch visits, the index's sample
 * references, the error report and the stores of rho and outputs, the load of a sample's key, the
 * tie rule's search (first_rank_output), the outputs of the cases the formulas do not cover
 * (other_output, rho_value), the per-rank terms of a thread's ranks (lane_terms), and the pass@k
 * curve's elementwise weight steps. Device code; no kernel.
 */
#ifndef PKPO_CUDA_GROUP_COMMON_CUH
#define PKPO_CUDA_GROUP_COMMON_CUH

#include <stdint.h>

#include "group_math.cuh"
#include "keys.cuh"
#include "model_region.h"
#include "params.h"
#include "pkpo.h"

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

template <typename V>
__device__ __forceinline__ void store_value(void* base, int64_t i, double x) {
  static_cast<V*>(base)[i] = static_cast<V>(x);
}

__device__ __forceinline__ void report_error(const Params& p, int64_t g, unsigned int bits) {
  atomicOr(&p.status->error_bits, bits);
  atomicMax(&p.status->first_group_inv[(bits & ERR_NONFINITE) ? 0 : 1], ~(unsigned long long)g);
}

/* The group's status, by one thread: its error reported, or its flags stored. */
__device__ __forceinline__ void report_status(const Params& p, int64_t g, const Resolved& r) {
  PKPO_REGION_BEGIN(status_report);
  if (r.action == ACT_ERROR) {
    report_error(p, g, r.error_bits);
  } else if (p.flags) {
    p.flags[g] = r.flags;
  }
  PKPO_REGION_END(status_report);
}

/* Writes rho (NaN, 0, v) for the non-general actions of one group. */
template <typename V>
__device__ __forceinline__ void write_rho(const Params& p, int64_t g, int64_t col, double value) {
  if (p.rho) store_value<V>(p.rho, g * p.rho_stride + col, value);
}

/* The rho of a group by its action (the rule of every path): v_1 + the sum for a general group, the
 * value of a singleton, 0 for an empty group, NaN for an invalid or propagated one. */
template <typename A>
__device__ __forceinline__ double rho_value(int act, A v1, A total) {
  return act == ACT_GENERAL  ? (double)(v1 + total)
         : act == ACT_SINGLE ? (double)v1
         : act == ACT_EMPTY  ? 0.0
                             : __longlong_as_double(0x7FF8000000000000LL);
}

/* A pass@k curve on the warp and group kernels: a column whose k is at most kCurveStep above the
 * previous one's takes its weights from them elementwise, at most kCurveChain columns in a row
 * (bounding the rounding a chain accumulates to ~3 ulp per step); the others take the float64
 * scans. */
constexpr int kCurveStep = 4;
constexpr int kCurveChain = 16;

/* The key of the sample at grouped position pos, *src its sample (through the index permutation
 * when INDEX and there is one): kNone for a non-finite reward (*nf set) or an unusable index entry
 * (*bad set: out of range or repeated; nothing read). */
template <typename Key, bool INDEX>
__device__ __forceinline__ Key load_key(const Params& p, int64_t pos, int64_t* src, bool* nf, bool* bad) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  *src = pos;
  PKPO_REGION_BEGIN(index_permutation);
  if (INDEX && p.index) {
    *src = p.index[pos];
    if (!sample_ok(p, *src)) {
      *bad = true;
      return KT::kNone;
    }
  }
  PKPO_REGION_END(index_permutation);
  const A x = static_cast<const A*>(p.rewards)[*src];
  if (KT::finite(KT::bits(x))) return KT::to_key(x);
  *nf = true;
  return KT::kNone;
}

/* The output of the first of the C sorted keys (ascending, shared memory) that equals `key`, from
 * the sorted outputs beside them: tied rewards get bit-identical outputs. A branchless binary
 * search. */
template <int C, typename Key, typename A>
__device__ __forceinline__ A first_rank_output(const Key* sorted, const A* outs, Key key) {
  const Key* at = sorted; /* at[0] is the first key not yet known to be below `key` */
#pragma unroll
  for (int step = C / 2; step > 0; step >>= 1) {
    if (at[step - 1] < key) at += step;
  }
  return outs[at - sorted];
}

/* The output of an element that the sorted-order formulas do not give: its group is not ACT_GENERAL,
 * or its reward was excluded (orig == kNone). NaN under PROPAGATE, a singleton's reward for s, else
 * 0 (an excluded sample, an empty group, a singleton's other estimators). */
template <typename Key>
__device__ __forceinline__ typename KeyTraits<Key>::Value other_output(int act, int estimator, Key orig) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  if (act == ACT_PROPAGATE) return (A)__longlong_as_double(0x7FF8000000000000LL);
  if (act == ACT_SINGLE && orig != KT::kNone && estimator == PKPO_S) return KT::to_value(orig);
  return A(0);
}

/* Stores the outputs of a thread's V elements at their own positions src (past the group: src < 0,
 * when BOUNDED), from their sorted-order outputs: other_output where the formulas give none (a
 * group that is not ACT_GENERAL, an excluded reward). The group is neither invalid nor in error. */
template <int V, typename Key, bool BOUNDED>
__device__ __forceinline__ void store_outputs(const Params& p, int act, const int64_t (&src)[V], const Key (&orig)[V],
                                              const typename KeyTraits<Key>::Value (&outs)[V]) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    if (BOUNDED && src[j] < 0) continue;
    A value = outs[j];
    PKPO_REGION_BEGIN(other_outputs);
    if (act != ACT_GENERAL || orig[j] == KT::kNone) {
      value = other_output<Key>(act, p.estimator, orig[j]);
    }
    PKPO_REGION_END(other_outputs);
    static_cast<A*>(p.out)[src[j]] = value;
  }
}

/* A pass@k curve column at k = kk takes its weights from the previous column's (k = kprev) when k
 * grew by at most kCurveStep and the chain of such columns is shorter than kCurveChain. */
__device__ __forceinline__ bool curve_can_step(int64_t kprev, int64_t kk, int chain) {
  return kprev > 0 && kk >= kprev && kk - kprev <= kCurveStep && chain < kCurveChain;
}

/* The weights mu_t at k = kk from those at k = kprev <= kk, of ranks t = t0 + j (group of m <=
 * kBlockMaxN: int arithmetic): mu_t(k+1) = mu_t(k) (t-k)(k+1) / (k (m-k)), 0 for t <= k
 * (C(t-1,k) / C(m,k+1) over C(t-1,k-1) / C(m,k)). */
template <int V>
__device__ __forceinline__ void curve_steps(double (&dmu)[V], int t0, int m, int kprev, int kk) {
  PKPO_REGION_BEGIN(curve_steps);
#pragma unroll 1
  for (int k = kprev; k < kk; ++k) {
    const double f = (double)(k + 1) / ((double)k * (double)(m - k));
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int t = t0 + j;
      dmu[j] = t > k ? dmu[j] * ((double)(t - k) * f) : 0.0;
    }
  }
  PKPO_REGION_END(curve_steps);
}

/* group_math.cuh's terms of ranks t = l*V + j + 1 by formula FORMULA (zero past rank m): v, vp, vn the
 * sorted values at t, t-1, t+1; mu and tp the weights and tail sums; gc the group's constants. */
template <int FORMULA, int V, typename A>
__device__ __forceinline__ void lane_terms(int l, int m, const A (&v)[V], const A (&vp)[V], const A (&vn)[V],
                                           const A (&mu)[V], const A (&tp)[V], const GroupConsts<A>& gc,
                                           RankTerms<A> (&x)[V]) {
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int t = l * V + j + 1;
    if (t <= m) {
      x[j] = rank_terms_of<A>(FORMULA, t, m, gc, vp[j], v[j], vn[j], mu[j], tp[j]);
    } else {
      x[j].pre = x[j].rho = x[j].suf0 = x[j].suf1 = A(0);
    }
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_GROUP_COMMON_CUH */
