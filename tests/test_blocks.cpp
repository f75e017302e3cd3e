// test_blocks.cpp -- the block road of the CPU backend (src/host/cpu.c: small float32 groups sorted
// and computed PKPO__LANES at a time) against the one-group road, bitwise, and against the oracle.
//
// pt::run_lib already runs every CPU call of every suite both ways and fails on any differing bit;
// the tests here choose inputs that stress what the block road does differently: every group size
// it covers (2..256, and 257 just beyond), partly filled blocks, ragged batches mixing more sizes
// and k values than it keeps blocks open, ties including -0.0 against +0.0, denormals, non-finite
// rewards under each policy, per-group k with clamping, index permutations, in-place calls, every
// estimator and both dtypes (float64 takes the one-group road: checked to stay identical too), and
// every 0/1 input of n <= 14 (the 0-1 principle: the sorting network sorts every input).
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

constexpr pkpo_estimator kEstimators[] = {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE,
                                          PKPO_L2O};

// The brute-force oracle up to n = 12, the float128 one beyond. The latter forms differences of
// quantities of the rewards' size, so a constant group gives ~1e-34 instead of the exact 0 that
// matches() demands there; constant groups above 12 are still compared bitwise with the one-group
// road, whose exact zeros test_properties checks.
oracle::Method method_for(int64_t max_n) { return max_n <= 12 ? oracle::BRUTE : oracle::LARGE; }
Kind kind_for(int64_t i, int64_t n) {
  const Kind k = (Kind)(i % (int)Kind::Kinds);
  return (k == Kind::Constant && n > 12) ? Kind::Ties : k;
}

// Group sizes: all of 2..40, then odd sizes, powers of two and their neighbours up to 257.
std::vector<int64_t> block_sizes() {
  std::vector<int64_t> ns;
  for (int64_t n = 2; n <= 40; ++n) ns.push_back(n);
  for (int64_t n : {47, 63, 64, 65, 97, 127, 128, 129, 191, 211, 255, 256, 257}) ns.push_back(n);
  return ns;
}

// Uniform batches of 11 groups (a full block and a partial one) of every kind, every size the
// block road covers, k in {1, 2, n-1, n, n+3}, every estimator, both dtypes: bitwise equal to the
// one-group road (run_lib) and within docs/math.md tolerance of the exact oracle.
TEST(Blocks, EverySizeEveryEstimatorMatchesOneGroupRoadAndOracle) {
  Handle h;
  ASSERT_EQ(h.status(), PKPO_SUCCESS);
  std::mt19937_64 rng(1301);
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (int64_t n : block_sizes()) {
      for (int64_t k : {int64_t{1}, int64_t{2}, n - 1, n, n + 3}) {
        if (k < 1) continue;
        Batch b;
        b.dtype = dt;
        b.group_size = n;
        b.k = k;
        b.num_groups = 11;
        for (int64_t g = 0; g < b.num_groups; ++g) {
          auto v = pt::gen_group(kind_for(g, n), n, rng);
          b.rewards.insert(b.rewards.end(), v.begin(), v.end());
        }
        pt::round_rewards(&b);
        for (pkpo_estimator est : kEstimators) {
          SCOPED_TRACE(std::string("seed 1301 ") + pt::dtype_name(dt) + " n " +
                       std::to_string(n) + " k " + std::to_string(k) + " " +
                       oracle::est_name(est));
          b.est = est;
          const pt::LibResult r = pt::run_lib(h, b);
          ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
          ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, method_for(n))));
        }
      }
    }
  }
}

