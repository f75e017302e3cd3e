// test_properties.cpp -- properties every correct implementation has, checked on the library's
// outputs: permutation equivariance, tie invariance (bitwise), sloo_minus_one >= 0 with exact zeros
// for the k-1 lowest ranks, l2o sums to 0, sum_i s_i = k rho, binary closed forms (docs/math.md §2),
// shift behaviour, exact zeros for constant groups, in-place == out-of-place, and bitwise
// independence of the thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;
using pt::Kind;

constexpr int64_t kOddSizes[] = {1, 2, 3, 5, 7, 13, 19, 31, 33, 99, 257, 989, 16, 64, 1024};

Batch single(pkpo_estimator est, pkpo_dtype dt, std::vector<double> g, int64_t k) {
  Batch b;
  b.est = est;
  b.dtype = dt;
  b.rewards = std::move(g);
  pt::round_rewards(&b);
  b.num_groups = 1;
  b.group_size = (int64_t)b.rewards.size();
  b.k = k;
  return b;
}

std::vector<int64_t> ks_for(int64_t n) {
  std::vector<int64_t> ks = {1, 2, 3, n / 2, n - 1, n};
  std::vector<int64_t> r;
  for (int64_t k : ks)
    if (k >= 1 && k <= n && std::find(r.begin(), r.end(), k) == r.end()) r.push_back(k);
  return r;
}

const pkpo_estimator kPerSample[] = {PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};
const pkpo_dtype kDtypes[] = {PKPO_FLOAT64, PKPO_FLOAT32};

TEST(Properties, PermutationEquivarianceAndTieInvariance) {
  Handle h;
  const uint64_t seed = 5;
  std::mt19937_64 rng(seed);
  for (int64_t n : kOddSizes) {
    for (Kind kind : {Kind::Ties, Kind::Uniform, Kind::Binary, Kind::Negative}) {
      for (pkpo_dtype dt : kDtypes) {
        for (pkpo_estimator est : kPerSample) {
          for (int64_t k : ks_for(n)) {
            SCOPED_TRACE("seed 5 n " + std::to_string(n) + " k " + std::to_string(k) + " " +
                         pt::kind_name(kind) + " " + oracle::est_name(est) + " " +
                         pt::dtype_name(dt));
            Batch b = single(est, dt, pt::gen_group(kind, n, rng), k);
            const pt::LibResult r = pt::run_lib(h, b);
            ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
            // Tie invariance: equal rewards, bitwise-equal outputs.
            for (int64_t i = 0; i < n; ++i)
              for (int64_t j = i + 1; j < n; ++j)
                if (b.rewards[i] == b.rewards[j]) {
                  ASSERT_EQ(std::memcmp(&r.out[i], &r.out[j], sizeof(double)), 0)
                      << "tied samples " << i << " and " << j << ": " << r.out[i] << " vs "
                      << r.out[j];
                }
            // Equivariance: permuting the input permutes the output (bitwise).
            const std::vector<int64_t> p = pt::random_permutation(n, rng);
            Batch bp = b;
            for (int64_t i = 0; i < n; ++i) bp.rewards[i] = b.rewards[p[i]];
            const pt::LibResult rp = pt::run_lib(h, bp);
            ASSERT_EQ(rp.status, PKPO_SUCCESS);
            for (int64_t i = 0; i < n; ++i)
              ASSERT_EQ(std::memcmp(&rp.out[i], &r.out[p[i]], sizeof(double)), 0)
                  << "position " << i << ": " << rp.out[i] << " vs " << r.out[p[i]];
            ASSERT_EQ(std::memcmp(&rp.rho[0], &r.rho[0], sizeof(double)), 0);
          }
        }
      }
    }
  }
}

