// test_oracle.cpp -- the oracle checked against docs/math.md before it is allowed to judge the library:
// the worked examples exactly (rational arithmetic), the binary closed forms, and the two oracle
// routes (brute force from the definitions vs __float128 weighted sums) against each other.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "oracle.hpp"
#include "spec_examples.hpp"

using oracle::Rational;

namespace {

Rational R(const spec::Frac& f) { return Rational(f.num, f.den); }

// docs/math.md §2/3 rules for the worked example, in exact arithmetic.
std::vector<Rational> exact_est(const std::vector<Rational>& g, int k, int est) {
  const int n = (int)g.size();
  Rational rho;
  if (est == oracle::SLOO && k == n) est = oracle::S;
  if (est == oracle::SMO && k == 1) est = oracle::L2O;
  if (est == oracle::L2O && k == n) est = oracle::SMO;
  return oracle::brute_regular<Rational>(g, k, est, &rho);
}

TEST(Oracle, WorkedExampleExact) {
  std::vector<Rational> g;
  for (const auto& f : spec::kG) g.push_back(R(f));
  for (const spec::Row& row : spec::kTable) {
    SCOPED_TRACE("k = " + std::to_string(row.k));
    EXPECT_EQ(oracle::brute_rho<Rational>(g, row.k), R(row.rho))
        << oracle::brute_rho<Rational>(g, row.k).str();
    const std::array<spec::Frac, spec::kN>* want[] = {nullptr, &row.s, &row.sloo, &row.smo,
                                                      &row.l2o};
    for (int est = oracle::S; est <= oracle::L2O; ++est) {
      std::vector<Rational> got = exact_est(g, row.k, est);
      ASSERT_EQ(got.size(), (size_t)spec::kN);
      for (int i = 0; i < spec::kN; ++i) {
        EXPECT_EQ(got[i], R((*want[est])[i]))
            << oracle::est_name(est) << " sample " << i << ": got " << got[i].str();
      }
    }
  }
}

TEST(Oracle, BinaryExampleExact) {
  std::vector<Rational> g;
  for (int v : spec::kBinG) g.push_back(Rational(v));
  const int k = spec::kBinK;
  EXPECT_EQ(oracle::brute_rho<Rational>(g, k), R(spec::kBinRho));
  const spec::BinPair* want[] = {nullptr, &spec::kBinS, &spec::kBinSloo, &spec::kBinSmo,
                                 &spec::kBinL2o};
  for (int est = oracle::S; est <= oracle::L2O; ++est) {
    std::vector<Rational> got = exact_est(g, k, est);
    for (int i = 0; i < spec::kBinN; ++i) {
      const Rational w = spec::kBinG[i] ? R(want[est]->correct) : R(want[est]->wrong);
      EXPECT_EQ(got[i], w) << oracle::est_name(est) << " sample " << i << ": " << got[i].str();
    }
  }
}

// The large-n route reproduces the worked example to long double precision.
TEST(Oracle, LargeRouteWorkedExample) {
  std::vector<long double> g;
  for (const auto& f : spec::kG) g.push_back((long double)f.num / f.den);
  for (const spec::Row& row : spec::kTable) {
    SCOPED_TRACE("k = " + std::to_string(row.k));
    const std::array<spec::Frac, spec::kN>* want[] = {nullptr, &row.s, &row.sloo, &row.smo,
                                                      &row.l2o};
    for (int est = oracle::RHO; est <= oracle::L2O; ++est) {
      oracle::GroupResult r = oracle::spec_group(g, row.k, est, oracle::LARGE);
      EXPECT_NEAR((double)r.rho, row.rho.value(), 1e-18);
      EXPECT_EQ((r.flags & oracle::F_FALLBACK) != 0, est == oracle::L2O && row.l2o_fallback);
      if (est == oracle::RHO) continue;
      for (int i = 0; i < spec::kN; ++i)
        EXPECT_NEAR((double)r.out[i], (*want[est])[i].value(), 1e-18)
            << oracle::est_name(est) << " sample " << i;
    }
  }
}

// Brute force (long double, definitions) vs __float128 weighted sums: every n <= 12, every k,
// every estimator, groups with ties, negatives, constants.
TEST(Oracle, BruteVsLargeAgree) {
  for (uint64_t seed : {1ull, 2ull, 3ull}) {
    std::mt19937_64 rng(seed);
    for (int n = 1; n <= 12; ++n) {
      for (int rep = 0; rep < 3; ++rep) {
        std::vector<long double> g(n);
        std::uniform_int_distribution<int> d(-4, 4);
        std::uniform_real_distribution<double> u(-2, 2);
        for (auto& v : g) v = rep == 0 ? 0.25L * d(rng) : rep == 1 ? (long double)u(rng) : 1.5L;
        for (int k = 1; k <= n; ++k) {
          for (int est = oracle::RHO; est <= oracle::L2O; ++est) {
            SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(n) + " k " +
                         std::to_string(k) + " " + oracle::est_name(est));
            auto a = oracle::spec_group(g, k, est, oracle::BRUTE);
            auto b = oracle::spec_group(g, k, est, oracle::LARGE);
            EXPECT_EQ(a.flags, b.flags);
            EXPECT_NEAR((double)a.rho, (double)b.rho, 1e-15);
            for (int i = 0; i < (int)a.out.size(); ++i)
              EXPECT_NEAR((double)a.out[i], (double)b.out[i], 1e-15) << "sample " << i;
          }
        }
      }
    }
  }
}

