// test_cuda_large_objectives.cpp -- objectives beyond one k on the CUDA backend's large path (groups of more
// than 4096 rewards; docs/math.md §5): mixtures over k and the min statistic against the oracle and
// the CPU backend, min as the negated max of the negated rewards bit for bit, a one-term mixture as
// plain k bit for bit, the uniform batch's row bank as the groups' own rows bit for bit, rho's
// exactness (README "Accuracy", tests/rho_checks.hpp) and a captured graph replayed with new
// mixture weights. Built into test_cuda (label gpu) and test_cuda_emu (label cuda-emu) alike; sizes
// kept to what the emulated device runs in seconds (groups of 4097 to 8193: 3 to 5 tiles of 2048
// ranks, the last one holding a single rank at 4097 and 8193). A uniform batch gets the row bank
// from kBankMinGroups = 16 groups on (src/cuda/transform.cu).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda_harness.hpp"
#include "objective_cases.hpp"
#include "rho_checks.hpp"

using namespace cuda_test;  // NOLINT(build/namespaces): the harness of every device test

namespace {

// The objectives of the large-path sweeps for groups of up to n: one k (the Params without terms),
// harmonic(16), one term of weight 1, and random terms (k up to n + 2, so some clamp; weights of
// every sign and zero; a repeated k).
std::vector<pt::Mixture> large_objectives(int64_t n, std::mt19937_64& rng) {
  std::vector<pt::Mixture> out = {{"plain k 3", {}, {}}, pt::harmonic(16), {"one term", {n / 2}, {1.0}}};
  std::uniform_int_distribution<int64_t> kd(1, n + 2);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  pt::Mixture m{"random", {}, {}};
  for (int j = 0; j < 4; ++j) {
    m.k.push_back(kd(rng));
    m.w.push_back(j == 1 ? 0.0 : u(rng));
  }
  m.k.push_back(m.k.front());
  m.w.push_back(1.0);
  out.push_back(m);
  return out;
}

constexpr int64_t kBankGroups = 16;

// Batches reaching the large path: a uniform one (the row bank; one group with a NaN builds its own
// rows at m = n - 1), a ragged one with block-path groups beside large ones and a NaN in a large
// group, and that one through an index permutation.
std::vector<pt::Batch> large_layouts(pkpo_estimator est, pkpo_dtype dt, std::mt19937_64& rng) {
  std::vector<pt::Batch> out;
  out.push_back(uniform_batch(est, dt, 4097, kBankGroups, 3, rng));
  out.back().rewards[2 * 4097 + 100] = NAN;
  const std::vector<int64_t> sizes = {4097, 5, 0, 6150, 1, 8193};
  for (int permute = 0; permute < 2; ++permute) {
    pt::Batch b = ragged_batch(est, dt, sizes, rng, false, permute != 0);
    b.k = 3;
    b.rewards[(size_t)b.offsets[3] + 17] = NAN;
    out.push_back(b);
  }
  return out;
}

std::string tag(const pt::Batch& b, const pt::Mixture& m, int layout) {
  return label(b.est, b.dtype, "layout", layout) + " " + m.name +
         (b.statistic == PKPO_STATISTIC_MIN ? " min" : " max");
}

}  // namespace

// Every estimator x objective x statistic on the large path's layouts, against the oracle and the
// CPU backend; tied samples bit-identical. float64 for the max statistic, float32 for min (each
// dtype's arithmetic is the same on both statistics: only the load and the stores differ).
TEST(CudaLarge, MixturesAndMinAgainstOracleAndCpu) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::Handle cpu;
  std::mt19937_64 rng(51);
  for (pkpo_estimator est : kEsts) {
    for (pkpo_statistic stat : {PKPO_STATISTIC_MAX, PKPO_STATISTIC_MIN}) {
      const pkpo_dtype dt = stat == PKPO_STATISTIC_MAX ? PKPO_FLOAT64 : PKPO_FLOAT32;
      const std::vector<pt::Batch> layouts = large_layouts(est, dt, rng);
      for (size_t l = 0; l < layouts.size(); ++l) {
        for (const pt::Mixture& mix : large_objectives(8193, rng)) {
          pt::Batch b = layouts[l];
          pt::set_mixture(&b, mix);
          b.statistic = stat;
          run_checked(gpu, cpu, b, tag(b, mix, (int)l));
        }
      }
    }
  }
}

