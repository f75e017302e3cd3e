// test_cuda.cpp -- the CUDA backend against the CPU backend and the independent oracle.
//
// Every test starts with PKPO_SKIP_WITHOUT_GPU(): on a machine without a CUDA device it skips
// (reported as skipped, never as passed). ctest label: gpu. On a GPU machine scripts/gpu_run.sh
// runs each of these tests in its own process (a sticky CUDA error ends only its own test), then
// under compute-sanitizer. The same file also runs on the emulated device (tests/cuda/emu,
// PKPO_TEST_EMULATED_DEVICE, ctest label cuda-emu), where the two largest tests skip.
//
// Device buffers carry guard elements after every output array, filled with the harness's
// sentinel, so writes past an array (or into an INVALID group) are caught (cuda_harness.hpp).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cuda_harness.hpp"

using namespace cuda_test;  // NOLINT(build/namespaces): the harness of every device test

// ---- accuracy sweeps ----------------------------------------------------------------------------

// Every estimator x dtype x group size (both edges of each warp class 4/8/16/32/64/128, of each
// group-kernel class 256/512/1024/2048/4096 and of the large path)
// x k in {1, 2, n-1, n, n+1}: against the oracle at docs/math.md target and against the CPU backend.
TEST(Cuda, UniformSweepAgainstOracleAndCpu) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  ASSERT_EQ(gpu.status(), PKPO_SUCCESS);
  pt::Handle cpu;
  std::mt19937_64 rng(1);
  for (int64_t n : {1, 2, 3, 4, 5, 8, 9, 16, 17, 31, 32, 33, 63, 64, 65, 100, 128, 129, 256, 257, 512, 513, 1000,
                    1024, 1025, 2048, 2049, 3000, 4096, 4097, 65537}) {
    const int64_t groups = std::max<int64_t>(1, std::min<int64_t>(64, 40000 / n));
    const oracle::Method m = n <= 10 ? oracle::BRUTE : oracle::LARGE;
    for (pkpo_estimator est : kEsts) {
      for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
        for (int64_t k : {int64_t(1), int64_t(2), n - 1, n, n + 1}) {
          if (k < 1) continue;
          const pt::Batch b = uniform_batch(est, dt, n, groups, k, rng);
          const pt::Expected e = pt::expected_for(b, m);
          const pt::LibResult g = run_cuda(gpu, b);
          EXPECT_TRUE(pt::matches(b, g, e)) << "n=" << n << " k=" << k << " est=" << est << " dt=" << dt;
          EXPECT_TRUE(same_as_cpu(b, g, pt::run_lib(cpu, b), e)) << "n=" << n << " k=" << k;
        }
      }
    }
  }
}

// Uniform layouts with a k per group (the warp and group kernels' float64 weight scans instead of
// their table) and non-finite rewards in some groups (m < n: another row of the warp table, the
// scans on the group kernels), every warp class and group-kernel class, every estimator and dtype:
// against the oracle and the CPU backend.
TEST(Cuda, UniformPerGroupKAndNonFinite) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(21);
  for (int64_t n : {3, 8, 16, 24, 32, 50, 64, 100, 129, 300, 700, 2000}) {
    const int64_t groups = n <= 300 ? 40 : 12;
    for (pkpo_estimator est : kEsts) {
      for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
        for (int variant = 0; variant < 2; ++variant) {
          pt::Batch b = uniform_batch(est, dt, n, groups, 2, rng);
          if (variant == 0) {
            for (int64_t g = 0; g < groups; ++g) b.k_per_group.push_back(1 + (int64_t)(rng() % (uint64_t)(n + 2)));
          }
          for (int64_t g = 0; g < groups; g += 3) b.rewards[(size_t)(g * n + (g % n))] = (g % 2) ? NAN : -INFINITY;
          const pt::Expected e = pt::expected_for(b, n <= 10 ? oracle::BRUTE : oracle::LARGE);
          const pt::LibResult g = run_cuda(gpu, b);
          EXPECT_TRUE(pt::matches(b, g, e)) << "n=" << n << " est=" << est << " dt=" << dt << " variant " << variant;
          EXPECT_TRUE(same_as_cpu(b, g, pt::run_lib(cpu, b), e)) << "n=" << n << " variant " << variant;
        }
      }
    }
  }
}

// docs/math.md's per-group properties on every small-group path: tied rewards get bit-identical
// outputs (the warp kernels search the first rank of a key; their scans alone would not give it),
// sloo_minus_one outputs are never negative for k >= 2 (k = 1 is the leave-two-out rule), l2o outputs add up to 0 within rounding, a constant
// group gives exactly 0 for sloo_minus_one and l2o.
TEST(Cuda, TiesSignsAndSumsOnEveryPath) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(22);
  for (int64_t n : {2, 4, 7, 8, 13, 16, 29, 32, 40, 64, 65, 129, 300, 1000, 2000, 2100}) {
    const int64_t groups = std::max<int64_t>(1, std::min<int64_t>(24, 6000 / n));
    for (pt::Kind kind : {pt::Kind::Ties, pt::Kind::Binary, pt::Kind::Constant, pt::Kind::Offset}) {
      for (pkpo_estimator est : {PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O}) {
        for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
          for (int64_t k : {int64_t(1), int64_t(2), n / 2 + 1, n}) {
            pt::Batch b;
            b.est = est;
            b.dtype = dt;
            b.num_groups = groups;
            b.group_size = n;
            b.k = k;
            for (int64_t g = 0; g < groups; ++g) {
              const auto v = pt::gen_group(kind, n, rng);
              b.rewards.insert(b.rewards.end(), v.begin(), v.end());
            }
            pt::round_rewards(&b);
            const pt::LibResult r = run_cuda(gpu, b, false, false);
            ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
            for (int64_t g = 0; g < groups; ++g) {
              const size_t b0 = (size_t)(g * n);
              double sum = 0, lo = b.rewards[b0], hi = b.rewards[b0];
              for (int64_t i = 0; i < n; ++i) {
                const size_t a = b0 + (size_t)i;
                sum += r.out[a];
                lo = std::min(lo, b.rewards[a]);
                hi = std::max(hi, b.rewards[a]);
                if (est == PKPO_SLOO_MINUS_ONE && k >= 2) {
                  EXPECT_GE(r.out[a], 0.0) << "n=" << n << " k=" << k;
                }
                for (int64_t j = 0; j < i; ++j) {
                  const size_t c = b0 + (size_t)j;
                  if (b.rewards[c] == b.rewards[a]) {
                    ASSERT_EQ(std::memcmp(&r.out[c], &r.out[a], 8), 0)
                        << "tied samples " << j << " and " << i << " of group " << g << ": " << r.out[c]
                        << " vs " << r.out[a] << " n=" << n << " k=" << k << " est=" << est << " dt=" << dt;
                    break;
                  }
                }
              }
              if ((est == PKPO_SLOO_MINUS_ONE || est == PKPO_L2O) && lo == hi) {
                for (int64_t i = 0; i < n; ++i) EXPECT_EQ(r.out[b0 + (size_t)i], 0.0) << "constant group";
              }
              if (est == PKPO_L2O && k < n) {
                EXPECT_LE(std::fabs(sum), (double)n * pt::tol_for(dt) * ((double)k / (double)n) * (hi - lo) + 1e-300)
                    << "l2o sum, n=" << n << " k=" << k << " dt=" << dt;
              }
            }
          }
        }
      }
    }
  }
}

// One group of 2^20 (the multi-tile path with 512 tiles), both dtypes, k in {1, 64, n}.
TEST(Cuda, OneGroupOf2To20) {
  PKPO_SKIP_WITHOUT_GPU();
#ifdef PKPO_TEST_EMULATED_DEVICE
  // 24 runs of 2^20 samples did not finish in 7 minutes on the emulated device (2-core VM); the
  // multi-tile path (carries across 33 tiles) runs there in UniformSweep (n = 65537).
  GTEST_SKIP() << "GPU only: too slow on the emulated device";
#endif
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(2);
  const int64_t n = int64_t(1) << 20;
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (pkpo_estimator est : {PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O}) {
      for (int64_t k : {int64_t(1), int64_t(64), n}) {
        pt::Batch b;
        b.est = est;
        b.dtype = dt;
        b.num_groups = 1;
        b.group_size = n;
        b.k = k;
        b.rewards = pt::gen_group(pt::Kind::Offset, n, rng);
        pt::round_rewards(&b);
        const pt::Expected e = pt::expected_for(b, oracle::LARGE);
        const pt::LibResult g = run_cuda(gpu, b);
        EXPECT_TRUE(pt::matches(b, g, e)) << "k=" << k;
        EXPECT_TRUE(same_as_cpu(b, g, pt::run_lib(cpu, b), e)) << "k=" << k;
      }
    }
  }
}

