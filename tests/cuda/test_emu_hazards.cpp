// test_emu_hazards.cpp -- what the emulated device does about what a GPU leaves undefined or to
// timing, and about what ends a process there (tests/cuda/emu/emu_hazards.cpp, emu_smem.cpp,
// cub_standin.h): static shared memory poisoned before every block, the blocks of a launch in any
// order with the same results, a memory fault sticky for the rest of the process, a copy from
// pageable memory that a non-blocking stream overtakes, and the result of CUB's DoubleBuffer sort
// in either buffer. Built only into test_cuda_emu (ctest label cuda-emu).
//
// Errors that end a process's use of the device run in child processes (death tests).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cub_standin.h" /* the emulator's CUB hooks (where the DoubleBuffer sort leaves its result) */
#include "cuda_harness.hpp"
#include "pkpo.h"

using namespace cuda_test;  // NOLINT(build/namespaces)

namespace {

void death_tests_reexecute() { GTEST_FLAG_SET(death_test_style, "threadsafe"); }

// Under ThreadSanitizer the emulator catches no memory fault and protects no pending copy
// (emu_hazards.cpp): those tests run in the plain build.
#if defined(__SANITIZE_THREAD__)
#define PKPO_SKIP_UNDER_TSAN() GTEST_SKIP() << "no fault handler under ThreadSanitizer"
#else
#define PKPO_SKIP_UNDER_TSAN() (void)0
#endif

// ---- static shared memory ----------------------------------------------------------------------

// Only the first block writes its shared array; the others read what CUDA leaves undefined.
template <int N>
__global__ void static_smem_template_kernel(unsigned* out) {
  __shared__ unsigned s[N];
  const int t = threadIdx.x;
  if (blockIdx.x == 0) s[t] = 7u;
  __syncthreads();
  out[blockIdx.x * N + t] = s[t];
}
__global__ void static_smem_kernel(unsigned* out) {
  __shared__ unsigned s[64];
  const int t = threadIdx.x;
  if (blockIdx.x == 0) s[t] = 7u;
  __syncthreads();
  out[blockIdx.x * 64 + t] = s[t];
}

TEST(EmuHazards, StaticSharedMemoryIsPoisonedBeforeEveryBlock) {
  unsigned* d = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&d, 3 * 64 * sizeof(unsigned)), cudaSuccess);
  for (int variant = 0; variant < 2; ++variant) {  // a template's statics are COMDAT objects with GCC
    const cudaError_t e = variant == 0 ? pkpo_emu::launch(static_smem_kernel, dim3(3), dim3(64), 0, nullptr, "test", d)
                                       : pkpo_emu::launch(static_smem_template_kernel<64>, dim3(3), dim3(64), 0,
                                                          nullptr, "test", d);
    ASSERT_EQ(e, cudaSuccess);
    std::vector<unsigned> h(3 * 64);
    ASSERT_EQ(cudaMemcpy(h.data(), d, h.size() * sizeof(unsigned), cudaMemcpyDeviceToHost), cudaSuccess);
    for (int t = 0; t < 64; ++t) {
      EXPECT_EQ(h[(size_t)t], 7u) << "variant " << variant;
      EXPECT_EQ(h[(size_t)(64 + t)], 0xA7A7A7A7u) << "variant " << variant << ": block 1 saw block 0's value";
      EXPECT_EQ(h[(size_t)(128 + t)], 0xA7A7A7A7u) << "variant " << variant;
    }
  }
  cudaFree(d);
}

// ---- block order ---------------------------------------------------------------------------------

struct RestoreBlockOrder {
  uint64_t seed = 0;
  pkpo_emu::BlockOrder order = pkpo_emu::block_order(&seed);
  ~RestoreBlockOrder() { pkpo_emu::set_block_order(order, seed); }
};

__global__ void ticket_kernel(unsigned* counter, unsigned* out) {
  if (threadIdx.x == 0) out[blockIdx.x + gridDim.x * blockIdx.y] = atomicAdd(counter, 1u);
}

