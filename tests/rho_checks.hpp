// rho_checks.hpp -- the exactness checks of rho (README "Accuracy"), written once for every backend:
// a Runner says how a batch reaches the library (host arrays for the CPU, device copies for CUDA).
#ifndef PKPO_TESTS_RHO_CHECKS_HPP
#define PKPO_TESTS_RHO_CHECKS_HPP

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "test_util.hpp"

namespace pt {

struct Runner {
  // pkpo_transform of the batch (want rho and flags).
  std::function<LibResult(const Batch&)> transform;
  // pkpo_rho_curve of the batch at ks: num_groups * ks.size() values, row-major.
  std::function<pkpo_status(const Batch&, const std::vector<int64_t>&, std::vector<double>*)> curve;
};

inline Runner cpu_runner(pkpo_handle h) {
  Runner r;
  r.transform = [h](const Batch& b) { return run_lib(h, b); };
  r.curve = [h](const Batch& b, const std::vector<int64_t>& ks, std::vector<double>* out) {
    const size_t cells = (size_t)b.num_groups * ks.size();
    const pkpo_desc d = b.desc();
    pkpo_status st;
    if (b.dtype == PKPO_FLOAT64) {
      out->assign(cells, 0.0);
      st = pkpo_rho_curve(h, &d, b.rewards.data(), ks.data(), (int64_t)ks.size(), out->data(),
                          nullptr, nullptr);
    } else {
      std::vector<float> in(b.rewards.begin(), b.rewards.end()), c(cells);
      st = pkpo_rho_curve(h, &d, in.data(), ks.data(), (int64_t)ks.size(), c.data(), nullptr,
                          nullptr);
      out->assign(c.begin(), c.end());
    }
    return st;
  };
  return r;
}

inline bool same_value_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The finite values of group g of b.
inline std::vector<double> group_values(const Batch& b, int64_t g) {
  std::vector<double> v;
  for (int64_t j = b.group_begin(g); j < b.group_end(g); ++j) {
    const double x = b.rewards[(size_t)b.sample_at(j)];
    if (std::isfinite(x)) v.push_back(x);
  }
  return v;
}

// Checks rho of every group of b at k (a transform's rho when curve == nullptr, else a curve
// column): within [min g, max g]; at k >= n the max (min under the min statistic) bit for bit
// (+0.0 for a zero); a constant group's constant; binary groups' exact 0 and 1.
inline void check_rho_values(const Batch& b, int64_t k, const std::vector<double>& rho,
                             size_t stride, size_t col, const std::string& what) {
  const bool is_min = b.statistic == PKPO_STATISTIC_MIN;
  for (int64_t g = 0; g < b.num_groups; ++g) {
    const std::vector<double> v = group_values(b, g);
    const double r = rho[(size_t)g * stride + col];
    if (v.empty()) continue;
    const double lo = *std::min_element(v.begin(), v.end());
    const double hi = *std::max_element(v.begin(), v.end());
    ASSERT_TRUE(r >= lo && r <= hi) << what << " group " << g << ": rho " << r << " outside ["
                                    << lo << ", " << hi << "]";
    const int64_t n = (int64_t)v.size();
    if (k >= n || lo == hi) {
      const double want = (is_min ? lo : hi) == 0.0 ? 0.0 : (is_min ? lo : hi);
      ASSERT_TRUE(same_value_bits(r, want) || (want == 0.0 && r == 0.0))
          << what << " group " << g << ": rho " << r << " is not " << want << " (k " << k
          << ", n " << n << ")";
    }
    const bool binary = std::all_of(v.begin(), v.end(), [](double x) { return x == 0 || x == 1; });
    if (binary) {
      const int64_t c = (int64_t)std::count(v.begin(), v.end(), 1.0);
      // pass@k: 0 without a success, 1 when every k-subset holds one; pass^k: 1 when all succeed,
      // 0 when no k-subset is all successes
      const int64_t kk = std::min(k, n);
      const bool zero = is_min ? c < kk : c == 0, one = is_min ? c == n : c > n - kk;
      if (zero) {
        ASSERT_EQ(r, 0.0) << what << " group " << g;
      }
      if (one) {
        ASSERT_EQ(r, 1.0) << what << " group " << g;
      }
    }
  }
}

// Binary groups of n, one per count of successes c in cs (every c = 0..n when cs is empty).
inline Batch binary_groups(int64_t n, pkpo_dtype dt, const std::vector<int64_t>& cs = {}) {
  Batch b;
  b.est = PKPO_RHO;
  b.dtype = dt;
  b.group_size = n;
  std::mt19937_64 rng((uint64_t)n);
  std::vector<int64_t> counts = cs;
  if (counts.empty()) {
    for (int64_t c = 0; c <= n; ++c) counts.push_back(c);
  }
  for (int64_t c : counts) {  // c successes at shuffled positions
    std::vector<double> g((size_t)n, 0.0);
    std::fill(g.begin(), g.begin() + c, 1.0);
    std::shuffle(g.begin(), g.end(), rng);
    b.rewards.insert(b.rewards.end(), g.begin(), g.end());
    ++b.num_groups;
  }
  return b;
}

// A few counts of successes for binary groups of n too large to take every count: both ends,
// the middle and the neighbours of the ends.
inline std::vector<int64_t> binary_counts(int64_t n) {
  std::vector<int64_t> cs = {0, 1, 2, n / 3, n / 2, n - 2, n - 1, n};
  std::sort(cs.begin(), cs.end());
  cs.erase(std::unique(cs.begin(), cs.end()), cs.end());
  return cs;
}

// The checks of check_rho_values on groups of each size in `sizes` (binary groups with every count
// of successes, or those of binary_counts(n) when few_binary, and two of every reward kind), at
// k = 1..5, n/2, n-4..n+1, from the curve and from the transforms (whose rho must be the
// curve's bit for bit), in both dtypes and under both statistics.
inline void check_rho_exact_sizes(const Runner& run, const std::vector<int64_t>& sizes, uint64_t seed,
                                  bool few_binary) {
  std::mt19937_64 rng(seed);
  for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
    for (pkpo_statistic stat : {PKPO_STATISTIC_MAX, PKPO_STATISTIC_MIN}) {
      for (int64_t n : sizes) {
        Batch b = binary_groups(n, dt, few_binary ? binary_counts(n) : std::vector<int64_t>{});
        for (int kind = 0; kind < (int)Kind::Kinds; ++kind) {
          for (int rep = 0; rep < 2; ++rep) {
            auto g = gen_group((Kind)kind, n, rng);
            b.rewards.insert(b.rewards.end(), g.begin(), g.end());
            ++b.num_groups;
          }
        }
        round_rewards(&b);
        b.statistic = stat;
        // runs of ks one apart (the team kernel's batched columns), one of them ending at n
        std::vector<int64_t> ks = {1, 2, 3, 4, 5, std::max<int64_t>(1, n / 2)};
        for (int64_t k = n - 4; k <= n + 1; ++k) ks.push_back(std::max<int64_t>(1, k));
        const std::string tag = std::string(dtype_name(dt)) + (stat ? " min" : " max") + " n " +
                                std::to_string(n);
        std::vector<double> curve;
        ASSERT_EQ(run.curve(b, ks, &curve), PKPO_SUCCESS) << tag;
        for (size_t j = 0; j < ks.size(); ++j) {
          check_rho_values(b, ks[j], curve, ks.size(), j, tag + " curve k " + std::to_string(ks[j]));
          for (pkpo_estimator est : {PKPO_RHO, PKPO_L2O}) {
            Batch t = b;
            t.est = est;
            t.k = ks[j];
            const LibResult r = run.transform(t);
            ASSERT_EQ(r.status, PKPO_SUCCESS) << tag << " " << r.last_error;
            check_rho_values(t, ks[j], r.rho, 1, 0,
                             tag + " transform " + oracle::est_name(est) + " k " + std::to_string(ks[j]));
            // the transforms' rho is the curve's, bit for bit
            for (int64_t g = 0; g < b.num_groups; ++g) {
              ASSERT_TRUE(same_value_bits(r.rho[(size_t)g], curve[(size_t)g * ks.size() + j]))
                  << tag << " group " << g << " k " << ks[j];
            }
          }
        }
      }
    }
  }
}

