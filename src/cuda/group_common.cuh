/*
 * group_common.cuh -- the per-group pieces every kernel path uses: a group's bounds and k
 * (group_span; goes_large: which path takes it), the groups a launch visits, the index's sample
 * references, the error report and the store of rho, the load of a sample's key (negated under the
 * min statistic), the tie rule's search (first_rank_output) and the pass@k curve's step limit.
 * Device code; no kernel.
 */
#ifndef PKPO_CUDA_GROUP_COMMON_CUH
#define PKPO_CUDA_GROUP_COMMON_CUH

#include <stdint.h>

#include "keys.cuh"
#include "model_region.h"
#include "params.h"
#include "pkpo.h"
#include "rules.h"

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
  atomicMax(&p.status->first_group_inv[(bits & PKPO__ERR_NONFINITE) ? 0 : 1], ~(unsigned long long)g);
}

/* Writes rho of group g at column col (a transform's 0). */
template <typename V>
__device__ __forceinline__ void write_rho(const Params& p, int64_t g, int64_t col, double value) {
  if (p.rho) store_value<V>(p.rho, g * p.rho_stride + col, value);
}

/* rho of a group by its action (rules.h): r, the formula's value, for a general group; 0 for one
 * without finite samples; NaN for an invalid or a propagated one (an erroneous one writes none). */
__device__ __forceinline__ double action_rho(int act, double r) {
  if (act == PKPO__ACT_GENERAL) return r;
  return act == PKPO__ACT_EMPTY ? 0.0 : __longlong_as_double(0x7FF8000000000000LL);
}

/* The output of a sample the formulas do not compute (an excluded reward, a group without finite
 * samples, a propagated one): NaN under PROPAGATE, 0 otherwise. */
template <typename A>
__device__ __forceinline__ A action_output(int act) {
  return act == PKPO__ACT_PROPAGATE ? (A)__longlong_as_double(0x7FF8000000000000LL) : A(0);
}

/* A pass@k curve on the team kernels: a column whose k is at most kCurveStep above the previous
 * one's takes its weights from them elementwise (k - kprev double-double steps per rank); the
 * others by a product scan. Unmeasured: 4 steps cost about what one scan costs. */
constexpr int kCurveStep = 4;

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
  A x = static_cast<const A*>(p.rewards)[*src];
  if (p.negate) x = -x; /* the min statistic: the max statistic of -g (docs/math.md §5) */
  if (KT::finite(KT::bits(x))) return KT::to_key(x);
  *nf = true;
  return KT::kNone;
}

/* The output of the first of the C sorted keys (ascending, shared memory, each followed by its
 * output's bits) that equals `key`: tied rewards get bit-identical outputs. A branchless binary
 * search; the output beside the key found needs no index (keys and outputs in two arrays took
 * one more addition per probe, an index or a pointer difference). */
template <int C, typename Key, typename A>
__device__ __forceinline__ A first_rank_output(const Key* sorted, Key key) {
  static_assert(sizeof(Key) == sizeof(A), "a key and its output take the same bytes");
  const Key* at = sorted; /* at[0] is the first key not yet known to be below `key` */
#pragma unroll
  for (int step = C / 2; step > 0; step >>= 1) {
    if (at[2 * (step - 1)] < key) at += 2 * step;
  }
  return KeyTraits<Key>::from_bits(at[1]);
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_GROUP_COMMON_CUH */
