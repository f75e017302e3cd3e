// test_group_math.cpp -- runs on any machine (no GPU needed): the per-group arithmetic of the CUDA
// backend (src/cuda/group_math.cuh, compiled here as plain C++) driven by a sequential emulation of
// the kernels' structure -- orderable keys, the boundary-rule resolution, tiles with carries
// between them (the large path's reduce-then-scan), and the first-rank-of-the-key tie rule -- and
// compared with the CPU backend and with the independent oracle at the SPEC section 4 targets.
//
// What this does not test: the CUDA scans, sorts and memory traffic themselves (test_cuda.cpp does,
// on a machine with a GPU). What it does test: that the kernels' formulas, their decomposition into
// forward/backward tile scans with carries, and the flag/action logic are the CPU reference's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "group_math.cuh"
#include "test_util.hpp"

namespace {

using namespace pkpo_cuda;

// Sequential emulation of tile_compute + the carry kernels: tiles of `tile` ranks, per-tile totals,
// carries combined as the device combines them (carry first, then the in-tile prefix).
struct TileEmu {
  int64_t m, k;
  int mode;
  int64_t tile;
  std::vector<double> v;  // sorted values

  double rho = 0;
  std::vector<double> out;  // sorted order

  void run(bool outputs) {
    const int64_t nt = (m + tile - 1) / tile;
    auto lo = [&](int64_t i) { return i * tile + 1; };
    auto hi = [&](int64_t i) { return std::min(m, (i + 1) * tile); };
    // PROD: tile totals, then suffix exclusive carries over tiles
    std::vector<double> tp(nt), cp(nt);
    for (int64_t i = 0; i < nt; ++i) {
      double a = 1.0;
      for (int64_t t = hi(i); t >= lo(i); --t) a = a * weight_ratio(t, m, k);
      tp[i] = a;
    }
    double c = 1.0;
    for (int64_t i = nt - 1; i >= 0; --i) {
      cp[i] = c;
      c = tp[i] * c;
    }
    std::vector<double> mu(m + 1), tail(m + 1);
    for (int64_t i = 0; i < nt; ++i) {
      double run = 1.0;  // in-tile exclusive suffix product
      for (int64_t t = hi(i); t >= lo(i); --t) {
        mu[t] = weight_from_product(t, m, k, cp[i] * run);
        run = run * weight_ratio(t, m, k);
      }
    }
    // TAIL
    std::vector<double> tt(nt), ct(nt);
    for (int64_t i = 0; i < nt; ++i) {
      double a = 0.0;
      for (int64_t t = hi(i); t >= lo(i); --t) a += tail_summand(t, m, mu[t]);
      tt[i] = a;
    }
    c = 0.0;
    for (int64_t i = nt - 1; i >= 0; --i) {
      ct[i] = c;
      c = tt[i] + c;
    }
    for (int64_t i = 0; i < nt; ++i) {
      double run = 0.0;
      for (int64_t t = hi(i); t >= lo(i); --t) {
        tail[t] = ct[i] + run;
        run += tail_summand(t, m, mu[t]);
      }
    }
    // TERMS
    std::vector<Terms> x(m + 1);
    for (int64_t t = 1; t <= m; ++t) {
      x[t] = rank_terms(mode, t, m, k, t > 1 ? v[t - 2] : 0.0, v[t - 1], t < m ? v[t] : 0.0, mu[t],
                        tail[t]);
    }
    std::vector<double> tpre(nt, 0), trho(nt, 0), ts0(nt, 0), ts1(nt, 0);
    for (int64_t i = 0; i < nt; ++i)
      for (int64_t t = lo(i); t <= hi(i); ++t) {
        tpre[i] += x[t].pre;
        trho[i] += x[t].rho;
        ts0[i] += x[t].suf0;
        ts1[i] += x[t].suf1;
      }
    std::vector<double> cpre(nt), cs0(nt), cs1(nt);
    double f = 0, r = 0;
    for (int64_t i = 0; i < nt; ++i) {
      cpre[i] = f;
      f += tpre[i];
      r += trho[i];
    }
    double b0 = 0, b1 = 0;
    for (int64_t i = nt - 1; i >= 0; --i) {
      cs0[i] = b0;
      cs1[i] = b1;
      b0 += ts0[i];
      b1 += ts1[i];
    }
    rho = v[0] + r;
    if (!outputs) return;
    out.assign(m, 0.0);
    for (int64_t i = 0; i < nt; ++i) {
      std::vector<double> pre_ex(tile + 1), s0_in(tile + 1), s1_in(tile + 1);
      double run = cpre[i];
      for (int64_t t = lo(i); t <= hi(i); ++t) {
        pre_ex[t - lo(i)] = run;
        run += x[t].pre;
      }
      double r0 = cs0[i], r1 = cs1[i];
      for (int64_t t = hi(i); t >= lo(i); --t) {
        r0 += x[t].suf0;
        r1 += x[t].suf1;
        s0_in[t - lo(i)] = r0;
        s1_in[t - lo(i)] = r1;
      }
      for (int64_t t = lo(i); t <= hi(i); ++t) {
        out[t - 1] = rank_output(mode, m, k, v[t - 1], v[0], x[t], pre_ex[t - lo(i)],
                                 s0_in[t - lo(i)], s1_in[t - lo(i)]);
      }
    }
  }
};

// One batch through the emulation, in the LibResult form of the CPU harness.
template <typename Key>
pt::LibResult emulate(const pt::Batch& b, int64_t tile) {
  typedef KeyTraits<Key> KT;
  typedef typename KT::Value V;
  pt::LibResult res;
  res.status = PKPO_SUCCESS;
  const int64_t N = b.num_samples(), G = b.num_groups;
  if (b.est != PKPO_RHO) res.out.assign(N, std::nan(""));
  res.rho.assign(G, std::nan(""));
  res.flags.assign(G, 0xDEADBEEFu);
  int64_t first_error[2] = {G, G};  // as DevStatus::first_group: [0] non-finite, [1] strict
  for (int64_t g = 0; g < G; ++g) {
    const int64_t begin = b.group_begin(g), n = b.group_end(g) - begin;
    std::vector<Key> keys(n), orig(n);
    int64_t nonfinite = 0;
    for (int64_t j = 0; j < n; ++j) {
      const V x = (V)b.rewards[b.sample_at(begin + j)];
      const bool fin = KT::finite(KT::bits(x));
      nonfinite += !fin;
      keys[j] = orig[j] = fin ? KT::to_key(x) : KT::kNone;
    }
    const Resolved r = resolve_group(b.est, b.nonfinite, b.k_policy, n, nonfinite, b.k_of(g), true,
                                     b.est != PKPO_RHO);
    if (r.action == ACT_ERROR) {
      int64_t& f = first_error[(r.error_bits & ERR_NONFINITE) ? 0 : 1];
      f = std::min(f, g);
      continue;
    }
    res.flags[g] = r.flags;
    std::sort(keys.begin(), keys.end());
    std::vector<double> sorted_out;
    double rho = 0.0;
    if (r.action == ACT_PROPAGATE) {
      rho = std::nan("");
    } else if (r.action == ACT_SINGLE) {
      rho = KT::to_double(keys[0]);
    } else if (r.action == ACT_GENERAL) {
      TileEmu e;
      e.m = r.m;
      e.k = r.k;
      e.mode = r.mode;
      e.tile = tile;
      for (int64_t t = 0; t < r.m; ++t) e.v.push_back(KT::to_double(keys[t]));
      e.run(b.est != PKPO_RHO);
      rho = e.rho;
      sorted_out = e.out;
    }
    res.rho[g] = (double)(V)rho;
    if (b.est == PKPO_RHO) continue;
    for (int64_t j = 0; j < n; ++j) {
      double value;
      if (r.action == ACT_PROPAGATE) {
        value = std::nan("");
      } else if (orig[j] == KT::kNone) {
        value = 0.0;
      } else if (r.action == ACT_SINGLE) {
        value = single_output(b.est, KT::to_double(orig[j]));
      } else {
        const int64_t r0 = std::lower_bound(keys.begin(), keys.begin() + r.m, orig[j]) - keys.begin();
        value = sorted_out[r0];
      }
      res.out[b.sample_at(begin + j)] = (double)(V)value;
    }
  }
  if (first_error[0] < G || first_error[1] < G) {  // status_from_bits of backend.cu
    res.status = first_error[0] <= first_error[1] ? PKPO_ERROR_NON_FINITE : PKPO_ERROR_K_EXCEEDS_N;
  }
  return res;
}

pt::LibResult emulate_any(const pt::Batch& b, int64_t tile) {
  return b.dtype == PKPO_FLOAT32 ? emulate<uint32_t>(b, tile) : emulate<uint64_t>(b, tile);
}

const pkpo_estimator kEsts[] = {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};

pt::Batch random_batch(pkpo_estimator est, pkpo_dtype dt, std::vector<int64_t> sizes, int64_t k,
                       bool per_group_k, bool permute, std::mt19937_64& rng) {
  pt::Batch b;
  b.est = est;
  b.dtype = dt;
  b.num_groups = (int64_t)sizes.size();
  b.offsets = pt::offsets_from_sizes(sizes);
  int kind = 0;
  for (int64_t n : sizes) {
    const std::vector<double> g = pt::gen_group((pt::Kind)(kind++ % (int)pt::Kind::Kinds), n, rng);
    b.rewards.insert(b.rewards.end(), g.begin(), g.end());
  }
  b.k = k;
  if (per_group_k) {
    for (int64_t n : sizes) b.k_per_group.push_back(1 + (int64_t)(rng() % (uint64_t)(n + 2)));
  }
  if (permute) b.index = pt::random_permutation(b.num_samples(), rng);
  pt::round_rewards(&b);
  return b;
}

}  // namespace

