// test_rho_curve.cpp -- pkpo_rho_curve against per-k pkpo_transform(PKPO_RHO), against the oracle,
// and (binary groups) against pass@k = 1 - C(n-c,k)/C(n,k); clamping, strict, flags, layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;
using pt::Kind;

struct Curve {
  pkpo_status status;
  std::vector<double> rho;  // G * num_ks
  std::vector<uint32_t> flags;
  bool guard_ok = true;
};

Curve run_curve_once(pkpo_handle h, const Batch& b, const std::vector<int64_t>& ks) {
  const pkpo_desc d = b.desc();
  const int64_t G = b.num_groups, K = (int64_t)ks.size();
  Curve c;
  std::vector<float> in32(b.rewards.begin(), b.rewards.end());
  const void* in = b.dtype == PKPO_FLOAT64 ? (const void*)b.rewards.data() : (const void*)in32.data();
  const int64_t guard = 8;
  std::vector<double> out64((size_t)(G * K + guard), -7.0);
  std::vector<float> out32((size_t)(G * K + guard), -7.0f);
  std::vector<uint32_t> flags((size_t)(G + guard), 0xdeadu);
  void* out = b.dtype == PKPO_FLOAT64 ? (void*)out64.data() : (void*)out32.data();
  c.status = pkpo_rho_curve(h, &d, in, ks.data(), K, out, flags.data(), nullptr);
  for (int64_t i = 0; i < G * K; ++i)
    c.rho.push_back(b.dtype == PKPO_FLOAT64 ? out64[i] : (double)out32[i]);
  c.flags.assign(flags.begin(), flags.begin() + G);
  for (int64_t i = G * K; i < G * K + guard; ++i)
    if (out64[i] != -7.0 || out32[i] != -7.0f) c.guard_ok = false;
  for (int64_t g = G; g < G + guard; ++g)
    if (flags[g] != 0xdeadu) c.guard_ok = false;
  return c;
}

// The curve, checked to be bitwise identical with the block road of the CPU backend off.
Curve run_curve(pkpo_handle h, const Batch& b, const std::vector<int64_t>& ks) {
  const Curve c = run_curve_once(h, b, ks);
  EXPECT_EQ(pkpo__cpu_set_blocks(h, 0), PKPO_SUCCESS);
  const Curve one = run_curve_once(h, b, ks);
  EXPECT_EQ(pkpo__cpu_set_blocks(h, 2), PKPO_SUCCESS);
  EXPECT_EQ(one.status, c.status);
  EXPECT_EQ(one.flags, c.flags);
  EXPECT_EQ(one.rho.size(), c.rho.size());
  for (size_t i = 0; i < c.rho.size() && i < one.rho.size(); ++i) {
    if (std::memcmp(&c.rho[i], &one.rho[i], sizeof(double)) != 0) {
      ADD_FAILURE() << "block road and one-group road differ at curve entry " << i;
      break;
    }
  }
  return c;
}

TEST(RhoCurve, MatchesPerKTransformAndOracle) {
  std::mt19937_64 rng(51);
  Handle h;
  for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
    SCOPED_TRACE(std::string("seed 51 ") + pt::dtype_name(dt));
    Batch b;
    b.est = PKPO_RHO;
    b.dtype = dt;
    const std::vector<int64_t> sizes = {1, 2, 5, 0, 12, 33, 99, 1024, 7};
    b.offsets = pt::offsets_from_sizes(sizes);
    b.num_groups = (int64_t)sizes.size();
    for (size_t g = 0; g < sizes.size(); ++g) {
      auto v = pt::gen_group((Kind)(g % (int)Kind::Kinds), sizes[g], rng);
      b.rewards.insert(b.rewards.end(), v.begin(), v.end());
    }
    b.rewards[b.offsets[4] + 3] = std::numeric_limits<double>::quiet_NaN();  // excluded
    pt::round_rewards(&b);
    b.index = pt::random_permutation(b.num_samples(), rng);
    const std::vector<int64_t> ks = {1, 2, 3, 7, 12, 16, 512, 1024, 2000, 5};
    const Curve c = run_curve(h, b, ks);
    ASSERT_EQ(c.status, PKPO_SUCCESS) << pkpo_last_error(h);
    EXPECT_TRUE(c.guard_ok);
    uint32_t union_flags_want[16] = {};
    for (size_t j = 0; j < ks.size(); ++j) {
      SCOPED_TRACE("k " + std::to_string(ks[j]));
      Batch bk = b;
      bk.k = ks[j];
      const pt::LibResult r = pt::run_lib(h, bk);
      ASSERT_EQ(r.status, PKPO_SUCCESS);
      const pt::Expected e = pt::expected_for(bk, oracle::LARGE);
      for (int64_t g = 0; g < b.num_groups; ++g) {
        const double got = c.rho[g * ks.size() + j];
        union_flags_want[g] |= r.flags[g];
        EXPECT_NEAR(got, r.rho[g], pt::tol_for(dt) * (double)e.rho_scale[g]) << "group " << g;
        if (e.rho_scale[g] == 0) {
          EXPECT_EQ(got, (double)e.rho[g]) << "group " << g;
        } else {
          EXPECT_LE(std::fabs(got - (double)e.rho[g]) / (double)e.rho_scale[g], pt::tol_for(dt))
              << "group " << g;
        }
      }
    }
    for (int64_t g = 0; g < b.num_groups; ++g)
      EXPECT_EQ(c.flags[g], union_flags_want[g]) << "flags of group " << g << " (union over ks)";
  }
}