TEST(Properties, SlooMinusOneNonNegativeLowRanksZero) {
  Handle h;
  std::mt19937_64 rng(6);
  for (int64_t n : kOddSizes) {
    for (int kind = 0; kind < (int)Kind::Kinds; ++kind) {
      for (pkpo_dtype dt : kDtypes) {
        for (int64_t k : ks_for(n)) {
          if (k < 2) continue;  // k = 1 is the l2o convention (signed)
          SCOPED_TRACE("seed 6 n " + std::to_string(n) + " k " + std::to_string(k) + " " +
                       pt::kind_name((Kind)kind) + " " + pt::dtype_name(dt));
          Batch b = single(PKPO_SLOO_MINUS_ONE, dt, pt::gen_group((Kind)kind, n, rng), k);
          const pt::LibResult r = pt::run_lib(h, b);
          ASSERT_EQ(r.status, PKPO_SUCCESS);
          for (double v : r.out) ASSERT_GE(v, 0.0);
          // The k-1 lowest ranks get exactly 0. Tie-aware form: a(i) = sum_{t<i} mu_{t+1} d_t and
          // mu_{t+1} = 0 for t <= k-2, so a sample with at most k-2 rewards strictly below its own
          // (whatever the tie order) gets exactly 0.
          for (int64_t i = 0; i < n; ++i) {
            int64_t below = 0;
            for (double v : b.rewards) below += v < b.rewards[i];
            if (below <= k - 2) {
              ASSERT_EQ(r.out[i], 0.0) << "sample " << i << ", " << below << " below";
            }
          }
        }
      }
    }
  }
}

TEST(Properties, L2oSumsToZeroAndSumOfSIsKRho) {
  Handle h;
  std::mt19937_64 rng(8);
  for (int64_t n : kOddSizes) {
    if (n < 2) continue;
    for (Kind kind : {Kind::Uniform, Kind::Offset, Kind::Negative, Kind::Binary, Kind::Ties}) {
      for (pkpo_dtype dt : kDtypes) {
        for (int64_t k : ks_for(n)) {
          SCOPED_TRACE("seed 8 n " + std::to_string(n) + " k " + std::to_string(k) + " " +
                       pt::kind_name(kind) + " " + pt::dtype_name(dt));
          const auto g = pt::gen_group(kind, n, rng);
          const double eps = dt == PKPO_FLOAT64 ? 0x1p-52 : 0x1p-23;
          if (k < n) {
            const pt::LibResult r = pt::run_lib(h, single(PKPO_L2O, dt, g, k));
            ASSERT_EQ(r.status, PKPO_SUCCESS);
            long double sum = 0, mag = 0;
            for (double v : r.out) {
              sum += v;
              mag += std::fabs(v);
            }
            // Rounding of each output plus a few float64 eps of docs/math.md scale per output.
            const double range = *std::max_element(g.begin(), g.end()) -
                                 *std::min_element(g.begin(), g.end());
            const double bound = 4 * eps * (double)mag + 8 * 0x1p-52 * (double)k * 2 * range;
            EXPECT_LE(std::fabs((double)sum), bound) << "l2o sum " << (double)sum;
          }
          const Batch bs = single(PKPO_S, dt, g, k);
          const pt::LibResult r = pt::run_lib(h, bs);
          long double sum = 0, amax = 0;
          for (double v : r.out) sum += v;
          for (double v : bs.rewards) amax = std::max<long double>(amax, std::fabs(v));
          // |sum s - k rho| within the per-output error budget times n (outputs of scale (k/n) max|g|).
          EXPECT_LE(std::fabs((double)(sum - (long double)k * r.rho[0])),
                    (double)(k * amax) * (dt == PKPO_FLOAT64 ? 1e-12 : 4e-6) * 2);
        }
      }
    }
  }
}

