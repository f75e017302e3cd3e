// test_objectives.cpp -- objectives beyond one k (docs/math.md §5) on the CPU backend: mixtures over
// k and the min statistic against the brute-force oracle (sum_j w_j brute(k_j); -brute(-g)) for
// every estimator x layout x dtype, a one-term mixture bit for bit as plain k, linearity, min as the
// negated max of the negated rewards bit for bit, the sign properties under min, and every status
// the new fields can give.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>

#include "objective_cases.hpp"
#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;
using pt::Layout;

class Objectives : public ::testing::TestWithParam<std::tuple<pkpo_estimator, pkpo_dtype>> {};

std::string param_name(const ::testing::TestParamInfo<Objectives::ParamType>& info) {
  return std::string(oracle::est_name(std::get<0>(info.param))) + "_" +
         pt::dtype_name(std::get<1>(info.param));
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST_P(Objectives, MixturesAndMinAgainstBruteForce) {
  const auto [est, dt] = GetParam();
  Handle h;
  for (uint64_t seed : {5u, 6u}) {
    std::mt19937_64 rng(seed);
    for (int64_t n : {1, 2, 3, 5, 8, 12}) {
      for (int layout = 0; layout < (int)Layout::Layouts; ++layout) {
        const Batch base = pt::objective_batch((Layout)layout, est, dt, n, rng);
        for (const pt::Mixture& mix : pt::mixtures_for(n, rng)) {
          for (pkpo_statistic stat : {PKPO_STATISTIC_MAX, PKPO_STATISTIC_MIN}) {
            SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n) + " " +
                         pt::layout_name((Layout)layout) + " " + mix.name +
                         (stat == PKPO_STATISTIC_MIN ? " min" : " max"));
            Batch b = base;
            pt::set_mixture(&b, mix);
            b.statistic = stat;
            const pt::LibResult r = pt::run_lib(h, b);
            ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));
          }
        }
      }
    }
  }
}

// One k is the mixture of that k with weight 1: the same bits, whatever the layout.
TEST_P(Objectives, OneTermMixtureIsPlainKBitwise) {
  const auto [est, dt] = GetParam();
  Handle h;
  std::mt19937_64 rng(17);
  for (int64_t n : {1, 4, 7, 16, 100, 300}) {
    for (int layout = 0; layout < (int)Layout::Layouts; ++layout) {
      for (int64_t k : {int64_t(1), int64_t(2), n, n + 3}) {
        for (pkpo_statistic stat : {PKPO_STATISTIC_MAX, PKPO_STATISTIC_MIN}) {
          SCOPED_TRACE("n " + std::to_string(n) + " k " + std::to_string(k) + " " +
                       pt::layout_name((Layout)layout));
          Batch plain = pt::objective_batch((Layout)layout, est, dt, n, rng);
          plain.k = k;
          plain.statistic = stat;
          Batch mix = plain;
          mix.k = 999;  // ignored with a mixture
          mix.k_terms = {k};
          mix.k_weights = {1.0};
          const pt::LibResult a = pt::run_lib(h, plain), b = pt::run_lib(h, mix);
          ASSERT_EQ(a.status, PKPO_SUCCESS);
          ASSERT_EQ(b.status, PKPO_SUCCESS);
          EXPECT_TRUE(pt::bitwise_equal(a.out, b.out));
          EXPECT_TRUE(pt::bitwise_equal(a.rho, b.rho));
          EXPECT_EQ(a.flags, b.flags);
        }
      }
    }
  }
}

