/*
 * large_tile_kernels.cuh -- the large path's tile pass and its carries (docs/math.md §4-5, the same
 * rows and output form as the block path):
 *
 *   large_bank_kernel   a uniform batch's rows at m = n, once per call (the row bank): one block
 *                       per 2048-rank tile of n, rows.cuh's team_rows with the closed-form
 *                       product beyond the tile;
 *   large_tile_kernel   one block per 2048-rank tile of a sorted group (and per k slot of a
 *                       curve): the tile's rows (the bank's, or its own by the same code), the
 *                       forward exclusive scan of P d and the backward inclusive scan of Q d inside
 *                       the tile, each rank's tile-local output (its carries taken as 0) and the
 *                       tile's totals (TileAgg: pre, suf, and rho's sum F d as rho_hi + rho_lo);
 *   large_carry_kernel  one block per group: the tiles' carries in a fixed order (forward sums of
 *                       pre, backward sums of suf; each tile's lin = their sum, the carries' part
 *                       of every output of the tile, since outputs are linear in the scans), rho
 *                       from the top, flags; the rare actions' flags and rho.
 *
 * A tile's rows are a team's rows (Team<kLargeBlock, kLargeIpt>: 256 threads x 8 ranks, blocked)
 * whose ranks start at rank0 = tile * 2048: each term's F_t is the tile's backward product of the
 * ratios (t-k)/t times F at the tile's last rank, which BeyondClosed forms in closed form, so no
 * pass over the other tiles is needed for it.
 */
#ifndef PKPO_CUDA_LARGE_TILE_KERNELS_CUH
#define PKPO_CUDA_LARGE_TILE_KERNELS_CUH

#include <stdint.h>

#include "dd.cuh"
#include "group_common.cuh"
#include "keys.cuh"
#include "large_common.cuh"
#include "model_region.h"
#include "params.h"
#include "rows.cuh"
#include "rules.h"
#include "scan_kernels.cuh"
#include "warp_primitives.cuh"
#include "team.cuh"

namespace pkpo_cuda {

typedef Team<kLargeBlock, kLargeIpt> LargeTeam;

/* F_x = C(x,k)/C(m,k) beyond the bound below: log F_x = sum_{j=x+1}^{m} log(1 - k/j) <= -k (m-x)/m,
 * so k (m-x) > 700 m gives F_x < e^-700 < 1e-300, the weight floor, and F_x counts as 0 without its
 * product. 720 covers the rounding of the test's product (a relative 2^-53). The result is the
 * same as the product's: that one lies below the floor and is dropped too. */
constexpr double kBeyondFloorLog = 720.0;

/* The product of one DD per thread over the team, in the fixed order of the team's forward scan,
 * read by every thread from the scan's last rank: the order is fixed, so every thread takes the
 * one result rather than combining the partials itself. */
template <int W, int V>
__device__ __forceinline__ DD team_product(Team<W, V>& team, DD x) {
  DD y[V];
  y[0] = x;
#pragma unroll
  for (int j = 1; j < V; ++j) y[j] = DD(1);
  team.template scan<false, true>(y);
  return team.value_at(y, W * V);
}

/* F_x = C(x,k)/C(m,k) (1 <= k <= m) as a double-double, 0 below the floor, in every thread of the
 * (block) team: prod_{i=0}^{k-1} (x-i)/(m-i) (k factors) or prod_{j=x+1}^{m} (j-k)/j (m-x factors),
 * the shorter, each factor (in (0, 1]) a DD ratio. Up to 32 factors (k <= 32, the RL case, or a
 * tile near the top) every warp forms the product alone: lane i takes factor i, a fixed tree of
 * shuffles brings the product to lane 0 and every lane reads it there (no barrier, the same bits
 * in every warp). More: thread l multiplies factors l, l + W, ... in order, and team_product
 * combines the partials. */
template <int W, int V>
__device__ __forceinline__ DD closed_form_f(Team<W, V>& team, int64_t x, int64_t m, int64_t k) {
  static_assert(W >= 32, "a block team: whole warps");
  if (x >= m) return DD(1);
  if (x < k) return DD(0);
  if ((double)k * (double)(m - x) > kBeyondFloorLog * (double)m) return DD(0);
  const bool by_k = k <= m - x;
  const int64_t count = by_k ? k : m - x;
  const auto factor = [=](int64_t i) { return by_k ? dd_ratio(x - i, m - i) : dd_ratio(x + 1 + i - k, x + 1 + i); };
  DD f(1);
  if (count <= 32) {
    const int i = team.lane;
    if (i < count) f = factor(i);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) f = f * shfl_down(f, o, 32);
    f = shfl_idx(f, 0, 32);
  } else {
    PKPO_REGION_BEGIN(beyond_block_product);
    DD part(1);
    PKPO_REGION_BEGIN(beyond_factors);
    for (int64_t i = team.l; i < count; i += W) {
      part = part * factor(i);
    }
    PKPO_REGION_END(beyond_factors);
    f = team_product(team, part);
    PKPO_REGION_END(beyond_block_product);
  }
  return f.hi < PKPO__WEIGHT_FLOOR ? DD(0) : f;
}