// docs/math.md §5: T_min(g) = -T_max(-g), output by output and rho, bit for bit (a zero output is
// -0.0 under min; NaN: both NaN), with an excluded and a propagated non-finite reward, plain k and
// a mixture, on the row bank and on a group's own rows.
TEST(CudaLarge, MinIsNegatedMaxOfNegatedRewardsBitwise) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(52);
  for (pkpo_estimator est : kEsts) {
    for (pkpo_nonfinite_policy nf : {PKPO_NONFINITE_EXCLUDE, PKPO_NONFINITE_PROPAGATE}) {
      const pkpo_dtype dt = nf == PKPO_NONFINITE_EXCLUDE ? PKPO_FLOAT64 : PKPO_FLOAT32;
      for (int uniform = 0; uniform < 2; ++uniform) {
        pt::Batch mx = uniform ? uniform_batch(est, dt, 4097, kBankGroups, 5, rng)
                               : ragged_batch(est, dt, {4097, 3, 6150}, rng, false, true);
        mx.nonfinite = nf;
        mx.k = 5;
        mx.rewards[(size_t)(mx.num_samples() - 2)] = -INFINITY;
        for (int mixed = 0; mixed < 2; ++mixed) {
          if (mixed) pt::set_mixture(&mx, {"mix", {1, 4, 3000, 7000}, {1.0, -0.5, 0.25, 2.0}});
          pt::Batch mn = mx;
          mn.statistic = PKPO_STATISTIC_MIN;
          for (double& v : mx.rewards) v = -v;
          const pt::LibResult a = run_cuda(gpu, mx), b = run_cuda(gpu, mn);
          for (double& v : mx.rewards) v = -v;
          const std::string what = label(est, dt, "uniform", uniform) + " nonfinite " + std::to_string((int)nf) +
                                   " mixed " + std::to_string(mixed);
          ASSERT_EQ(a.status, PKPO_SUCCESS) << what << ": " << a.last_error;
          ASSERT_EQ(b.status, PKPO_SUCCESS) << what << ": " << b.last_error;
          ASSERT_EQ(a.flags, b.flags) << what;
          for (size_t i = 0; i < a.out.size(); ++i) {
            const bool ok = std::isnan(a.out[i]) ? std::isnan(b.out[i]) : pt::same_value_bits(-a.out[i], b.out[i]);
            ASSERT_TRUE(ok) << what << " sample " << i << ": " << a.out[i] << " " << b.out[i];
          }
          for (size_t g = 0; g < a.rho.size(); ++g) {
            const bool ok = std::isnan(a.rho[g]) ? std::isnan(b.rho[g]) : pt::same_value_bits(-a.rho[g], b.rho[g]);
            ASSERT_TRUE(ok) << what << " group " << g;
          }
        }
      }
    }
  }
}