std::vector<unsigned> tickets(pkpo_emu::BlockOrder order, uint64_t seed) {
  pkpo_emu::set_block_order(order, seed);
  unsigned* d = nullptr;
  std::vector<unsigned> h(33, 0);
  if (cudaMalloc((void**)&d, h.size() * sizeof(unsigned)) != cudaSuccess) return {};
  cudaMemset(d, 0, sizeof(unsigned));
  if (pkpo_emu::launch(ticket_kernel, dim3(8, 4), dim3(32), 0, nullptr, "test", d, d + 1) != cudaSuccess) return {};
  cudaMemcpy(h.data(), d + 1, 32 * sizeof(unsigned), cudaMemcpyDeviceToHost);
  cudaFree(d);
  h.resize(32);
  return h;
}

TEST(EmuHazards, BlockOrderIsIndexReversedOrShuffled) {
  RestoreBlockOrder restore;
  std::vector<unsigned> id(32), rev(32);
  std::iota(id.begin(), id.end(), 0u);
  std::iota(rev.rbegin(), rev.rend(), 0u);
  EXPECT_EQ(tickets(pkpo_emu::BlockOrder::kIndex, 0), id);
  EXPECT_EQ(tickets(pkpo_emu::BlockOrder::kReverse, 0), rev);
  const std::vector<unsigned> a = tickets(pkpo_emu::BlockOrder::kShuffle, 1);
  const std::vector<unsigned> b = tickets(pkpo_emu::BlockOrder::kShuffle, 1);  // the next launch
  const std::vector<unsigned> c = tickets(pkpo_emu::BlockOrder::kShuffle, 2);
  for (const auto* v : {&a, &b, &c}) {
    std::vector<unsigned> sorted = *v;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, id) << "every block runs once";
    EXPECT_NE(*v, id);
    EXPECT_NE(*v, rev);
  }
  EXPECT_NE(a, b) << "another permutation for every launch";
  EXPECT_NE(a, c) << "another permutation for another seed";
}

// Outputs, rho and flags of a batch, as bytes.
void append(std::vector<unsigned char>* bytes, const pt::LibResult& r) {
  const auto add = [bytes](const void* p, size_t n) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    bytes->insert(bytes->end(), c, c + n);
  };
  add(&r.status, sizeof r.status);
  add(r.out.data(), r.out.size() * sizeof(double));
  add(r.rho.data(), r.rho.size() * sizeof(double));
  add(r.flags.data(), r.flags.size() * sizeof(uint32_t));
}