// Ragged layouts with empty and singleton groups, a mix of block-path and large-path groups, per-group
// k, an index permutation, non-finite values under EXCLUDE and PROPAGATE.
TEST(Cuda, RaggedMixedAgainstOracleAndCpu) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(3);
  const std::vector<std::vector<int64_t>> layouts = {
      {0, 1, 2, 0, 5, 1, 9, 31, 32, 33, 0},
      {3, 0, 100, 257, 1, 0, 600},
      {0, 5000, 1, 2, 0, 2049, 7, 30000, 1},
      // both edges of every group-kernel class (and the large path beside them)
      {128, 129, 256, 257, 0, 512, 513, 1, 1024, 1025, 2048, 2049, 4096, 4097},
      // group-kernel classes only: the largest size (2000) has the table row of its class, the
      // classes below take the row of their C (256, 1024) or none
      {129, 300, 2000, 700, 1500, 5, 0, 256, 1024}};
  for (const auto& sizes : layouts) {
    for (pkpo_estimator est : kEsts) {
      for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
        for (int variant = 0; variant < 4; ++variant) {
          pt::Batch b = ragged_batch(est, dt, sizes, rng, variant & 1, variant & 2);
          // Non-finite values in the second non-empty group and the last large-ish group.
          for (size_t g = 0, hits = 0; g < sizes.size() && hits < 2; ++g) {
            if (sizes[g] >= 2) {
              b.rewards[(size_t)b.offsets[g] + 1] = hits ? INFINITY : NAN;
              ++hits;
            }
          }
          if (variant == 3) b.nonfinite = PKPO_NONFINITE_PROPAGATE;
          const int64_t maxn = b.max_group_size;
          const pt::Expected e = pt::expected_for(b, maxn <= 10 ? oracle::BRUTE : oracle::LARGE);
          const pt::LibResult g = run_cuda(gpu, b);
          EXPECT_TRUE(pt::matches(b, g, e)) << "variant " << variant << " est " << est;
          EXPECT_TRUE(same_as_cpu(b, g, pt::run_lib(cpu, b), e)) << "variant " << variant;
          // max_group_size = 0 (unknown): the backend reads it back; same results.
          pt::Batch b0 = b;
          b0.max_group_size = 0;
          const pt::LibResult g0 = run_cuda(gpu, b0);
          EXPECT_TRUE(pt::bitwise_equal(g0.out, g.out));
          EXPECT_TRUE(pt::bitwise_equal(g0.rho, g.rho));
        }
      }
    }
  }
}

// The large path's sort (4096-key runs sorted, then merged four at a time): groups of 1 to 5 runs,
// so 0 to 2 merge passes (each group's keys end in the buffer its pass count picks), ties that span
// runs and merge boundaries, and a group whose rewards differ only in their lowest bits (the sort
// must use every key bit). Against the oracle and the CPU backend; tied samples must get
// bitwise-identical outputs.
TEST(Cuda, LargePathTiesAcrossTilesAndLowBits) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(11);
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (pkpo_estimator est : kEsts) {
      for (int variant = 0; variant < 5; ++variant) {
        // Variants 3 and 4: a uniform layout (the tile map without a scan), 3 runs and 1 pass per
        // group. k = 2049 puts nearly all weight on the top ranks; k = 1 and 3 spread it.
        const int64_t k = variant % 3 == 0 ? 1 : (variant % 3 == 1 ? 3 : 2049);
        const bool uniform = variant >= 3;
        const std::vector<int64_t> sizes =
            uniform ? std::vector<int64_t>{9000, 9000, 9000} : std::vector<int64_t>{2049, 7, 4097, 6149, 9000, 16485};
        pt::Batch b;
        b.est = est;
        b.dtype = dt;
        b.k = k;
        b.num_groups = (int64_t)sizes.size();
        if (uniform) {
          b.group_size = sizes[0];
        } else {
          b.offsets = pt::offsets_from_sizes(sizes);
          b.max_group_size = *std::max_element(sizes.begin(), sizes.end());
        }
        for (size_t g = 0; g < sizes.size(); ++g) {
          for (int64_t i = 0; i < sizes[g]; ++i) {
            double v;
            if (g % 2 == 0) {  // four values, runs of ties across every tile and merge boundary
              v = 0.25 * (double)(rng() % 4);
            } else {  // 100 plus 0..7 units in the last place of the dtype
              v = 100.0;
              for (uint64_t s = rng() % 8; s > 0; --s) {
                v = dt == PKPO_FLOAT32 ? (double)std::nextafter((float)v, 200.0f) : std::nextafter(v, 200.0);
              }
            }
            b.rewards.push_back(v);
          }
        }
        if (k == 3) b.index = pt::random_permutation(b.num_samples(), rng);
        pt::round_rewards(&b);
        run_checked(gpu, cpu, b, label(est, dt, "k", k));
      }
    }
  }
}

// The large path's run and tile edges (4096-key runs sorted in shared memory, 4096-key merge chunks,
// 2048-rank tiles whose weights' product beyond the tile is formed in closed form): groups one below,
// at and one above every run/tile size up to two merge passes, in one ragged batch and as a uniform
// batch; k = 1, 3, about n/2 (the closed form's m-e factors in the
// last tiles), n-1 and n; per-group k; non-finite rewards (the run sort's per-group count, read
// directly and through an index permutation). Against the oracle and the CPU backend; tied samples
// bit-identical (Kind::Ties and Binary groups).
TEST(Cuda, LargePathRunAndTileEdges) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(12);
  const std::vector<int64_t> sizes = {4097, 6143, 6144, 1, 8191, 8192, 8193, 12288, 12289, 16385};
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (pkpo_estimator est : kEsts) {
      for (int variant = 0; variant < 6; ++variant) {
        // 0-2: ragged, k = 1 / 3 / 4000 (n/2 of 8193, clamped for the smaller groups);
        // 3: ragged, per-group k and NaN/Inf, through an index; 4: ragged, per-group k and NaN/Inf;
        // 5: uniform, n = 8193, k = 8192 (n-1), NaN in one group (m = n-1: k = m).
        const bool uniform = variant == 5;
        pt::Batch b;
        if (uniform) {
          b = uniform_batch(est, dt, 8193, 3, 8192, rng);
          b.rewards[(size_t)(8193 + 17)] = NAN;
        } else {
          b = ragged_batch(est, dt, sizes, rng, variant >= 3, variant == 3);
          b.k = variant == 0 ? 1 : (variant == 1 ? 3 : 4000);
          if (variant >= 3) {
            for (size_t g = 0; g < sizes.size(); g += 2) {
              if (sizes[g] >= 2) b.rewards[(size_t)b.offsets[g] + (size_t)(sizes[g] / 2)] = (g % 4) ? INFINITY : NAN;
            }
          }
        }
        run_checked(gpu, cpu, b, label(est, dt, "variant", variant));
      }
    }
  }
}

// The large path's four-way merge passes (4096-key runs, then lists of 4096 * 4^p keys merged four
// at a time): groups whose last quad holds one, two, three or four lists, a last list of one key,
// one and two passes, and three passes (more than 16 runs: the outer split's bracket narrowed over
// several rounds of 16 candidates per half warp), in one ragged batch and as a uniform batch of
// 18-run groups;
// every kind of group (ties across run and quad boundaries, binary, negatives, extremes).
// Against the oracle and the CPU backend; tied samples bit-identical.
TEST(Cuda, LargePathFourWayMerges) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(14);
  const std::vector<int64_t> sizes = {8193, 12289, 16384, 16385, 28673, 40960, 65536, 65537, 69633};
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (pkpo_estimator est : kEsts) {
      for (int variant = 0; variant < 2; ++variant) {
        pt::Batch b;
        if (variant == 0) {
          b = ragged_batch(est, dt, sizes, rng, false, false);
          b.k = 5;
        } else {
          b = uniform_batch(est, dt, 65537 + 4096, 2, 30000, rng);
        }
        run_checked(gpu, cpu, b, label(est, dt, "variant", variant));
      }
    }
  }
}

// Uniform batches of large groups whose scatter forms the TERMS carries itself (at most 512 tiles per
// group): every group action there (general, one finite sample, none, NaN under PROPAGATE, the
// strict-k and non-finite errors), per-group k with clamping, rho and flags: the same statuses,
// flags, rho and outputs as the CPU backend, and the oracle where the call succeeds.
TEST(Cuda, LargeUniformGroupActions) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(13);
  const int64_t n = 4097, G = 5;
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (pkpo_estimator est : kEsts) {
      for (int variant = 0; variant < 4; ++variant) {
        pt::Batch b = uniform_batch(est, dt, n, G, 3, rng);
        for (int64_t i = 0; i < n; ++i) {
          if (i != 77) b.rewards[(size_t)(n + i)] = NAN;  // group 1: one finite sample
          b.rewards[(size_t)(2 * n + i)] = (i % 2) ? INFINITY : NAN;  // group 2: none
        }
        b.rewards[(size_t)(3 * n + 5)] = -INFINITY;  // group 3: one non-finite
        if (variant == 0) {
          for (int64_t g = 0; g < G; ++g) b.k_per_group.push_back(1 + (int64_t)(rng() % (uint64_t)(n + 2)));
        }
        if (variant == 1) b.nonfinite = PKPO_NONFINITE_PROPAGATE;
        if (variant == 2) {
          b.k_policy = PKPO_K_STRICT;
          b.k = 2;  // group 1 has one finite sample: k > m
        }
        if (variant == 3) b.nonfinite = PKPO_NONFINITE_ERROR;
        const pt::LibResult g = run_cuda(gpu, b);
        const pt::LibResult c = pt::run_lib(cpu, b);
        ASSERT_EQ(g.status, c.status) << "est " << est << " dt " << dt << " variant " << variant << ": "
                                      << g.last_error;
        if (g.status != PKPO_SUCCESS) continue;
        const pt::Expected e = pt::expected_for(b, oracle::LARGE);
        EXPECT_TRUE(pt::matches(b, g, e)) << "est " << est << " dt " << dt << " variant " << variant;
        EXPECT_TRUE(same_as_cpu(b, g, c, e)) << "est " << est << " dt " << dt << " variant " << variant;
      }
    }
  }
}

