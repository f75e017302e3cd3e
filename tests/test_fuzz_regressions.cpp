// test_fuzz_regressions.cpp -- one test per bug that fuzz/fuzz_api.c found in the library (see
// fuzz/README.md). Each reproduces the fuzzer's finding in its smallest form; the undefined-behaviour
// ones fail only in the sanitizer build (scripts/test.sh --sanitize) or crash outright.
#include <gtest/gtest.h>

#include <cfloat>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using pt::Handle;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Bug 1: a batch whose groups are all empty needs no scratch, and the CPU backend carved its
// per-thread scratch out of a NULL workspace (NULL + 0: undefined behaviour under clang's UBSan).
TEST(FuzzRegression, AllGroupsEmpty) {
  Handle h(1);
  const int64_t offsets[] = {0, 0, 0};
  pkpo_desc d = PKPO_DESC_INIT;
  d.dtype = PKPO_FLOAT64;
  d.num_groups = 2;
  d.offsets = offsets;
  d.num_samples = 0;
  double rewards[1] = {0}, out[1] = {-42}, rho[2] = {-42, -42};
  uint32_t flags[2] = {0, 0};
  ASSERT_EQ(pkpo_transform(h, &d, rewards, out, rho, flags, nullptr), PKPO_SUCCESS)
      << pkpo_last_error(h);
  EXPECT_EQ(rho[0], 0.0);
  EXPECT_EQ(rho[1], 0.0);
  EXPECT_EQ(flags[0], (uint32_t)PKPO_FLAG_EMPTY);
  EXPECT_EQ(flags[1], (uint32_t)PKPO_FLAG_EMPTY);
  EXPECT_EQ(out[0], -42.0);
  const int64_t ks[] = {1, 3};
  double curve[4] = {-42, -42, -42, -42};
  ASSERT_EQ(pkpo_rho_curve(h, &d, rewards, ks, 2, curve, flags, nullptr), PKPO_SUCCESS);
  for (double v : curve) EXPECT_EQ(v, 0.0);
}

// Bug 2: pkpo_rho_curve documents desc->k, k_per_group and estimator as ignored, but rejected a
// desc->k < 1 (INVALID_K), an unknown estimator, and a strict desc->k above the group size.
TEST(FuzzRegression, RhoCurveIgnoresKAndEstimator) {
  Handle h(1);
  const std::vector<double> rewards = {0.5, 0.0, 1.0, 0.25, 0.75, 0.1};
  const int64_t ks[] = {1, 2, 3};
  pkpo_desc ref = PKPO_DESC_INIT;
  ref.dtype = PKPO_FLOAT64;
  ref.num_groups = 2;
  ref.group_size = 3;
  std::vector<double> want(6, -42.0);
  ASSERT_EQ(pkpo_rho_curve(h, &ref, rewards.data(), ks, 3, want.data(), nullptr, nullptr),
            PKPO_SUCCESS);
  const int64_t bad_k_per_group[] = {0, -5};
  for (int variant = 0; variant < 4; ++variant) {
    SCOPED_TRACE(variant);
    pkpo_desc d = ref;
    if (variant == 0) d.k = 0;
    if (variant == 1) d.k = kMin;
    if (variant == 2) d.estimator = static_cast<pkpo_estimator>(99);
    if (variant == 3) {
      d.k_per_group = bad_k_per_group;
      d.k_policy = PKPO_K_STRICT;
      d.k = 100;
    }
    std::vector<double> got(6, -42.0);
    ASSERT_EQ(pkpo_rho_curve(h, &d, rewards.data(), ks, 3, got.data(), nullptr, nullptr),
              PKPO_SUCCESS)
        << pkpo_last_error(h);
    for (int i = 0; i < 6; ++i) EXPECT_TRUE(same_bits(got[i], want[i])) << i;
  }
  // pkpo_transform still checks them.
  pkpo_desc d = ref;
  d.k = 0;
  std::vector<double> out(6);
  EXPECT_EQ(pkpo_transform(h, &d, rewards.data(), out.data(), nullptr, nullptr, nullptr),
            PKPO_ERROR_INVALID_K);
}