TEST(Properties, BinaryClosedForms) {
  Handle h;
  std::mt19937_64 rng(9);
  for (int64_t n : {2, 3, 5, 8, 13, 33, 257, 989, 4096}) {
    for (int64_t c : {(int64_t)0, (int64_t)1, n / 3, n / 2, n - 1, n}) {
      std::vector<double> g(n, 0.0);
      for (int64_t i = 0; i < c; ++i) g[i] = 1.0;
      std::shuffle(g.begin(), g.end(), rng);
      for (int64_t k : ks_for(n)) {
        for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
          SCOPED_TRACE("seed 9 n " + std::to_string(n) + " c " + std::to_string(c) + " k " +
                       std::to_string(k) + " " + oracle::est_name(e));
          int re = e;  // closed form of the estimator actually computed (docs/math.md §3)
          if (e == PKPO_SLOO && k == n) re = PKPO_S;
          if (e == PKPO_SLOO_MINUS_ONE && k == 1) re = PKPO_L2O;
          if (e == PKPO_L2O && k == n) re = PKPO_SLOO_MINUS_ONE;
          const pt::LibResult r = pt::run_lib(h, single((pkpo_estimator)e, PKPO_FLOAT64, g, k));
          ASSERT_EQ(r.status, PKPO_SUCCESS);
          EXPECT_NEAR(r.rho[0], (double)oracle::binary_rho(n, c, k), 1e-12);
          const double scale = (double)k / (double)n;
          for (int64_t i = 0; i < (int64_t)r.out.size(); ++i) {
            const double want = (double)oracle::binary_value(re, n, c, k, g[i] == 1.0);
            ASSERT_LE(std::fabs(r.out[i] - want), 1e-12 * scale)
                << "sample " << i << " got " << r.out[i] << " want " << want;
          }
        }
      }
    }
  }
}

// Adding a constant c to every reward: sloo_minus_one and l2o unchanged; s moves by (k/n) c;
// sloo by c (k/n - k/(n-1)) (k < n); rho by c.
TEST(Properties, ShiftBehaviour) {
  Handle h;
  std::mt19937_64 rng(10);
  for (int64_t n : kOddSizes) {
    if (n < 2) continue;
    for (int64_t k : ks_for(n)) {
      for (double c : {1000.0, -3.25, 0.1}) {
        SCOPED_TRACE("seed 10 n " + std::to_string(n) + " k " + std::to_string(k) + " c " +
                     std::to_string(c));
        const auto g = pt::gen_group(Kind::Uniform, n, rng);
        std::vector<double> gc = g;
        for (double& v : gc) v += c;
        for (int e = PKPO_S; e <= PKPO_L2O; ++e) {
          const pt::LibResult r0 = pt::run_lib(h, single((pkpo_estimator)e, PKPO_FLOAT64, g, k));
          const pt::LibResult r1 = pt::run_lib(h, single((pkpo_estimator)e, PKPO_FLOAT64, gc, k));
          ASSERT_EQ(r0.status, PKPO_SUCCESS);
          ASSERT_EQ(r1.status, PKPO_SUCCESS);
          const double kn = (double)k / (double)n;
          double delta = 0;
          if (e == PKPO_S || (e == PKPO_SLOO && k == n)) delta = kn * c;
          if (e == PKPO_SLOO && k < n) delta = c * (kn - (double)k / (double)(n - 1));
          // The shifted rewards were rounded once: the exact shift of the outputs is only known
          // to the rewards' rounding, ~eps*|c| per reward, times the weights' total (<= k/n).
          const double tol = 1e-12 * kn * (1 + std::fabs(c)) + kn * 4 * 0x1p-52 * std::fabs(c);
          for (int64_t i = 0; i < n; ++i)
            ASSERT_NEAR(r1.out[i], r0.out[i] + delta, tol) << oracle::est_name(e) << " " << i;
          ASSERT_NEAR(r1.rho[0], r0.rho[0] + c, 1e-12 * (1 + std::fabs(c)));
        }
      }
    }
  }
}

TEST(Properties, ConstantGroupsExactlyZero) {
  Handle h;
  for (int64_t n : {2, 3, 7, 33, 257, 1024, 4099}) {
    for (double c : {0.0, 0.1, -7.3, 100.0 + 1.0 / 3.0, 1e30, 1e-310}) {
      for (pkpo_dtype dt : kDtypes) {
        for (int64_t k : ks_for(n)) {
          SCOPED_TRACE("n " + std::to_string(n) + " c " + std::to_string(c) + " k " +
                       std::to_string(k) + " " + pt::dtype_name(dt));
          std::vector<double> g(n, c);
          for (pkpo_estimator e : {PKPO_SLOO_MINUS_ONE, PKPO_L2O}) {
            const Batch b = single(e, dt, g, k);
            const pt::LibResult r = pt::run_lib(h, b);
            ASSERT_EQ(r.status, PKPO_SUCCESS);
            for (double v : r.out) ASSERT_EQ(v, 0.0) << oracle::est_name(e);
            EXPECT_EQ(r.rho[0], b.rewards[0]) << "rho of a constant group is the constant";
          }
        }
      }
    }
  }
}

