// test_bruteforce.cpp -- the library against the brute-force oracle (averages over all k-subsets,
// docs/math.md §2 definitions + section 3 rules) for every n in 1..12, every k in 1..n+2 (k > n
// clamps), every estimator, both dtypes, all reward kinds, several seeds; uniform, ragged (with
// empty and singleton groups), per-group k and index-permuted layouts. Tolerances: docs/math.md §4.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;
using pt::Kind;

constexpr uint64_t kSeeds[] = {11, 22, 33};
constexpr int kMaxN = 12;

class Brute : public ::testing::TestWithParam<std::tuple<pkpo_estimator, pkpo_dtype>> {};

std::string param_name(const ::testing::TestParamInfo<Brute::ParamType>& info) {
  return std::string(oracle::est_name(std::get<0>(info.param))) + "_" +
         pt::dtype_name(std::get<1>(info.param));
}

// Uniform layout: one batch per (seed, n, k) holding one group of every reward kind.
TEST_P(Brute, Uniform) {
  const auto [est, dt] = GetParam();
  Handle h;
  ASSERT_EQ(h.status(), PKPO_SUCCESS);
  for (uint64_t seed : kSeeds) {
    std::mt19937_64 rng(seed);
    for (int n = 1; n <= kMaxN; ++n) {
      for (int k = 1; k <= n + 2; ++k) {
        SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n) + " k " +
                     std::to_string(k));
        Batch b;
        b.est = est;
        b.dtype = dt;
        b.group_size = n;
        b.k = k;
        for (int kind = 0; kind < (int)Kind::Kinds; ++kind) {
          auto g = pt::gen_group((Kind)kind, n, rng);
          b.rewards.insert(b.rewards.end(), g.begin(), g.end());
          ++b.num_groups;
        }
        pt::round_rewards(&b);
        const pt::LibResult r = pt::run_lib(h, b);
        ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));
      }
    }
  }
}

// Ragged layout with empty and singleton groups, per-group k (some above the group size), and an
// index permutation; also the same batch without the permutation and with a scalar k.
TEST_P(Brute, RaggedPerGroupKPermuted) {
  const auto [est, dt] = GetParam();
  Handle h;
  for (uint64_t seed : kSeeds) {
    std::mt19937_64 rng(seed * 1000 + 7);
    for (int rep = 0; rep < 12; ++rep) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " rep " + std::to_string(rep));
      std::uniform_int_distribution<int> size_d(0, kMaxN), kind_d(0, (int)Kind::Kinds - 1);
      const int G = 1 + rep * 2;
      std::vector<int64_t> sizes;
      Batch b;
      b.est = est;
      b.dtype = dt;
      b.num_groups = G;
      for (int g = 0; g < G; ++g) {
        // Make sure empty and singleton groups appear in every batch of 3+ groups.
        const int n = g == 0 ? 0 : g == 1 ? 1 : size_d(rng);
        sizes.push_back(n);
        auto vals = pt::gen_group((Kind)kind_d(rng), n, rng);
        b.rewards.insert(b.rewards.end(), vals.begin(), vals.end());
        std::uniform_int_distribution<int> k_d(1, n + 2);
        b.k_per_group.push_back(k_d(rng));
      }
      pt::round_rewards(&b);
      b.offsets = pt::offsets_from_sizes(sizes);
      // 1) ragged + per-group k
      {
        const pt::LibResult r = pt::run_lib(h, b);
        ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE))) << "ragged";
      }
      // 2) + index permutation (rewards stay where they are; the layout reads through index)
      b.index = pt::random_permutation(b.num_samples(), rng);
      {
        const pt::LibResult r = pt::run_lib(h, b);
        ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE))) << "permuted";
      }
      // 3) + max_group_size given exactly, scalar k
      b.max_group_size = *std::max_element(sizes.begin(), sizes.end());
      b.k_per_group.clear();
      b.k = 1 + rep % 7;
      {
        const pt::LibResult r = pt::run_lib(h, b);
        ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE))) << "scalar k";
      }
    }
  }
}

// Uniform layout with an index permutation and per-group k.
TEST_P(Brute, UniformPermutedPerGroupK) {
  const auto [est, dt] = GetParam();
  Handle h;
  for (uint64_t seed : kSeeds) {
    std::mt19937_64 rng(seed + 99);
    for (int n : {1, 2, 3, 5, 7, 12}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n));
      Batch b;
      b.est = est;
      b.dtype = dt;
      b.group_size = n;
      b.num_groups = 9;
      for (int g = 0; g < 9; ++g) {
        auto vals = pt::gen_group((Kind)(g % (int)Kind::Kinds), n, rng);
        b.rewards.insert(b.rewards.end(), vals.begin(), vals.end());
        b.k_per_group.push_back(1 + (g * 5 + (int)seed) % (n + 2));
      }
      pt::round_rewards(&b);
      b.index = pt::random_permutation(b.num_samples(), rng);
      const pt::LibResult r = pt::run_lib(h, b);
      ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, Brute,
    ::testing::Combine(::testing::Values(PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O),
                       ::testing::Values(PKPO_FLOAT64, PKPO_FLOAT32)),
    param_name);

}  // namespace