// Ties everywhere, including -0.0 against +0.0 and denormals: the two roads sort ties differently
// (the network is not stable), which must not change a bit of the outputs.
TEST(Blocks, SignedZerosAndTiesGiveTheSameBits) {
  Handle h;
  std::mt19937_64 rng(1302);
  const double pool[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e-40, -1e-40, 0.25};
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (int64_t n : {2, 3, 5, 8, 16, 31, 64, 200}) {
      Batch b;
      b.dtype = dt;
      b.group_size = n;
      b.num_groups = 21;
      std::uniform_int_distribution<int> pick(0, 7), narrow(0, 1);
      for (int64_t g = 0; g < b.num_groups; ++g) {
        const bool zeros_only = g % 3 == 0;  // a group of +-0 only: max and min are both zero
        for (int64_t j = 0; j < n; ++j)
          b.rewards.push_back(zeros_only ? (narrow(rng) ? 0.0 : -0.0) : pool[pick(rng)]);
      }
      pt::round_rewards(&b);
      for (int64_t k : {int64_t{1}, int64_t{2}, n}) {
        b.k = k;
        for (pkpo_estimator est : kEstimators) {
          SCOPED_TRACE(std::string(pt::dtype_name(dt)) + " n " + std::to_string(n) + " k " +
                       std::to_string(k) + " " + oracle::est_name(est));
          b.est = est;
          const pt::LibResult r = pt::run_lib(h, b);
          ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
          ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, method_for(n))));
          if (est == PKPO_RHO) continue;
          // Tied samples get identical bits (docs/math.md §1), zeros of either sign included.
          for (int64_t g = 0; g < b.num_groups; ++g) {
            for (int64_t i = g * n + 1; i < (g + 1) * n; ++i) {
              if (b.rewards[i] != b.rewards[g * n]) continue;
              ASSERT_EQ(std::memcmp(&r.out[i], &r.out[g * n], sizeof(double)), 0)
                  << "group " << g << " samples " << g * n << " and " << i;
            }
          }
        }
      }
    }
  }
}

// Ragged batches with more distinct (size, k) pairs than blocks kept open, per-group k (clamped
// or not), non-finite rewards in some groups, an index permutation, in place or not, each
// non-finite policy that succeeds.
TEST(Blocks, RaggedMixedSizesPerGroupKNonFinitePermuted) {
  Handle h;
  std::mt19937_64 rng(1303);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < 24; ++rep) {
    const pkpo_dtype dt = rep % 4 == 3 ? PKPO_FLOAT64 : PKPO_FLOAT32;
    Batch b;
    b.dtype = dt;
    b.num_groups = 60 + rep;
    std::uniform_int_distribution<int> size_d(0, rep % 2 ? 300 : 12),
        kind_d(0, (int)Kind::Kinds - 1);
    std::vector<int64_t> sizes;
    for (int64_t g = 0; g < b.num_groups; ++g) {
      const int64_t n = size_d(rng);
      sizes.push_back(n);
      auto v = pt::gen_group(kind_for(kind_d(rng), n), n, rng);
      if (n > 0 && g % 7 == 3) v[(size_t)(g % n)] = (g % 2) ? nan : -inf;
      b.rewards.insert(b.rewards.end(), v.begin(), v.end());
      std::uniform_int_distribution<int64_t> k_d(1, n + 3);
      b.k_per_group.push_back(k_d(rng));
    }
    b.offsets = pt::offsets_from_sizes(sizes);
    if (rep % 3 != 0) b.index = pt::random_permutation(b.num_samples(), rng);
    pt::round_rewards(&b);
    for (pkpo_nonfinite_policy pol : {PKPO_NONFINITE_EXCLUDE, PKPO_NONFINITE_PROPAGATE}) {
      b.nonfinite = pol;
      for (pkpo_estimator est : kEstimators) {
        SCOPED_TRACE("seed 1303 rep " + std::to_string(rep) + " policy " + std::to_string(pol) +
                     " " + oracle::est_name(est));
        b.est = est;
        const bool in_place = est != PKPO_RHO && rep % 2 == 0;
        const pt::LibResult r = pt::run_lib(h, b, true, true, in_place);
        ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
        ASSERT_TRUE(r.guards_intact);
        ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, method_for(rep % 2 ? 300 : 12))));
      }
    }
  }
}