/* team_rows' product beyond a tile whose last rank is e, of a group of m finite values: after(k) =
 * F_{e+1} in closed form, a team collective (every thread of the team asks alike). */
template <int W, int V>
struct BeyondClosed {
  Team<W, V>* team;
  int64_t m, e;
  __device__ __forceinline__ BeyondClosed(Team<W, V>* t, int64_t m_, int64_t e_) : team(t), m(m_), e(e_) {}
  __device__ __forceinline__ DD after(int64_t k) const { return closed_form_f(*team, e + 1, m, k); }
};

/* The row bank (RowBank): the rows of m = bank.m (the uniform group size) for the call's
 * objective, one block per 2048-rank tile of m; block 0 writes the head. No rows for an unusable
 * objective (its groups are invalid and read none). */
__global__ void __launch_bounds__(kLargeBlock) large_bank_kernel(const Params p, const RowBank bank) {
  __shared__ TeamSlots<LargeTeam::NW> slots;
  const ObjectiveCheck oc = objective_check(p);
  const int64_t kmax = objective_kmax(p, oc, p.k);
  const bool usable = oc.usable;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    bank.head->kmax = kmax;
    bank.head->usable = usable ? 1 : 0;
  }
  const int64_t m = bank.m, rank0 = (int64_t)blockIdx.x * kLargeTile;
  if (!usable || rank0 >= m) return;
  LargeTeam team = make_team<kLargeBlock, kLargeIpt>(&slots);
  double P[kLargeIpt], Q[kLargeIpt], Fhi[kLargeIpt], Flo[kLargeIpt];
  RowConsts rc;
  team_rows(team, p, m, p.k, p.write_out != 0, p.rho != nullptr, rank0,
            BeyondClosed<kLargeBlock, kLargeIpt>(&team, m, rank0 + kLargeTile), P, Q, Fhi, Flo, &rc);
#pragma unroll
  for (int j = 0; j < kLargeIpt; ++j) {
    const int64_t t = rank0 + team.rank(j);
    if (t > m) continue;
    bank.P[t - 1] = P[j];
    bank.Q[t - 1] = Q[j];
    bank.Fhi[t - 1] = Fhi[j];
    bank.Flo[t - 1] = Flo[j];
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) bank.head->rc = rc;
}

/* The rows of the tile's ranks rank0 + 1 .. rank0 + 2048 of a general group of m finite values:
 * the bank's (BANK), or a curve column's F at k (k > 0: one term of weight 1), or the group's own
 * by team_rows. Every thread of the block calls this. */
