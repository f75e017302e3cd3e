// test_statistical.cpp -- unbiasedness (docs/math.md §4, last bullet), tested statistically with
// fixed seeds. Every tolerance is 5 standard errors of the mean, the standard error computed from
// the sample variance of the per-group statistic; nothing is tuned to the library's output.
//
// (a) Bernoulli(p) rewards: mean of rho over many groups -> pass@k = 1 - (1-p)^k.
// (b) Policy x ~ N(theta, 1), reward g(x): the score-function estimate sum_i a_i (x_i - theta)
//     averages to d/dtheta E[max of k rewards], for s, sloo, sloo_minus_one (k >= 2) and l2o.
//     The truth comes from closed forms (monotone g) or quadrature (g = exp(-x^2)), independent of
//     pkpo and of the oracle.
// (c) Objectives beyond one k (docs/math.md §5): a mixture's rho and gradient average to the
//     weighted sums of pass@k / d/dtheta E[max of k]; under the min statistic rho averages to
//     pass^k = p^k and the gradient to d/dtheta E[min of k rewards].
// A deliberately biased variant (a self-inclusive mean baseline) must be rejected by the same
// criterion, so the test has the power to see a bias of that size.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;

constexpr double kZ = 5.0;  // standard errors

struct Mean {
  double mean, se;
};
Mean mean_se(const std::vector<double>& z) {
  const double m = (double)z.size();
  long double s = 0, s2 = 0;
  for (double v : z) s += v;
  const long double mu = s / m;
  for (double v : z) s2 += (v - mu) * (v - mu);
  return {(double)mu, (double)std::sqrt(s2 / (m - 1) / m)};
}

TEST(Unbiased, BernoulliRhoIsPassAtK) {
  Handle h;
  struct C {
    int64_t n, k;
    double p;
  };
  const int64_t M = 40000;
  uint64_t seed = 71;
  for (C c : {C{8, 1, 0.3}, C{8, 4, 0.1}, C{16, 16, 0.05}, C{5, 3, 0.5}, C{33, 7, 0.02},
              C{64, 20, 0.01}}) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " n " + std::to_string(c.n) + " k " +
                 std::to_string(c.k) + " p " + std::to_string(c.p));
    std::mt19937_64 rng(seed++);
    std::bernoulli_distribution bern(c.p);
    Batch b;
    b.est = PKPO_RHO;
    b.dtype = PKPO_FLOAT64;
    b.group_size = c.n;
    b.num_groups = M;
    b.k = c.k;
    b.rewards.resize((size_t)(c.n * M));
    for (double& v : b.rewards) v = bern(rng) ? 1.0 : 0.0;
    const pt::LibResult r = pt::run_lib(h, b, true, false);
    ASSERT_EQ(r.status, PKPO_SUCCESS);
    const Mean m = mean_se(r.rho);
    const double truth = 1.0 - std::pow(1.0 - c.p, (double)c.k);
    EXPECT_LE(std::fabs(m.mean - truth), kZ * m.se)
        << "mean " << m.mean << " truth " << truth << " se " << m.se;
    // Sanity of the criterion: the plug-in estimate 1-(1-phat)^k is biased for k >= 2.
    if (c.k >= 2 && c.k < c.n) {
      std::vector<double> plug;
      for (int64_t g = 0; g < M; ++g) {
        double hits = 0;
        for (int64_t i = 0; i < c.n; ++i) hits += b.rewards[g * c.n + i];
        plug.push_back(1.0 - std::pow(1.0 - hits / (double)c.n, (double)c.k));
      }
      const Mean mp = mean_se(plug);
      EXPECT_GT(std::fabs(mp.mean - truth), kZ * mp.se) << "the test cannot see the plug-in bias";
    }
  }
}

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }

// Composite Simpson on [a, b] with n (even) intervals.
double simpson(const std::function<double(double)>& f, double a, double b, int n) {
  const double hh = (b - a) / n;
  double s = f(a) + f(b);
  for (int i = 1; i < n; ++i) s += f(a + i * hh) * (i % 2 ? 4 : 2);
  return s * hh / 3;
}

// d/dtheta E[max of k g(X)], X ~ N(theta, 1).
struct Reward {
  const char* name;
  double (*g)(double);
  double (*dmax)(double theta, int k);
};

double g_identity(double x) { return x; }
double d_identity(double, int) { return 1.0; }  // E[max] = theta + const(k)

double g_clip(double x) { return std::min(std::max(x, -0.5), 1.0); }
// max of k clipped = clip(max of k x): d/dtheta = Phi(1-theta)^k - Phi(-0.5-theta)^k.
double d_clip(double theta, int k) { return std::pow(Phi(1 - theta), k) - std::pow(Phi(-0.5 - theta), k); }

