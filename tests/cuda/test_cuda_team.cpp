// test_cuda_team.cpp -- the team kernel's passes over a uniform batch (src/cuda/team_kernels.cuh):
// the groups that take the block's row (PASS_ROW) and, per chunk of a warp's slots, those with an
// excluded reward that build their own rows (PASS_LEFT), over several chunks and a partial last
// one; an in-place call whose warp mixes both kinds, with outputs that overflow the rewards' type;
// rewards spanning more than float32's range where the output is the prefix scan alone. Built
// into test_cuda (label gpu) and test_cuda_emu (label cuda-emu). The emulated device reports one
// multiprocessor, so a uniform launch there is a grid of a few blocks and every warp strides over
// several chunks; a GPU's grid is larger and the same batches cover fewer chunks per warp.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda_harness.hpp"

using namespace cuda_test;  // NOLINT(build/namespaces): the harness of every device test

namespace {

// Outputs, rho and flags of two results bit for bit.
::testing::AssertionResult same_result_bits(const pt::LibResult& a, const pt::LibResult& b) {
  if (a.status != b.status) return ::testing::AssertionFailure() << "status " << a.status << " vs " << b.status;
  if (!pt::bitwise_equal(a.out, b.out)) return ::testing::AssertionFailure() << "outputs differ";
  if (!pt::bitwise_equal(a.rho, b.rho)) return ::testing::AssertionFailure() << "rho differs";
  if (a.flags != b.flags) return ::testing::AssertionFailure() << "flags differ";
  return ::testing::AssertionSuccess();
}

// Values of the GPU against the CPU where some overflow the type: NaN where the other has NaN, the
// same infinity where the other has one, finite values within `tol` of each other.
::testing::AssertionResult same_overflowing(const std::vector<double>& gpu, const std::vector<double>& cpu,
                                            double tol) {
  if (gpu.size() != cpu.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < gpu.size(); ++i) {
    const double a = gpu[i], c = cpu[i];
    const bool ok = (std::isnan(a) && std::isnan(c)) || a == c ||
                    (std::isfinite(a) && std::isfinite(c) && std::fabs(a - c) <= tol);
    if (!ok) return ::testing::AssertionFailure() << "value " << i << ": GPU " << a << " CPU " << c;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

// Uniform batches of more groups than one chunk of slots (kLeftChunk slots per warp) covers on the
// emulated device's grid: sub-warp teams at n = 4 and 32, block teams at n = 256; excluded rewards
// in groups spread over every chunk and in the last group; rewards with many ties, in [-2, 2] (the
// other sweeps cover the extreme kinds on small batches). Against the oracle and the CPU backend;
// in place bit for bit as out of place.
TEST(CudaTeam, UniformRowPassesOverSeveralChunks) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(41);
  // groups: at least two chunks and a partial third on the emulated grid (n = 4: 2x2 teams, 4
  // blocks of 128 teams, 16384 slots per chunk; n = 32: 8x4, 4096; n = 256: one team per block,
  // 16 blocks, 512)
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{4, 2 * 16384 + 99}, {32, 2 * 4096 + 300}, {256, 2 * 512 + 37}};
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, groups = shape.second;
    for (pkpo_estimator est : {PKPO_SLOO_MINUS_ONE, PKPO_L2O}) {
      for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
        pt::Batch b = uniform_batch(est, dt, n, groups, 2, rng);
        std::uniform_int_distribution<int> level(-16, 16);
        for (double& r : b.rewards) r = level(rng) / 8.0;
        for (int64_t g = 5; g < groups; g += 97) b.rewards[(size_t)(g * n + g % n)] = NAN;
        b.rewards[(size_t)(groups * n - 1)] = NAN;
        const std::string what = "n=" + std::to_string(n) + " est=" + std::to_string(est) + " dt=" + std::to_string(dt);
        const pt::Expected e = pt::expected_for(b, oracle::LARGE);
        const pt::LibResult g = run_cuda(gpu, b);
        ASSERT_EQ(g.status, PKPO_SUCCESS) << what << " " << g.last_error;
        EXPECT_TRUE(pt::matches(b, g, e)) << what;
        EXPECT_TRUE(same_as_cpu(b, g, pt::run_lib(cpu, b), e)) << what;
        EXPECT_TRUE(same_result_bits(g, run_cuda(gpu, b, true, true, /*in_place=*/true))) << what << " in place";
      }
    }
  }
}

// One warp of 2x2 teams (n = 4, float32) holding, at the same slot of a chunk, a group whose
// outputs overflow to infinity (taken with the block's row) beside a group with an excluded reward
// (its own rows): in place, the first must not be loaded again as rewards when the second takes its
// own rows. And a group spanning more than float32's range, -3e38 .. 3e38, where sloo_minus_one's
// output is the prefix scan alone (k >= 2): finite, as on the CPU. Every estimator, k = 1, 2, 3.
// The other groups against the CPU backend; not the two spanning groups, whose float32 arithmetic
// may overflow on the device where the CPU's float64 does not.
TEST(CudaTeam, InPlaceOverflowBesideExcludedReward) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(42);
  for (pkpo_estimator est : {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O}) {
    for (int64_t k : {1, 2, 3}) {
      pt::Batch b = uniform_batch(est, PKPO_FLOAT32, 4, 64, k, rng);
      std::uniform_int_distribution<int> level(-16, 16);
      for (double& r : b.rewards) r = level(rng) / 8.0;
      const double big = 3e38;
      const std::vector<std::vector<double>> planted = {{-big, -big, big, big}, {1.0, NAN, 2.0, 3.0}, {-big, 0.0, 0.0, big}};
      for (size_t g = 0; g < planted.size(); ++g) {
        for (size_t i = 0; i < 4; ++i) b.rewards[g * 4 + i] = planted[g][i];
      }
      const std::string what = "est=" + std::to_string(est) + " k=" + std::to_string(k);
      const pt::LibResult g = run_cuda(gpu, b);
      ASSERT_EQ(g.status, PKPO_SUCCESS) << what << " " << g.last_error;
      EXPECT_TRUE(same_result_bits(g, run_cuda(gpu, b, true, true, /*in_place=*/true))) << what << " in place";
      const pt::LibResult c = pt::run_lib(cpu, b);
      EXPECT_EQ(g.flags, c.flags) << what;
      std::vector<double> go, co, gr, cr;  // groups 1 and 3..63
      for (size_t gi = 1; gi < 64; ++gi) {
        if (gi == 2) continue;
        if (!g.out.empty()) {
          go.insert(go.end(), g.out.begin() + 4 * gi, g.out.begin() + 4 * gi + 4);
          co.insert(co.end(), c.out.begin() + 4 * gi, c.out.begin() + 4 * gi + 4);
        }
        gr.push_back(g.rho[gi]);
        cr.push_back(c.rho[gi]);
      }
      EXPECT_TRUE(same_overflowing(go, co, 1e-5)) << what;
      EXPECT_TRUE(same_overflowing(gr, cr, 1e-5)) << what;
      if (est == PKPO_SLOO_MINUS_ONE && k >= 2) {
        for (size_t i = 8; i < 12; ++i) EXPECT_TRUE(std::isfinite(g.out[i])) << what << " sample " << i;
      }
    }
  }
}