// The mixture's outputs and rho are the weighted sums of the single-k calls' (to rounding).
TEST_P(Objectives, Linearity) {
  const auto [est, dt] = GetParam();
  Handle h;
  std::mt19937_64 rng(23);
  for (int64_t n : {6, 33, 257}) {
    for (pkpo_statistic stat : {PKPO_STATISTIC_MAX, PKPO_STATISTIC_MIN}) {
      Batch b = pt::objective_batch(Layout::Ragged, est, dt, n, rng);
      b.statistic = stat;
      const pt::Mixture mix{"mix", {1, 3, n, n + 5}, {0.5, -1.25, 2.0, 0.75}};
      pt::set_mixture(&b, mix);
      const pt::LibResult whole = pt::run_lib(h, b);
      ASSERT_EQ(whole.status, PKPO_SUCCESS);
      std::vector<long double> out(whole.out.size(), 0.0L), rho(whole.rho.size(), 0.0L);
      for (size_t j = 0; j < mix.k.size(); ++j) {
        Batch one = b;
        one.k_terms.clear();
        one.k_weights.clear();
        one.k = mix.k[j];
        const pt::LibResult r = pt::run_lib(h, one);
        ASSERT_EQ(r.status, PKPO_SUCCESS);
        for (size_t i = 0; i < out.size(); ++i) out[i] += mix.w[j] * (long double)r.out[i];
        for (size_t g = 0; g < rho.size(); ++g) rho[g] += mix.w[j] * (long double)r.rho[g];
      }
      const pt::Expected e = pt::expected_for(b, oracle::LARGE);
      const double tol = 2 * pt::tol_for(dt);
      for (size_t i = 0; i < out.size(); ++i) {
        const long double scale = e.scale[e.group_of[i]];
        ASSERT_LE(std::fabs((long double)whole.out[i] - out[i]), tol * scale + 1e-300) << i;
      }
      for (size_t g = 0; g < rho.size(); ++g) {
        ASSERT_LE(std::fabs((long double)whole.rho[g] - rho[g]), tol * e.rho_scale[g] + 1e-300);
      }
    }
  }
}

