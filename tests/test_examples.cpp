// test_examples.cpp -- the worked examples of docs/math.md §2 through the public API, for every
// estimator and k: float64 to 1e-15 absolute, float32 to its rounding of the exact value.
#include <gtest/gtest.h>

#include <cmath>

#include "spec_examples.hpp"
#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;

const std::array<spec::Frac, spec::kN>& column(const spec::Row& row, pkpo_estimator est) {
  switch (est) {
    case PKPO_S: return row.s;
    case PKPO_SLOO: return row.sloo;
    case PKPO_SLOO_MINUS_ONE: return row.smo;
    default: return row.l2o;
  }
}

class WorkedExample : public ::testing::TestWithParam<pkpo_dtype> {};

TEST_P(WorkedExample, EveryEstimatorEveryK) {
  const pkpo_dtype dt = GetParam();
  Handle h;
  ASSERT_EQ(h.status(), PKPO_SUCCESS);
  for (const spec::Row& row : spec::kTable) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      const auto est = (pkpo_estimator)e;
      SCOPED_TRACE(std::string(oracle::est_name(e)) + " k=" + std::to_string(row.k) + " " +
                   pt::dtype_name(dt));
      Batch b;
      b.est = est;
      b.dtype = dt;
      for (const auto& f : spec::kG) b.rewards.push_back(f.value());
      b.num_groups = 1;
      b.group_size = spec::kN;
      b.k = row.k;
      pt::LibResult r = pt::run_lib(h, b);
      ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
      ASSERT_TRUE(r.guards_intact);
      // float32: the exact value rounded once to float (the library computes in float64).
      const double tol = dt == PKPO_FLOAT64 ? 1e-15 : 0.0;
      const auto expect_value = [&](double got, double exact) {
        if (dt == PKPO_FLOAT64) {
          EXPECT_NEAR(got, exact, tol);
        } else {
          EXPECT_NEAR(got, (double)(float)exact, 1.5 * std::fabs((double)(float)exact) * 6e-8);
        }
      };
      expect_value(r.rho[0], row.rho.value());
      const uint32_t want_flags =
          (est == PKPO_L2O && row.l2o_fallback) ? (uint32_t)PKPO_FLAG_FALLBACK : 0u;
      EXPECT_EQ(r.flags[0], want_flags);
      if (est == PKPO_RHO) continue;
      const auto& col = column(row, est);
      for (int i = 0; i < spec::kN; ++i) {
        SCOPED_TRACE("sample " + std::to_string(i));
        expect_value(r.out[i], col[i].value());
        if (col[i].num == 0) {
          EXPECT_EQ(r.out[i], 0.0) << "exact zero expected";
        }
      }
    }
  }
}

TEST_P(WorkedExample, Binary) {
  const pkpo_dtype dt = GetParam();
  Handle h;
  for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
    SCOPED_TRACE(oracle::est_name(e));
    Batch b;
    b.est = (pkpo_estimator)e;
    b.dtype = dt;
    for (int v : spec::kBinG) b.rewards.push_back(v);
    b.num_groups = 1;
    b.group_size = spec::kBinN;
    b.k = spec::kBinK;
    pt::LibResult r = pt::run_lib(h, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    const double tol = dt == PKPO_FLOAT64 ? 1e-15 : 1e-7;
    EXPECT_NEAR(r.rho[0], spec::kBinRho.value(), tol);
    EXPECT_EQ(r.flags[0], 0u);
    if (e == PKPO_RHO) continue;
    const spec::BinPair* want[] = {nullptr, &spec::kBinS, &spec::kBinSloo, &spec::kBinSmo,
                                   &spec::kBinL2o};
    for (int i = 0; i < spec::kBinN; ++i) {
      const spec::Frac f = spec::kBinG[i] ? want[e]->correct : want[e]->wrong;
      EXPECT_NEAR(r.out[i], f.value(), tol) << "sample " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, WorkedExample, ::testing::Values(PKPO_FLOAT64, PKPO_FLOAT32),
                         [](const auto& info) { return std::string(pt::dtype_name(info.param)); });

}  // namespace