// Uniform groups of 257 to 512 tiles, whose scatter forms the TERMS carries itself with two tiles per
// thread: n = 300 * 2048 + 5 (301 tiles: a thread whose first tile is the group's last and whose
// second is past it; four merge passes); the estimators with forward and backward carries. rho must
// be bit for bit the rho of the same batch without outputs (the rho estimator, whose carries a
// separate kernel forms; k = 2 spreads rho's terms over every tile). That check guards the
// summation order only partly: with two groups a sum in another order (tiles paired per thread,
// which differs from the carry kernel's from 129 tiles on) happened to round to the same bits.
TEST(Cuda, LargeUniformFoldTwoTilesPerThread) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(15);
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    pt::Batch b = uniform_batch(PKPO_RHO, dt, 300 * 2048 + 5, 2, 2, rng);
    const pt::LibResult rho_only = run_cuda(gpu, b);
    ASSERT_EQ(rho_only.status, PKPO_SUCCESS) << rho_only.last_error;
    for (pkpo_estimator est : {PKPO_SLOO, PKPO_L2O}) {
      b.est = est;
      const pt::LibResult g = run_checked(gpu, cpu, b, label(est, dt, "n", b.group_size));
      EXPECT_TRUE(pt::bitwise_equal(g.rho, rho_only.rho)) << "est " << est << " dt " << dt;
    }
  }
}

// ---- boundary rules and statuses -------------------------------------------------------------------

TEST(Cuda, StrictAndErrorPolicies) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(4);
  for (int64_t n : {5, 3000}) {
    pt::Batch b = ragged_batch(PKPO_SLOO_MINUS_ONE, PKPO_FLOAT64, {n, n, n}, rng, false, false);
    b.k = 4;
    b.rewards[(size_t)b.offsets[1]] = NAN;  // group 1 has n-1 finite samples
    b.k_policy = PKPO_K_STRICT;
    b.k = n;
    pt::LibResult r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N) << r.last_error;
    EXPECT_NE(r.last_error.find("group 1"), std::string::npos) << r.last_error;
    b.k_policy = PKPO_K_CLAMP;
    b.nonfinite = PKPO_NONFINITE_ERROR;
    b.k = 2;
    r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_ERROR_NON_FINITE) << r.last_error;
    EXPECT_NE(r.last_error.find("group 1"), std::string::npos) << r.last_error;
    // Several failing groups: the smallest is reported, as the CPU backend stops at the first.
    b.rewards[(size_t)b.offsets[2] + 1] = INFINITY;
    r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_ERROR_NON_FINITE) << r.last_error;
    EXPECT_NE(r.last_error.find("group 1"), std::string::npos) << r.last_error;
    b.rewards[(size_t)b.offsets[1]] = 0.5;  // now only group 2 fails
    r = run_cuda(gpu, b);
    EXPECT_NE(r.last_error.find("group 2"), std::string::npos) << r.last_error;
    b.rewards[(size_t)b.offsets[1]] = NAN;
    b.nonfinite = PKPO_NONFINITE_EXCLUDE;
    r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_SUCCESS);
  }
  // The same in-kernel failures on the uniform warp kernels (WARP_EXACT at n = 16, WARP_UNIFORM at
  // n = 24): k = n under the strict policy fails the groups that lose a reward to the exclusion,
  // and the error policy fails the groups with a non-finite reward; the smallest is reported.
  for (int64_t n : {16, 24}) {
    pt::Batch b = uniform_batch(PKPO_SLOO, PKPO_FLOAT32, n, 40, n, rng);
    b.rewards[(size_t)(33 * n + 2)] = NAN;
    b.rewards[(size_t)(7 * n + n - 1)] = -INFINITY;
    b.k_policy = PKPO_K_STRICT;
    pt::LibResult r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N) << "n=" << n << " " << r.last_error;
    EXPECT_NE(r.last_error.find("group 7"), std::string::npos) << r.last_error;
    b.k_policy = PKPO_K_CLAMP;
    b.k = 3;
    b.nonfinite = PKPO_NONFINITE_ERROR;
    r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_ERROR_NON_FINITE) << "n=" << n << " " << r.last_error;
    EXPECT_NE(r.last_error.find("group 7"), std::string::npos) << r.last_error;
    b.nonfinite = PKPO_NONFINITE_EXCLUDE;
    b.k = n;  // clamped to n - 1 in groups 7 and 33 (flagged), served by the table row elsewhere
    r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_SUCCESS);
    const pt::Expected e = pt::expected_for(b, oracle::LARGE);
    EXPECT_TRUE(pt::matches(b, r, e)) << "n=" << n;
  }
}

// The rare actions no other test reaches: groups whose rewards are all
// non-finite (empty after the exclusion) on the warp and group kernels; a uniform layout with an
// index permutation (the general warp kernel with its one-row table, the uniform group-kernel
// launch); an invalid group (per-group k = 0) in a uniform group-kernel launch, whose flags, NaN rho
// and untouched outputs come from the launch that takes the invalid groups; the strict and error
// policies failing groups of 129-4096 (ragged and uniform), reported by the smallest group.
TEST(Cuda, RareActionsOnEveryPath) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(99);
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (pkpo_estimator est : kEsts) {
      // ragged: an all-NaN group at 300 and 129 (ACT_EMPTY), singletons, and regular groups
      pt::Batch b = ragged_batch(est, dt, {300, 129, 512, 513, 2048, 5, 3000}, rng, false, false);
      for (int64_t j = b.offsets[0]; j < b.offsets[1]; ++j) b.rewards[(size_t)j] = NAN;
      for (int64_t j = b.offsets[1]; j < b.offsets[2]; ++j) b.rewards[(size_t)j] = INFINITY;
      for (int64_t j = b.offsets[5]; j < b.offsets[6]; ++j) b.rewards[(size_t)j] = NAN;
      const pt::Expected e = pt::expected_for(b, oracle::LARGE);
      const pt::LibResult g = run_cuda(gpu, b);
      EXPECT_TRUE(pt::matches(b, g, e)) << "empty est " << est << " dt " << dt;
      EXPECT_TRUE(same_as_cpu(b, g, pt::run_lib(cpu, b), e)) << "empty est " << est;
      // uniform + index on the group kernel and on the warp kernel (GENERAL with the one-row table)
      for (int64_t n : {16, 24, 300, 3000}) {
        pt::Batch u = uniform_batch(est, dt, n, 10, 3, rng);
        u.index = pt::random_permutation(u.num_samples(), rng);
        const pt::Expected eu = pt::expected_for(u, oracle::LARGE);
        const pt::LibResult gu = run_cuda(gpu, u);
        EXPECT_TRUE(pt::matches(u, gu, eu)) << "uniform+index n=" << n << " est " << est;
        // uniform, k_per_group with a 0 (invalid group in the lower == 0 launch)
        pt::Batch v = uniform_batch(est, dt, n, 7, 3, rng);
        for (int64_t gg = 0; gg < 7; ++gg) v.k_per_group.push_back(gg == 2 ? 0 : 1 + gg);
        const pt::LibResult gv = run_cuda(gpu, v);
        ASSERT_EQ(gv.status, PKPO_SUCCESS);
        EXPECT_EQ(gv.flags[2], (uint32_t)PKPO_FLAG_INVALID) << n;
        EXPECT_TRUE(std::isnan(gv.rho[2]));
        EXPECT_TRUE(gv.guards_intact);
        if (est != PKPO_RHO) {
          for (int64_t j = 2 * n; j < 3 * n; ++j) EXPECT_TRUE(untouched(dt, gv.out[(size_t)j])) << j;
        }
      }
    }
  }
  // strict / error on the group kernels (ragged and uniform)
  for (int64_t n : {300, 1500, 3000}) {
    pt::Batch b = ragged_batch(PKPO_SLOO_MINUS_ONE, PKPO_FLOAT64, {n, n, n}, rng, false, false);
    b.rewards[(size_t)b.offsets[1]] = NAN;
    b.k_policy = PKPO_K_STRICT;
    b.k = n;
    pt::LibResult r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N) << r.last_error;
    EXPECT_NE(r.last_error.find("group 1"), std::string::npos) << r.last_error;
    b.k_policy = PKPO_K_CLAMP;
    b.nonfinite = PKPO_NONFINITE_ERROR;
    b.k = 2;
    r = run_cuda(gpu, b);
    EXPECT_EQ(r.status, PKPO_ERROR_NON_FINITE) << r.last_error;
    EXPECT_NE(r.last_error.find("group 1"), std::string::npos) << r.last_error;
    pt::Batch u = uniform_batch(PKPO_SLOO, PKPO_FLOAT32, n, 9, n, rng);
    u.rewards[(size_t)(4 * n + 7)] = NAN;
    u.k_policy = PKPO_K_STRICT;
    r = run_cuda(gpu, u);
    EXPECT_EQ(r.status, PKPO_ERROR_K_EXCEEDS_N) << r.last_error;
    EXPECT_NE(r.last_error.find("group 4"), std::string::npos) << r.last_error;
  }
}