// docs/math.md §5: T_min(g) = -T_max(-g), output by output, bit for bit (NaN: both NaN), with
// non-finite rewards excluded or propagated and empty groups.
TEST_P(Objectives, MinIsNegatedMaxOfNegatedRewardsBitwise) {
  const auto [est, dt] = GetParam();
  Handle h;
  std::mt19937_64 rng(31);
  for (pkpo_nonfinite_policy nf : {PKPO_NONFINITE_EXCLUDE, PKPO_NONFINITE_PROPAGATE}) {
    for (int64_t n : {1, 5, 64, 200}) {
      for (int layout = 0; layout < (int)Layout::Layouts; ++layout) {
        Batch mx = pt::objective_batch((Layout)layout, est, dt, n, rng);
        mx.nonfinite = nf;
        mx.k = 3;
        if (mx.num_samples() > 3) {
          mx.rewards[1] = NAN;
          mx.rewards[mx.rewards.size() - 2] = -INFINITY;
        }
        Batch mn = mx;
        mn.statistic = PKPO_STATISTIC_MIN;
        for (double& v : mx.rewards) v = -v;
        for (int mixed = 0; mixed < 2; ++mixed) {
          if (mixed) {
            pt::set_mixture(&mx, pt::harmonic(n));
            pt::set_mixture(&mn, pt::harmonic(n));
          }
          const pt::LibResult a = pt::run_lib(h, mx), b = pt::run_lib(h, mn);
          ASSERT_EQ(a.status, PKPO_SUCCESS);
          ASSERT_EQ(b.status, PKPO_SUCCESS);
          ASSERT_EQ(a.flags, b.flags);
          for (size_t i = 0; i < a.out.size(); ++i) {
            if (std::isnan(a.out[i])) {
              ASSERT_TRUE(std::isnan(b.out[i])) << i;
            } else {
              ASSERT_TRUE(same_bits(-a.out[i], b.out[i])) << i << ": " << a.out[i] << " " << b.out[i];
            }
          }
          for (size_t g = 0; g < a.rho.size(); ++g) {
            if (std::isnan(a.rho[g])) {
              ASSERT_TRUE(std::isnan(b.rho[g]));
            } else {
              ASSERT_TRUE(same_bits(-a.rho[g], b.rho[g])) << g;
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, Objectives,
                         ::testing::Combine(::testing::Values(PKPO_RHO, PKPO_S, PKPO_SLOO,
                                                              PKPO_SLOO_MINUS_ONE, PKPO_L2O),
                                            ::testing::Values(PKPO_FLOAT64, PKPO_FLOAT32)),
                         param_name);

// docs/math.md §5's worked example: g = (1, 0, 0) and (1, 1, 0), k = 2, min.
TEST(ObjectivesMin, WorkedExample) {
  Handle h;
  Batch b;
  b.est = PKPO_S;
  b.dtype = PKPO_FLOAT64;
  b.rewards = {1, 0, 0, 1, 1, 0};
  b.num_groups = 2;
  b.group_size = 3;
  b.k = 2;
  b.statistic = PKPO_STATISTIC_MIN;
  const pt::LibResult r = pt::run_lib(h, b);
  ASSERT_EQ(r.status, PKPO_SUCCESS);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.out[i], 0.0);
  EXPECT_EQ(r.rho[0], 0.0);
  EXPECT_NEAR(r.rho[1], 1.0 / 3.0, 1e-16);
  EXPECT_NEAR(r.out[3], 1.0 / 3.0, 1e-16);
  EXPECT_NEAR(r.out[4], 1.0 / 3.0, 1e-16);
  EXPECT_EQ(r.out[5], 0.0);
}

// Under min, sloo_minus_one outputs are never positive and l2o outputs still sum to 0.
TEST(ObjectivesMin, SignProperties) {
  Handle h;
  std::mt19937_64 rng(41);
  for (int64_t n : {2, 9, 130, 1000}) {
    for (int64_t k : {int64_t(2), int64_t(4), n - 1}) {
      if (k < 2 || k >= n) continue;
      Batch b = pt::objective_batch(Layout::Uniform, PKPO_SLOO_MINUS_ONE, PKPO_FLOAT64, n, rng);
      b.k = k;
      b.statistic = PKPO_STATISTIC_MIN;
      const pt::LibResult smo = pt::run_lib(h, b);
      ASSERT_EQ(smo.status, PKPO_SUCCESS);
      for (double v : smo.out) ASSERT_LE(v, 0.0);
      b.est = PKPO_L2O;
      const pt::LibResult l2o = pt::run_lib(h, b);
      ASSERT_EQ(l2o.status, PKPO_SUCCESS);
      const pt::Expected e = pt::expected_for(b, oracle::LARGE);
      for (int64_t g = 0; g < b.num_groups; ++g) {
        long double sum = 0, mag = 0;
        for (int64_t i = g * n; i < (g + 1) * n; ++i) {
          sum += l2o.out[i];
          mag += std::fabs(l2o.out[i]);
        }
        EXPECT_LE(std::fabs((double)sum), 4 * 0x1p-52 * (double)mag + 8 * 0x1p-52 * n * e.scale[g]);
      }
    }
  }
}

// A rho curve under min is the pass^k curve: each column equals the min transform's rho at its k.
TEST(ObjectivesMin, RhoCurveIsPassHatK) {
  Handle h;
  std::mt19937_64 rng(43);
  for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
    Batch b = pt::objective_batch(Layout::RaggedIndex, PKPO_RHO, dt, 40, rng);
    b.statistic = PKPO_STATISTIC_MIN;
    const std::vector<int64_t> ks = {1, 2, 5, 40, 60};
    const pkpo_desc d = b.desc();
    std::vector<double> curve64(b.num_groups * ks.size());
    std::vector<float> curve32(curve64.size());
    void* curve = dt == PKPO_FLOAT64 ? (void*)curve64.data() : (void*)curve32.data();
    std::vector<float> in32(b.rewards.begin(), b.rewards.end());
    const void* in = dt == PKPO_FLOAT64 ? (const void*)b.rewards.data() : (const void*)in32.data();
    ASSERT_EQ(pkpo_rho_curve(h, &d, in, ks.data(), (int64_t)ks.size(), curve, nullptr, nullptr),
              PKPO_SUCCESS);
    for (size_t j = 0; j < ks.size(); ++j) {
      Batch one = b;
      one.k = ks[j];
      const pt::LibResult r = pt::run_lib(h, one);
      ASSERT_EQ(r.status, PKPO_SUCCESS);
      for (int64_t g = 0; g < b.num_groups; ++g) {
        const double c = dt == PKPO_FLOAT64 ? curve64[g * ks.size() + j] : curve32[g * ks.size() + j];
        ASSERT_TRUE(same_bits(c, r.rho[g])) << "group " << g << " k " << ks[j];
      }
    }
  }
}

// ---- statuses of the new fields (CPU: found before anything is written) --------------------------

TEST(ObjectivesStatus, InvalidTermsNameTheTerm) {
  Handle h;
  Batch b;
  b.dtype = PKPO_FLOAT64;
  b.rewards = {0.5, 0.25, 1.0, 0.0, 0.75, 0.5};
  b.num_groups = 2;
  b.group_size = 3;
  struct Case {
    const char* what;
    std::vector<int64_t> k;
    std::vector<double> w;
    pkpo_status want;
    const char* says;
  };
  const Case cases[] = {
      {"k < 1", {2, 0, 1}, {1, 1, 1}, PKPO_ERROR_INVALID_K, "k_terms[1]"},
      {"negative k", {-4}, {1}, PKPO_ERROR_INVALID_K, "k_terms[0]"},
      {"NaN weight", {1, 2, 3}, {1, 1, NAN}, PKPO_ERROR_INVALID_ARGUMENT, "k_weights[2]"},
      {"Inf weight", {1, 2}, {-INFINITY, 1}, PKPO_ERROR_INVALID_ARGUMENT, "k_weights[0]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Batch x = b;
    x.k_terms = c.k;
    x.k_weights = c.w;
    const pt::LibResult r = pt::run_lib(h, x);
    EXPECT_EQ(r.status, c.want);
    EXPECT_NE(r.last_error.find(c.says), std::string::npos) << r.last_error;
    EXPECT_TRUE(r.untouched);
    EXPECT_TRUE(r.guards_intact);
  }
}

TEST(ObjectivesStatus, ArgumentErrors) {
  Handle h;
  const double rewards[4] = {1, 0, 0, 1};
  double out[4], rho[2];
  const int64_t ks[2] = {1, 2};
  const double ws[2] = {1, 1};
  const int64_t kpg[2] = {1, 2};
  auto desc = [&]() {
    pkpo_desc d = PKPO_DESC_INIT;
    d.dtype = PKPO_FLOAT64;
    d.num_groups = 2;
    d.group_size = 2;
    d.num_k_terms = 2;
    d.k_terms = ks;
    d.k_weights = ws;
    return d;
  };
  pkpo_desc d = desc();
  ASSERT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_SUCCESS);
  d = desc();
  d.num_k_terms = -1;
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_ERROR_INVALID_ARGUMENT);
  d = desc();
  d.k_terms = nullptr;
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_ERROR_NULL_POINTER);
  d = desc();
  d.k_weights = nullptr;
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_ERROR_NULL_POINTER);
  d = desc();
  d.k_per_group = kpg;
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(pkpo_last_error(h)).find("k_per_group"), std::string::npos);
  d = desc();
  d.statistic = (pkpo_statistic)2;
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_ERROR_INVALID_ARGUMENT);
  d = desc();
  d.num_k_terms = INT64_MAX;
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_ERROR_SIZE_OVERFLOW);
  // the strict k policy counts every term: k = 3 > n = 2
  const int64_t big[2] = {1, 3};
  d = desc();
  d.k_terms = big;
  d.k_policy = PKPO_K_STRICT;
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, nullptr, nullptr), PKPO_ERROR_K_EXCEEDS_N);
  d.k_policy = PKPO_K_CLAMP;
  uint32_t flags[2];
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, rho, flags, nullptr), PKPO_SUCCESS);
  EXPECT_TRUE(flags[0] & PKPO_FLAG_K_CLAMPED);
  // a rho curve ignores the mixture fields, even invalid ones
  d = desc();
  d.num_k_terms = -5;
  d.k_terms = nullptr;
  double curve[4];
  EXPECT_EQ(pkpo_rho_curve(h, &d, rewards, ks, 2, curve, nullptr, nullptr), PKPO_SUCCESS);
}