TEST(CudaGroupMath, KeysOrderValuesAndMergeZeros) {
  typedef KeyTraits<uint64_t> K8;
  typedef KeyTraits<uint32_t> K4;
  const double xs[] = {-INFINITY, -1e300, -2.5, -1e-320, -0.0, 0.0, 1e-320, 3.0, 1e300};
  for (size_t i = 0; i + 1 < sizeof xs / sizeof xs[0]; ++i) {
    if (std::isfinite(xs[i])) {
      EXPECT_EQ(K8::to_double(K8::to_key(xs[i])), xs[i] == 0 ? 0.0 : xs[i]);
      if (xs[i + 1] != xs[i]) {
        EXPECT_LT(K8::to_key(xs[i]), K8::to_key(xs[i + 1])) << i;
      }
    }
  }
  EXPECT_EQ(K8::to_key(-0.0), K8::to_key(0.0));
  EXPECT_EQ(K4::to_key(-0.0f), K4::to_key(0.0f));
  EXPECT_LT(K4::to_key(-1.0f), K4::to_key(0.5f));
  EXPECT_LT(K4::to_key(3.4e38f), K4::kNone);
  EXPECT_LT(K8::to_key(1.7e308), K8::kNone);
  EXPECT_FALSE(K8::finite(K8::bits(NAN)));
  EXPECT_FALSE(K4::finite(K4::bits(-INFINITY)));
  EXPECT_TRUE(K4::finite(K4::bits(1e-45f)));
}

