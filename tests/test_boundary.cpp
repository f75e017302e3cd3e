// test_boundary.cpp -- docs/math.md §3: n = 1, k > n (clamp and strict), non-finite rewards under
// EXCLUDE / PROPAGATE / ERROR, empty groups, all-NaN groups, isolation between groups.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "test_util.hpp"

namespace {

using pt::Batch;
using pt::Handle;
using pt::Kind;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const pkpo_dtype kDtypes[] = {PKPO_FLOAT64, PKPO_FLOAT32};

std::string tag(int e, pkpo_dtype dt) {
  return std::string(oracle::est_name(e)) + " " + pt::dtype_name(dt);
}

TEST(Boundary, SingletonGroups) {
  Handle h;
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      for (int64_t k : {1, 2, 5}) {
        SCOPED_TRACE(tag(e, dt) + " k " + std::to_string(k));
        Batch b;
        b.est = (pkpo_estimator)e;
        b.dtype = dt;
        b.rewards = {0.75, -2.5, 0.0};
        b.num_groups = 3;
        b.group_size = 1;
        b.k = k;
        const pt::LibResult r = pt::run_lib(h, b);
        ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
        const uint32_t want = (uint32_t)PKPO_FLAG_SINGLETON | (k > 1 ? (uint32_t)PKPO_FLAG_K_CLAMPED : 0u);
        for (int g = 0; g < 3; ++g) {
          EXPECT_EQ(r.rho[g], b.rewards[g]);
          EXPECT_EQ(r.flags[g] & ~(uint32_t)PKPO_FLAG_FALLBACK, want);
          if (e != PKPO_RHO) {
            EXPECT_EQ(r.out[g], e == PKPO_S ? b.rewards[g] : 0.0);
          }
        }
        ASSERT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));
      }
    }
  }
}

TEST(Boundary, KAboveNClampsToN) {
  Handle h;
  std::mt19937_64 rng(21);
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      for (int64_t n : {2, 3, 7, 33}) {
        SCOPED_TRACE("seed 21 " + tag(e, dt) + " n " + std::to_string(n));
        Batch b;
        b.est = (pkpo_estimator)e;
        b.dtype = dt;
        b.rewards = pt::gen_group(Kind::Uniform, n, rng);
        pt::round_rewards(&b);
        b.num_groups = 1;
        b.group_size = n;
        b.k = n;
        const pt::LibResult at_n = pt::run_lib(h, b);
        for (int64_t k : {n + 1, 2 * n, (int64_t)1 << 40}) {
          b.k = k;
          const pt::LibResult r = pt::run_lib(h, b);
          ASSERT_EQ(r.status, PKPO_SUCCESS);
          EXPECT_TRUE(r.flags[0] & PKPO_FLAG_K_CLAMPED);
          EXPECT_EQ(r.flags[0] & ~(uint32_t)PKPO_FLAG_K_CLAMPED, at_n.flags[0]);
          EXPECT_TRUE(pt::bitwise_equal(r.out, at_n.out));
          EXPECT_TRUE(pt::bitwise_equal(r.rho, at_n.rho));
          // rho at k = n is the max (docs/math.md §2); the stable form telescopes the differences,
          // so allow docs/math.md rounding budget rather than bitwise equality.
          const double mx = *std::max_element(b.rewards.begin(), b.rewards.end());
          EXPECT_NEAR(r.rho[0], mx, pt::tol_for(dt) * std::fabs(mx)) << "rho at k = n is the max";
        }
      }
    }
  }
}

TEST(Boundary, StrictKPolicyFailsAndWritesNothing) {
  Handle h;
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      SCOPED_TRACE(tag(e, dt));
      // Uniform: k > group_size.
      Batch b;
      b.est = (pkpo_estimator)e;
      b.dtype = dt;
      b.rewards = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
      pt::round_rewards(&b);
      b.num_groups = 2;
      b.group_size = 3;
      b.k = 4;
      b.k_policy = PKPO_K_STRICT;
      pt::LibResult r = pt::run_lib(h, b);
      EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N);
      EXPECT_TRUE(r.untouched);
      EXPECT_TRUE(r.guards_intact);
      EXPECT_STRNE(pkpo_last_error(h), "");
      // k == n is fine under strict.
      b.k = 3;
      r = pt::run_lib(h, b);
      EXPECT_EQ(r.status, PKPO_SUCCESS);
      const uint32_t f = e == PKPO_L2O ? (uint32_t)PKPO_FLAG_FALLBACK : 0u;  // l2o at k = n
      EXPECT_EQ(r.flags, std::vector<uint32_t>({f, f}));

      // Ragged, per-group k: only the last group is too small.
      Batch c = b;
      c.group_size = 0;
      c.offsets = {0, 3, 4, 6};
      c.num_groups = 3;
      c.k = 1;
      c.k_per_group = {3, 1, 3};
      r = pt::run_lib(h, c);
      EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N);
      EXPECT_TRUE(r.untouched);
      EXPECT_NE(std::string(pkpo_last_error(h)).find('2'), std::string::npos)
          << "last_error should name group 2: " << pkpo_last_error(h);
      // Scalar k on the ragged layout.
      c.k_per_group.clear();
      c.k = 2;
      r = pt::run_lib(h, c);
      EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N);
      EXPECT_TRUE(r.untouched);

      // Excluded NaNs reduce the usable count below k: strict fails too (header: "fewer (finite)
      // samples than k").
      Batch d = b;
      d.k = 3;
      d.rewards[4] = kNaN;
      r = pt::run_lib(h, d);
      EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N);
      EXPECT_TRUE(r.untouched);
    }
  }
}

