// test_cuda_objectives.cpp -- objectives beyond one k and rho's exactness on the CUDA backend
// (docs/math.md §4-5): mixtures over k and the min statistic against the oracle (sum_j w_j E_{k_j};
// -E(-g)) and the CPU backend for every estimator x layout x dtype, a one-term mixture bit for bit
// as plain k, min bit for bit as the negated max of the negated rewards, invalid terms in device
// memory, graph replay with new weights, and rho_checks.hpp's exactness checks through a device
// runner. ctest labels: gpu (skips without a device) and cuda-emu.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda_harness.hpp"
#include "objective_cases.hpp"
#include "rho_checks.hpp"

using namespace cuda_test;  // NOLINT(build/namespaces): the harness of every device test

namespace {

using pt::Layout;

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

class CudaObjectives : public ::testing::TestWithParam<std::tuple<pkpo_estimator, pkpo_dtype>> {};

std::string param_name(const ::testing::TestParamInfo<CudaObjectives::ParamType>& info) {
  return std::string(oracle::est_name(std::get<0>(info.param))) + "_" + pt::dtype_name(std::get<1>(info.param));
}

// Every layout and sizes on every team of the block path: sub-warp teams (n <= 128) and block
// teams (129..4096), with the rows of a uniform batch's block and those each group builds.
TEST_P(CudaObjectives, MixturesAndMinAgainstOracleAndCpu) {
  PKPO_SKIP_WITHOUT_GPU();
  const auto [est, dt] = GetParam();
  CudaHandle gpu;
  ASSERT_EQ(gpu.status(), PKPO_SUCCESS);
  pt::Handle cpu;
  std::mt19937_64 rng(3);
  for (int64_t n : {1, 3, 8, 12, 33, 128, 300}) {
    for (int layout = 0; layout < (int)Layout::Layouts; ++layout) {
      const pt::Batch base = pt::objective_batch((Layout)layout, est, dt, n, rng);
      std::vector<pt::Mixture> mixes = pt::mixtures_for(n, rng);
      if (n > 12) mixes.resize(3);  // the presets and one term: the emulator is slow
      for (const pt::Mixture& mix : mixes) {
        for (pkpo_statistic stat : {PKPO_STATISTIC_MAX, PKPO_STATISTIC_MIN}) {
          const std::string what = "n " + std::to_string(n) + " " + pt::layout_name((Layout)layout) + " " +
                                   mix.name + (stat == PKPO_STATISTIC_MIN ? " min" : " max");
          pt::Batch b = base;
          pt::set_mixture(&b, mix);
          b.statistic = stat;
          const pt::LibResult g = run_checked(gpu, cpu, b, what);
          ASSERT_EQ(g.status, PKPO_SUCCESS) << what << ": " << g.last_error;
        }
      }
    }
  }
}

// One k is the mixture of that k with weight 1, and min is -max(-g): bit for bit on the device.
TEST_P(CudaObjectives, OneTermMixtureAndMinBitwise) {
  PKPO_SKIP_WITHOUT_GPU();
  const auto [est, dt] = GetParam();
  CudaHandle gpu;
  std::mt19937_64 rng(5);
  for (int64_t n : {2, 7, 16, 100, 257}) {
    for (int layout = 0; layout < (int)Layout::Layouts; ++layout) {
      SCOPED_TRACE("n " + std::to_string(n) + " " + pt::layout_name((Layout)layout));
      pt::Batch plain = pt::objective_batch((Layout)layout, est, dt, n, rng);
      plain.k = n > 3 ? 3 : 1;
      if (plain.num_samples() > 2) plain.rewards[1] = NAN;
      pt::Batch mix = plain;
      mix.k_terms = {plain.k};
      mix.k_weights = {1.0};
      const pt::LibResult a = run_cuda(gpu, plain), b = run_cuda(gpu, mix);
      ASSERT_EQ(a.status, PKPO_SUCCESS) << a.last_error;
      ASSERT_EQ(b.status, PKPO_SUCCESS) << b.last_error;
      EXPECT_TRUE(pt::bitwise_equal(a.out, b.out));
      EXPECT_TRUE(pt::bitwise_equal(a.rho, b.rho));
      EXPECT_EQ(a.flags, b.flags);

      pt::Batch mn = plain, mx = plain;
      mn.statistic = PKPO_STATISTIC_MIN;
      for (double& v : mx.rewards) v = -v;
      const pt::LibResult x = run_cuda(gpu, mx), y = run_cuda(gpu, mn);
      ASSERT_EQ(x.status, PKPO_SUCCESS);
      ASSERT_EQ(y.status, PKPO_SUCCESS);
      EXPECT_EQ(x.flags, y.flags);
      for (size_t i = 0; i < x.out.size(); ++i) {
        ASSERT_TRUE(std::isnan(x.out[i]) ? std::isnan(y.out[i]) : same_bits(-x.out[i], y.out[i])) << i;
      }
      for (size_t g = 0; g < x.rho.size(); ++g) {
        ASSERT_TRUE(std::isnan(x.rho[g]) ? std::isnan(y.rho[g]) : same_bits(-x.rho[g], y.rho[g])) << g;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, CudaObjectives,
                         ::testing::Combine(::testing::Values(PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE,
                                                              PKPO_L2O),
                                            ::testing::Values(PKPO_FLOAT64, PKPO_FLOAT32)),
                         param_name);

// rho's exactness rules (README "Accuracy") through the device: range, k = n, constant groups and
// binary ends on every team, and binary pass@k / pass^k within one ulp.
TEST(CudaExactRho, RangeKEqualsNConstantAndBinaryEnds) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::check_rho_exact_cases(cuda_runner(gpu), /*max_n=*/300, /*seed=*/2);
  // the block teams of 128 to 512 threads
  pt::check_rho_exact_sizes(cuda_runner(gpu), {600, 1100, 2100}, /*seed=*/3, /*few_binary=*/true);
}

TEST(CudaExactRho, BinaryPassAtKWithinOneUlp) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  const pt::BinaryAccuracy acc = pt::check_binary_accuracy(cuda_runner(gpu), /*max_n=*/140, /*step=*/17);
  EXPECT_EQ(acc.violations, 0);
  EXPECT_LE(acc.pkpo_max_ulps, 1.0);
  EXPECT_GT(acc.cases, 0);
}

// A curve's run of ks one apart through the weight floor (C(2100, k) passes 1e283 near k = 190 and
// 1e300 near k = 210): the columns a block team takes in batches and those whose weights near the
// floor it takes one at a time give the transforms' rho bit for bit, over two chunks of ks.
TEST(CudaExactRho, CurveRunThroughTheWeightFloor) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  const pt::Runner run = cuda_runner(gpu);
  std::mt19937_64 rng(4);
  const int64_t n = 2100;
  pt::Batch b = pt::binary_groups(n, PKPO_FLOAT64, {1, n / 2, n - 1});
  for (pt::Kind kind : {pt::Kind::Uniform, pt::Kind::Ties, pt::Kind::Negative}) {
    const std::vector<double> g = pt::gen_group(kind, n, rng);
    b.rewards.insert(b.rewards.end(), g.begin(), g.end());
    ++b.num_groups;
  }
  // rho = 0 - sum F_t d_t over the gaps of ranks t <= 260 alone: weights near the floor decide it
  for (int64_t i = 0; i < n; ++i) b.rewards.push_back(i < 260 ? -1.0 - 0.001 * (double)(260 - i) : 0.0);
  ++b.num_groups;
  std::vector<int64_t> ks;
  for (int64_t k = 170; k < 250; ++k) ks.push_back(k);
  std::vector<double> curve;
  ASSERT_EQ(run.curve(b, ks, &curve), PKPO_SUCCESS);
  for (size_t j = 0; j < ks.size(); ++j) {
    pt::Batch t = b;
    t.k = ks[j];
    const pt::LibResult r = run.transform(t);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    for (int64_t g = 0; g < b.num_groups; ++g) {
      ASSERT_TRUE(pt::same_value_bits(r.rho[(size_t)g], curve[(size_t)g * ks.size() + j]))
          << "group " << g << " k " << ks[j] << ": " << r.rho[(size_t)g] << " vs "
          << curve[(size_t)g * ks.size() + j];
    }
  }
}

// Terms in device memory are checked on the device: a group of an unusable mixture is flagged
// INVALID (rho NaN, outputs untouched), as a device-resident k < 1 is.
TEST(CudaObjectivesStatus, InvalidTermsFlagEveryGroup) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  struct Case {
    const char* what;
    std::vector<int64_t> k;
    std::vector<double> w;
  };
  const Case cases[] = {{"k < 1", {2, 0}, {1, 1}}, {"NaN weight", {1, 2}, {1, NAN}}, {"huge weights", {1, 2}, {1e308, 1e308}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    pt::Batch b;
    b.dtype = PKPO_FLOAT64;
    b.rewards = {0.5, 0.25, 1.0, 0.0, 0.75, 0.5};
    b.num_groups = 2;
    b.group_size = 3;
    b.k_terms = c.k;
    b.k_weights = c.w;
    const pt::LibResult r = run_cuda(gpu, b);
    ASSERT_EQ(r.status, PKPO_SUCCESS) << r.last_error;
    for (uint32_t f : r.flags) EXPECT_TRUE(f & PKPO_FLAG_INVALID);
    for (double v : r.rho) EXPECT_TRUE(std::isnan(v));
    for (double v : r.out) EXPECT_TRUE(untouched(b.dtype, v));
  }
}

// A captured mixture replays with the weights the device memory holds at launch.
TEST(CudaObjectivesGraph, ReplayWithNewWeights) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(9);
  pt::Batch b = pt::objective_batch(Layout::Uniform, PKPO_SLOO_MINUS_ONE, PKPO_FLOAT32, 16, rng);
  b.k_terms = {1, 4, 16};
  b.k_weights = {1.0, 0.25, 0.0625};
  const int64_t N = b.num_samples();
  DevMem in(N * 4), out(N * 4), rho(b.num_groups * 4);
  cudaMemcpy(in.p, typed(b.dtype, b.rewards, 0).data(), N * 4, cudaMemcpyHostToDevice);
  DevBatch db(b);
  const pkpo_desc d = db.desc(b);
  ASSERT_EQ(pkpo_reserve(gpu, &d), PKPO_SUCCESS);
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // the pageable copies, before another stream reads
  ASSERT_EQ(pkpo_transform(gpu, &d, in.p, out.p, rho.p, nullptr, s), PKPO_SUCCESS);  // warm-up
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  cudaGraph_t graph;
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
  ASSERT_EQ(pkpo_transform(gpu, &d, in.p, out.p, rho.p, nullptr, s), PKPO_SUCCESS);
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (const std::vector<double>& w : std::vector<std::vector<double>>{{1.0, 0.25, 0.0625}, {0.0, 2.0, -1.0}}) {
    SCOPED_TRACE(w[1]);
    cudaMemcpy(db.kweights.p, w.data(), w.size() * 8, cudaMemcpyHostToDevice);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    std::vector<float> got(N);
    cudaMemcpy(got.data(), out.p, N * 4, cudaMemcpyDeviceToHost);
    pt::Batch fresh = b;
    fresh.k_weights = w;
    const pt::LibResult want = run_cuda(gpu, fresh);
    ASSERT_EQ(want.status, PKPO_SUCCESS);
    for (int64_t i = 0; i < N; ++i) ASSERT_TRUE(same_bits((double)got[i], want.out[i])) << i;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

}  // namespace