// SPEC worked example g = (1/2, 0, 1, 1/4, 3/4), every k and estimator, against the oracle's
// exact rationals (through expected_for) at the float64 target, with tiles of 1, 2 and 5 ranks.
TEST(CudaGroupMath, WorkedExampleEveryTileSize) {
  for (pkpo_estimator est : kEsts) {
    for (int64_t k = 1; k <= 6; ++k) {
      for (int64_t tile : {1, 2, 5}) {
        pt::Batch b;
        b.est = est;
        b.dtype = PKPO_FLOAT64;
        b.rewards = {0.5, 0.0, 1.0, 0.25, 0.75};
        b.num_groups = 1;
        b.group_size = 5;
        b.k = k;
        const pt::Expected e = pt::expected_for(b, oracle::BRUTE);
        EXPECT_TRUE(pt::matches(b, emulate_any(b, tile), e)) << "k=" << k << " tile=" << tile;
      }
    }
  }
}

// Ragged batches with empty and singleton groups, ties, non-finite values, per-group k and an index
// permutation, both dtypes, both non-finite policies: the emulation against the CPU backend (same
// flags bitwise, values at the SPEC target) and against the brute-force oracle.
TEST(CudaGroupMath, RaggedAgainstCpuAndOracle) {
  std::mt19937_64 rng(20261121);
  pt::Handle cpu(1);
  ASSERT_EQ(cpu.status(), PKPO_SUCCESS);
  for (pkpo_estimator est : kEsts)
    for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32})
      for (int variant = 0; variant < 4; ++variant) {
        std::vector<int64_t> sizes = {0, 1, 2, 3, 5, 7, 11, 12, 1, 0, 9};
        pt::Batch b = random_batch(est, dt, sizes, 1 + variant, variant & 1, variant & 2, rng);
        b.rewards[3] = NAN;  // group 2 loses one of its samples
        b.rewards[b.offsets[6] + 2] = INFINITY;
        if (variant == 3) b.nonfinite = PKPO_NONFINITE_PROPAGATE;
        const pt::LibResult ref = pt::run_lib(cpu, b);
        ASSERT_EQ(ref.status, PKPO_SUCCESS) << ref.last_error;
        const pt::Expected e = pt::expected_for(b, oracle::BRUTE);
        for (int64_t tile : {1, 3, 2048}) {
          const pt::LibResult emu = emulate_any(b, tile);
          EXPECT_TRUE(pt::matches(b, emu, e)) << "est=" << est << " variant=" << variant << " tile=" << tile;
          EXPECT_EQ(emu.flags, ref.flags) << "est=" << est << " variant=" << variant;
          for (size_t i = 0; i < emu.out.size(); ++i) {
            // Both within the SPEC target of the oracle, so within twice of each other.
            const double scale = (double)e.scale[e.group_of[i]];
            if (std::isnan(ref.out[i]) || scale == 0) {
              EXPECT_EQ(std::isnan(emu.out[i]), std::isnan(ref.out[i])) << "sample " << i;
              if (!std::isnan(ref.out[i])) {
                EXPECT_EQ(emu.out[i], ref.out[i]) << "sample " << i;
              }
            } else {
              EXPECT_LE(std::fabs(emu.out[i] - ref.out[i]), 2 * pt::tol_for(dt) * scale)
                  << "sample " << i;
            }
          }
        }
      }
}