// A batch of 5 groups; group 2 gets the bad values, group 0/1/3/4 must be bit-identical to a clean
// run of the same batch.
Batch isolation_batch(pkpo_estimator est, pkpo_dtype dt, bool ragged, std::mt19937_64& rng) {
  Batch b;
  b.est = est;
  b.dtype = dt;
  b.k = 3;
  if (ragged) {
    b.offsets = pt::offsets_from_sizes({6, 1, 9, 0, 13});
    b.num_groups = 5;
  } else {
    b.group_size = 9;
    b.num_groups = 5;
  }
  const int64_t N = ragged ? b.offsets.back() : 45;
  b.rewards = pt::gen_group(Kind::Uniform, N, rng);
  pt::round_rewards(&b);
  if (ragged) b.index = pt::random_permutation(N, rng);
  return b;
}

// Sample positions (in rewards) of group g.
std::vector<int64_t> samples_of(const Batch& b, int64_t g) {
  std::vector<int64_t> s;
  for (int64_t j = b.group_begin(g); j < b.group_end(g); ++j) s.push_back(b.sample_at(j));
  return s;
}

void expect_other_groups_identical(const Batch& b, const pt::LibResult& clean,
                                   const pt::LibResult& r, int64_t bad_group) {
  for (int64_t g = 0; g < b.num_groups; ++g) {
    if (g == bad_group) continue;
    EXPECT_EQ(std::memcmp(&clean.rho[g], &r.rho[g], 8), 0) << "rho of group " << g;
    EXPECT_EQ(clean.flags[g], r.flags[g]) << "flags of group " << g;
    if (r.out.empty()) continue;
    for (int64_t s : samples_of(b, g)) {
      EXPECT_EQ(std::memcmp(&clean.out[s], &r.out[s], 8), 0) << "sample " << s;
    }
  }
}

TEST(Boundary, NonFiniteExclude) {
  Handle h;
  std::mt19937_64 rng(31);
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      for (bool ragged : {false, true}) {
        for (double bad : {kNaN, kInf, -kInf}) {
          SCOPED_TRACE("seed 31 " + tag(e, dt) + (ragged ? " ragged" : " uniform") + " bad " +
                       std::to_string(bad));
          const Batch clean = isolation_batch((pkpo_estimator)e, dt, ragged, rng);
          const pt::LibResult rc = pt::run_lib(h, clean);
          ASSERT_EQ(rc.status, PKPO_SUCCESS);
          Batch b = clean;
          const std::vector<int64_t> s2 = samples_of(b, 2);
          b.rewards[s2[1]] = bad;
          b.rewards[s2[4]] = kNaN;
          const pt::LibResult r = pt::run_lib(h, b);
          ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
          EXPECT_TRUE(r.flags[2] & PKPO_FLAG_NONFINITE);
          if (e != PKPO_RHO) {
            EXPECT_EQ(r.out[s2[1]], 0.0);
            EXPECT_EQ(r.out[s2[4]], 0.0);
          }
          // The group is computed on the remaining samples (oracle), everything else unchanged.
          EXPECT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));
          expect_other_groups_identical(b, rc, r, 2);
        }
      }
    }
  }
}

TEST(Boundary, NonFinitePropagate) {
  Handle h;
  std::mt19937_64 rng(32);
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      for (bool ragged : {false, true}) {
        SCOPED_TRACE("seed 32 " + tag(e, dt) + (ragged ? " ragged" : " uniform"));
        Batch clean = isolation_batch((pkpo_estimator)e, dt, ragged, rng);
        clean.nonfinite = PKPO_NONFINITE_PROPAGATE;
        const pt::LibResult rc = pt::run_lib(h, clean);
        ASSERT_EQ(rc.status, PKPO_SUCCESS);
        Batch b = clean;
        const std::vector<int64_t> s2 = samples_of(b, 2);
        b.rewards[s2[3]] = kInf;
        const pt::LibResult r = pt::run_lib(h, b);
        ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
        EXPECT_TRUE(r.flags[2] & PKPO_FLAG_NONFINITE);
        EXPECT_TRUE(std::isnan(r.rho[2]));
        if (e != PKPO_RHO) {
          for (int64_t s : s2) EXPECT_TRUE(std::isnan(r.out[s])) << "sample " << s;
        }
        expect_other_groups_identical(b, rc, r, 2);
      }
    }
  }
}