double g_bump(double x) { return std::exp(-x * x); }
// Not monotone. With r = sqrt(-ln t): P(g(X) <= t) = F(r) = 1 - Phi(r-theta) + Phi(-r-theta),
// E[max] = int_0^1 (1 - F^k) dt = int_0^inf (1 - F(r)^k) 2 r e^{-r^2} dr; differentiate under the
// integral: dF/dtheta = phi(r-theta) - phi(r+theta).
double e_bump(double theta, int k) {
  return simpson([&](double r) {
    const double F = 1 - Phi(r - theta) + Phi(-r - theta);
    return (1 - std::pow(F, k)) * 2 * r * std::exp(-r * r);
  }, 0.0, 12.0, 24000);
}
double d_bump(double theta, int k) {
  return simpson([&](double r) {
    const double F = 1 - Phi(r - theta) + Phi(-r - theta);
    return -k * std::pow(F, k - 1) * (phi(r - theta) - phi(r + theta)) * 2 * r * std::exp(-r * r);
  }, 0.0, 12.0, 24000);
}

TEST(Unbiased, QuadratureSelfCheck) {
  // The analytic derivative under the integral agrees with a central difference of E[max].
  for (int k : {1, 2, 4, 8}) {
    for (double theta : {0.0, 0.3, 1.2}) {
      const double hh = 1e-4;
      const double fd = (e_bump(theta + hh, k) - e_bump(theta - hh, k)) / (2 * hh);
      EXPECT_NEAR(d_bump(theta, k), fd, 1e-7) << "k " << k << " theta " << theta;
    }
    // k = 1: E[exp(-X^2)] = exp(-theta^2/3)/sqrt(3).
    EXPECT_NEAR(e_bump(0.3, 1), std::exp(-0.09 / 3) / std::sqrt(3.0), 1e-10);
  }
  // Clip: E[clip(max)] derivative vs central difference of a quadrature of E[clip(max of k)].
  for (int k : {1, 3}) {
    const auto e = [&](double th) {
      return simpson([&](double y) { return g_clip(y + th) * k * std::pow(Phi(y), k - 1) * phi(y); },
                     -12, 12, 48000);
    };
    EXPECT_NEAR(d_clip(0.3, k), (e(0.3 + 1e-4) - e(0.3 - 1e-4)) / 2e-4, 1e-6);
  }
}

TEST(Unbiased, ScoreFunctionGradient) {
  Handle h;
  const double theta = 0.3;
  const int64_t M = 40000;
  const Reward rewards[] = {{"identity", g_identity, d_identity},
                            {"clip", g_clip, d_clip},
                            {"bump", g_bump, d_bump}};
  uint64_t seed = 81;
  for (const Reward& rw : rewards) {
    for (int64_t n : {5, 8}) {
      std::mt19937_64 rng(seed++);
      std::normal_distribution<double> N01(0.0, 1.0);
      std::vector<double> x((size_t)(n * M));
      for (double& v : x) v = theta + N01(rng);
      Batch b;
      b.dtype = PKPO_FLOAT64;
      b.group_size = n;
      b.num_groups = M;
      b.rewards.resize(x.size());
      for (size_t i = 0; i < x.size(); ++i) b.rewards[i] = rw.g(x[i]);
      for (int64_t k : {(int64_t)1, (int64_t)2, (int64_t)3, n}) {
        const double truth = rw.dmax(theta, (int)k);
        for (int e = PKPO_S; e <= PKPO_L2O; ++e) {
          if (e == PKPO_SLOO_MINUS_ONE && k == 1) continue;  // k = 1 is the l2o convention
          SCOPED_TRACE("seed " + std::to_string(seed - 1) + " " + rw.name + " n " +
                       std::to_string(n) + " k " + std::to_string(k) + " " + oracle::est_name(e));
          b.est = (pkpo_estimator)e;
          b.k = k;
          const pt::LibResult r = pt::run_lib(h, b, false, false);
          ASSERT_EQ(r.status, PKPO_SUCCESS);
          std::vector<double> z((size_t)M), zb((size_t)M);
          for (int64_t g = 0; g < M; ++g) {
            double acc = 0, mean_a = 0;
            for (int64_t i = 0; i < n; ++i) mean_a += r.out[g * n + i] / (double)n;
            double biased = 0;
            for (int64_t i = 0; i < n; ++i) {
              const double score = x[g * n + i] - theta;
              acc += r.out[g * n + i] * score;
              biased += (r.out[g * n + i] - mean_a) * score;
            }
            z[g] = acc;
            zb[g] = biased;
          }
          const Mean m = mean_se(z);
          EXPECT_LE(std::fabs(m.mean - truth), kZ * m.se)
              << "mean " << m.mean << " truth " << truth << " se " << m.se;
          // Power: subtracting the group mean of the outputs (a baseline that depends on x_i)
          // shrinks the gradient by (1 - 1/n) on average; for the identity reward the test must
          // see that.
          if (rw.g == g_identity && e == PKPO_S) {
            const Mean mb = mean_se(zb);
            EXPECT_GT(std::fabs(mb.mean - truth), kZ * mb.se)
                << "biased variant not detected: mean " << mb.mean << " se " << mb.se;
          }
        }
      }
    }
  }
}