TEST(Properties, InPlaceEqualsOutOfPlace) {
  Handle h;
  std::mt19937_64 rng(12);
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_S; e <= PKPO_L2O; ++e) {
      for (bool ragged : {false, true}) {
        SCOPED_TRACE(std::string("seed 12 ") + oracle::est_name(e) + " " + pt::dtype_name(dt) +
                     (ragged ? " ragged+index" : " uniform"));
        Batch b;
        b.est = (pkpo_estimator)e;
        b.dtype = dt;
        b.k = 3;
        if (ragged) {
          std::vector<int64_t> sizes = {5, 0, 1, 19, 33, 2, 257};
          b.offsets = pt::offsets_from_sizes(sizes);
          b.num_groups = (int64_t)sizes.size();
        } else {
          b.group_size = 19;
          b.num_groups = 13;
        }
        const int64_t N = ragged ? b.offsets.back() : 19 * 13;
        for (int64_t i = 0; i < N; ++i) b.rewards.push_back(pt::gen_group(Kind::Ties, 1, rng)[0]);
        b.rewards[3] = NAN;  // an excluded sample too
        pt::round_rewards(&b);
        if (ragged) b.index = pt::random_permutation(N, rng);
        const pt::LibResult a = pt::run_lib(h, b, true, true, false);
        const pt::LibResult c = pt::run_lib(h, b, true, true, true);
        ASSERT_EQ(a.status, PKPO_SUCCESS);
        ASSERT_EQ(c.status, PKPO_SUCCESS);
        EXPECT_TRUE(c.guards_intact);
        EXPECT_TRUE(pt::bitwise_equal(a.out, c.out));
        EXPECT_TRUE(pt::bitwise_equal(a.rho, c.rho));
        EXPECT_EQ(a.flags, c.flags);
      }
    }
  }
}

TEST(Properties, ThreadCountIndependence) {
  std::mt19937_64 rng(13);
  // A ragged batch with many groups of mixed sizes (so that work is split across threads), NaNs,
  // per-group k and a permutation.
  Batch base;
  std::vector<int64_t> sizes;
  std::uniform_int_distribution<int> sd(0, 300);
  for (int g = 0; g < 500; ++g) sizes.push_back(g % 97 == 0 ? 3000 : sd(rng));
  base.offsets = pt::offsets_from_sizes(sizes);
  base.num_groups = (int64_t)sizes.size();
  std::uniform_real_distribution<double> u(0, 1);
  for (int64_t i = 0; i < base.offsets.back(); ++i) base.rewards.push_back(u(rng));
  for (int j = 0; j < 20; ++j) base.rewards[(j * 7919) % base.rewards.size()] = NAN;
  for (size_t g = 0; g < sizes.size(); ++g) base.k_per_group.push_back(1 + (int64_t)(g % 11));
  base.index = pt::random_permutation(base.num_samples(), rng);
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      SCOPED_TRACE(std::string("seed 13 ") + oracle::est_name(e) + " " + pt::dtype_name(dt));
      Batch b = base;
      b.dtype = dt;
      b.est = (pkpo_estimator)e;
      pt::round_rewards(&b);
      pt::LibResult ref;
      for (int threads : {1, 2, 3, 7, 0}) {
        Handle h(threads);
        ASSERT_EQ(h.status(), PKPO_SUCCESS);
        const pt::LibResult r = pt::run_lib(h, b);
        ASSERT_EQ(r.status, PKPO_SUCCESS);
        if (threads == 1) {
          ref = r;
          continue;
        }
        EXPECT_TRUE(pt::bitwise_equal(ref.out, r.out)) << threads << " threads";
        EXPECT_TRUE(pt::bitwise_equal(ref.rho, r.rho)) << threads << " threads";
        EXPECT_EQ(ref.flags, r.flags) << threads << " threads";
      }
    }
  }
}

}  // namespace