// Invalid device data: decreasing offsets, k_per_group < 1, an index entry out of range. The group
// is flagged INVALID, its rho is NaN, its outputs are untouched; every other group is computed.
TEST(Cuda, InvalidDeviceDataIsFlaggedAndContained) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(5);
  for (int64_t n : {4, 100, 3000}) {
    pt::Batch b = ragged_batch(PKPO_L2O, PKPO_FLOAT32, {n, n, n, n}, rng, true, false);
    const pt::Batch clean = b;
    b.k_per_group[1] = 0;  // invalid k
    pt::LibResult r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS);
    EXPECT_EQ(r.flags[1], (uint32_t)PKPO_FLAG_INVALID);
    EXPECT_TRUE(std::isnan(r.rho[1]));
    for (int64_t j = b.offsets[1]; j < b.offsets[2]; ++j) {
      EXPECT_TRUE(untouched(b.dtype, r.out[(size_t)j])) << j;  // never written
    }
    const pt::LibResult ok = run_cuda(gpu, clean);
    for (int64_t j = 0; j < b.offsets[1]; ++j) EXPECT_EQ(r.out[(size_t)j], ok.out[(size_t)j]);
    for (int64_t j = b.offsets[2]; j < b.num_samples(); ++j) EXPECT_EQ(r.out[(size_t)j], ok.out[(size_t)j]);

    b = clean;
    b.index = pt::random_permutation(b.num_samples(), rng);
    const int64_t bad_pos = b.offsets[2] + 1;
    b.index[(size_t)bad_pos] = b.num_samples() + 5;  // out of range: group 2 invalid
    r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS);
    EXPECT_EQ(r.flags[2], (uint32_t)PKPO_FLAG_INVALID);
    EXPECT_TRUE(std::isnan(r.rho[2]));
    EXPECT_TRUE(r.guards_intact);

    b = clean;
    std::swap(b.offsets[2], b.offsets[3]);  // group 1 ends after group 2 begins: 1 and 2 invalid
    r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS);
    EXPECT_EQ(r.flags[0] & PKPO_FLAG_INVALID, 0u);
    EXPECT_EQ(r.flags[2], (uint32_t)PKPO_FLAG_INVALID);
    EXPECT_TRUE(r.guards_intact);
  }
}

// A repeated index entry (the CPU rejects it) makes every group holding one INVALID on the device:
// their outputs are never written, so two groups cannot write the same output; the other groups
// are computed as in a clean run. Both paths, transform and curve.
TEST(Cuda, DuplicateIndexEntriesFlagTheirGroups) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(15);
  for (int64_t n : {5, 300, 3000}) {
    pt::Batch b = ragged_batch(PKPO_SLOO_MINUS_ONE, PKPO_FLOAT64, {n, n, n, n}, rng, false, true);
    const pt::Batch clean = b;
    const int64_t a = b.offsets[0] + 1, c = b.offsets[2] + 2;
    const int64_t lost = b.index[(size_t)c];
    b.index[(size_t)c] = b.index[(size_t)a];  // groups 0 and 2 both name this sample
    EXPECT_EQ(pt::run_lib(cpu, b).status, PKPO_ERROR_INVALID_LAYOUT);
    const pt::LibResult r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    EXPECT_EQ(r.flags[0], (uint32_t)PKPO_FLAG_INVALID) << "n=" << n;
    EXPECT_EQ(r.flags[2], (uint32_t)PKPO_FLAG_INVALID) << "n=" << n;
    EXPECT_TRUE(std::isnan(r.rho[0]) && std::isnan(r.rho[2]));
    EXPECT_TRUE(r.guards_intact);
    const pt::LibResult ok = run_cuda(gpu, clean);
    for (int64_t g : {int64_t(0), int64_t(2)}) {
      for (int64_t j = b.offsets[(size_t)g]; j < b.offsets[(size_t)g + 1]; ++j) {
        EXPECT_TRUE(untouched(b.dtype, r.out[(size_t)b.index[(size_t)j]])) << "group " << g << " position " << j;
      }
    }
    EXPECT_TRUE(untouched(b.dtype, r.out[(size_t)lost]));  // named by no entry now
    for (int64_t g : {int64_t(1), int64_t(3)}) {
      EXPECT_EQ(r.flags[(size_t)g], ok.flags[(size_t)g]);
      EXPECT_EQ(std::memcmp(&r.rho[(size_t)g], &ok.rho[(size_t)g], 8), 0);
      for (int64_t j = b.offsets[(size_t)g]; j < b.offsets[(size_t)g + 1]; ++j) {
        const size_t i = (size_t)b.index[(size_t)j];
        EXPECT_EQ(std::memcmp(&r.out[i], &ok.out[i], 8), 0) << "group " << g;
      }
    }
    // The rho curve flags the same groups.
    const int64_t ks[] = {1, 2, 3};
    DevMem in(b.rewards.size() * 8), rho(4 * 3 * 8), flags(4 * 4);
    CUDA_OK(cudaMemcpy(in.p, b.rewards.data(), b.rewards.size() * 8, cudaMemcpyHostToDevice));
    DevBatch db(b);
    const pkpo_desc d = db.desc(b);
    ASSERT_EQ(pkpo_rho_curve(gpu, &d, in.p, ks, 3, rho.p, flags.as<uint32_t>(), nullptr), PKPO_SUCCESS);
    std::vector<uint32_t> hf(4);
    CUDA_OK(cudaMemcpy(hf.data(), flags.p, 16, cudaMemcpyDeviceToHost));
    EXPECT_EQ(hf[0], (uint32_t)PKPO_FLAG_INVALID);
    EXPECT_EQ(hf[2], (uint32_t)PKPO_FLAG_INVALID);
    EXPECT_EQ(hf[1] & PKPO_FLAG_INVALID, 0u);
  }
}

// One uniform group (the whole-array sort of the large path) that is invalid (k < 1): the sort must
// not read keys that were never written (compute-sanitizer initcheck on a GPU; the emulated device
// fails the call), and the group is flagged.
TEST(Cuda, WholeSortOfAnInvalidOnlyGroup) {
  PKPO_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(16);
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    CudaHandle gpu;  // fresh workspace
    pt::Batch b = uniform_batch(PKPO_SLOO, dt, 5000, 1, 3, rng);
    b.k_per_group = {0};
    const pt::LibResult r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    EXPECT_EQ(r.flags[0], (uint32_t)PKPO_FLAG_INVALID);
    EXPECT_TRUE(std::isnan(r.rho[0]));
    EXPECT_TRUE(r.guards_intact);
  }
}

// One uniform group takes the whole-array sort (CUB's radix sort with a DoubleBuffer), whose result
// lands in either key buffer: CUB's single-tile sort (up to 256 x 19 keys) leaves it in the
// alternate one, its onesweep sort (one pass per 8-bit digit: an even number for 32- and 64-bit
// keys) in the current one. Sizes on both sides of that edge, every estimator, both dtypes, k = 1,
// 3 and n - 1, against the oracle and the CPU backend. (The emulated device also runs them with
// the result forced into each buffer: EmuHazards.WholeSortResultInEitherBuffer.)
TEST(Cuda, WholeSortResultInEitherBuffer) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(23);
  for (int64_t n : {int64_t(4097), int64_t(4864), int64_t(4865), int64_t(12289)}) {
    for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
      for (pkpo_estimator est : kEsts) {
        for (int64_t k : {int64_t(1), int64_t(3), n - 1}) {
          const pt::Batch b = uniform_batch(est, dt, n, 1, k, rng);
          run_checked(gpu, cpu, b, label(est, dt, "n", n) + " k " + std::to_string(k));
        }
      }
    }
  }
}