// ---- struct_size: a desc of version 0.1 still works; larger or unknown sizes are refused ---------

// pkpo_desc as version 0.1 of pkpo.h declared it.
struct DescV1 {
  size_t struct_size;
  pkpo_estimator estimator;
  pkpo_dtype dtype;
  int64_t num_groups;
  int64_t group_size;
  int64_t num_samples;
  const int64_t* offsets;
  const int64_t* index;
  int64_t max_group_size;
  int64_t k;
  const int64_t* k_per_group;
  pkpo_nonfinite_policy nonfinite;
  pkpo_k_policy k_policy;
};

TEST(ObjectivesStatus, DescOfVersion01IsAcceptedWithDefaults) {
  static_assert(sizeof(DescV1) == PKPO_DESC_SIZE_V1, "version 0.1 layout");
  Handle h;
  const double rewards[6] = {0.5, 0.25, 1.0, 0.0, 0.75, 0.5};
  DescV1 old{};
  old.struct_size = sizeof old;
  old.estimator = PKPO_L2O;
  old.dtype = PKPO_FLOAT64;
  old.num_groups = 2;
  old.group_size = 3;
  old.k = 2;
  old.nonfinite = PKPO_NONFINITE_EXCLUDE;
  old.k_policy = PKPO_K_CLAMP;
  // What follows the old struct in memory must not be read: garbage there.
  struct {
    DescV1 d;
    unsigned char garbage[64];
  } mem;
  mem.d = old;
  std::memset(mem.garbage, 0xA5, sizeof mem.garbage);
  double out_old[6], out_new[6], rho_old[2], rho_new[2];
  ASSERT_EQ(pkpo_transform(h, reinterpret_cast<const pkpo_desc*>(&mem.d), rewards, out_old,
                           rho_old, nullptr, nullptr),
            PKPO_SUCCESS)
      << pkpo_last_error(h);
  pkpo_desc now = PKPO_DESC_INIT;
  now.estimator = PKPO_L2O;
  now.dtype = PKPO_FLOAT64;
  now.num_groups = 2;
  now.group_size = 3;
  now.k = 2;
  ASSERT_EQ(pkpo_transform(h, &now, rewards, out_new, rho_new, nullptr, nullptr), PKPO_SUCCESS);
  EXPECT_EQ(std::memcmp(out_old, out_new, sizeof out_old), 0);
  EXPECT_EQ(std::memcmp(rho_old, rho_new, sizeof rho_old), 0);
  size_t bytes = 0;
  EXPECT_EQ(pkpo_workspace_size(h, reinterpret_cast<const pkpo_desc*>(&mem.d), &bytes),
            PKPO_SUCCESS);

  for (size_t size : {sizeof(pkpo_desc) + 8, sizeof(pkpo_desc) - 8, PKPO_DESC_SIZE_V1 + 8,
                      PKPO_DESC_SIZE_V1 - 8, size_t(0)}) {
    pkpo_desc d = now;
    d.struct_size = size;
    EXPECT_EQ(pkpo_transform(h, &d, rewards, out_new, rho_new, nullptr, nullptr),
              PKPO_ERROR_INVALID_ARGUMENT)
        << size;
  }
}

}  // namespace