// Every path of a transform, a rho curve and group_by_id, each with more than one block: the warp
// kernels (uniform, many blocks), the group kernels and the bucketing of a ragged batch of three
// or more size classes (whose class lists are filled by atomics, in block order), the large path's
// run sort, four-way merges with several chunks per block (18 runs), tiles and carries, and the
// whole-array sort of one uniform group.
std::vector<unsigned char> every_path(uint64_t seed) {
  CudaHandle gpu;
  std::mt19937_64 rng(seed);
  std::vector<unsigned char> bytes;
  const std::vector<int64_t> sizes = {3, 17, 100, 129, 300, 700, 2000, 4097, 1, 0, 40, 64, 9000, 5};
  for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
    for (pkpo_estimator est : {PKPO_SLOO_MINUS_ONE, PKPO_L2O}) {
      append(&bytes, run_cuda(gpu, ragged_batch(est, dt, sizes, rng, true, true)));
    }
    // Two shapes in a row on one kernel: a block that reused what another block (or the call
    // before) left would get the other call's weights.
    append(&bytes, run_cuda(gpu, uniform_batch(PKPO_SLOO, dt, 16, 700, 4, rng)));
    append(&bytes, run_cuda(gpu, uniform_batch(PKPO_SLOO, dt, 16, 700, 7, rng)));
    append(&bytes, run_cuda(gpu, uniform_batch(PKPO_S, dt, 4096 * 9, 2, 5, rng)));
    append(&bytes, run_cuda(gpu, uniform_batch(PKPO_L2O, dt, 9000, 1, 3, rng)));
  }
  // A rho curve on a ragged batch (host ks).
  const pt::Batch b = ragged_batch(PKPO_RHO, PKPO_FLOAT64, {50, 600, 5000, 2}, rng, false, false);
  const int64_t N = b.num_samples(), G = b.num_groups;
  const std::vector<int64_t> ks = {1, 2, 3, 7, 40};
  DevMem in(N * 8), curve(G * (int64_t)ks.size() * 8);
  DevBatch db(b);
  cudaMemcpy(in.p, b.rewards.data(), N * 8, cudaMemcpyHostToDevice);
  const pkpo_desc d = db.desc(b);
  const pkpo_status st = pkpo_rho_curve(gpu, &d, in.p, ks.data(), (int64_t)ks.size(), curve.p, nullptr, nullptr);
  std::vector<double> h((size_t)G * ks.size());
  cudaMemcpy(h.data(), curve.p, h.size() * 8, cudaMemcpyDeviceToHost);
  bytes.insert(bytes.end(), (const unsigned char*)&st, (const unsigned char*)(&st + 1));
  bytes.insert(bytes.end(), (const unsigned char*)h.data(), (const unsigned char*)(h.data() + h.size()));
  // group_by_id over 20000 ids.
  const int64_t n = 20000;
  std::vector<int64_t> ids((size_t)n);
  for (auto& x : ids) x = (int64_t)(rng() % 997) - 300;
  DevMem d_ids(n * 8), d_off((n + 1) * 8), d_idx(n * 8);
  cudaMemcpy(d_ids.p, ids.data(), n * 8, cudaMemcpyHostToDevice);
  int64_t groups = -1, maxn = -1;
  const pkpo_status sg = pkpo_group_by_id(gpu, d_ids.as<int64_t>(), n, d_off.as<int64_t>(), d_idx.as<int64_t>(),
                                          &groups, &maxn, nullptr);
  std::vector<int64_t> off((size_t)n + 1), idx((size_t)n);
  cudaMemcpy(off.data(), d_off.p, off.size() * 8, cudaMemcpyDeviceToHost);
  cudaMemcpy(idx.data(), d_idx.p, idx.size() * 8, cudaMemcpyDeviceToHost);
  for (const int64_t v : {(int64_t)sg, groups, maxn}) {
    bytes.insert(bytes.end(), (const unsigned char*)&v, (const unsigned char*)(&v + 1));
  }
  bytes.insert(bytes.end(), (const unsigned char*)off.data(), (const unsigned char*)(off.data() + groups + 1));
  bytes.insert(bytes.end(), (const unsigned char*)idx.data(), (const unsigned char*)(idx.data() + n));
  return bytes;
}

TEST(EmuHazards, ResultsBitwiseEqualInEveryBlockOrder) {
  RestoreBlockOrder restore;
  pkpo_emu::set_block_order(pkpo_emu::BlockOrder::kIndex);
  const std::vector<unsigned char> ref = every_path(31);
  ASSERT_GT(ref.size(), (size_t)100000);
  const struct {
    pkpo_emu::BlockOrder order;
    uint64_t seed;
    const char* name;
  } orders[] = {{pkpo_emu::BlockOrder::kReverse, 0, "reversed"},
                {pkpo_emu::BlockOrder::kShuffle, 1, "shuffled (seed 1)"},
                {pkpo_emu::BlockOrder::kShuffle, 2, "shuffled (seed 2)"}};
  for (const auto& o : orders) {
    pkpo_emu::set_block_order(o.order, o.seed);
    const std::vector<unsigned char> got = every_path(31);
    ASSERT_EQ(got.size(), ref.size()) << o.name;
    const auto diff = std::mismatch(got.begin(), got.end(), ref.begin());
    EXPECT_TRUE(diff.first == got.end()) << o.name << ": results differ from index order at byte "
                                         << (diff.first - got.begin()) << " of " << got.size();
  }
}

// ---- sticky errors -------------------------------------------------------------------------------