TEST(RhoCurve, BinaryPassAtK) {
  std::mt19937_64 rng(52);
  Handle h;
  for (int64_t n : {2, 3, 8, 13, 64, 257, 1000}) {
    Batch b;
    b.est = PKPO_RHO;
    b.dtype = PKPO_FLOAT64;
    b.group_size = n;
    std::vector<int64_t> cs = {0, 1, n / 4, n / 2, n - 1, n};
    b.num_groups = (int64_t)cs.size();
    for (int64_t c : cs) {
      std::vector<double> g(n, 0.0);
      for (int64_t i = 0; i < c; ++i) g[i] = 1.0;
      std::shuffle(g.begin(), g.end(), rng);
      b.rewards.insert(b.rewards.end(), g.begin(), g.end());
    }
    std::vector<int64_t> ks;
    for (int64_t k = 1; k <= n; k += (n > 64 ? 37 : 1)) ks.push_back(k);
    ks.push_back(n);
    const Curve c = run_curve(h, b, ks);
    ASSERT_EQ(c.status, PKPO_SUCCESS);
    for (size_t gi = 0; gi < cs.size(); ++gi)
      for (size_t j = 0; j < ks.size(); ++j)
        ASSERT_NEAR(c.rho[gi * ks.size() + j], (double)oracle::binary_rho(n, cs[gi], ks[j]), 1e-12)
            << "seed 52 n " << n << " c " << cs[gi] << " k " << ks[j];
  }
}

TEST(RhoCurve, ClampAndStrict) {
  Handle h;
  Batch b;
  b.est = PKPO_RHO;
  b.dtype = PKPO_FLOAT64;
  b.rewards = {0.3, 0.9, 0.1, 0.5, 0.2, 0.4, 0.8, 0.6};
  b.group_size = 4;
  b.num_groups = 2;
  const std::vector<int64_t> ks = {1, 4, 6};
  Curve c = run_curve(h, b, ks);
  ASSERT_EQ(c.status, PKPO_SUCCESS);
  EXPECT_NEAR(c.rho[2], 0.9, 1e-15);  // k > n: the max
  EXPECT_NEAR(c.rho[5], 0.8, 1e-15);
  EXPECT_NEAR(c.rho[1], 0.9, 1e-15);
  EXPECT_NEAR(c.rho[0], 0.45, 1e-16);
  EXPECT_EQ(c.flags[0], (uint32_t)PKPO_FLAG_K_CLAMPED);
  EXPECT_EQ(c.flags[1], (uint32_t)PKPO_FLAG_K_CLAMPED);
  b.k_policy = PKPO_K_STRICT;
  c = run_curve(h, b, ks);
  EXPECT_EQ(c.status, PKPO_ERROR_K_EXCEEDS_N);
  EXPECT_STRNE(pkpo_last_error(h), "");
  for (double v : c.rho) EXPECT_EQ(v, -7.0) << "nothing written";
  for (uint32_t f : c.flags) EXPECT_EQ(f, 0xdeadu);
  c = run_curve(h, b, {1, 4});
  EXPECT_EQ(c.status, PKPO_SUCCESS);
  EXPECT_EQ(c.flags[0], 0u);
}

}  // namespace