// Binary closed forms of docs/math.md §2 vs both oracle routes.
TEST(Oracle, BinaryClosedForms) {
  for (int n = 2; n <= 12; ++n) {
    for (int c = 0; c <= n; ++c) {
      std::vector<long double> g(n, 0.0L);
      for (int i = 0; i < c; ++i) g[i] = 1.0L;  // first c correct
      for (int k = 1; k <= n; ++k) {
        for (int est = oracle::RHO; est <= oracle::L2O; ++est) {
          if (est == oracle::SLOO && k == n) continue;
          if (est == oracle::SMO && k == 1) continue;
          if (est == oracle::L2O && k == n) continue;
          SCOPED_TRACE("n " + std::to_string(n) + " c " + std::to_string(c) + " k " +
                       std::to_string(k) + " " + oracle::est_name(est));
          long double rho_b = 0;
          auto brute = oracle::brute_regular<long double>(g, k, est, &rho_b);
          EXPECT_NEAR((double)rho_b, (double)oracle::binary_rho(n, c, k), 1e-15);
          for (int i = 0; i < (int)brute.size(); ++i)
            EXPECT_NEAR((double)brute[i],
                        (double)oracle::binary_value(est, n, c, k, g[i] == 1.0L), 1e-15);
        }
      }
    }
  }
  // Large route, large n.
  for (int64_t n : {1024, 4097}) {
    for (int64_t c : {(int64_t)1, n / 3, n - 1}) {
      std::vector<long double> g(n, 0.0L);
      for (int64_t i = 0; i < c; ++i) g[(i * 7919) % n] = 1.0L;
      int64_t cnt = 0;
      for (auto v : g) cnt += v == 1.0L;
      ASSERT_EQ(cnt, c);  // 7919 is prime, coprime with n: a permutation
      for (int64_t k : {(int64_t)2, (int64_t)17, n / 2, n - 1}) {
        for (int est = oracle::RHO; est <= oracle::L2O; ++est) {
          SCOPED_TRACE("n " + std::to_string(n) + " c " + std::to_string(c) + " k " +
                       std::to_string(k) + " " + oracle::est_name(est));
          long double rho = 0;
          auto out = oracle::large_regular(g, (int)k, est, &rho);
          EXPECT_NEAR((double)rho, (double)oracle::binary_rho(n, c, k), 1e-15);
          const long double kn = (long double)k / n;
          for (int64_t i = 0; i < (int64_t)out.size(); i += 37)
            EXPECT_NEAR((double)(out[i] / kn),
                        (double)(oracle::binary_value(est, n, c, k, g[i] == 1.0L) / kn), 1e-14)
                << "sample " << i;
        }
      }
    }
  }
}

// The __float128 top-down weights against an independent route (lgammal, 64-bit significand).
TEST(Oracle, WeightsMatchLgamma) {
  for (int64_t n : {12, 1024, 65536}) {
    for (int64_t k : {(int64_t)1, (int64_t)2, n / 2, n - 1, n}) {
      std::vector<long double> mu = oracle::weights_ld(n, k);
      long double sum = 0;
      for (int64_t i = 1; i <= n; ++i) sum += mu[i];
      EXPECT_NEAR((double)sum, 1.0, 1e-15) << "n " << n << " k " << k;
      EXPECT_EQ(mu[n], (long double)k / n);
      const long double lc = lgammal(n + 1.0L) - lgammal(k + 1.0L) - lgammal(n - k + 1.0L);
      for (int64_t i = std::max<int64_t>(k, 1); i <= n; i += std::max<int64_t>(1, n / 97)) {
        const long double lw =
            lgammal((long double)i) - lgammal((long double)k) - lgammal((long double)(i - k + 1)) -
            lc;
        if (lw < -600) continue;  // far below anything that matters
        EXPECT_NEAR((double)(mu[i] / expl(lw)), 1.0, 1e-12) << "n " << n << " k " << k << " i " << i;
      }
    }
  }
}

// Properties the definitions imply, on the oracle itself: sum s = k rho, l2o sums to 0,
// sloo_minus_one >= 0, tie invariance.
TEST(Oracle, DefinitionProperties) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> d(0, 5);
  for (int n = 2; n <= 11; ++n) {
    std::vector<long double> g(n);
    for (auto& v : g) v = d(rng) * 0.5L - 1.0L;
    for (int k = 1; k <= n; ++k) {
      long double rho = 0;
      auto s = oracle::brute_regular<long double>(g, k, oracle::S, &rho);
      long double sum = 0;
      for (auto v : s) sum += v;
      EXPECT_NEAR((double)sum, (double)(k * rho), 1e-15);
      if (k <= n - 1) {
        auto l = oracle::brute_l2o<long double>(g, k);
        long double t = 0;
        for (auto v : l) t += v;
        EXPECT_NEAR((double)t, 0.0, 1e-15);
      }
      if (k >= 2) {
        auto a = oracle::brute_smo<long double>(g, k);
        for (int i = 0; i < n; ++i) {
          EXPECT_GE((double)a[i], 0.0);
          for (int j = 0; j < n; ++j)
            if (g[i] == g[j]) {
              EXPECT_EQ(a[i], a[j]);
            }
        }
      }
    }
  }
}

}  // namespace