// One k is the mixture of that k with weight 1, bit for bit: the same rows whether the Params carry
// terms or not, on the row bank and on a group's own rows, for k spreading the closed form's two
// products (k factors, m - x factors) and a k above n (clamped, flagged).
TEST(CudaLarge, OneTermMixtureIsPlainKBitwise) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(53);
  for (pkpo_estimator est : kEsts) {
    const pkpo_dtype dt = est % 2 ? PKPO_FLOAT32 : PKPO_FLOAT64;
    for (int64_t k : {int64_t(2), int64_t(2000), int64_t(4000), int64_t(9000)}) {
      for (int uniform = 0; uniform < 2; ++uniform) {
        pt::Batch plain = uniform ? uniform_batch(est, dt, 4097, kBankGroups, k, rng)
                                  : ragged_batch(est, dt, {6150, 7, 4100}, rng, false, false);
        plain.k = k;
        plain.statistic = k == 2000 ? PKPO_STATISTIC_MIN : PKPO_STATISTIC_MAX;
        pt::Batch mix = plain;
        mix.k = 0;  // not used by a mixture (pkpo.h), so not checked either
        pt::set_mixture(&mix, {"one", {k}, {1.0}});
        const pt::LibResult a = run_cuda(gpu, plain), b = run_cuda(gpu, mix);
        const std::string what = label(est, dt, "k", k) + " uniform " + std::to_string(uniform);
        ASSERT_EQ(a.status, PKPO_SUCCESS) << what << ": " << a.last_error;
        ASSERT_EQ(b.status, PKPO_SUCCESS) << what << ": " << b.last_error;
        EXPECT_TRUE(pt::bitwise_equal(a.out, b.out)) << what;
        EXPECT_TRUE(pt::bitwise_equal(a.rho, b.rho)) << what;
        EXPECT_EQ(a.flags, b.flags) << what;
      }
    }
  }
}

// A uniform batch's tiles read the rows built once per call (the row bank); the same groups in a
// batch of fewer than kBankMinGroups groups, or alone (sorted by the whole-array sort), build their
// own in every tile: the same code on the same ranks, so outputs, rho and flags bit for bit. As a
// ragged batch (own rows; carries by the carry kernel instead of the scatter's fold, which sums in
// another order) rho and flags bit for bit.
TEST(CudaLarge, RowBankIsTheGroupsOwnRowsBitwise) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(54);
  const int64_t n = 6150, G = kBankGroups;
  for (pkpo_estimator est : kEsts) {
    const pkpo_dtype dt = est % 2 ? PKPO_FLOAT64 : PKPO_FLOAT32;
    pt::Batch uni = uniform_batch(est, dt, n, G, 3, rng);
    pt::set_mixture(&uni, {"mix", {1, 2, 700, 3000, 6149, 9000}, {0.5, 1.0, -0.25, 0.125, 1.0, 2.0}});
    const pt::LibResult whole = run_cuda(gpu, uni);
    ASSERT_EQ(whole.status, PKPO_SUCCESS) << whole.last_error;
    for (int64_t groups : {G - 1, int64_t(1)}) {
      pt::Batch few = uni;
      few.num_groups = groups;
      few.rewards.resize((size_t)(groups * n));
      const pt::LibResult own = run_cuda(gpu, few);
      ASSERT_EQ(own.status, PKPO_SUCCESS) << own.last_error;
      const std::string what = "est " + std::to_string((int)est) + ", " + std::to_string(groups) + " groups";
      if (!own.out.empty()) {
        EXPECT_TRUE(pt::bitwise_equal(std::vector<double>(whole.out.begin(), whole.out.begin() + groups * n),
                                      own.out)) << what;
      }
      EXPECT_TRUE(pt::bitwise_equal(std::vector<double>(whole.rho.begin(), whole.rho.begin() + groups), own.rho))
          << what;
      EXPECT_TRUE(std::equal(own.flags.begin(), own.flags.end(), whole.flags.begin())) << what;
    }
    pt::Batch rag = uni;
    rag.group_size = 0;
    rag.offsets = pt::offsets_from_sizes(std::vector<int64_t>((size_t)G, n));
    rag.max_group_size = n;
    const pt::LibResult carried = run_cuda(gpu, rag);
    EXPECT_TRUE(pt::bitwise_equal(whole.rho, carried.rho)) << "est " << est;
    EXPECT_EQ(whole.flags, carried.flags) << "est " << est;
  }
}