template <bool BANK>
__device__ __forceinline__ void large_tile_rows(LargeTeam& team, const Params& p, const RowBank& bank, int64_t m,
                                                int64_t k_req, int64_t k, int64_t rank0, double (&P)[kLargeIpt],
                                                double (&Q)[kLargeIpt], double (&Fhi)[kLargeIpt],
                                                double (&Flo)[kLargeIpt], RowConsts* rc) {
  if constexpr (BANK) {
    *rc = bank.head->rc;
#pragma unroll
    for (int j = 0; j < kLargeIpt; ++j) {
      const int64_t t = rank0 + team.rank(j);
      const bool in = t < m;
      P[j] = in && rc->has_pre ? bank.P[t - 1] : 0.0;
      Q[j] = in && rc->has_suf ? bank.Q[t - 1] : 0.0;
      Fhi[j] = in && p.rho ? bank.Fhi[t - 1] : 0.0;
      Flo[j] = in && p.rho ? bank.Flo[t - 1] : 0.0;
    }
  } else {
    const BeyondClosed<kLargeBlock, kLargeIpt> beyond(&team, m, rank0 + kLargeTile);
    if (k > 0) {
      PKPO_REGION_BEGIN(curve_rows);
      DD F[kLargeIpt];
      const int64_t kk = k < m ? k : m;
      team_term_f(team, m, kk, rank0, f_before(beyond.after(kk), m, kk, rank0 + kLargeTile + 1), F);
#pragma unroll
      for (int j = 0; j < kLargeIpt; ++j) {
        const bool in = rank0 + team.rank(j) < m;
        P[j] = Q[j] = 0.0;
        Fhi[j] = in ? F[j].hi : 0.0;
        Flo[j] = in ? F[j].lo : 0.0;
      }
      *rc = objective_consts(p, m, kk, false, true);
      PKPO_REGION_END(curve_rows);
      return;
    }
    PKPO_REGION_BEGIN(own_rows);
    team_rows(team, p, m, k_req, p.write_out != 0, p.rho != nullptr, rank0, beyond, P, Q, Fhi, Flo, rc);
    PKPO_REGION_END(own_rows);
  }
}

/* The tile pass on every tile (blockIdx.x) of every large group, for the k of slot blockIdx.y (a
 * curve) or the group's objective (a transform, ks.count == 0; with p.write_out it also stores the
 * tile-local outputs). BANK: the tiles of the groups whose rows are the bank's (m = bank.m), the
 * others' in the launch of !BANK after it: the bank's variant holds no code to build rows, so it
 * needs a quarter of the registers. Tiles past rank m and groups that are not general have no
 * totals (their slots keep the memset's zeros; the carry kernel and the scatter read none of
 * them). */