inline void check_rho_exact_cases(const Runner& run, int64_t max_n, uint64_t seed) {
  std::vector<int64_t> sizes = {1, 2, 3, 7, 16, 33, 64, 100, 129, 257, 300};
  sizes.erase(std::remove_if(sizes.begin(), sizes.end(), [&](int64_t n) { return n > max_n; }),
              sizes.end());
  check_rho_exact_sizes(run, sizes, seed, false);
}

// Weights below this are dropped by every backend (docs/math.md §4: they contribute nothing).
constexpr double kWeightFloor = 1e-300;

struct BinaryAccuracy {
  int64_t cases = 0, violations = 0, pkpo_exact = 0, he_exact = 0;
  double pkpo_max_ulps = 0, he_max_ulps = 0;
};

// 1 - C(n-c, k)/C(n, k) (and C(c, k)/C(n, k) for pass^k) in 113-bit arithmetic.
inline __float128 binary_exact(int64_t n, int64_t c, int64_t k, bool all) {
  const int64_t top = all ? c : n - c;
  if (top < k) return all ? (__float128)0 : (__float128)1;
  __float128 f = 1;
  for (int64_t j = 0; j < k; ++j) f *= (__float128)(top - j) / (__float128)(n - j);
  return all ? f : 1 - f;
}