// Offsets valid group by group but overlapping (0, N, 0, N, ...: every even group is [0, N), every
// odd one decreasing) put more large-path tiles on the device than the workspace's per-tile tables
// hold. The groups past the bound must be flagged INVALID and nothing outside the caller's workspace
// (guard bytes after it) or the outputs may be written. The overlapping groups' values are
// unspecified (two groups share samples); only containment is checked.
TEST(Cuda, OverlappingOffsetsStayInsideWorkspace) {
  PKPO_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(12);
  const int64_t G = 101;
  // G groups over the same N samples: [0, N) for even g, [N, 0) (invalid) for odd g
  auto overlapping = [&](pkpo_estimator est, pkpo_dtype dt, int64_t N) {
    pt::Batch b;
    b.est = est;
    b.dtype = dt;
    b.num_groups = G;
    for (int64_t g = 0; g <= G; ++g) b.offsets.push_back(g % 2 ? N : 0);
    b.offsets[(size_t)G] = N;
    b.max_group_size = N;
    b.k = 4;
    b.rewards = pt::gen_group(pt::Kind::Uniform, N, rng);
    pt::round_rewards(&b);
    return b;
  };
  for (pkpo_estimator est : {PKPO_RHO, PKPO_SLOO_MINUS_ONE}) {
    CudaHandle gpu;
    // N = 8192: tables for 2N/2048 + 1 = 9 tiles; 51 groups of 4 tiles
    const pt::Batch b = overlapping(est, PKPO_FLOAT32, 8192);
    DevBatch db(b);
    const pkpo_desc d = db.desc(b);
    size_t need = 0;
    ASSERT_EQ(pkpo_workspace_size(gpu, &d, &need), PKPO_SUCCESS);
    const size_t guard = size_t(1) << 20;
    DevMem ws(need + guard);
    ASSERT_NE(ws.p, nullptr);
    CUDA_OK(cudaMemset(static_cast<char*>(ws.p) + need, 0x5A, guard));
    ASSERT_EQ(pkpo_set_workspace(gpu, ws.p, need), PKPO_SUCCESS);
    const pt::LibResult r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    EXPECT_TRUE(r.guards_intact);
    std::vector<unsigned char> h(guard);
    CUDA_OK(cudaMemcpy(h.data(), static_cast<char*>(ws.p) + need, guard, cudaMemcpyDeviceToHost));
    EXPECT_TRUE(std::all_of(h.begin(), h.end(), [](unsigned char c) { return c == 0x5A; }))
        << "written past the end of the workspace";
    for (int64_t g = 1; g < G; g += 2) EXPECT_EQ(r.flags[(size_t)g], (uint32_t)PKPO_FLAG_INVALID) << g;
    for (int64_t g = 4; g < G; g += 2) EXPECT_EQ(r.flags[(size_t)g], (uint32_t)PKPO_FLAG_INVALID) << g;
    ASSERT_EQ(pkpo_set_workspace(gpu, nullptr, 0), PKPO_SUCCESS);
  }
  // Shifted overlaps on the large path: groups 0, 2, ..., 8 are [37j, 37j + 20000) (five runs, two
  // merge passes), the odd ones invalid ([37j + 20000, 37(j + 1)): begin > end) but group 9, a valid
  // group of 80000 after them all (the tiles of all ten fit the workspace's per-tile tables). Each overlapping group's run sort overwrites the others' runs at
  // shifted positions, so the merge passes meet unsorted lists: every read must stay inside the
  // lists and every write inside the group (guards after the outputs and the workspace), and the
  // group that overlaps nothing must get the same outputs as when it is alone.
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    CudaHandle gpu;
    pt::Batch b;
    b.est = PKPO_SLOO;
    b.dtype = dt;
    b.k = 5;
    const int64_t K = 5, L = 20000, tail = 80000;
    b.num_groups = 2 * K;
    for (int64_t j = 0; j < K; ++j) {
      b.offsets.push_back(37 * j);
      b.offsets.push_back(37 * j + L);
    }
    const int64_t N = 37 * (K - 1) + L + tail;
    b.offsets[(size_t)(2 * K - 1)] = N - tail;  // group 9: [N - tail, N)
    b.offsets.push_back(N);
    b.max_group_size = tail;
    b.rewards = pt::gen_group(pt::Kind::Uniform, N, rng);
    pt::round_rewards(&b);
    DevBatch db(b);
    const pkpo_desc d = db.desc(b);
    size_t need = 0;
    ASSERT_EQ(pkpo_workspace_size(gpu, &d, &need), PKPO_SUCCESS);
    const size_t guard = size_t(1) << 20;
    DevMem ws(need + guard);
    ASSERT_NE(ws.p, nullptr);
    CUDA_OK(cudaMemset(static_cast<char*>(ws.p) + need, 0x5A, guard));
    ASSERT_EQ(pkpo_set_workspace(gpu, ws.p, need), PKPO_SUCCESS);
    const pt::LibResult r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    EXPECT_TRUE(r.guards_intact);
    std::vector<unsigned char> h(guard);
    CUDA_OK(cudaMemcpy(h.data(), static_cast<char*>(ws.p) + need, guard, cudaMemcpyDeviceToHost));
    EXPECT_TRUE(std::all_of(h.begin(), h.end(), [](unsigned char c) { return c == 0x5A; }))
        << "written past the end of the workspace";
    for (int64_t g = 1; g < 2 * K - 1; g += 2) EXPECT_EQ(r.flags[(size_t)g], (uint32_t)PKPO_FLAG_INVALID) << g;
    ASSERT_EQ(pkpo_set_workspace(gpu, nullptr, 0), PKPO_SUCCESS);
    pt::Batch alone;
    alone.est = b.est;
    alone.dtype = dt;
    alone.k = b.k;
    alone.num_groups = 1;
    alone.group_size = tail;
    alone.rewards.assign(b.rewards.end() - tail, b.rewards.end());
    alone.rewards.push_back(0.0);  // a second, one-sample group: the merge-sorted path, not the whole sort
    alone.num_groups = 2;
    alone.group_size = 0;
    alone.offsets = {0, tail, tail + 1};
    alone.max_group_size = tail;
    const pt::LibResult a = run_cuda(gpu, alone);
    ASSERT_EQ(a.status, PKPO_SUCCESS) << a.last_error;
    EXPECT_EQ(r.flags[(size_t)(2 * K - 1)], a.flags[0]);
    EXPECT_TRUE(pt::bitwise_equal({r.rho[(size_t)(2 * K - 1)]}, {a.rho[0]}));
    EXPECT_TRUE(pt::bitwise_equal(std::vector<double>(r.out.end() - tail, r.out.end()),
                                  std::vector<double>(a.out.begin(), a.out.begin() + tail)))
        << "the group that overlaps nothing differs from the same group alone";
  }
  // The same on the block path: 51 groups of 300 over the same 300 samples, bucketed by size class;
  // the class 257..512 holds at most 300 / 257 + 1 = 2 disjoint groups, and the others are flagged
  // INVALID (which two get the slots depends on the bucketing's atomics).
  for (pkpo_estimator est : {PKPO_RHO, PKPO_SLOO_MINUS_ONE}) {
    CudaHandle gpu;
    const pt::Batch b = overlapping(est, PKPO_FLOAT64, 300);
    const pt::LibResult r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    EXPECT_TRUE(r.guards_intact);
    int computed = 0;
    for (int64_t g = 0; g < G; ++g) {
      if (g % 2 || r.flags[(size_t)g] == (uint32_t)PKPO_FLAG_INVALID) {
        EXPECT_EQ(r.flags[(size_t)g], (uint32_t)PKPO_FLAG_INVALID) << g;
        EXPECT_TRUE(std::isnan(r.rho[(size_t)g])) << g;
      } else {
        EXPECT_EQ(r.flags[(size_t)g], 0u) << g;
        ++computed;
      }
    }
    EXPECT_EQ(computed, 2);
  }
}

// NaN in one group leaves every other group bit-identical to a clean run (both paths).
TEST(Cuda, IsolationNaNInOneGroup) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(6);
  for (int64_t n : {8, 300, 5000}) {
    for (pkpo_nonfinite_policy pol : {PKPO_NONFINITE_EXCLUDE, PKPO_NONFINITE_PROPAGATE}) {
      pt::Batch b = uniform_batch(PKPO_SLOO, PKPO_FLOAT64, n, 6, 3, rng);
      b.nonfinite = pol;
      const pt::LibResult clean = run_cuda(gpu, b);
      b.rewards[(size_t)(3 * n + n / 2)] = NAN;
      const pt::LibResult dirty = run_cuda(gpu, b);
      for (int64_t g = 0; g < 6; ++g) {
        if (g == 3) continue;
        EXPECT_EQ(std::memcmp(&clean.rho[(size_t)g], &dirty.rho[(size_t)g], 8), 0);
        EXPECT_EQ(clean.flags[(size_t)g], dirty.flags[(size_t)g]);
        EXPECT_EQ(std::memcmp(&clean.out[(size_t)(g * n)], &dirty.out[(size_t)(g * n)], (size_t)n * 8), 0)
            << "group " << g;
      }
      EXPECT_TRUE(dirty.flags[3] & PKPO_FLAG_NONFINITE);
    }
  }
}

TEST(Cuda, DeterministicAndInPlace) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(7);
  for (int64_t n : {16, 500, 2000, 9000}) {
    for (pkpo_estimator est : kEsts) {
      const pt::Batch b = ragged_batch(est, PKPO_FLOAT32, {n, 1, 0, n / 2 + 1, n}, rng, true, true);
      const pt::LibResult a = run_cuda(gpu, b), c = run_cuda(gpu, b);
      EXPECT_TRUE(pt::bitwise_equal(a.out, c.out));
      EXPECT_TRUE(pt::bitwise_equal(a.rho, c.rho));
      EXPECT_EQ(a.flags, c.flags);
      if (est != PKPO_RHO) {
        const pt::LibResult ip = run_cuda(gpu, b, true, true, /*in_place=*/true);
        EXPECT_TRUE(pt::bitwise_equal(a.out, ip.out)) << "in place n=" << n;
      }
    }
  }
}