template <typename Key, bool BANK>
__global__ void __launch_bounds__(kLargeBlock) large_tile_kernel(const Params p, const TileMap tm,
                                                                const LargeKeys lk, TileAgg* agg,
                                                                const KSlots ks, int64_t tiles_bound,
                                                                const RowBank bank) {
  typedef KeyTraits<Key> KT;
  constexpr int V = kLargeIpt;
  __shared__ TeamSlots<LargeTeam::NW> slots;
  int64_t g, tile;
  if (!tile_owner(tm, p.num_groups, blockIdx.x, &g, &tile)) return;
  /* after a bank's launch only the groups with excluded rewards remain (the others' rows are the
   * bank's, or the groups are invalid): one word read per block */
  if (!BANK && bank.m > 0 && p.gnone[g] == 0) return;
  PKPO_REGION_BEGIN(tile_work);
  const bool curve = ks.count > 0;
  agg += (int64_t)blockIdx.y * tiles_bound + blockIdx.x;
  const GroupSpan s = group_span(p, g);
  if (!goes_large(p, s)) return;
  const pkpo__group_rule rule = large_rule(p, s, g, curve ? ks.kmax : s.k_req, tm, tiles_bound, bank);
  const int64_t m = rule.m, rank0 = tile * kLargeTile;
  if (rule.action != PKPO__ACT_GENERAL || rank0 >= m || BANK != (bank.m == m)) return;
  LargeTeam team = make_team<kLargeBlock, kLargeIpt>(&slots);
  const Key* sorted = large_sorted<Key>(lk, s);

  /* the thread's values and gaps (0 past rank m - 1): its V keys in vector loads where they lie
   * at or below rank m and start 16-byte aligned (a whole tile of an aligned group), the key
   * after them once; one by one otherwise */
  double v[V], d[V];
  const int64_t t1 = rank0 + team.rank(0);
  if (t1 + V - 1 <= m && (reinterpret_cast<uintptr_t>(sorted + t1 - 1) & 15) == 0) {
    Key keys[V];
    load_items<V>(sorted + t1 - 1, keys);
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] = KT::to_double(keys[j]);
    const double after = t1 + V - 1 < m ? KT::to_double(sorted[t1 + V - 1]) : v[V - 1];
#pragma unroll
    for (int j = 0; j < V; ++j) d[j] = (j + 1 < V ? v[j + 1] : after) - v[j];
  } else {
    PKPO_REGION_BEGIN(tile_edge_loads);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int64_t t = t1 + j;
      v[j] = t <= m ? KT::to_double(sorted[t - 1]) : 0.0;
      d[j] = t < m ? KT::to_double(sorted[t]) - v[j] : 0.0;
    }
    PKPO_REGION_END(tile_edge_loads);
  }
  const double v1 = KT::to_double(sorted[0]);

  double P[V], Q[V], Fhi[V], Flo[V];
  RowConsts rc;
  large_tile_rows<BANK>(team, p, bank, m, s.k_req, curve ? ks.k[blockIdx.y] : 0, rank0, P, Q, Fhi, Flo, &rc);

  PKPO_REGION_BEGIN(rho_sum);
  if (curve || p.rho) { /* rho's weighted gaps, summed as the team kernel sums them */
    const D2 tot = team_rho_sums(team, d, Fhi, Flo);
    if (threadIdx.x == 0) {
      agg->rho_hi = tot.a;
      agg->rho_lo = tot.b;
    }
  }
  PKPO_REGION_END(rho_sum);
  if (curve || !p.write_out) return;

  /* the tile's scans: f becomes the inclusive forward scan of P d (fx the exclusive one), b the
   * inclusive backward scan of Q d; then each rank's tile-local output */
  PKPO_REGION_BEGIN(tile_local_outputs);
  double f[V], fx[V], b[V];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    f[j] = P[j] * d[j];
    b[j] = Q[j] * d[j];
    fx[j] = 0.0;
  }
  PKPO_REGION_BEGIN(forward_scan);
  if (rc.has_pre) team.template scan_exclusive<false, false>(f, fx);
  PKPO_REGION_END(forward_scan);
  PKPO_REGION_BEGIN(backward_scan);
  if (rc.has_suf) team.template scan<true, false>(b);
  PKPO_REGION_END(backward_scan);
  double* local_out = large_local_out<Key>(lk, s);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int64_t t = rank0 + team.rank(j);
    if (t <= m) local_out[t - 1] = pkpo__rank_output(rc.A, rc.B, fx[j], rc.has_suf ? b[j] : 0.0, v[j], v1);
  }
  if (threadIdx.x == 0) agg->suf = rc.has_suf ? b[0] : 0.0;
  if (threadIdx.x == kLargeBlock - 1) agg->pre = rc.has_pre ? f[V - 1] : 0.0;
  PKPO_REGION_END(tile_local_outputs);
  PKPO_REGION_END(tile_work);
}

/* The exclusive sums over a group's nt tiles (BACKWARD: from the last) of value(i), in chunks of
 * kLargeBlock tiles, one per thread, combined in order; put(i, sum) for each tile. Every thread of
 * the block calls this. */