// Bug 3: with num_groups = 0 the CPU backend returned SUCCESS before looking at the offsets, so a
// layout with offsets[0] != 0, or offsets[0] != num_samples, passed as valid.
TEST(FuzzRegression, NoGroupsStillChecksOffsets) {
  Handle h(1);
  double rewards[4] = {1, 2, 3, 4}, out[4] = {-42, -42, -42, -42}, rho[1] = {-42};
  const int64_t ks[] = {1};
  struct Case {
    int64_t offset0, num_samples;
    pkpo_status want;
  } cases[] = {{0, 0, PKPO_SUCCESS}, {0, 4, PKPO_ERROR_INVALID_LAYOUT},
               {3, 3, PKPO_ERROR_INVALID_LAYOUT}, {-1, 0, PKPO_ERROR_INVALID_LAYOUT}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.offset0);
    SCOPED_TRACE(c.num_samples);
    const int64_t offsets[] = {c.offset0};
    pkpo_desc d = PKPO_DESC_INIT;
    d.dtype = PKPO_FLOAT64;
    d.num_groups = 0;
    d.offsets = offsets;
    d.num_samples = c.num_samples;
    EXPECT_EQ(pkpo_transform(h, &d, rewards, out, nullptr, nullptr, nullptr), c.want);
    EXPECT_EQ(pkpo_rho_curve(h, &d, rewards, ks, 1, rho, nullptr, nullptr), c.want);
  }
  for (double v : out) EXPECT_EQ(v, -42.0);
  EXPECT_EQ(rho[0], -42.0);
}

// Bug 4: tied rewards +0.0 and -0.0 (and tied tiny negatives whose scaled value rounds to -0.0) got
// outputs +0.0 and -0.0: equal, but not the bitwise-identical outputs that ties are promised.
TEST(FuzzRegression, SignedZeroTiesBitwiseEqual) {
  Handle h(1);
  const double tiny = -DBL_TRUE_MIN;
  const std::vector<std::vector<double>> groups = {
      {0.0, -0.0}, {-0.0, 0.0}, {-0.0, -0.0}, {0.0, -0.0, 1.0}, {tiny, tiny}, {-0.0, 0.0, -0.0, 0.0}};
  for (const auto& g : groups) {
    for (int est = PKPO_S; est <= PKPO_L2O; ++est) {
      for (int64_t k = 1; k <= (int64_t)g.size(); ++k) {
        for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
          const std::string what = testing::PrintToString(g.size()) + " samples, est " +
                                   std::to_string(est) + ", k " + std::to_string(k) + ", " +
                                   pt::dtype_name(dt);
          SCOPED_TRACE(what);
          pkpo_desc d = PKPO_DESC_INIT;
          d.dtype = dt;
          d.estimator = static_cast<pkpo_estimator>(est);
          d.num_groups = 1;
          d.group_size = (int64_t)g.size();
          d.k = k;
          std::vector<double> outs(g.size());
          if (dt == PKPO_FLOAT64) {
            ASSERT_EQ(pkpo_transform(h, &d, g.data(), outs.data(), nullptr, nullptr, nullptr),
                      PKPO_SUCCESS);
          } else {
            std::vector<float> gf(g.begin(), g.end()), of(g.size());
            ASSERT_EQ(pkpo_transform(h, &d, gf.data(), of.data(), nullptr, nullptr, nullptr),
                      PKPO_SUCCESS);
            for (size_t i = 0; i < g.size(); ++i) outs[i] = of[i];
          }
          for (size_t i = 0; i < g.size(); ++i) {
            for (size_t j = i + 1; j < g.size(); ++j) {
              const bool tied = dt == PKPO_FLOAT64 ? g[i] == g[j] : (float)g[i] == (float)g[j];
              if (tied) {
                EXPECT_TRUE(same_bits(outs[i], outs[j])) << outs[i] << " vs " << outs[j];
              }
            }
          }
        }
      }
    }
  }
}

// Bug 5: offsets[g+1] - offsets[g] was computed before checking that the offsets do not decrease,
// a signed overflow (undefined behaviour) for offsets like {0, 2, INT64_MIN}.
TEST(FuzzRegression, DecreasingOffsetsNoOverflow) {
  Handle h(1);
  const int64_t offsets[] = {0, 2, kMin};
  pkpo_desc d = PKPO_DESC_INIT;
  d.dtype = PKPO_FLOAT64;
  d.num_groups = 2;
  d.offsets = offsets;
  d.num_samples = 2;
  double rewards[2] = {1, 2}, out[2] = {-42, -42};
  EXPECT_EQ(pkpo_transform(h, &d, rewards, out, nullptr, nullptr, nullptr),
            PKPO_ERROR_INVALID_LAYOUT);
  size_t bytes = 0;
  EXPECT_EQ(pkpo_workspace_size(h, &d, &bytes), PKPO_ERROR_INVALID_LAYOUT);
  EXPECT_EQ(out[0], -42.0);
}