__global__ void store_kernel(float* p, int64_t i) {
  if (threadIdx.x == 0 && blockIdx.x == 1) p[i] = 1.0f;
}

// Every later call that needs the device fails with the fault's error, cudaDeviceReset included;
// device queries still answer. Exits 0 if so.
void exit_if_sticky(cudaError_t e) {
  bool ok = true;
  const auto expect = [&](cudaError_t got, const char* what) {
    if (got != e) {
      fprintf(stderr, "%s returned %s, not %s\n", what, cudaGetErrorName(got), cudaGetErrorName(e));
      ok = false;
    }
  };
  void* p = nullptr;
  float h = 0.0f;
  cudaStream_t s = nullptr;
  expect(cudaGetLastError(), "cudaGetLastError");
  expect(cudaGetLastError(), "cudaGetLastError (again)");
  expect(cudaMalloc(&p, 64), "cudaMalloc");
  expect(cudaMemcpy(&h, &h, 4, cudaMemcpyHostToHost), "cudaMemcpy");
  expect(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  expect(cudaDeviceReset(), "cudaDeviceReset");
  expect(cudaDeviceSynchronize(), "cudaDeviceSynchronize after cudaDeviceReset");
  expect(pkpo_emu::launch(store_kernel, dim3(1), dim3(32), 0, nullptr, "test", (float*)nullptr, (int64_t)0),
         "a launch");
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n != 1) ok = false;
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.backend = PKPO_BACKEND_CUDA;
  pkpo_handle hd = nullptr;
  if (pkpo_create(&hd, &o) == PKPO_SUCCESS) {
    fprintf(stderr, "pkpo_create on the lost device succeeded\n");
    ok = false;
  }
  std::exit(ok ? 0 : 1);
}

TEST(EmuHazards, IllegalAddressIsStickyForTheProcess) {
  PKPO_SKIP_UNDER_TSAN();
  death_tests_reexecute();
  EXPECT_EXIT(
      {
        float* d = nullptr;
        if (cudaMalloc((void**)&d, 1000 * sizeof(float)) != cudaSuccess) std::exit(2);
        // Element 1024 is the first of the guard page after the allocation's 4000 bytes.
        if (pkpo_emu::launch(store_kernel, dim3(2), dim3(32), 0, nullptr, "test", d, (int64_t)1024) != cudaSuccess) {
          std::exit(3);
        }
        if (cudaDeviceSynchronize() != cudaErrorIllegalAddress) std::exit(4);
        exit_if_sticky(cudaErrorIllegalAddress);
      },
      ::testing::ExitedWithCode(0),
      "thread \\(0,0,0\\) of block \\(1,0,0\\) of the kernel launched by test: illegal address 0x[0-9a-f]+ "
      "\\(SIGSEGV, 96 bytes past the end of a 4000-byte device allocation\\)");
}

TEST(EmuHazards, UseAfterFreeIsAnIllegalAddress) {
  PKPO_SKIP_UNDER_TSAN();
  death_tests_reexecute();
  EXPECT_EXIT(
      {
        float* d = nullptr;
        if (cudaMalloc((void**)&d, 4096) != cudaSuccess || cudaFree(d) != cudaSuccess) std::exit(2);
        const cudaError_t e = pkpo_emu::launch(store_kernel, dim3(2), dim3(32), 0, nullptr, "test", d, (int64_t)5);
        if ((e == cudaSuccess ? cudaDeviceSynchronize() : e) != cudaErrorIllegalAddress) std::exit(4);
        exit_if_sticky(cudaErrorIllegalAddress);
      },
      ::testing::ExitedWithCode(0), "illegal address .*freed device memory");
}

__global__ void never_arrives_kernel(float* p, int64_t i) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  if (threadIdx.x == 0) p[i] = 1.0f;
}