// Signed zeros: every zero output and rho bit-identical to the CPU backend (-0.0 kept where the CPU
// keeps it, +0.0 where it gives +0.0), on the warp, block and large paths, for every estimator and
// dtype. Non-zero values within docs/math.md's target of the CPU's: the warp path computes float32
// groups in float32 arithmetic while the CPU rounds a float64 result once (1/3 comes out
// one ulp apart), and nvcc fuses multiply-adds that the CPU build (-ffp-contract=off) keeps apart.
TEST(Cuda, SignedZerosBitwiseAsCpu) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  const double nz = -0.0;
  std::vector<std::vector<double>> groups = {{nz}, {0.0}, {nz, nz}, {nz, 0.0}, {0.0, nz}, {nz, 1.0},
                                             {-1.0, nz}, {nz, NAN}, {nz, nz, nz, 2.0}};
  for (int64_t big : {int64_t(2100), int64_t(5000)}) {  // large path; one of them all -0.0
    std::vector<double> g((size_t)big, nz);
    if (big == 5000) g[17] = 0.0;
    groups.push_back(g);
  }
  groups.push_back(std::vector<double>((size_t)2100, nz));
  groups.push_back(std::vector<double>((size_t)300, nz));  // group kernels: all -0.0
  std::vector<double> single_mid((size_t)300, NAN);        // group kernels, one finite sample: -0.0
  single_mid[150] = nz;
  groups.push_back(single_mid);
  std::vector<double> mixed_mid((size_t)1500, nz);  // group kernels: -0.0 and one +0.0
  mixed_mid[700] = 0.0;
  groups.push_back(mixed_mid);
  std::vector<double> single_large((size_t)2100, NAN);  // large path, one finite sample: -0.0
  single_large[1000] = nz;
  groups.push_back(single_large);
  for (pkpo_estimator est : kEsts) {
    for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
      for (int64_t k : {int64_t(1), int64_t(2)}) {
        pt::Batch b;
        b.est = est;
        b.dtype = dt;
        b.k = k;
        std::vector<int64_t> sizes;
        for (const auto& g : groups) {
          sizes.push_back((int64_t)g.size());
          b.rewards.insert(b.rewards.end(), g.begin(), g.end());
        }
        b.num_groups = (int64_t)sizes.size();
        b.offsets = pt::offsets_from_sizes(sizes);
        b.max_group_size = *std::max_element(sizes.begin(), sizes.end());
        const pt::LibResult g = run_cuda(gpu, b);
        const pt::LibResult c = pt::run_lib(cpu, b);
        ASSERT_EQ(g.status, PKPO_SUCCESS) << g.last_error;
        // Zeros (and NaNs) bit for bit, in both dtypes; other values within the target (scale 1:
        // every group's rewards here are of size <= 2).
        auto zeros_same = [&](const std::vector<double>& a, const std::vector<double>& b, const char* what) {
          ASSERT_EQ(a.size(), b.size());
          for (size_t j = 0; j < a.size(); ++j) {
            if (a[j] == 0.0 || b[j] == 0.0 || std::isnan(a[j]) || std::isnan(b[j])) {
              EXPECT_EQ(std::memcmp(&a[j], &b[j], 8), 0)
                  << what << " " << j << ": " << a[j] << " vs CPU " << b[j] << " est " << est << " dt " << dt;
            } else {
              EXPECT_NEAR(a[j], b[j], 2 * pt::tol_for(dt) * 2.0) << what << " " << j << " est " << est;
            }
          }
        };
        zeros_same(g.out, c.out, "sample");
        zeros_same(g.rho, c.rho, "rho of group");
        for (size_t j = 0; j < g.rho.size(); ++j) {
          EXPECT_EQ(std::signbit(g.rho[j]), std::signbit(c.rho[j])) << "rho of group " << j << " est " << est;
        }
        for (size_t j = 0; j < g.out.size() && j < 40; ++j) {
          EXPECT_EQ(std::signbit(g.out[j]), std::signbit(c.out[j])) << "sample " << j << " est " << est << " dt " << dt;
        }
      }
    }
  }
}

// ---- streams, graphs, workspace ----------------------------------------------------------------------

