// test_exact_rho.cpp -- rho exact where the exact value is representable (README "Accuracy"):
// within [min g, max g]; max g bit for bit at k = n (min g under the min statistic); a constant
// group's constant; binary groups with no success 0 and with more than n - k successes 1; binary
// pass@k at least as accurate as the closed form evaluation harnesses use (HumanEval's
// 1 - prod(1 - k / arange(n - c + 1, n + 1))), ulp for ulp, or within 2 ulps. Every check runs on
// rho from pkpo_transform and on the pass@k curve of pkpo_rho_curve, in float32 and float64. The
// device suites (tests/cuda) run the same checks through rho_checks().
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "rho_checks.hpp"
#include "test_util.hpp"

namespace {

TEST(ExactRho, RangeKEqualsNConstantAndBinaryEnds) {
  pt::Handle h;
  ASSERT_EQ(h.status(), PKPO_SUCCESS);
  pt::check_rho_exact_cases(h, /*max_n=*/300, /*seed=*/1);
}

TEST(ExactRho, BinaryPassAtKAtLeastAsAccurateAsHumanEval) {
  pt::Handle h;
  const pt::BinaryAccuracy acc = pt::check_binary_accuracy(h, /*max_n=*/256, /*step=*/1);
  // The counts for the README (ctest prints them with --output-on-failure or -V).
  std::printf("binary pass@k, %lld cases (float64): correctly rounded pkpo %lld, HumanEval form "
              "%lld; max ulps pkpo %.3f, HumanEval form %.3f\n",
              (long long)acc.cases, (long long)acc.pkpo_exact, (long long)acc.he_exact,
              acc.pkpo_max_ulps, acc.he_max_ulps);
  EXPECT_EQ(acc.violations, 0);
  // What the double-double weights give beyond the bound above: every case within one ulp.
  EXPECT_LE(acc.pkpo_max_ulps, 1.0);
}

}  // namespace