// Large groups (the multi-tile path): n = 4096 and 65537 with offset rewards (100 + 0.01 U), tiles
// of 2048 ranks as on the device, against the oracle's __float128 route at the SPEC targets.
TEST(CudaGroupMath, LargeGroupsAgainstOracle) {
  std::mt19937_64 rng(7);
  for (int64_t n : {4096, 65537})
    for (pkpo_estimator est : kEsts)
      for (int64_t k : {int64_t(1), int64_t(2), int64_t(37), n - 1, n}) {
        pt::Batch b;
        b.est = est;
        b.dtype = n == 4096 ? PKPO_FLOAT32 : PKPO_FLOAT64;
        b.rewards = pt::gen_group(pt::Kind::Offset, n, rng);
        b.num_groups = 1;
        b.group_size = n;
        b.k = k;
        pt::round_rewards(&b);
        const pt::Expected e = pt::expected_for(b, oracle::LARGE);
        EXPECT_TRUE(pt::matches(b, emulate_any(b, 2048), e)) << "n=" << n << " k=" << k;
      }
}

// Tied samples get bitwise-identical outputs through the tie rule, whatever the tile boundaries.
TEST(CudaGroupMath, TiesBitwiseEqual) {
  std::mt19937_64 rng(3);
  for (pkpo_estimator est : {PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O}) {
    pt::Batch b;
    b.est = est;
    b.dtype = PKPO_FLOAT64;
    for (int i = 0; i < 300; ++i) b.rewards.push_back((double)(rng() % 7) * 0.1);
    b.num_groups = 1;
    b.group_size = 300;
    b.k = 5;
    const pt::LibResult r = emulate_any(b, 16);
    for (int i = 0; i < 300; ++i) {
      for (int j = 0; j < 300; ++j) {
        if (b.rewards[i] == b.rewards[j]) {
          ASSERT_EQ(std::memcmp(&r.out[i], &r.out[j], 8), 0);
        }
      }
    }
  }
}