// Capture one transform into a CUDA graph, then replay it with new rewards, new k_per_group and
// new offsets written into the same device buffers; each replay equals a direct call.
TEST(Cuda, GraphCaptureAndReplay) {
  PKPO_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(8);
  for (int64_t maxn : {24, 400, 6000}) {
    CudaHandle gpu;
    pt::Handle cpu;
    std::vector<int64_t> sizes = {maxn, 1, 0, maxn / 2, 3, maxn};
    pt::Batch b = ragged_batch(PKPO_SLOO_MINUS_ONE, PKPO_FLOAT64, sizes, rng, true, true);
    const int64_t N = b.num_samples(), G = b.num_groups;
    DevMem in(N * 8), out(N * 8), rho(G * 8), flags(G * 4);
    DevBatch db(b);
    cudaMemcpy(in.p, b.rewards.data(), N * 8, cudaMemcpyHostToDevice);
    // The copies above ran on the legacy stream; the non-blocking stream below does not wait for
    // them.
    CUDA_OK(cudaDeviceSynchronize());
    const pkpo_desc d = db.desc(b);
    ASSERT_EQ(pkpo_reserve(gpu, &d), PKPO_SUCCESS);
    cudaStream_t s;
    CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CUDA_OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    const pkpo_status st = pkpo_transform(gpu, &d, in.p, out.p, rho.p, flags.as<uint32_t>(), s);
    cudaGraph_t graph;
    CUDA_OK(cudaStreamEndCapture(s, &graph));
    ASSERT_EQ(st, PKPO_SUCCESS) << pkpo_last_error(gpu);
    cudaGraphExec_t exec;
    CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
    for (int round = 0; round < 3; ++round) {
      // New data, k and offsets (same sizes in another order, so max_group_size still holds).
      pt::Batch nb = b;
      std::shuffle(sizes.begin(), sizes.end(), rng);
      nb.offsets = pt::offsets_from_sizes(sizes);
      nb.rewards.clear();
      for (int64_t n : sizes) {
        const auto v = pt::gen_group(pt::Kind::Uniform, n, rng);
        nb.rewards.insert(nb.rewards.end(), v.begin(), v.end());
      }
      for (auto& k : nb.k_per_group) k = 1 + (int64_t)(rng() % 40);
      // On the replay stream: a copy on the legacy stream would not be ordered before a launch on
      // a non-blocking stream (the emulated device runs them in the order that shows it).
      CUDA_OK(cudaMemcpyAsync(in.p, nb.rewards.data(), N * 8, cudaMemcpyHostToDevice, s));
      CUDA_OK(cudaMemcpyAsync(db.offsets.p, nb.offsets.data(), (G + 1) * 8, cudaMemcpyHostToDevice, s));
      CUDA_OK(cudaMemcpyAsync(db.kpg.p, nb.k_per_group.data(), G * 8, cudaMemcpyHostToDevice, s));
      CUDA_OK(cudaGraphLaunch(exec, s));
      CUDA_OK(cudaStreamSynchronize(s));
      pt::LibResult g;
      g.status = PKPO_SUCCESS;
      g.out.resize(N);
      g.rho.resize(G);
      g.flags.resize(G);
      cudaMemcpy(g.out.data(), out.p, N * 8, cudaMemcpyDeviceToHost);
      cudaMemcpy(g.rho.data(), rho.p, G * 8, cudaMemcpyDeviceToHost);
      cudaMemcpy(g.flags.data(), flags.p, G * 4, cudaMemcpyDeviceToHost);
      const pt::Expected e = pt::expected_for(nb, oracle::LARGE);
      EXPECT_TRUE(pt::matches(nb, g, e)) << "replay " << round;
      const pt::LibResult direct = run_cuda(gpu, nb);
      EXPECT_TRUE(pt::bitwise_equal(direct.out, g.out)) << "replay " << round;
      EXPECT_TRUE(pt::bitwise_equal(direct.rho, g.rho)) << "replay " << round;
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
  }
}

// A graph keeps working after the handle's workspace grows (a larger eager call, pkpo_reserve,
// pkpo_set_workspace): the buffer the graph points to is kept until pkpo_destroy. (On the emulated
// device freed memory is inaccessible, so a replay into it faults.)
TEST(Cuda, WorkspaceGrowthAfterCaptureKeepsGraphsValid) {
  PKPO_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(13);
  CudaHandle gpu;
  const pt::Batch small = uniform_batch(PKPO_SLOO, PKPO_FLOAT64, 3000, 3, 4, rng);  // large path
  const pt::Batch big = uniform_batch(PKPO_SLOO, PKPO_FLOAT64, 7000, 4, 4, rng);
  const int64_t N = small.num_samples(), G = small.num_groups;
  DevMem in(N * 8), out(N * 8), rho(G * 8);
  cudaMemcpy(in.p, small.rewards.data(), N * 8, cudaMemcpyHostToDevice);
  CUDA_OK(cudaDeviceSynchronize());
  const pkpo_desc d = small.desc();
  ASSERT_EQ(pkpo_reserve(gpu, &d), PKPO_SUCCESS);
  cudaStream_t s;
  CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  CUDA_OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  const pkpo_status st = pkpo_transform(gpu, &d, in.p, out.p, rho.p, nullptr, s);
  cudaGraph_t graph;
  CUDA_OK(cudaStreamEndCapture(s, &graph));
  ASSERT_EQ(st, PKPO_SUCCESS) << pkpo_last_error(gpu);
  cudaGraphExec_t exec;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  const pt::LibResult direct = run_cuda(gpu, small);
  for (int round = 0; round < 3; ++round) {
    if (round == 0) {
      ASSERT_EQ(run_cuda(gpu, big).status, PKPO_SUCCESS);  // grows the workspace
    } else if (round == 1) {
      const pkpo_desc db = big.desc();
      size_t need = 0;
      ASSERT_EQ(pkpo_workspace_size(gpu, &db, &need), PKPO_SUCCESS);
      pt::Batch bigger = uniform_batch(PKPO_SLOO, PKPO_FLOAT64, 7000, 8, 4, rng);
      const pkpo_desc d2 = bigger.desc();
      ASSERT_EQ(pkpo_reserve(gpu, &d2), PKPO_SUCCESS);
    } else {
      ASSERT_EQ(pkpo_set_workspace(gpu, nullptr, 0), PKPO_SUCCESS);
    }
    CUDA_OK(cudaMemsetAsync(out.p, 0, N * 8, s));
    CUDA_OK(cudaGraphLaunch(exec, s));
    CUDA_OK(cudaStreamSynchronize(s));
    std::vector<double> o((size_t)N), r((size_t)G);
    CUDA_OK(cudaMemcpy(o.data(), out.p, N * 8, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(r.data(), rho.p, G * 8, cudaMemcpyDeviceToHost));
    EXPECT_TRUE(pt::bitwise_equal(o, direct.out)) << "round " << round;
    EXPECT_TRUE(pt::bitwise_equal(r, direct.rho)) << "round " << round;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

TEST(Cuda, WorkspaceTooSmallUnderCaptureAndCallerWorkspace) {
  PKPO_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(9);
  const pt::Batch b = uniform_batch(PKPO_S, PKPO_FLOAT32, 5000, 4, 7, rng);
  const int64_t N = b.num_samples();
  DevMem in(N * 4), out(N * 4);
  cudaMemcpy(in.p, typed(PKPO_FLOAT32, b.rewards, 0).data(), N * 4, cudaMemcpyHostToDevice);
  const pkpo_desc d = b.desc();
  {
    CudaHandle gpu;  // fresh: no workspace yet
    size_t need = 0;
    ASSERT_EQ(pkpo_workspace_size(gpu, &d, &need), PKPO_SUCCESS);
    EXPECT_GT(need, (size_t)0);
    // At most 16 bytes per float32 reward (two key buffers of 4 bytes and the large path's
    // tile-local outputs in float64) plus per-group and per-tile tables.
    EXPECT_LE(need, (size_t)N * 16 + 64 * 1024);
    cudaStream_t s;
    CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CUDA_OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    const pkpo_status st = pkpo_transform(gpu, &d, in.p, out.p, nullptr, nullptr, s);
    cudaGraph_t graph;
    CUDA_OK(cudaStreamEndCapture(s, &graph));
    EXPECT_EQ(st, PKPO_ERROR_WORKSPACE_TOO_SMALL) << pkpo_last_error(gpu);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
  }
  {
    CudaHandle gpu;
    size_t need = 0;
    ASSERT_EQ(pkpo_workspace_size(gpu, &d, &need), PKPO_SUCCESS);
    DevMem ws(need);
    ASSERT_EQ(pkpo_set_workspace(gpu, ws.p, need - 256), PKPO_SUCCESS);
    EXPECT_EQ(pkpo_transform(gpu, &d, in.p, out.p, nullptr, nullptr, nullptr),
              PKPO_ERROR_WORKSPACE_TOO_SMALL);
    ASSERT_EQ(pkpo_set_workspace(gpu, ws.p, need), PKPO_SUCCESS);
    EXPECT_EQ(pkpo_transform(gpu, &d, in.p, out.p, nullptr, nullptr, nullptr), PKPO_SUCCESS);
    CUDA_OK(cudaDeviceSynchronize());
    ASSERT_EQ(pkpo_set_workspace(gpu, nullptr, 0), PKPO_SUCCESS);
  }
}

// ---- rho curve, group_by_id --------------------------------------------------------------------------

TEST(Cuda, RhoCurveEqualsCpu) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(10);
  for (const std::vector<int64_t>& sizes :
       std::vector<std::vector<int64_t>>{{8, 0, 1, 8, 5}, {200, 3, 1000}, {600, 129, 2048, 0}, {5000, 1, 2100}, {4097, 2, 12289}}) {
    for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
     // ks ascending by 1 (the warp kernels' elementwise steps, chains longer than 16) and by 13,
     // beyond one chunk of 64; then unsorted, repeated, small and large jumps, above n
     for (int pattern = 0; pattern < 2; ++pattern) {
      pt::Batch b = ragged_batch(PKPO_RHO, dt, sizes, rng, false, true);
      b.rewards[1] = NAN;
      std::vector<int64_t> ks;
      if (pattern == 0) {
        for (int64_t k = 1; k <= 150; k += (k < 70 ? 1 : 13)) ks.push_back(k);  // > one chunk of 64
        ks.push_back(100000);
      } else {
        ks = {3, 3, 1, 2, 6, 5, 9, 13, 14, 15, 19, 200, 7, 8, 12, 2, 4, 4, 1000};
      }
      const int64_t G = b.num_groups, K = (int64_t)ks.size();
      const size_t es = esize(dt);
      DevMem in(b.rewards.size() * es), rho(G * K * es), flags(G * 4);
      cudaMemcpy(in.p, typed(dt, b.rewards, 0).data(), b.rewards.size() * es, cudaMemcpyHostToDevice);
      DevBatch db(b);
      const pkpo_desc d = db.desc(b);
      ASSERT_EQ(pkpo_rho_curve(gpu, &d, in.p, ks.data(), K, rho.p, flags.as<uint32_t>(), nullptr),
                PKPO_SUCCESS)
          << pkpo_last_error(gpu);
      std::vector<unsigned char> h_rho(G * K * es);
      std::vector<uint32_t> h_flags(G);
      cudaMemcpy(h_rho.data(), rho.p, h_rho.size(), cudaMemcpyDeviceToHost);
      cudaMemcpy(h_flags.data(), flags.p, G * 4, cudaMemcpyDeviceToHost);
      std::vector<unsigned char> c_rho(G * K * es);
      std::vector<uint32_t> c_flags(G);
      const pkpo_desc dc = b.desc();
      ASSERT_EQ(pkpo_rho_curve(cpu, &dc, typed(dt, b.rewards, 0).data(), ks.data(), K, c_rho.data(),
                               c_flags.data(), nullptr),
                PKPO_SUCCESS);
      EXPECT_EQ(h_flags, c_flags);
      for (int64_t g = 0; g < G; ++g) {
        double amax = 0;
        for (int64_t j = b.offsets[g]; j < b.offsets[g + 1]; ++j) {
          const double v = b.rewards[(size_t)b.sample_at(j)];
          if (std::isfinite(v)) amax = std::max(amax, std::fabs(v));
        }
        for (int64_t j = 0; j < K; ++j) {
          const double a = typed_get(dt, h_rho, (size_t)(g * K + j));
          const double c = typed_get(dt, c_rho, (size_t)(g * K + j));
          EXPECT_TRUE((std::isnan(a) && std::isnan(c)) || std::fabs(a - c) <= 2 * pt::tol_for(dt) * amax)
              << "group " << g << " k=" << ks[(size_t)j] << ": " << a << " vs " << c;
        }
      }
     }
    }
  }
}

TEST(Cuda, GroupByIdEqualsCpu) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(11);
  // The sort covers only the bits in which the ids differ from the smallest: small ranges, negative
  // ids, the whole int64 range, and ids that differ only in their highest or lowest bit.
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const std::vector<std::vector<int64_t>> pools = {
      {lo, hi, -1, 0, 1, lo + 1, hi - 1}, {lo, 0}, {-1, hi}, {hi - 1, hi}, {lo, lo + 1}, {5, 5 + (int64_t(1) << 40)}};
  for (int64_t n : {1, 2, 17, 1000, 100003}) {
    // cases 0..2: 1, 7 or n distinct ids spaced 7919 apart from -3000; then one per pool
    for (size_t c = 0; c < 3 + pools.size(); ++c) {
      const int64_t distinct = c == 0 ? 1 : c == 1 ? 7 : n;
      std::vector<int64_t> ids((size_t)n);
      for (auto& x : ids) {
        x = c < 3 ? (int64_t)(rng() % (uint64_t)distinct) * 7919 - 3000 : pools[c - 3][rng() % pools[c - 3].size()];
      }
      DevMem d_ids(n * 8), d_off((n + 1) * 8), d_idx(n * 8);
      cudaMemcpy(d_ids.p, ids.data(), n * 8, cudaMemcpyHostToDevice);
      int64_t G = -1, maxn = -1, Gc = -2, maxc = -2;
      ASSERT_EQ(pkpo_group_by_id(gpu, d_ids.as<int64_t>(), n, d_off.as<int64_t>(), d_idx.as<int64_t>(),
                                 &G, &maxn, nullptr),
                PKPO_SUCCESS)
          << pkpo_last_error(gpu);
      std::vector<int64_t> off((size_t)n + 1), idx((size_t)n), offc((size_t)n + 1), idxc((size_t)n);
      ASSERT_EQ(pkpo_group_by_id(cpu, ids.data(), n, offc.data(), idxc.data(), &Gc, &maxc, nullptr),
                PKPO_SUCCESS);
      cudaMemcpy(off.data(), d_off.p, (n + 1) * 8, cudaMemcpyDeviceToHost);
      cudaMemcpy(idx.data(), d_idx.p, n * 8, cudaMemcpyDeviceToHost);
      EXPECT_EQ(G, Gc);
      EXPECT_EQ(maxn, maxc);
      EXPECT_TRUE(std::equal(offc.begin(), offc.begin() + Gc + 1, off.begin())) << "n=" << n;
      EXPECT_EQ(idx, idxc) << "n=" << n << " case " << c;
    }
  }
}

// pkpo_group_by_id_workspace_size is exactly what the call needs from a caller workspace: with that
// many bytes it succeeds (and equals the CPU), with one byte less it refuses, writing nothing.
TEST(Cuda, GroupByIdCallerWorkspaceOfQueriedSize) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  const int64_t n = 5000;
  std::vector<int64_t> ids((size_t)n);
  for (int64_t i = 0; i < n; ++i) ids[(size_t)i] = (i * 7919) % 113;
  size_t bytes = 0;
  ASSERT_EQ(pkpo_group_by_id_workspace_size(gpu, n, &bytes), PKPO_SUCCESS) << pkpo_last_error(gpu);
  ASSERT_GT(bytes, 0u);
  size_t zero = 1;
  ASSERT_EQ(pkpo_group_by_id_workspace_size(gpu, 0, &zero), PKPO_SUCCESS);
  EXPECT_EQ(zero, 0u);
  EXPECT_EQ(pkpo_group_by_id_workspace_size(gpu, -1, &zero), PKPO_ERROR_INVALID_ARGUMENT);
  DevMem ws(bytes), d_ids(n * 8), d_off((n + 1) * 8), d_idx(n * 8);
  CUDA_OK(cudaMemcpy(d_ids.p, ids.data(), n * 8, cudaMemcpyHostToDevice));
  ASSERT_EQ(pkpo_set_workspace(gpu, ws.p, bytes - 1), PKPO_SUCCESS);
  int64_t G = -1, maxn = -1;
  EXPECT_EQ(pkpo_group_by_id(gpu, d_ids.as<int64_t>(), n, d_off.as<int64_t>(), d_idx.as<int64_t>(), &G,
                             &maxn, nullptr),
            PKPO_ERROR_WORKSPACE_TOO_SMALL);
  ASSERT_EQ(pkpo_set_workspace(gpu, ws.p, bytes), PKPO_SUCCESS);
  ASSERT_EQ(pkpo_group_by_id(gpu, d_ids.as<int64_t>(), n, d_off.as<int64_t>(), d_idx.as<int64_t>(), &G,
                             &maxn, nullptr),
            PKPO_SUCCESS)
      << pkpo_last_error(gpu);
  int64_t Gc = 0, maxc = 0;
  std::vector<int64_t> offc((size_t)n + 1), idxc((size_t)n), off((size_t)n + 1), idx((size_t)n);
  ASSERT_EQ(pkpo_group_by_id(cpu, ids.data(), n, offc.data(), idxc.data(), &Gc, &maxc, nullptr), PKPO_SUCCESS);
  CUDA_OK(cudaMemcpy(off.data(), d_off.p, (n + 1) * 8, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(idx.data(), d_idx.p, n * 8, cudaMemcpyDeviceToHost));
  EXPECT_EQ(G, Gc);
  EXPECT_EQ(maxn, maxc);
  EXPECT_TRUE(std::equal(offc.begin(), offc.begin() + Gc + 1, off.begin()));
  EXPECT_EQ(idx, idxc);
  ASSERT_EQ(pkpo_set_workspace(gpu, nullptr, 0), PKPO_SUCCESS);
}

// pkpo_group_by_id and a pkpo_reserve that needs nothing neither allocate, free nor synchronise the
// device, so another stream's capture in global mode survives them.
TEST(Cuda, GroupByIdKeepsAnotherStreamsCapture) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(14);
  const int64_t n = 3000;
  std::vector<int64_t> ids((size_t)n);
  for (auto& x : ids) x = (int64_t)(rng() % 37);
  DevMem d_ids(n * 8), d_off((n + 1) * 8), d_idx(n * 8);
  CUDA_OK(cudaMemcpy(d_ids.p, ids.data(), n * 8, cudaMemcpyHostToDevice));
  // A copy from pageable memory may return before its data arrives, and the non-blocking streams
  // below are not ordered after the legacy stream.
  CUDA_OK(cudaDeviceSynchronize());
  cudaStream_t s1, s2;
  CUDA_OK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  CUDA_OK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  int64_t G = -1, maxn = -1;
  ASSERT_EQ(pkpo_group_by_id(gpu, d_ids.as<int64_t>(), n, d_off.as<int64_t>(), d_idx.as<int64_t>(), &G, &maxn, s1),
            PKPO_SUCCESS)
      << pkpo_last_error(gpu);  // first call: the workspace grows
  CUDA_OK(cudaStreamBeginCapture(s2, cudaStreamCaptureModeGlobal));
  G = maxn = -1;
  const pkpo_status st =
      pkpo_group_by_id(gpu, d_ids.as<int64_t>(), n, d_off.as<int64_t>(), d_idx.as<int64_t>(), &G, &maxn, s1);
  pkpo_desc d = PKPO_DESC_INIT;
  d.estimator = PKPO_S;
  d.dtype = PKPO_FLOAT32;
  d.num_groups = 1;
  d.group_size = 16;
  d.k = 2;
  const pkpo_status st_reserve = pkpo_reserve(gpu, &d);
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s2, &graph);
  EXPECT_EQ(st, PKPO_SUCCESS) << pkpo_last_error(gpu);
  EXPECT_EQ(st_reserve, PKPO_SUCCESS) << pkpo_last_error(gpu);
  EXPECT_EQ(end, cudaSuccess) << "the other stream's capture was invalidated";
  if (graph) cudaGraphDestroy(graph);
  (void)cudaGetLastError();
  int64_t Gc = 0, maxc = 0;
  std::vector<int64_t> offc((size_t)n + 1), idxc((size_t)n), idx((size_t)n);
  ASSERT_EQ(pkpo_group_by_id(cpu, ids.data(), n, offc.data(), idxc.data(), &Gc, &maxc, nullptr), PKPO_SUCCESS);
  EXPECT_EQ(G, Gc);
  EXPECT_EQ(maxn, maxc);
  CUDA_OK(cudaMemcpy(idx.data(), d_idx.p, n * 8, cudaMemcpyDeviceToHost));
  EXPECT_EQ(idx, idxc);
  cudaStreamDestroy(s1);
  cudaStreamDestroy(s2);
}