TEST(Boundary, NonFiniteErrorWritesNothing) {
  Handle h;
  std::mt19937_64 rng(33);
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      for (bool ragged : {false, true}) {
        SCOPED_TRACE("seed 33 " + tag(e, dt) + (ragged ? " ragged" : " uniform"));
        Batch b = isolation_batch((pkpo_estimator)e, dt, ragged, rng);
        b.nonfinite = PKPO_NONFINITE_ERROR;
        const pt::LibResult ok = pt::run_lib(h, b);
        EXPECT_EQ(ok.status, PKPO_SUCCESS) << "finite rewards under ERROR are fine";
        b.rewards[samples_of(b, 4).back()] = -kInf;
        const pt::LibResult r = pt::run_lib(h, b);
        EXPECT_EQ(r.status, PKPO_ERROR_NON_FINITE);
        EXPECT_TRUE(r.untouched);
        EXPECT_TRUE(r.guards_intact);
        EXPECT_STRNE(pkpo_last_error(h), "");
      }
    }
  }
}

TEST(Boundary, EmptyAndAllNaNGroups) {
  Handle h;
  for (pkpo_dtype dt : kDtypes) {
    for (int e = PKPO_RHO; e <= PKPO_L2O; ++e) {
      SCOPED_TRACE(tag(e, dt));
      Batch b;
      b.est = (pkpo_estimator)e;
      b.dtype = dt;
      b.offsets = pt::offsets_from_sizes({0, 3, 0, 2, 4, 0});
      b.num_groups = 6;
      b.rewards = {0.5, 0.25, 1.0, kNaN, kNaN, 0.75, kNaN, -kInf, kNaN};
      b.k = 2;
      const pt::LibResult r = pt::run_lib(h, b);
      ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
      EXPECT_TRUE(r.flags[0] & PKPO_FLAG_EMPTY);
      EXPECT_TRUE(r.flags[2] & PKPO_FLAG_EMPTY);
      EXPECT_TRUE(r.flags[5] & PKPO_FLAG_EMPTY);
      EXPECT_EQ(r.flags[3] & (PKPO_FLAG_EMPTY | PKPO_FLAG_NONFINITE),
                (uint32_t)(PKPO_FLAG_EMPTY | PKPO_FLAG_NONFINITE))
          << "all-NaN group";
      EXPECT_EQ(r.rho[3], 0.0);
      EXPECT_EQ(r.rho[0], 0.0);
      // Group 4: one finite sample left after exclusion -> SINGLETON, NONFINITE, K_CLAMPED.
      EXPECT_EQ(r.flags[4] & (PKPO_FLAG_SINGLETON | PKPO_FLAG_NONFINITE | PKPO_FLAG_K_CLAMPED),
                (uint32_t)(PKPO_FLAG_SINGLETON | PKPO_FLAG_NONFINITE | PKPO_FLAG_K_CLAMPED));
      EXPECT_EQ(r.rho[4], 0.75);
      if (e != PKPO_RHO) {
        EXPECT_EQ(r.out[3], 0.0);
        EXPECT_EQ(r.out[4], 0.0);
      }
      EXPECT_TRUE(pt::matches(b, r, pt::expected_for(b, oracle::BRUTE)));

      // A batch of only empty groups, and num_groups = 0.
      Batch z;
      z.est = (pkpo_estimator)e;
      z.dtype = dt;
      z.offsets = {0, 0, 0};
      z.num_groups = 2;
      const pt::LibResult rz = pt::run_lib(h, z);
      ASSERT_EQ(rz.status, PKPO_SUCCESS) << rz.last_error;
      EXPECT_EQ(rz.flags[0] & PKPO_FLAG_EMPTY, (uint32_t)PKPO_FLAG_EMPTY);
      EXPECT_EQ(rz.rho[1], 0.0);
      // Only empty groups, through an (empty) index permutation: a valid pointer to nothing.
      {
        const int64_t off[] = {0, 0, 0, 0};
        const int64_t no_index[1] = {-1};
        pkpo_desc d = PKPO_DESC_INIT;
        d.estimator = (pkpo_estimator)e;
        d.dtype = dt;
        d.num_groups = 3;
        d.offsets = off;
        d.index = no_index;
        double dummy_in[1] = {0}, dummy_out[1] = {-3}, rho3[3] = {-3, -3, -3};
        uint32_t fl[3] = {0, 0, 0};
        Handle fresh;  // no workspace yet: the call needs 0 bytes of scratch
        ASSERT_EQ(pkpo_transform(fresh, &d, dummy_in, dummy_out, rho3, fl, nullptr), PKPO_SUCCESS)
            << pkpo_last_error(fresh);
        EXPECT_EQ(dummy_out[0], -3.0);
        for (uint32_t f : fl) EXPECT_TRUE(f & PKPO_FLAG_EMPTY);
      }
      Batch none;
      none.est = (pkpo_estimator)e;
      none.dtype = dt;
      none.group_size = 4;
      const pt::LibResult rn = pt::run_lib(h, none);
      EXPECT_EQ(rn.status, PKPO_SUCCESS);
      EXPECT_TRUE(rn.guards_intact);
    }
  }
}

}  // namespace
