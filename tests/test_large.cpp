// test_large.cpp -- large groups against the __float128 oracle (a different route from the
// library's stable forms): n in {1024, 4096, 65536} and a ragged batch mixing sizes, k in {1, 2,
// small, n/2, n-1, n}, uniform rewards, offset rewards 100 + 0.01*U(0,1), binary with large k,
// float32 and float64 outputs, every estimator -- asserting the docs/math.md §4 targets.
//
// The rewards are drawn float32-representable, so one oracle evaluation serves both dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;
using pt::Kind;

std::vector<double> float_group(Kind kind, int64_t n, std::mt19937_64& rng) {
  auto g = pt::gen_group(kind, n, rng);
  for (double& v : g) v = (double)(float)v;
  return g;
}

struct Case {
  Kind kind;
  int64_t k;
};

std::vector<Case> cases_for(int64_t n) {
  std::vector<Case> c;
  for (int64_t k : {(int64_t)1, (int64_t)2, (int64_t)7, n / 2, n - 1, n}) {
    c.push_back({Kind::Uniform, k});
    c.push_back({Kind::Offset, k});
  }
  for (int64_t k : {n / 2, n - 1, n}) c.push_back({Kind::Binary, k});
  // Sorting paths for large groups (ties, signs, +-0, float32 denormals, +-1e30).
  if (n <= 4096) {
    c.push_back({Kind::Ties, n / 2});
    c.push_back({Kind::Negative, 7});
    c.push_back({Kind::Extreme, 2});
    c.push_back({Kind::DenormalMix, n - 1});
    c.push_back({Kind::DenormalMix, 3});
  }
  return c;
}

class LargeN : public ::testing::TestWithParam<int64_t> {};

TEST_P(LargeN, AllEstimatorsBothDtypes) {
  const int64_t n = GetParam();
  const uint64_t seed = 4242 + (uint64_t)n;
  std::mt19937_64 rng(seed);
  Handle h;
  ASSERT_EQ(h.status(), PKPO_SUCCESS);
  for (const Case& c : cases_for(n)) {
    // Two groups per batch (one at n = 65536, where the oracle dominates the run time).
    Batch base;
    base.group_size = n;
    base.num_groups = n >= 65536 ? 1 : 2;
    base.k = c.k;
    for (int g = 0; g < base.num_groups; ++g) {
      auto vals = float_group(c.kind, n, rng);
      base.rewards.insert(base.rewards.end(), vals.begin(), vals.end());
    }
    for (int e = PKPO_S; e <= PKPO_L2O; ++e) {
      Batch b = base;
      b.est = (pkpo_estimator)e;
      const pt::Expected exp = pt::expected_for(b, oracle::LARGE);
      for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
        SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n) + " k " +
                     std::to_string(c.k) + " " + pt::kind_name(c.kind) + " " +
                     oracle::est_name(e) + " " + pt::dtype_name(dt));
        b.dtype = dt;
        const pt::LibResult r = pt::run_lib(h, b);
        EXPECT_TRUE(pt::matches(b, r, exp));
        // docs/math.md §4: sloo_minus_one never negative; l2o sums to 0 within rounding.
        if ((e == PKPO_SLOO_MINUS_ONE && c.k >= 2) || (e == PKPO_L2O && c.k == n)) {  // k=1: l2o rule
          for (double v : r.out) ASSERT_GE(v, 0.0);
        }
        if (e == PKPO_L2O && c.k < n) {
          for (int g = 0; g < base.num_groups; ++g) {
            long double sum = 0, mag = 0;
            for (int64_t i = g * n; i < (g + 1) * n; ++i) {
              sum += r.out[i];
              mag += std::fabs(r.out[i]);
            }
            // "Within rounding": the rounding of each output (eps |a_i|) plus a few eps of the
            // group's scale per output for the float64 computation itself.
            const double eps = dt == PKPO_FLOAT64 ? 0x1p-52 : 0x1p-23;
            const double bound =
                4 * eps * (double)mag + 8 * 0x1p-52 * (double)n * (double)exp.scale[g];
            EXPECT_LE(std::fabs((double)sum), bound)
                << "l2o of group " << g << " sums to " << (double)sum;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, LargeN, ::testing::Values(1024, 4096, 65536),
                         [](const auto& info) { return "n" + std::to_string(info.param); });

// A ragged batch mixing odd and power-of-two sizes, per-group k across the whole range.
TEST(LargeRagged, MixedSizes) {
  const uint64_t seed = 777;
  std::mt19937_64 rng(seed);
  const std::vector<int64_t> sizes = {1, 2, 3, 5, 7, 13, 19, 31, 33, 99, 257, 989, 1024, 4096,
                                      0, 4099, 65536, 16, 65537};
  Batch base;
  base.num_groups = (int64_t)sizes.size();
  base.offsets = pt::offsets_from_sizes(sizes);
  for (size_t g = 0; g < sizes.size(); ++g) {
    const int64_t n = sizes[g];
    const Kind kind = g % 3 == 0 ? Kind::Offset : g % 3 == 1 ? Kind::Uniform : Kind::Binary;
    auto vals = float_group(kind, n, rng);
    base.rewards.insert(base.rewards.end(), vals.begin(), vals.end());
    const int64_t choices[] = {1, 2, 5, n / 2, n - 1, n, n + 3};
    int64_t k = choices[g % 7];
    base.k_per_group.push_back(k < 1 ? 1 : k);
  }
  Handle h;
  for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
    Batch b = base;
    b.est = (pkpo_estimator)e;
    const pt::Expected exp = pt::expected_for(b, oracle::LARGE);
    for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
      SCOPED_TRACE(std::string("seed 777 ") + oracle::est_name(e) + " " + pt::dtype_name(dt));
      b.dtype = dt;
      EXPECT_TRUE(pt::matches(b, pt::run_lib(h, b), exp));
    }
  }
}

}  // namespace
