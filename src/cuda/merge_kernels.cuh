/*
 * merge_kernels.cuh -- the device pieces of the large path's four-way merge passes (the kernel,
 * large_merge_kernel, is in large_sort_kernels.cuh): where a 4096-key output chunk of the merge of
 * four sorted lists starts in each list (quad_split_halfwarp, a half-warp search over global
 * memory), and the merges of two sorted lists in shared memory (smem_merge). Templates and inline
 * functions only, so that tests on the emulated device can call them directly.
 */
#ifndef PKPO_CUDA_MERGE_KERNELS_CUH
#define PKPO_CUDA_MERGE_KERNELS_CUH

#include <stdint.h>

#include "model_region.h"
#include "params.h"

namespace pkpo_cuda {

/*
 * Pass `pass` merges each large group's sorted lists of L = 4096 * 4^pass keys four at a time (the
 * lists of a quad: the group's keys [q, q + 4L) as A, B, C, D, each L long but in the group's last
 * quad, which may hold fewer or shorter lists), so that a group of R runs of 4096 is sorted after
 * ceil(log4 R) passes, each moving its keys once (2^20 keys: 4 passes; pairwise merging took 8). A
 * four-way merge is the merge of X = merge(A, B) and Y = merge(C, D), every merge with the
 * merge-path rule (the first list first on ties). Keys only: tied keys are identical, so their
 * order does not matter; the rule makes each split a function of the output position alone, so
 * neighbouring chunks meet exactly. Positions inside a group are int (n < 2^30). */

/* Merge path: how many of the first p outputs of merging sorted a[0..na) and b[0..nb) come from a
 * (a first on ties), searched inside [lo, hi], a bracket known to hold it (global or shared
 * memory). The caller keeps the bracket inside [max(0, p - nb), min(p, na)]; then every probe and
 * the result are in range, even for unsorted input. */
template <typename Key>
__device__ __forceinline__ int merge_path_split(const Key* a, const Key* b, int p, int lo, int hi) {
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (a[mid] <= b[p - 1 - mid]) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* merge_path_split over the whole range [max(0, p - nb), min(p, na)]. */
template <typename Key>
__device__ __forceinline__ int merge_path_split(const Key* a, int na, const Key* b, int nb, int p) {
  return merge_path_split(a, b, p, p > nb ? p - nb : 0, p < na ? p : na);
}

/* The bracket of the split of merge(a, b) at p, from the splits s_l at p_l <= p and s_h at
 * p_h >= p (a split grows by 0 or 1 per position): [max(s_l, s_h - (p_h - p)), min(s_h, s_l + (p - p_l))]
 * within the split's own range [max(0, p - nb), min(p, na)]; that whole range if the two disagree
 * (unsorted lists). */
struct Bracket {
  int lo, hi;
};
__device__ __forceinline__ Bracket split_bracket(int na, int nb, int p, int p_l, int s_l, int p_h, int s_h) {
  const int full_lo = p > nb ? p - nb : 0, full_hi = p < na ? p : na;
  int lo = s_h - (p_h - p) > s_l ? s_h - (p_h - p) : s_l;
  int hi = s_l + (p - p_l) < s_h ? s_l + (p - p_l) : s_h;
  lo = lo > full_lo ? lo : full_lo;
  hi = hi < full_hi ? hi : full_hi;
  Bracket r;
  r.lo = lo <= hi ? lo : full_lo;
  r.hi = lo <= hi ? hi : full_hi;
  return r;
}

/* The key at position p (0-based, p < na + nb) of merge(a, b), given ia = its split at p. */
template <typename Key>
__device__ __forceinline__ Key merged_key(const Key* a, int na, const Key* b, int nb, int p, int ia) {
  const int ib = p - ia;
  const bool take_a = ib >= nb || (ia < na && a[ia] <= b[ib]);
  return take_a ? a[ia] : b[ib];
}

/* A quad: its four lists, contiguous in memory (A = base[0, n[0]), B after it, then C and D). */
template <typename Key>
struct Quad {
  const Key* base;
  int n[4];
};

/* The split of a quad's four-way merge at output position d, searched by the 16 lanes of a half
 * warp (all 32 lanes call it, each half with its own d): from[j] = how many of the first d outputs
 * come from list j. The outer split i (keys from X = merge(A, B)) is bracketed in [lo, hi]; each
 * round tests 16 candidates spread over the bracket (one per lane: X[c] <= Y[d-1-c], from the
 * merge-path splits of (A, B) at c and of (C, D) at d-1-c, searched side by side), and the count
 * of those that pass (the test is monotone) narrows the bracket ~17-fold; a bracket of at most 16
 * ends in one round of every candidate. The inner searches are bracketed too, by the splits the
 * lanes next to the new outer bracket found (split_bracket): a round's probes shrink with the
 * bracket (2^20 keys: ~18, 14, 9, 5 and a last probe or two; searching each from scratch would be
 * ~4 x 18). For unsorted lists (overlapping, invalid offsets) the test is not monotone; the
 * brackets still shrink to a point inside the lists. */
template <typename Key>
__device__ __forceinline__ void quad_split_halfwarp(const Quad<Key>& q, int d, int (&from)[4]) {
  constexpr int P = 16;
  const int t = (int)threadIdx.x & (P - 1);
  const unsigned half_mask = 0xFFFFu << ((int)threadIdx.x & P);
  const Key* A = q.base;
  const Key* B = A + q.n[0];
  const Key* C = B + q.n[1];
  const Key* D = C + q.n[2];
  const int nx = q.n[0] + q.n[1], ny = q.n[2] + q.n[3];
  int lo = d > ny ? d - ny : 0, hi = d < nx ? d : nx; /* the outer split i is in [lo, hi] */
  int xl = 0, sxl = 0, xh = nx, sxh = q.n[0];          /* (A, B) splits known at positions xl, xh */
  int yl = 0, syl = 0, yh = ny, syh = q.n[2];          /* (C, D) splits known at yl, yh */
  PKPO_REGION_BEGIN(quad_split_rounds);
  while (__any_sync(0xFFFFFFFFu, lo < hi)) {
    const int w = hi - lo;
    const int m = w > P ? P : w; /* candidates this round */
    const int c = w > P ? lo + (int)((int64_t)(t + 1) * w / (P + 1)) : lo + t;
    int ia = 0, ic = 0;
    bool takes_x = false;
    if (t < m) {
      const int j = d - 1 - c;
      const Bracket ba = split_bracket(q.n[0], q.n[1], c, xl, sxl, xh, sxh);
      const Bracket bc = split_bracket(q.n[2], q.n[3], j, yl, syl, yh, syh);
      int alo = ba.lo, ahi = ba.hi, clo = bc.lo, chi = bc.hi;
      PKPO_REGION_BEGIN(quad_split_candidates);
      while (alo < ahi || clo < chi) {
        if (alo < ahi) {
          const int mid = (alo + ahi) >> 1;
          if (A[mid] <= B[c - 1 - mid]) {
            alo = mid + 1;
          } else {
            ahi = mid;
          }
        }
        if (clo < chi) {
          const int mid = (clo + chi) >> 1;
          if (C[mid] <= D[j - 1 - mid]) {
            clo = mid + 1;
          } else {
            chi = mid;
          }
        }
      }
      PKPO_REGION_END(quad_split_candidates);
      ia = alo;
      ic = clo;
      takes_x = merged_key(A, q.n[0], B, q.n[1], c, ia) <= merged_key(C, q.n[2], D, q.n[3], j, ic);
    }
    const int pass_cnt = __popc(__ballot_sync(0xFFFFFFFFu, takes_x) & half_mask);
    /* the candidates next to the answer: the last that takes from X (lane pass_cnt - 1) and the first
     * that does not (lane pass_cnt); every lane reads both, then keeps what applies */
    const int below = pass_cnt > 0 ? pass_cnt - 1 : 0, above = pass_cnt < P ? pass_cnt : P - 1;
    const int c_b = __shfl_sync(0xFFFFFFFFu, c, below, P), ia_b = __shfl_sync(0xFFFFFFFFu, ia, below, P);
    const int ic_b = __shfl_sync(0xFFFFFFFFu, ic, below, P);
    const int c_a = __shfl_sync(0xFFFFFFFFu, c, above, P), ia_a = __shfl_sync(0xFFFFFFFFu, ia, above, P);
    const int ic_a = __shfl_sync(0xFFFFFFFFu, ic, above, P);
    if (pass_cnt > 0) { /* i > c_b */
      lo = c_b + 1;
      xl = c_b;
      sxl = ia_b;
      yh = d - 1 - c_b;
      syh = ic_b;
    }
    if (pass_cnt < m) { /* i <= c_a (a closed bracket has m = 0: nothing changes) */
      hi = c_a;
      xh = c_a;
      sxh = ia_a;
      yl = d - 1 - c_a;
      syl = ic_a;
    }
  }
  PKPO_REGION_END(quad_split_rounds);
  /* the inner splits at i = lo and d - i, inside the brackets (a probe or two; the whole range when
   * no round ran) */
  const int i = lo, e = d - lo;
  const Bracket ba = split_bracket(q.n[0], q.n[1], i, xl, sxl, xh, sxh);
  const Bracket bc = split_bracket(q.n[2], q.n[3], e, yl, syl, yh, syh);
  PKPO_REGION_BEGIN(quad_split_final);
  from[0] = merge_path_split(A, B, i, ba.lo, ba.hi);
  from[1] = i - from[0];
  from[2] = merge_path_split(C, D, e, bc.lo, bc.hi);
  from[3] = e - from[2];
  PKPO_REGION_END(quad_split_final);
}

/* kSortIpt outputs, from position d on, of two merges side by side in shared memory (kTwo): positions
 * [0, n0 + n1) merge buf[0, n0) with buf[n0, n0 + n1), the positions after them merge the next n2
 * keys with the n3 after those; without kTwo, one merge (n2 = n3 = 0). A thread whose outputs cross
 * from the first merge into the second starts the second at its beginning (no search). With
 * d <= n0 + n1 + n2 + n3 = tot, reads stay below tot + kSortIpt. */
template <bool kTwo, typename Key>
__device__ __forceinline__ void smem_merge(const Key* buf, int d, int n0, int n1, int n2, int n3,
                                           Key (&out)[kSortIpt]) {
  const int sw = n0 + n1;
  int base_a = 0, na = n0, base_b = n0, nb = n1, pos = d;
  if (kTwo && d >= sw) {
    base_a = sw;
    na = n2;
    base_b = sw + n2;
    nb = n3;
    pos = d - sw;
  }
  PKPO_REGION_BEGIN(smem_merge_split);
  int ia = merge_path_split(buf + base_a, na, buf + base_b, nb, pos);
  PKPO_REGION_END(smem_merge_split);
  int ib = pos - ia;
  Key ka = buf[base_a + ia];
  Key kb = buf[base_b + ib];
#pragma unroll
  for (int j = 0; j < kSortIpt; ++j) {
    if (kTwo && d + j == sw) { /* the second merge starts */
      base_a = sw;
      na = n2;
      base_b = sw + n2;
      nb = n3;
      ia = 0;
      ib = 0;
      ka = buf[base_a];
      kb = buf[base_b];
    }
    const bool take_a = ib >= nb || (ia < na && ka <= kb);
    out[j] = take_a ? ka : kb;
    ia += take_a ? 1 : 0;
    ib += take_a ? 0 : 1;
    const Key x = buf[take_a ? base_a + ia : base_b + ib]; /* the next head of the list taken from */
    ka = take_a ? x : ka;
    kb = take_a ? kb : x;
  }
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_MERGE_KERNELS_CUH */