// d/dtheta E[min of k g(X)] for the monotone rewards: min of k clipped = clip(min of k x), and
// P(min > y) = (1 - Phi(y - theta))^k, so d/dtheta E[clip(min)] = (1 - Phi(-0.5 - theta))^k -
// (1 - Phi(1 - theta))^k; the identity's E[min] = theta + const(k).
double dmin_identity(double, int) { return 1.0; }
double dmin_clip(double theta, int k) {
  return std::pow(1 - Phi(-0.5 - theta), k) - std::pow(1 - Phi(1 - theta), k);
}

TEST(Unbiased, BernoulliMixtureAndPassHatK) {
  Handle h;
  const int64_t M = 40000, n = 8;
  uint64_t seed = 91;
  for (double p : {0.2, 0.6}) {
    std::mt19937_64 rng(seed++);
    std::bernoulli_distribution bern(p);
    Batch b;
    b.est = PKPO_RHO;
    b.dtype = PKPO_FLOAT64;
    b.group_size = n;
    b.num_groups = M;
    b.rewards.resize((size_t)(n * M));
    for (double& v : b.rewards) v = bern(rng) ? 1.0 : 0.0;
    b.k_terms = {1, 2, 3, 4};
    b.k_weights = {1.0, 0.5, 1.0 / 3, 0.25};
    pt::LibResult r = pt::run_lib(h, b, true, false);
    ASSERT_EQ(r.status, PKPO_SUCCESS);
    double truth = 0;
    for (size_t j = 0; j < b.k_terms.size(); ++j)
      truth += b.k_weights[j] * (1.0 - std::pow(1.0 - p, (double)b.k_terms[j]));
    Mean m = mean_se(r.rho);
    EXPECT_LE(std::fabs(m.mean - truth), kZ * m.se) << "harmonic(4), p " << p;
    b.k_terms.clear();
    b.k_weights.clear();
    b.statistic = PKPO_STATISTIC_MIN;
    for (int64_t k : {1, 3, 8}) {
      if (std::pow(p, (double)k) * (double)M < 200) continue;  // too few all-success groups to see
      b.k = k;
      r = pt::run_lib(h, b, true, false);
      ASSERT_EQ(r.status, PKPO_SUCCESS);
      m = mean_se(r.rho);
      truth = std::pow(p, (double)k);
      EXPECT_LE(std::fabs(m.mean - truth), kZ * m.se) << "pass^" << k << ", p " << p;
    }
  }
}

TEST(Unbiased, MixtureAndMinGradients) {
  Handle h;
  const double theta = 0.3;
  const int64_t M = 40000, n = 8;
  struct R {
    const char* name;
    double (*g)(double);
    double (*dmax)(double, int);
    double (*dmin)(double, int);
  };
  const R rewards[] = {{"identity", g_identity, d_identity, dmin_identity},
                       {"clip", g_clip, d_clip, dmin_clip}};
  uint64_t seed = 101;
  for (const R& rw : rewards) {
    std::mt19937_64 rng(seed++);
    std::normal_distribution<double> N01(0.0, 1.0);
    std::vector<double> x((size_t)(n * M));
    for (double& v : x) v = theta + N01(rng);
    Batch b;
    b.dtype = PKPO_FLOAT64;
    b.group_size = n;
    b.num_groups = M;
    b.rewards.resize(x.size());
    for (size_t i = 0; i < x.size(); ++i) b.rewards[i] = rw.g(x[i]);
    for (int objective = 0; objective < 2; ++objective) {
      double truth = 0;
      b.k_terms.clear();
      b.k_weights.clear();
      b.statistic = PKPO_STATISTIC_MAX;
      if (objective == 0) {  // harmonic(4) over max of k
        b.k_terms = {1, 2, 3, 4};
        b.k_weights = {1.0, 0.5, 1.0 / 3, 0.25};
        for (size_t j = 0; j < 4; ++j) truth += b.k_weights[j] * rw.dmax(theta, (int)b.k_terms[j]);
      } else {  // the worst of 3
        b.k = 3;
        b.statistic = PKPO_STATISTIC_MIN;
        truth = rw.dmin(theta, 3);
      }
      for (int e = PKPO_S; e <= PKPO_L2O; ++e) {
        SCOPED_TRACE(std::string(rw.name) + (objective ? " min k=3 " : " harmonic(4) ") +
                     oracle::est_name(e));
        b.est = (pkpo_estimator)e;
        const pt::LibResult r = pt::run_lib(h, b, false, false);
        ASSERT_EQ(r.status, PKPO_SUCCESS);
        std::vector<double> z((size_t)M);
        for (int64_t g = 0; g < M; ++g) {
          double acc = 0;
          for (int64_t i = 0; i < n; ++i) acc += r.out[g * n + i] * (x[g * n + i] - theta);
          z[g] = acc;
        }
        const Mean m = mean_se(z);
        EXPECT_LE(std::fabs(m.mean - truth), kZ * m.se)
            << "mean " << m.mean << " truth " << truth << " se " << m.se;
      }
    }
  }
}

}  // namespace