// The policies that fail a call (strict k, non-finite error) trip on exactly the batches where the
// CPU backend fails, with the same status; the clamp/exclude defaults never trip.
TEST(CudaGroupMath, FailingPoliciesMatchCpu) {
  std::mt19937_64 rng(11);
  pt::Handle cpu(1);
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<int64_t> sizes = {(int64_t)(rng() % 6), (int64_t)(rng() % 6), (int64_t)(rng() % 6)};
    pt::Batch b = random_batch(kEsts[trial % 5], trial % 2 ? PKPO_FLOAT32 : PKPO_FLOAT64, sizes,
                               1 + (int64_t)(rng() % 6), trial % 3 == 0, trial % 4 == 0, rng);
    for (auto& x : b.rewards) {
      if (rng() % 5 == 0) x = (rng() % 2) ? NAN : -INFINITY;
    }
    b.nonfinite = (pkpo_nonfinite_policy)(rng() % 3);
    b.k_policy = (pkpo_k_policy)(rng() % 2);
    const pt::LibResult ref = pt::run_lib(cpu, b);
    const pt::LibResult emu = emulate_any(b, 2);
    EXPECT_EQ(emu.status, ref.status) << "trial " << trial << ": " << ref.last_error;
    if (ref.status == PKPO_SUCCESS) {
      EXPECT_EQ(emu.flags, ref.flags) << "trial " << trial;
    }
  }
}

// The rho curve as the kernels compute it (flags resolved at the largest k, rho per k with the
// clamp), against pkpo_rho_curve on the CPU.
TEST(CudaGroupMath, RhoCurveAgainstCpu) {
  std::mt19937_64 rng(12);
  pt::Handle cpu(1);
  for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
    for (int variant = 0; variant < 3; ++variant) {
      pt::Batch b = random_batch(PKPO_RHO, dt, {0, 1, 2, 7, 3000, 12, 1}, 1, false, variant == 1, rng);
      b.rewards[2] = NAN;
      if (variant == 2) b.nonfinite = PKPO_NONFINITE_PROPAGATE;
      const std::vector<int64_t> ks = {1, 2, 3, 5, 8, 64, 2999, 3000, 4000};
      const int64_t G = b.num_groups, K = (int64_t)ks.size();
      // CPU
      std::vector<double> in = b.rewards;
      std::vector<float> in32(in.begin(), in.end());
      std::vector<double> c64((size_t)(G * K));
      std::vector<float> c32((size_t)(G * K));
      std::vector<uint32_t> cflags((size_t)G);
      const pkpo_desc d = b.desc();
      ASSERT_EQ(pkpo_rho_curve(cpu, &d, dt == PKPO_FLOAT64 ? (const void*)in.data() : (const void*)in32.data(),
                               ks.data(), K, dt == PKPO_FLOAT64 ? (void*)c64.data() : (void*)c32.data(),
                               cflags.data(), nullptr),
                PKPO_SUCCESS);
      // Emulation: one transform per k with the kernels' per-k clamp; flags at the largest k.
      pt::Batch bmax = b;
      bmax.k = *std::max_element(ks.begin(), ks.end());
      const pt::LibResult fl = emulate_any(bmax, 2048);
      EXPECT_EQ(fl.flags, cflags) << "variant " << variant;
      for (int64_t j = 0; j < K; ++j) {
        pt::Batch bk = b;
        bk.k = ks[(size_t)j];
        const pt::LibResult r = emulate_any(bk, 2048);
        const pt::Expected e = pt::expected_for(bk, oracle::LARGE);
        for (int64_t g = 0; g < G; ++g) {
          const double c = dt == PKPO_FLOAT64 ? c64[(size_t)(g * K + j)] : (double)c32[(size_t)(g * K + j)];
          const double got = r.rho[(size_t)g];
          const double tol = 2 * pt::tol_for(dt) * (double)e.rho_scale[(size_t)g];
          EXPECT_TRUE((std::isnan(c) && std::isnan(got)) || std::fabs(c - got) <= tol)
              << "group " << g << " k=" << ks[(size_t)j] << ": " << got << " vs CPU " << c;
        }
      }
    }
  }
}

