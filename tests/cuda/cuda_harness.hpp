// cuda_harness.hpp -- the device tests' harness (test_cuda.cpp and the emulator's own device-level
// tests): device buffers with guard elements, pkpo_transform on the device in the CPU harness's
// LibResult form, the comparisons with the CPU backend and the oracle, and batch generators.
#ifndef PKPO_TESTS_CUDA_HARNESS_HPP
#define PKPO_TESTS_CUDA_HARNESS_HPP

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "rho_checks.hpp"
#include "test_util.hpp"

#define PKPO_SKIP_WITHOUT_GPU()                                          \
  do {                                                                   \
    if (!pkpo_backend_available(PKPO_BACKEND_CUDA)) {                    \
      GTEST_SKIP() << "no CUDA device visible: CUDA backend not tested"; \
    }                                                                    \
  } while (0)

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

namespace cuda_test {

constexpr int64_t kGuard = 64;
constexpr uint32_t kFlagSentinel = 0xA5A5A5A5u;

class CudaHandle {
 public:
  CudaHandle() {
    pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
    o.backend = PKPO_BACKEND_CUDA;
    status_ = pkpo_create(&h_, &o);
  }
  ~CudaHandle() { pkpo_destroy(h_); }
  CudaHandle(const CudaHandle&) = delete;
  CudaHandle& operator=(const CudaHandle&) = delete;
  operator pkpo_handle() const { return h_; }  // NOLINT
  pkpo_status status() const { return status_; }