TEST(EmuHazards, LaunchFailureIsStickyForTheProcess) {
  death_tests_reexecute();
  EXPECT_EXIT(
      {
        // A launch refused before it starts (2048 threads in a block) leaves the device usable.
        if (pkpo_emu::launch(store_kernel, dim3(1), dim3(2048), 0, nullptr, "test", (float*)nullptr, (int64_t)0) !=
            cudaErrorInvalidConfiguration) {
          std::exit(2);
        }
        float* d = nullptr;
        if (cudaMalloc((void**)&d, 64) != cudaSuccess) std::exit(3);
        const cudaError_t e = pkpo_emu::launch(never_arrives_kernel, dim3(1), dim3(64), 0, nullptr, "test", d, (int64_t)0);
        if ((e == cudaSuccess ? cudaDeviceSynchronize() : e) != cudaErrorLaunchFailure) std::exit(4);
        exit_if_sticky(cudaErrorLaunchFailure);
      },
      ::testing::ExitedWithCode(0), "deadlock");
}

// ---- a pageable copy overtaken by a non-blocking stream ------------------------------------------

__global__ void add_one_kernel(const float* in, float* out, int n) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i] + 1.0f;
}

// The child: a copy from pageable memory, then a kernel on a non-blocking stream that reads it.
[[noreturn]] void overtake_a_pageable_copy() {
  std::vector<float> h(1000, 2.0f);
  float* in = nullptr;
  float* out = nullptr;
  cudaStream_t s;
  if (cudaMalloc((void**)&in, 4000) || cudaMalloc((void**)&out, 4000) ||
      cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)) {
    std::exit(2);
  }
  if (cudaMemcpy(in, h.data(), 4000, cudaMemcpyHostToDevice) != cudaSuccess) std::exit(3);
  const cudaError_t e = pkpo_emu::launch(add_one_kernel, dim3(4), dim3(256), 0, s, "test", in, out, 1000);
  std::exit(e == cudaErrorLaunchFailure && cudaDeviceSynchronize() == cudaErrorLaunchFailure ? 0 : 1);
}

TEST(EmuHazards, PageableCopyOvertakenByANonBlockingStreamIsReported) {
  PKPO_SKIP_UNDER_TSAN();
  death_tests_reexecute();
  EXPECT_EXIT(overtake_a_pageable_copy(), ::testing::ExitedWithCode(0),
              "kernel launch on a non-blocking stream accesses 0x[0-9a-f]+ \\(byte [0-9]+ of a 4000-byte device "
              "allocation\\), which a copy from pageable host memory queued on the legacy stream has not written yet");
}