// The large path's per-tile tables hold tiles_bound tiles (from N alone); the device numbers the
// tiles of the large groups by an exclusive scan. Emulates large_plan_kernel's per-group validity
// (group_span: 0 <= b <= e <= N, e - b <= max_n; large: n > tile) and the scan, then checks that
// (a) disjoint ragged layouts never exceed the bound and no group trips large_tiles_fit, and
// (b) offsets that are valid group by group but overlap (0, N, 0, N, ...) do exceed it, and the
// groups large_tiles_fit rejects are exactly those whose slots would lie past the bound, so no
// kernel indexes a table entry >= tiles_bound (the carry kernel wrote up to 2(G+1)/2 tiles before).
TEST(CudaGroupMath, LargeTileTablesStayInBounds) {
  const int64_t T = 2048;
  auto check = [&](const std::vector<int64_t>& off, int64_t N, int64_t max_n, bool expect_overflow) {
    const int64_t G = (int64_t)off.size() - 1;
    const int64_t bound = large_tiles_bound(N, G, 0, T);
    std::vector<int64_t> base((size_t)G + 1, 0);
    for (int64_t g = 0; g < G; ++g) {
      const int64_t b = off[(size_t)g], e = off[(size_t)g + 1];
      const bool valid = 0 <= b && b <= e && e <= N && e - b <= max_n;
      const int64_t nt = valid && e - b > T ? large_tile_count(e - b, T) : 0;
      base[(size_t)g + 1] = base[(size_t)g] + nt;
    }
    int64_t touched = 0, rejected = 0;  // one past the last table slot a kept group uses
    for (int64_t g = 0; g < G; ++g) {
      if (base[(size_t)g + 1] == base[(size_t)g]) continue;  // not a large group
      if (large_tiles_fit(base[(size_t)g + 1], bound)) {
        touched = std::max(touched, base[(size_t)g + 1]);
      } else {
        ++rejected;
        EXPECT_GT(base[(size_t)g + 1], bound);
      }
    }
    EXPECT_LE(touched, bound);
    EXPECT_EQ(base[(size_t)G] > bound, expect_overflow) << "tiles " << base[(size_t)G] << " bound " << bound;
    EXPECT_EQ(rejected > 0, expect_overflow);
  };
  std::mt19937_64 rng(13);
  for (int trial = 0; trial < 300; ++trial) {  // (a) disjoint layouts, biased towards just-large groups
    std::vector<int64_t> sizes((size_t)(1 + rng() % 40));
    for (auto& n : sizes) n = rng() % 3 == 0 ? (int64_t)(rng() % 3000) : T + 1 + (int64_t)(rng() % (3 * T));
    const std::vector<int64_t> off = pt::offsets_from_sizes(sizes);
    check(off, off.back(), *std::max_element(sizes.begin(), sizes.end()), false);
  }
  for (int64_t N : {T + 1, 2 * T, 3 * T + 5}) {  // (b) every other group is [0, N)
    std::vector<int64_t> off;
    for (int r = 0; r < 51; ++r) {
      off.push_back(0);
      off.push_back(N);
    }
    check(off, N, N, true);
  }
}