namespace {

// docs/math.md §5's worked examples on the group of §2: sloo_minus_one with harmonic(2), and k = 2
// under min.
TEST(ObjectivesWorked, MixtureAndMinOnTheGroupOfSection2) {
  pt::Handle h;
  pt::Batch b;
  b.est = PKPO_SLOO_MINUS_ONE;
  b.dtype = PKPO_FLOAT64;
  b.rewards = {0.5, 0.0, 1.0, 0.25, 0.75};
  b.num_groups = 1;
  b.group_size = 5;
  b.k_terms = {1, 2};
  b.k_weights = {1.0, 0.5};
  pt::LibResult r = pt::run_lib(h, b);
  ASSERT_EQ(r.status, PKPO_SUCCESS);
  const double mix[5] = {3.0 / 80, -1.0 / 8, 1.0 / 4, -1.0 / 20, 11.0 / 80};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(r.out[i], mix[i], 1e-16) << i;
  EXPECT_NEAR(r.rho[0], 7.0 / 8, 4e-16);

  b.k_terms.clear();
  b.k_weights.clear();
  b.k = 2;
  b.statistic = PKPO_STATISTIC_MIN;
  r = pt::run_lib(h, b);
  ASSERT_EQ(r.status, PKPO_SUCCESS);
  const double mn[5] = {-3.0 / 40, -1.0 / 4, 0.0, -3.0 / 20, -1.0 / 40};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(r.out[i], mn[i], 1e-16) << i;
  EXPECT_NEAR(r.rho[0], 1.0 / 4, 1e-16);
}

}  // namespace