TEST(EmuHazards, OrderedCopiesAndOtherBuffersAreNotReported) {
  std::vector<float> h(1000, 2.0f), got(1000);
  DevMem in(4000), other(4000), out(4000);
  cudaStream_t nb, blocking;
  ASSERT_EQ(cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamCreate(&blocking), cudaSuccess);
  // Synchronised first; on the same stream; a blocking stream (it waits for the legacy stream).
  ASSERT_EQ(cudaMemcpy(in.p, h.data(), 4000, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(add_one_kernel, dim3(4), dim3(256), 0, nb, "test", in.as<float>(), out.as<float>(), 1000),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(in.p, h.data(), 4000, cudaMemcpyHostToDevice, nb), cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(add_one_kernel, dim3(4), dim3(256), 0, nb, "test", in.as<float>(), out.as<float>(), 1000),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(in.p, h.data(), 4000, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(add_one_kernel, dim3(4), dim3(256), 0, blocking, "test", in.as<float>(),
                             out.as<float>(), 1000),
            cudaSuccess);
  // A non-blocking stream that touches nothing the pending copy writes.
  ASSERT_EQ(cudaMemcpy(other.p, h.data(), 4000, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(add_one_kernel, dim3(4), dim3(256), 0, nb, "test", in.as<float>(), out.as<float>(), 1000),
            cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(nb), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(got.data(), out.p, 4000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, std::vector<float>(1000, 3.0f));
  ASSERT_EQ(cudaMemcpy(got.data(), other.p, 4000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, h);
  cudaStreamDestroy(nb);
  cudaStreamDestroy(blocking);
}

// ---- CUB's DoubleBuffer sort ----------------------------------------------------------------------

struct RestoreSortResult {
  pkpo_emu::SortResult r = pkpo_emu::sort_result();
  ~RestoreSortResult() { pkpo_emu::set_sort_result(r); }
};

// Sorts n descending keys with cub::DeviceRadixSort::SortKeys over bits [0, end_bit); returns the
// selector and checks that the selected buffer is sorted and the other one poisoned.
template <typename K>
int sort_selector(int64_t n, int end_bit) {
  std::vector<K> h((size_t)n);
  for (int64_t i = 0; i < n; ++i) h[(size_t)i] = (K)(n - i);
  DevMem a((size_t)n * sizeof(K)), b((size_t)n * sizeof(K)), tmp(1 << 16);
  cudaMemcpy(a.p, h.data(), (size_t)n * sizeof(K), cudaMemcpyHostToDevice);
  cub::DoubleBuffer<K> db(a.as<K>(), b.as<K>());
  size_t bytes = 1 << 16;
  EXPECT_EQ(cub::DeviceRadixSort::SortKeys(tmp.p, bytes, db, n, 0, end_bit, nullptr), cudaSuccess);
  std::vector<K> cur((size_t)n), alt((size_t)n);
  cudaMemcpy(cur.data(), db.Current(), (size_t)n * sizeof(K), cudaMemcpyDeviceToHost);
  cudaMemcpy(alt.data(), db.Alternate(), (size_t)n * sizeof(K), cudaMemcpyDeviceToHost);
  std::sort(h.begin(), h.end());
  EXPECT_EQ(cur, h) << "n " << n;
  for (const K& k : alt) EXPECT_TRUE(pkpo_emu::never_written(k)) << "n " << n << ": the other buffer is poisoned";
  return db.selector;
}

TEST(EmuHazards, DoubleBufferSortLeavesTheResultWhereCubDoes) {
  RestoreSortResult restore;
  pkpo_emu::set_sort_result(pkpo_emu::SortResult::kPassParity);
  EXPECT_EQ(sort_selector<uint32_t>(4864, 32), 1) << "single tile: the alternate buffer";
  EXPECT_EQ(sort_selector<uint32_t>(4865, 32), 0) << "onesweep, 4 passes: the current buffer";
  EXPECT_EQ(sort_selector<uint32_t>(9000, 24), 1) << "onesweep, 3 passes";
  EXPECT_EQ(sort_selector<uint64_t>(9000, 64), 0) << "onesweep, 8 passes";
  pkpo_emu::set_sort_result(pkpo_emu::SortResult::kCurrent);
  EXPECT_EQ(sort_selector<uint32_t>(100, 32), 0);
  pkpo_emu::set_sort_result(pkpo_emu::SortResult::kAlternate);
  EXPECT_EQ(sort_selector<uint64_t>(9000, 64), 1);
}

// The large path's whole-array sort (one uniform group) with CUB's result forced into each buffer:
// against the oracle and the CPU backend, and the same bits either way.
TEST(EmuHazards, WholeSortResultInEitherBuffer) {
  RestoreSortResult restore;
  CudaHandle gpu;
  pt::Handle cpu;
  for (int64_t n : {int64_t(4865), int64_t(12289)}) {
    for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
      for (pkpo_estimator est : kEsts) {
        std::mt19937_64 rng(41);
        const pt::Batch b = uniform_batch(est, dt, n, 1, 3, rng);
        std::vector<unsigned char> first;
        for (pkpo_emu::SortResult r : {pkpo_emu::SortResult::kCurrent, pkpo_emu::SortResult::kAlternate}) {
          pkpo_emu::set_sort_result(r);
          const std::string what =
              label(est, dt, "n", n) + (r == pkpo_emu::SortResult::kCurrent ? " current" : " alternate");
          std::vector<unsigned char> bytes;
          append(&bytes, run_checked(gpu, cpu, b, what));
          if (first.empty()) first = bytes;
          EXPECT_TRUE(bytes == first) << what << ": other bits than with the result in the other buffer";
        }
      }
    }
  }
}

}  // namespace