// Distance of x from the exact value e in units of the last place of e's binary64 neighbourhood.
inline double ulps_from(double x, __float128 e) {
  const double ed = (double)e;
  if (ed == 0.0) return x == 0.0 ? 0.0 : INFINITY;
  int exp2 = 0;
  std::frexp(ed, &exp2);
  const __float128 ulp = (__float128)std::ldexp(1.0, exp2 - 53);
  __float128 d = (__float128)x - e;
  if (d < 0) d = -d;
  return (double)(d / ulp);
}

// HumanEval's estimator, left to right: 1 - prod_{i = n-c+1}^{n} (1 - k / i).
inline double humaneval_pass_at_k(int64_t n, int64_t c, int64_t k) {
  if (n - c < k) return 1.0;
  double p = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) p *= 1.0 - (double)k / (double)i;
  return 1.0 - p;
}

// The binary groups of n with the counts of successes cs (every c = 0..n when empty), k over a
// spread including 1, 2, n/2, n-1, n, in float64: pkpo's pass@k no more ulps from the exact value
// than HumanEval's form, or 2 ulps, whichever is larger; float32 within 1 ulp of float32's
// nearest; pass^k within 1 ulp (0 below the weight floor). Adds the cases to *acc.
inline void binary_accuracy_at(const Runner& run, int64_t n, const std::vector<int64_t>& cs,
                               BinaryAccuracy* acc_out) {
  BinaryAccuracy& acc = *acc_out;
  std::vector<int64_t> counts = cs;
  if (counts.empty()) {
    for (int64_t c = 0; c <= n; ++c) counts.push_back(c);
  }
  std::vector<int64_t> ks = {1, 2, 3, n / 4 + 1, n / 2, n - 2, n - 1, n};
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  for (pkpo_statistic stat : {PKPO_STATISTIC_MAX, PKPO_STATISTIC_MIN}) {
    for (pkpo_dtype dt : {PKPO_FLOAT64, PKPO_FLOAT32}) {
      Batch b = binary_groups(n, dt, counts);
      b.statistic = stat;
      std::vector<double> curve;
      EXPECT_EQ(run.curve(b, ks, &curve), PKPO_SUCCESS);
      for (size_t gi = 0; gi < counts.size(); ++gi) {
        const int64_t c = counts[gi];
        for (size_t j = 0; j < ks.size(); ++j) {
          const int64_t k = ks[j];
          const double got = curve[gi * ks.size() + j];
          const __float128 exact = binary_exact(n, c, k, stat == PKPO_STATISTIC_MIN);
          if (dt == PKPO_FLOAT32) {
            const float want = (float)(double)exact;  // within half an ulp of float32's nearest
            const float lo = std::nextafter(want, -1.0f), hi = std::nextafter(want, 2.0f);
            EXPECT_TRUE((float)got >= lo && (float)got <= hi)
                << "float32 n " << n << " c " << c << " k " << k << ": " << got << " vs " << want;
            continue;
          }
          const double u = ulps_from(got, exact);
          if (stat == PKPO_STATISTIC_MIN) {
            // pass^k = F itself: below the weight floor it is dropped (docs/math.md §4)
            if ((double)exact < kWeightFloor) {
              EXPECT_EQ(got, 0.0) << "pass^k n " << n << " c " << c << " k " << k;
            } else {
              EXPECT_LE(u, 1.0) << "pass^k n " << n << " c " << c << " k " << k;
            }
            continue;
          }
          const double he = ulps_from(humaneval_pass_at_k(n, c, k), exact);
          ++acc.cases;
          acc.pkpo_exact += u <= 0.5;
          acc.he_exact += he <= 0.5;
          acc.pkpo_max_ulps = std::max(acc.pkpo_max_ulps, u);
          acc.he_max_ulps = std::max(acc.he_max_ulps, he);
          if (u > std::max(he, 2.0)) {
            ++acc.violations;
            ADD_FAILURE() << "n " << n << " c " << c << " k " << k << ": pkpo " << u
                          << " ulps, HumanEval form " << he << " ulps";
          }
        }
      }
    }
  }
}

// Every binary group of n = 4..max_n (every c) by binary_accuracy_at.
inline BinaryAccuracy check_binary_accuracy(const Runner& run, int64_t max_n, int64_t step) {
  BinaryAccuracy acc;
  for (int64_t n = 4; n <= max_n; n += step) binary_accuracy_at(run, n, {}, &acc);
  return acc;
}

inline void check_rho_exact_cases(pkpo_handle h, int64_t max_n, uint64_t seed) {
  check_rho_exact_cases(cpu_runner(h), max_n, seed);
}
inline BinaryAccuracy check_binary_accuracy(pkpo_handle h, int64_t max_n, int64_t step) {
  return check_binary_accuracy(cpu_runner(h), max_n, step);
}

}  // namespace pt

#endif  // PKPO_TESTS_RHO_CHECKS_HPP