template <bool BACKWARD, typename Value, typename Put>
__device__ __forceinline__ void tile_carries(int64_t nt, double* wd, Value value, Put put) {
  const int64_t nchunks = (nt + kLargeBlock - 1) / kLargeBlock;
  double carry = 0.0;
  PKPO_REGION_BEGIN(tile_chunks);
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t i = (BACKWARD ? nchunks - 1 - c : c) * kLargeBlock + threadIdx.x;
    double total;
    const double ex = carry + block_exclusive_scan<kLargeBlock, BACKWARD>(value(i), AddOp(), 0.0, wd, &total);
    carry = carry + total;
    if (i < nt) put(i, ex);
  }
  PKPO_REGION_END(tile_chunks);
}

/* Per group (blockIdx.x, grid-stride) and k slot (blockIdx.y, as large_tile_kernel): the tiles'
 * carries (a transform's lin), rho, flags; a group that is not general gets its flags and rho by
 * its action, or reports its error. */
template <typename Key>
__global__ void __launch_bounds__(kLargeBlock) large_carry_kernel(const Params p, const TileMap tm,
                                                                 const LargeKeys lk, TileAgg* agg,
                                                                 const KSlots ks, int64_t tiles_bound,
                                                                 const RowBank bank) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value A;
  __shared__ double wd[kLargeBlock / 32];
  __shared__ D2 wd2[kLargeBlock / 32];
  const bool curve = ks.count > 0;
  const int64_t col = curve ? ks.first + blockIdx.y : 0;
  const bool lin = !curve && p.write_out;
  agg += (int64_t)blockIdx.y * tiles_bound;
  PKPO_REGION_BEGIN(groups_of_block);
  for (int64_t g = blockIdx.x; g < p.num_groups; g += gridDim.x) {
    const GroupSpan s = group_span(p, g);
    if (!goes_large(p, s)) continue;
    const pkpo__group_rule rule = large_rule(p, s, g, curve ? ks.kmax : s.k_req, tm, tiles_bound, bank);
    PKPO_REGION_BEGIN(not_general);
    if (rule.action != PKPO__ACT_GENERAL) { /* uniform across the block */
      if (threadIdx.x == 0) finish_large_group<A>(p, g, col, rule, 0u, 0.0);
      continue;
    }
    PKPO_REGION_END(not_general);
    const int64_t m = rule.m;
    TileAgg* tile_agg = agg + tiles_before(tm, g);
    const int64_t nt = tiles_before(tm, g + 1) - tiles_before(tm, g);
    const int64_t used = large_used_tiles(m);
    const RowConsts rc = curve ? objective_consts(p, m, ks.k[blockIdx.y], false, true)
                               : large_consts(p, bank, m, s.k_req);
    PKPO_REGION_BEGIN(carry_lin);
    if (lin) { /* the forward carries of pre, then the backward ones of suf and their sum */
      const bool pre = rc.has_pre, suf = rc.has_suf;
      tile_carries<false>(
          nt, wd, [&](int64_t i) { return i < used && pre ? tile_agg[i].pre : 0.0; },
          [&](int64_t i, double ex) { tile_agg[i].pre = ex; });
      /* tile_agg[i].pre: this thread's own store of the forward pass */
      tile_carries<true>(
          nt, wd, [&](int64_t i) { return i < used && suf ? tile_agg[i].suf : 0.0; },
          [&](int64_t i, double ex) { tile_agg[i].lin = tile_agg[i].pre + ex; });
    }
    PKPO_REGION_END(carry_lin);
    D2 sums = make_d2(0.0, 0.0);
    PKPO_REGION_BEGIN(rho_sum);
    if (curve || p.rho) sums = large_rho_sums(tile_agg, used, nt, wd2);
    PKPO_REGION_END(rho_sum);
    if (threadIdx.x == 0) {
      const Key* sorted = large_sorted<Key>(lk, s);
      const double r = rho_from_sums(rc, sums.a, sums.b, KT::to_double(sorted[0]), KT::to_double(sorted[m - 1]));
      finish_large_group<A>(p, g, col, rule, rc.flags, r);
    }
  }
  PKPO_REGION_END(groups_of_block);
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_LARGE_TILE_KERNELS_CUH */