// Strict k policy and the error policy for non-finite rewards: the failing call writes nothing on
// either road, and a passing one is identical.
TEST(Blocks, StrictAndErrorPoliciesFailBeforeWritingOnEitherRoad) {
  Handle h;
  Batch b;
  b.dtype = PKPO_FLOAT32;
  b.group_size = 6;
  b.num_groups = 11;
  std::mt19937_64 rng(1304);
  for (int64_t g = 0; g < b.num_groups; ++g) {
    auto v = pt::gen_group(Kind::Uniform, 6, rng);
    b.rewards.insert(b.rewards.end(), v.begin(), v.end());
  }
  pt::round_rewards(&b);
  b.k_policy = PKPO_K_STRICT;
  b.k_per_group.assign(11, 3);
  b.k_per_group[9] = 7;
  pt::LibResult r = pt::run_lib(h, b);
  EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N);
  EXPECT_TRUE(r.untouched);
  b.k_per_group[9] = 6;
  b.rewards[20] = std::numeric_limits<double>::quiet_NaN();
  b.nonfinite = PKPO_NONFINITE_ERROR;
  r = pt::run_lib(h, b);
  EXPECT_EQ(r.status, PKPO_ERROR_NON_FINITE);
  EXPECT_TRUE(r.untouched);
  b.rewards[20] = 0.5;
  r = pt::run_lib(h, b);
  EXPECT_EQ(r.status, PKPO_SUCCESS);
  EXPECT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));
}

// The 0-1 principle: a comparator network sorts every input iff it sorts every 0/1 input. Every
// 0/1 group of n <= 14 in one batch; a mis-sorted group would give other outputs than the
// one-group road (run_lib compares them bitwise) and than the binary closed forms (oracle).
TEST(Blocks, EveryZeroOneInputUpToFourteen) {
  Handle h;
  for (int64_t n = 2; n <= 14; ++n) {
    SCOPED_TRACE("n " + std::to_string(n));
    Batch b;
    b.dtype = PKPO_FLOAT32;
    b.group_size = n;
    b.num_groups = int64_t{1} << n;
    b.k = 2;
    for (int64_t g = 0; g < b.num_groups; ++g)
      for (int64_t j = 0; j < n; ++j) b.rewards.push_back((double)((g >> j) & 1));
    for (pkpo_estimator est : {PKPO_S, PKPO_SLOO_MINUS_ONE}) {
      b.est = est;
      const pt::LibResult r = pt::run_lib(h, b);
      ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
      if (n <= 10) {
        ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));
      }
    }
  }
}

// The baseline (SSE2) network against the dispatched one (AVX on machines that have it) and the
// one-group road, on the sizes and ties above; run_lib compares the default with the one-group road.
TEST(Blocks, BaselineAndDispatchedNetworksAgree) {
  Handle h;
  std::mt19937_64 rng(1305);
  for (int64_t n : block_sizes()) {
    Batch b;
    b.dtype = PKPO_FLOAT32;
    b.group_size = n;
    b.num_groups = 13;
    b.k = 3;
    for (int64_t g = 0; g < b.num_groups; ++g) {
      auto v = pt::gen_group((Kind)(g % (int)Kind::Kinds), n, rng);
      b.rewards.insert(b.rewards.end(), v.begin(), v.end());
    }
    pt::round_rewards(&b);
    for (pkpo_estimator est : {PKPO_S, PKPO_SLOO, PKPO_L2O}) {
      SCOPED_TRACE("seed 1305 n " + std::to_string(n) + " " + oracle::est_name(est));
      b.est = est;
      const pt::LibResult dispatched = pt::run_lib(h, b);
      ASSERT_EQ(pkpo__cpu_set_blocks(h, 1), PKPO_SUCCESS);
      const pt::LibResult baseline = pt::run_lib(h, b);
      ASSERT_EQ(pkpo__cpu_set_blocks(h, 2), PKPO_SUCCESS);
      ASSERT_EQ(baseline.status, PKPO_SUCCESS);
      ASSERT_TRUE(pt::bitwise_equal(baseline.out, dispatched.out));
      ASSERT_TRUE(pt::bitwise_equal(baseline.rho, dispatched.rho));
      EXPECT_EQ(baseline.flags, dispatched.flags);
    }
  }
  EXPECT_EQ(pkpo__cpu_set_blocks(h, 3), PKPO_ERROR_INVALID_ARGUMENT);
}

}  // namespace