 private:
  pkpo_handle h_ = nullptr;
  pkpo_status status_ = PKPO_ERROR_INTERNAL;
};

// A device allocation freed on scope exit.
struct DevMem {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DevMem(size_t n) : bytes(n) {
    if (n && cudaMalloc(&p, n) != cudaSuccess) p = nullptr;
  }
  ~DevMem() { cudaFree(p); }
  DevMem(const DevMem&) = delete;
  DevMem& operator=(const DevMem&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

inline size_t esize(pkpo_dtype dt) { return dt == PKPO_FLOAT32 ? 4 : 8; }

inline const double kSentinelF64 = pt::sentinel_f64();

// Host image of a typed array (+ guard elements filled with the sentinel).
inline std::vector<unsigned char> typed(pkpo_dtype dt, const std::vector<double>& v, int64_t guard) {
  const size_t es = esize(dt);
  std::vector<unsigned char> h((v.size() + (size_t)guard) * es);
  for (size_t i = 0; i < v.size() + (size_t)guard; ++i) {
    if (dt == PKPO_FLOAT32) {
      // The float64 sentinel (sentinels()) becomes the float32 one: converting it would give
      // another NaN, which untouched() would not recognise.
      const bool sent = i >= v.size() || std::memcmp(&v[i], &kSentinelF64, 8) == 0;
      const float x = sent ? pt::sentinel_f32() : (float)v[i];
      std::memcpy(&h[i * es], &x, es);
    } else {
      const double x = i < v.size() ? v[i] : pt::sentinel_f64();
      std::memcpy(&h[i * es], &x, es);
    }
  }
  return h;
}
inline double typed_get(pkpo_dtype dt, const std::vector<unsigned char>& h, size_t i) {
  if (dt == PKPO_FLOAT32) {
    float x;
    std::memcpy(&x, &h[i * 4], 4);
    return x;
  }
  double x;
  std::memcpy(&x, &h[i * 8], 8);
  return x;
}

// True if a value read back as double is still the poisoned sentinel of its dtype.
inline bool untouched(pkpo_dtype dt, double v) {
  const double s = dt == PKPO_FLOAT32 ? (double)pt::sentinel_f32() : pt::sentinel_f64();
  return std::memcmp(&v, &s, 8) == 0;
}

inline std::vector<double> sentinels(int64_t n) { return std::vector<double>((size_t)n, pt::sentinel_f64()); }

// The device copy of a batch's description arrays (a mixture's terms too: pkpo.h keeps them in the
// handle's memory space).
struct DevBatch {
  DevMem offsets, index, kpg, kterms, kweights;
  explicit DevBatch(const pt::Batch& b)
      : offsets(b.offsets.size() * 8), index(b.index.size() * 8), kpg(b.k_per_group.size() * 8),
        kterms(b.k_terms.size() * 8), kweights(b.k_weights.size() * 8) {
    if (!b.offsets.empty()) cudaMemcpy(offsets.p, b.offsets.data(), offsets.bytes, cudaMemcpyHostToDevice);
    if (!b.index.empty()) cudaMemcpy(index.p, b.index.data(), index.bytes, cudaMemcpyHostToDevice);
    if (!b.k_per_group.empty()) cudaMemcpy(kpg.p, b.k_per_group.data(), kpg.bytes, cudaMemcpyHostToDevice);
    if (!b.k_terms.empty()) cudaMemcpy(kterms.p, b.k_terms.data(), kterms.bytes, cudaMemcpyHostToDevice);
    if (!b.k_weights.empty()) cudaMemcpy(kweights.p, b.k_weights.data(), kweights.bytes, cudaMemcpyHostToDevice);
  }
  pkpo_desc desc(const pt::Batch& b) const {
    pkpo_desc d = b.desc();
    d.offsets = b.offsets.empty() ? nullptr : offsets.as<int64_t>();
    d.index = b.index.empty() ? nullptr : index.as<int64_t>();
    d.k_per_group = b.k_per_group.empty() ? nullptr : kpg.as<int64_t>();
    d.k_terms = b.k_terms.empty() ? nullptr : kterms.as<int64_t>();
    d.k_weights = b.k_weights.empty() ? nullptr : kweights.as<double>();
    return d;
  }
};

// pkpo_transform on the device, in the CPU harness's LibResult form (same guard/sentinel rules).
inline pt::LibResult run_cuda(pkpo_handle h, const pt::Batch& b, bool want_rho = true, bool want_flags = true,
                       bool in_place = false, cudaStream_t stream = nullptr) {
  pt::LibResult r;
  const int64_t N = b.num_samples(), G = b.num_groups;
  const pkpo_dtype dt = b.dtype;
  const size_t es = esize(dt);
  const bool has_out = b.est != PKPO_RHO;
  std::vector<unsigned char> h_in = typed(dt, b.rewards, kGuard);
  std::vector<unsigned char> h_out = in_place ? h_in : typed(dt, sentinels(N), kGuard);
  std::vector<unsigned char> h_rho = typed(dt, sentinels(G), kGuard);
  std::vector<uint32_t> h_flags((size_t)(G + kGuard), kFlagSentinel);
  DevMem in(h_in.size()), out(h_out.size()), rho(h_rho.size()), flags(h_flags.size() * 4);
  cudaMemcpy(in.p, h_in.data(), h_in.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(out.p, h_out.data(), h_out.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(rho.p, h_rho.data(), h_rho.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(flags.p, h_flags.data(), h_flags.size() * 4, cudaMemcpyHostToDevice);
  DevBatch db(b);
  const pkpo_desc d = db.desc(b);
  r.status = pkpo_transform(h, &d, in_place ? out.p : in.p, has_out ? out.p : nullptr,
                            want_rho ? rho.p : nullptr, want_flags ? flags.as<uint32_t>() : nullptr,
                            stream);
  r.last_error = pkpo_last_error(h);
  if (cudaStreamSynchronize(stream) != cudaSuccess) r.status = PKPO_ERROR_CUDA;
  std::vector<unsigned char> g_in(h_in.size());
  cudaMemcpy(g_in.data(), in.p, h_in.size(), cudaMemcpyDeviceToHost);
  cudaMemcpy(h_out.data(), out.p, h_out.size(), cudaMemcpyDeviceToHost);
  cudaMemcpy(h_rho.data(), rho.p, h_rho.size(), cudaMemcpyDeviceToHost);
  cudaMemcpy(h_flags.data(), flags.p, h_flags.size() * 4, cudaMemcpyDeviceToHost);
  if (has_out) {
    r.out.resize((size_t)N);
    for (int64_t i = 0; i < N; ++i) r.out[(size_t)i] = typed_get(dt, h_out, (size_t)i);
  }
  if (want_rho) {
    r.rho.resize((size_t)G);
    for (int64_t g = 0; g < G; ++g) r.rho[(size_t)g] = typed_get(dt, h_rho, (size_t)g);
  }
  if (want_flags) r.flags.assign(h_flags.begin(), h_flags.begin() + G);
  for (int64_t i = 0; i < kGuard; ++i) {
    if (!pt::is_sentinel(dt, &h_out[(size_t)(N + i) * es])) r.guards_intact = false;
    if (!pt::is_sentinel(dt, &h_rho[(size_t)(G + i) * es])) r.guards_intact = false;
    if (h_flags[(size_t)(G + i)] != kFlagSentinel) r.guards_intact = false;
  }
  if (!in_place && g_in != h_in) r.guards_intact = false;  // the input must be untouched
  return r;
}

// Values of both backends within twice docs/math.md target of each other (each is within the target
// of the exact value), flags equal bit for bit, NaN where the other has NaN.
inline ::testing::AssertionResult same_as_cpu(const pt::Batch& b, const pt::LibResult& gpu,
                                       const pt::LibResult& cpu, const pt::Expected& e) {
  if (gpu.status != cpu.status) {
    return ::testing::AssertionFailure() << "status " << gpu.status << " vs CPU " << cpu.status
                                         << " (" << gpu.last_error << ")";
  }
  if (gpu.flags != cpu.flags) return ::testing::AssertionFailure() << "flags differ from the CPU's";
  const double tol = 2 * pt::tol_for(b.dtype);
  for (size_t i = 0; i < gpu.out.size(); ++i) {
    const double s = (double)e.scale[(size_t)e.group_of[i]];
    const double a = gpu.out[i], c = cpu.out[i];
    const bool ok = (std::isnan(a) && std::isnan(c)) || a == c || std::fabs(a - c) <= tol * s;
    if (!ok) {
      return ::testing::AssertionFailure() << "sample " << i << ": GPU " << a << " CPU " << c
                                           << " scale " << s;
    }
  }
  for (size_t g = 0; g < gpu.rho.size(); ++g) {
    const double s = (double)e.rho_scale[g];
    const double a = gpu.rho[g], c = cpu.rho[g];
    if (!((std::isnan(a) && std::isnan(c)) || a == c || std::fabs(a - c) <= tol * s)) {
      return ::testing::AssertionFailure() << "rho of group " << g << ": GPU " << a << " CPU " << c;
    }
  }
  return ::testing::AssertionSuccess();
}

// Tied samples of a group got bitwise-identical outputs (the tie rule of every path: a sample takes
// the output of the first rank holding its value). Non-finite rewards are skipped.
inline ::testing::AssertionResult ties_identical(const pt::Batch& b, const pt::LibResult& g) {
  for (int64_t gi = 0; gi < b.num_groups; ++gi) {
    const bool uniform = b.offsets.empty();
    const int64_t begin = uniform ? gi * b.group_size : b.offsets[(size_t)gi];
    const int64_t end = uniform ? begin + b.group_size : b.offsets[(size_t)gi + 1];
    std::map<double, double> first;  // reward -> output of its first sample (-0.0 and +0.0 are one key)
    for (int64_t j = begin; j < end; ++j) {
      const int64_t i = b.sample_at(j);
      const double v = b.rewards[(size_t)i], o = g.out[(size_t)i];
      if (!std::isfinite(v)) continue;
      const auto it = first.emplace(v, o).first;
      if (!pt::bitwise_equal({it->second}, {o})) {
        return ::testing::AssertionFailure() << "tied samples differ: group " << gi << " sample " << i
                                             << " reward " << v << ": " << o << " vs " << it->second;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// b on the device against the oracle (its large-n method) and the CPU backend and, for a call with
// outputs that succeeded, tied samples bit-identical; `what` labels the failures.
inline pt::LibResult run_checked(pkpo_handle gpu, pkpo_handle cpu, const pt::Batch& b, const std::string& what) {
  const pt::Expected e = pt::expected_for(b, oracle::LARGE);
  const pt::LibResult g = run_cuda(gpu, b);
  EXPECT_TRUE(pt::matches(b, g, e)) << what;
  EXPECT_TRUE(same_as_cpu(b, g, pt::run_lib(cpu, b), e)) << what;
  if (b.est != PKPO_RHO && g.status == PKPO_SUCCESS) {
    EXPECT_TRUE(ties_identical(b, g)) << what;
  }
  return g;
}

// How rho_checks.hpp's checks reach the device: run_cuda for a transform, device buffers for a
// curve.
inline pt::Runner cuda_runner(pkpo_handle h) {
  pt::Runner r;
  r.transform = [h](const pt::Batch& b) { return run_cuda(h, b); };
  r.curve = [h](const pt::Batch& b, const std::vector<int64_t>& ks, std::vector<double>* out) {
    const int64_t G = b.num_groups, K = (int64_t)ks.size();
    const size_t es = esize(b.dtype);
    DevMem in(b.rewards.size() * es), rho((size_t)(G * K) * es);
    cudaMemcpy(in.p, typed(b.dtype, b.rewards, 0).data(), b.rewards.size() * es, cudaMemcpyHostToDevice);
    DevBatch db(b);
    const pkpo_desc d = db.desc(b);
    const pkpo_status st = pkpo_rho_curve(h, &d, in.p, ks.data(), K, rho.p, nullptr, nullptr);
    if (cudaStreamSynchronize(nullptr) != cudaSuccess) return PKPO_ERROR_CUDA;
    std::vector<unsigned char> h_rho(rho.bytes);
    cudaMemcpy(h_rho.data(), rho.p, rho.bytes, cudaMemcpyDeviceToHost);
    out->resize((size_t)(G * K));
    for (size_t i = 0; i < out->size(); ++i) (*out)[i] = typed_get(b.dtype, h_rho, i);
    return st;
  };
  return r;
}

inline std::string label(pkpo_estimator est, pkpo_dtype dt, const char* name, int64_t v) {
  return "est " + std::to_string((int)est) + " dt " + std::to_string((int)dt) + " " + name + " " + std::to_string(v);
}

inline constexpr pkpo_estimator kEsts[] = {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};

inline pt::Batch uniform_batch(pkpo_estimator est, pkpo_dtype dt, int64_t n, int64_t groups, int64_t k,
                        std::mt19937_64& rng) {
  pt::Batch b;
  b.est = est;
  b.dtype = dt;
  b.num_groups = groups;
  b.group_size = n;
  b.k = k;
  for (int64_t g = 0; g < groups; ++g) {
    const auto v = pt::gen_group((pt::Kind)(g % (int)pt::Kind::Kinds), n, rng);
    b.rewards.insert(b.rewards.end(), v.begin(), v.end());
  }
  pt::round_rewards(&b);
  return b;
}

inline pt::Batch ragged_batch(pkpo_estimator est, pkpo_dtype dt, const std::vector<int64_t>& sizes,
                       std::mt19937_64& rng, bool per_group_k, bool permute) {
  pt::Batch b;
  b.est = est;
  b.dtype = dt;
  b.num_groups = (int64_t)sizes.size();
  b.offsets = pt::offsets_from_sizes(sizes);
  b.max_group_size = *std::max_element(sizes.begin(), sizes.end());
  b.k = 3;
  int kind = 0;
  for (int64_t n : sizes) {
    const auto v = pt::gen_group((pt::Kind)(kind++ % (int)pt::Kind::Kinds), n, rng);
    b.rewards.insert(b.rewards.end(), v.begin(), v.end());
    if (per_group_k) b.k_per_group.push_back(1 + (int64_t)(rng() % (uint64_t)(n + 2)));
  }
  if (permute) b.index = pt::random_permutation(b.num_samples(), rng);
  pt::round_rewards(&b);
  return b;
}

}  // namespace cuda_test

#endif  // PKPO_TESTS_CUDA_HARNESS_HPP