// README "Accuracy" on the large path: rho within [min g, max g], max g (min g under min) bit for
// bit at k >= n, a constant group's constant, binary groups' exact 0 and 1; the transforms' rho is
// the curve's bit for bit.
TEST(CudaLarge, RhoExactRangeKEqualsNAndBinaryEnds) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  pt::check_rho_exact_sizes(cuda_runner(gpu), {4097, 8193}, /*seed=*/55, /*few_binary=*/true);
}

// Binary pass@k on the large path at least as accurate as HumanEval's closed form (or within 2
// ulps), pass^k within 1 ulp: counts of successes whose one non-zero gap (rank n - c) lies in every
// tile, next to the tiles' edges, and at both ends.
TEST(CudaLarge, BinaryPassAtKAtLeastAsAccurateAsHumanEval) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  const int64_t n = 8193;
  std::vector<int64_t> cs = {0, 1, 2, 3, 100, n - 4000, n - 2, n - 1, n};
  for (int64_t edge = 2048; edge < n; edge += 2048) {
    for (int64_t d : {-1, 0, 1}) cs.push_back(n - (edge + d));
  }
  pt::BinaryAccuracy acc;
  pt::binary_accuracy_at(cuda_runner(gpu), n, cs, &acc);
  std::printf("binary pass@k, n = %lld, %lld cases (float64): correctly rounded pkpo %lld, HumanEval "
              "form %lld; max ulps pkpo %.3f, HumanEval form %.3f\n",
              (long long)n, (long long)acc.cases, (long long)acc.pkpo_exact, (long long)acc.he_exact,
              acc.pkpo_max_ulps, acc.he_max_ulps);
  EXPECT_EQ(acc.violations, 0);
  EXPECT_LE(acc.pkpo_max_ulps, 1.0);
}

// A captured transform of a uniform large batch with a mixture whose terms live in device memory,
// replayed with new weights and rewards: each replay as an eager call with those weights, bit for
// bit, and as the oracle says.
TEST(CudaLarge, GraphReplayWithNewMixtureWeights) {
  PKPO_SKIP_WITHOUT_GPU();
  CudaHandle gpu;
  std::mt19937_64 rng(56);
  pt::Batch b = uniform_batch(PKPO_SLOO, PKPO_FLOAT64, 4100, kBankGroups, 1, rng);
  pt::set_mixture(&b, {"mix", {1, 3, 4000}, {1.0, 0.5, 0.25}});
  b.statistic = PKPO_STATISTIC_MIN;
  const int64_t N = b.num_samples(), G = b.num_groups;
  DevMem in(N * 8), out(N * 8), rho(G * 8), flags(G * 4);
  DevBatch db(b);
  cudaMemcpy(in.p, b.rewards.data(), N * 8, cudaMemcpyHostToDevice);
  CUDA_OK(cudaDeviceSynchronize());  // the non-blocking stream below does not wait for the copies
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
  for (int round = 0; round < 2; ++round) {
    pt::Batch nb = b;
    nb.k_weights = {round ? -1.0 : 0.125, 2.0, round ? 0.0 : 3.0};
    nb.rewards = pt::gen_group(pt::Kind::Ties, N, rng);
    CUDA_OK(cudaMemcpyAsync(in.p, nb.rewards.data(), N * 8, cudaMemcpyHostToDevice, s));
    CUDA_OK(cudaMemcpyAsync(db.kweights.p, nb.k_weights.data(), nb.k_weights.size() * 8, cudaMemcpyHostToDevice, s));
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
    EXPECT_TRUE(pt::matches(nb, g, pt::expected_for(nb, oracle::LARGE))) << "replay " << round;
    const pt::LibResult direct = run_cuda(gpu, nb);
    EXPECT_TRUE(pt::bitwise_equal(direct.out, g.out)) << "replay " << round;
    EXPECT_TRUE(pt::bitwise_equal(direct.rho, g.rho)) << "replay " << round;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}