// More than 2^31 rewards (int64 indexing end to end): uniform groups of 12288 (the large path: runs
// of 4096 sorted, then 2 merge passes, at int64 positions). Needs about 40 GB of device memory; skipped
// (with the reason) where there is less. Checks groups at the start, across the 2^30 and 2^31
// boundaries and at the end against the CPU backend on those groups alone.
TEST(Cuda, MoreThan2To31Rewards) {
  PKPO_SKIP_WITHOUT_GPU();
#ifdef PKPO_TEST_EMULATED_DEVICE
  GTEST_SKIP() << "GPU only: 2^31 rewards need ~40 GB and hours on the emulated device";
#endif
  const int64_t n = 12288, G = ((int64_t(1) << 31) / n) + 3, N = G * n;
  size_t free_b = 0, total_b = 0;
  CUDA_OK(cudaMemGetInfo(&free_b, &total_b));
  CudaHandle gpu;
  pkpo_desc d = PKPO_DESC_INIT;
  d.estimator = PKPO_SLOO_MINUS_ONE;
  d.dtype = PKPO_FLOAT32;
  d.num_groups = G;
  d.group_size = n;
  d.k = 8;
  size_t ws = 0;
  ASSERT_EQ(pkpo_workspace_size(gpu, &d, &ws), PKPO_SUCCESS);
  const size_t need = (size_t)N * 4 * 2 + ws + (size_t)G * 8;
  if (need + (size_t(2) << 30) > free_b) GTEST_SKIP() << "needs " << need / (1 << 20) << " MiB of device memory";
  std::vector<float> h((size_t)N);
  uint64_t x = 88172645463325252ull;
  for (auto& v : h) {  // xorshift: fast enough for 2^31 values
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v = (float)((x >> 40) % 1000) * 0.001f;
  }
  DevMem in((size_t)N * 4), out((size_t)N * 4), rho((size_t)G * 4);
  ASSERT_NE(in.p, nullptr);
  ASSERT_NE(out.p, nullptr);
  cudaMemcpy(in.p, h.data(), (size_t)N * 4, cudaMemcpyHostToDevice);
  ASSERT_EQ(pkpo_transform(gpu, &d, in.p, out.p, rho.p, nullptr, nullptr), PKPO_SUCCESS) << pkpo_last_error(gpu);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> o((size_t)N);
  cudaMemcpy(o.data(), out.p, (size_t)N * 4, cudaMemcpyDeviceToHost);
  pt::Handle cpu;
  for (int64_t g : {int64_t(0), (int64_t(1) << 30) / n - 1, (int64_t(1) << 30) / n, (int64_t(1) << 31) / n - 1,
                    (int64_t(1) << 31) / n, G - 1}) {
    pkpo_desc c = d;
    c.num_groups = 1;
    std::vector<float> co((size_t)n);
    ASSERT_EQ(pkpo_transform(cpu, &c, &h[(size_t)(g * n)], co.data(), nullptr, nullptr, nullptr), PKPO_SUCCESS);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(o[(size_t)(g * n + i)], co[(size_t)i], 8e-6 * 8.0 / n) << "group " << g << " sample " << i;
    }
  }
}