// Bug 6: the CPU scratch of a group of 2^58 samples is 2^64 bytes; the size wrapped around to a few
// bytes, so pkpo_workspace_size answered a tiny number and pkpo_transform went on to read 2^58
// rewards. num_samples * 16 fits in int64 there, so only the scratch size can catch it.
TEST(FuzzRegression, ScratchSizeOverflow) {
  Handle h(1);
  double rewards[4] = {1, 2, 3, 4}, out[4] = {-42, -42, -42, -42};
  const int64_t ks[] = {1};
  const int64_t huge = ((int64_t)1 << 58) + 1;
  const int64_t offsets[] = {0, huge};
  for (int ragged = 0; ragged < 2; ++ragged) {
    SCOPED_TRACE(ragged);
    pkpo_desc d = PKPO_DESC_INIT;
    d.dtype = PKPO_FLOAT64;
    d.num_groups = 1;
    if (ragged) {
      d.offsets = offsets;
      d.num_samples = huge;
    } else {
      d.group_size = huge;
    }
    size_t bytes = 0;
    EXPECT_EQ(pkpo_workspace_size(h, &d, &bytes), PKPO_ERROR_SIZE_OVERFLOW) << bytes;
    EXPECT_EQ(pkpo_transform(h, &d, rewards, out, nullptr, nullptr, nullptr),
              PKPO_ERROR_SIZE_OVERFLOW);
    EXPECT_EQ(pkpo_rho_curve(h, &d, rewards, ks, 1, out, nullptr, nullptr),
              PKPO_ERROR_SIZE_OVERFLOW);
    // The same with a caller-owned workspace (no allocation is even attempted).
    void* ws = std::aligned_alloc(256, 4096);
    ASSERT_NE(ws, nullptr);
    ASSERT_EQ(pkpo_set_workspace(h, ws, 4096), PKPO_SUCCESS);
    EXPECT_EQ(pkpo_transform(h, &d, rewards, out, nullptr, nullptr, nullptr),
              PKPO_ERROR_SIZE_OVERFLOW);
    ASSERT_EQ(pkpo_set_workspace(h, nullptr, 0), PKPO_SUCCESS);
    std::free(ws);
  }
  for (double v : out) EXPECT_EQ(v, -42.0);
}

// Bug 7: a mixture whose weights are each finite but whose absolute sum overflows (here
// 1e308 + DBL_MAX). The terms' rows are combined before they meet the gaps, so a row holds +-Inf,
// and Inf times a tie's gap of 0 is NaN: the tied rewards 2, 2 get NaN and +Inf instead of
// bitwise-equal outputs (the exact outputs overflow too, but ties must stay equal, and one term
// of any finite weight keeps them equal). Either such weights are refused (e.g. INVALID_ARGUMENT
// when sum |w_j| is not finite) or the outputs of a tie are made equal; this test asks for one of
// the two.
TEST(FuzzRegression, MixtureWeightsWhoseSumOverflows) {
  Handle h(1);
  const double rewards[3] = {2, 2, 1};
  const int64_t ks[2] = {3, 3};
  const double weights[2] = {1e308, DBL_MAX};
  for (int est = PKPO_S; est <= PKPO_L2O; ++est) {
    SCOPED_TRACE(est);
    pkpo_desc d = PKPO_DESC_INIT;
    d.estimator = (pkpo_estimator)est;
    d.dtype = PKPO_FLOAT64;
    d.num_groups = 1;
    d.group_size = 3;
    d.num_k_terms = 2;
    d.k_terms = ks;
    d.k_weights = weights;
    double out[3] = {-42, -42, -42};
    const pkpo_status st = pkpo_transform(h, &d, rewards, out, nullptr, nullptr, nullptr);
    if (st == PKPO_SUCCESS) {
      EXPECT_TRUE(same_bits(out[0], out[1])) << out[0] << " vs " << out[1];
    } else {
      EXPECT_EQ(st, PKPO_ERROR_INVALID_ARGUMENT) << pkpo_last_error(h);
      EXPECT_EQ(out[0], -42.0);
    }
  }
}

}  // namespace
