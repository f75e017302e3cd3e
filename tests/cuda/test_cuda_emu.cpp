// test_cuda_emu.cpp -- the emulated device's own semantics (tests/cuda/emu): barriers, warp
// collectives, misuse reported as launch failures, the CUB stand-ins' poisoning, capture rules.
// Built only into test_cuda_emu (ctest label cuda-emu), next to test_cuda.cpp.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cub_standin.h" /* the emulator's CUB hooks (fault injection, size-query counter) */
#include "merge_kernels.cuh" /* src/cuda: the large path's merge splits, called directly below */
#include "pkpo.h"

namespace {

// A failed launch is sticky for the rest of the process, as on a device: each misuse runs in a
// child process (a death test) that checks the error, that it stays, and the diagnostic on stderr.
void expect_launch_fails(const std::function<cudaError_t()>& launch, const char* diagnostic) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const cudaError_t e = launch();
        const cudaError_t r = e == cudaSuccess ? cudaDeviceSynchronize() : e;
        void* p = nullptr;
        const bool sticky = cudaMalloc(&p, 16) == cudaErrorLaunchFailure && cudaDeviceReset() == cudaErrorLaunchFailure;
        std::exit(r == cudaErrorLaunchFailure && sticky ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), diagnostic);
}

__global__ void scan_kernel(int* out) {
  __shared__ int buf[64];
  const int t = threadIdx.x;
  buf[t] = t + 1;
  __syncthreads();
  int s = 0;
  for (int i = 0; i <= t; ++i) s += buf[i];
  out[blockIdx.x * 64 + t] = s;
}

TEST(Emu, SharedMemoryIsPerBlockAndBarriersOrderIt) {
  int* d = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&d, 3 * 64 * sizeof(int)), cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(scan_kernel, dim3(3), dim3(64), 0, nullptr, "test", d), cudaSuccess);
  std::vector<int> h(3 * 64);
  ASSERT_EQ(cudaMemcpy(h.data(), d, h.size() * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
  for (int b = 0; b < 3; ++b) {
    for (int t = 0; t < 64; ++t) EXPECT_EQ(h[(size_t)(b * 64 + t)], (t + 1) * (t + 2) / 2);
  }
  cudaFree(d);
}

__global__ void warp_kernel(double* out, unsigned* ballots) {
  const int lane = threadIdx.x & 31;
  const double v = 10.0 * threadIdx.x;
  out[threadIdx.x * 4 + 0] = __shfl_up_sync(0xFFFFFFFFu, v, 3);
  out[threadIdx.x * 4 + 1] = __shfl_down_sync(0xFFFFFFFFu, v, 5);
  out[threadIdx.x * 4 + 2] = __shfl_xor_sync(0xFFFFFFFFu, v, 1);
  out[threadIdx.x * 4 + 3] = __shfl_sync(0xFFFFFFFFu, v, 7, 8);
  const unsigned b = __ballot_sync(0xFFFFFFFFu, lane % 3 == 0);
  if (lane == 0) ballots[threadIdx.x / 32] = b;
  const int c = __syncthreads_count(lane < 4);
  const int o = __syncthreads_or(threadIdx.x == 63);
  const int a = __syncthreads_and(threadIdx.x < 64);
  if (threadIdx.x == 0) ballots[2] = (unsigned)(c * 100 + o * 10 + a);
}

TEST(Emu, WarpCollectivesHaveCudaSemantics) {
  double* d = nullptr;
  unsigned* bal = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&d, 64 * 4 * sizeof(double)), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void**)&bal, 3 * sizeof(unsigned)), cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(warp_kernel, dim3(1), dim3(64), 0, nullptr, "test", d, bal), cudaSuccess);
  std::vector<double> h(64 * 4);
  unsigned hb[3];
  cudaMemcpy(h.data(), d, h.size() * 8, cudaMemcpyDeviceToHost);
  cudaMemcpy(hb, bal, sizeof hb, cudaMemcpyDeviceToHost);
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, w = t - lane;
    EXPECT_EQ(h[(size_t)t * 4 + 0], 10.0 * (lane >= 3 ? t - 3 : t));
    EXPECT_EQ(h[(size_t)t * 4 + 1], 10.0 * (lane + 5 < 32 ? t + 5 : t));
    EXPECT_EQ(h[(size_t)t * 4 + 2], 10.0 * (w + (lane ^ 1)));
    EXPECT_EQ(h[(size_t)t * 4 + 3], 10.0 * (w + (lane & ~7) + 7));
  }
  unsigned want = 0;
  for (int l = 0; l < 32; l += 3) want |= 1u << l;
  EXPECT_EQ(hb[0], want);
  EXPECT_EQ(hb[1], want);
  EXPECT_EQ(hb[2], 8u * 100 + 10 + 1);
  cudaFree(d);
  cudaFree(bal);
}

__global__ void early_exit_kernel(int* out) {
  if (threadIdx.x == 5) return;  // never reaches the barrier
  __syncthreads();
  out[threadIdx.x] = 1;
}
__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}
__global__ void partial_mask_kernel(int* out) {
  // Lanes 0..15 shuffle with a full mask: lanes 16..31 never arrive.
  if ((threadIdx.x & 31) < 16) out[threadIdx.x] = __shfl_sync(0xFFFFFFFFu, (int)threadIdx.x, 0);
}
__global__ void outside_mask_kernel(double* out) {
  // Mask of the low half; lane 3 reads lane 20, which is not in the mask: undefined (poisoned).
  if (threadIdx.x < 16) out[threadIdx.x] = __shfl_sync(0x0000FFFFu, 1.0, threadIdx.x == 3 ? 20 : 0);
}

// Misuse is a launch failure with a diagnostic on stderr, never a hang.
TEST(Emu, ThreadThatNeverArrivesIsReported) {
  expect_launch_fails(
      [] {
        int* d = nullptr;
        if (cudaMalloc((void**)&d, 64 * sizeof(int)) != cudaSuccess) return cudaErrorUnknown;
        return pkpo_emu::launch(early_exit_kernel, dim3(1), dim3(64), 0, nullptr, "test", d);
      },
      "deadlock: 63 of 64 threads wait at __syncthreads");
}
TEST(Emu, DivergentBarrierIsReported) {
  expect_launch_fails(
      [] {
        int* d = nullptr;
        if (cudaMalloc((void**)&d, 64 * sizeof(int)) != cudaSuccess) return cudaErrorUnknown;
        return pkpo_emu::launch(divergent_barrier_kernel, dim3(1), dim3(32), 0, nullptr, "test", d);
      },
      "divergent barrier");
}
TEST(Emu, LaneMissingFromShuffleIsReported) {
  expect_launch_fails(
      [] {
        int* d = nullptr;
        if (cudaMalloc((void**)&d, 64 * sizeof(int)) != cudaSuccess) return cudaErrorUnknown;
        return pkpo_emu::launch(partial_mask_kernel, dim3(1), dim3(32), 0, nullptr, "test", d);
      },
      "lanes 0000ffff of mask ffffffff wait");
}
TEST(Emu, ReadingALaneOutsideTheMaskIsPoisoned) {
  double* d = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&d, 32 * sizeof(double)), cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(outside_mask_kernel, dim3(1), dim3(32), 0, nullptr, "test", d), cudaSuccess);
  std::vector<double> h(16);
  cudaMemcpy(h.data(), d, 16 * 8, cudaMemcpyDeviceToHost);
  EXPECT_TRUE(std::isnan(h[3]));
  EXPECT_EQ(h[0], 1.0);
}

// Dynamic shared memory: the launch's bytes, poisoned at every block start (CUDA leaves them
// undefined: a kernel that reads before writing sees 0xA7 bytes, not the previous block's values);
// above 48 KiB only after cudaFuncSetAttribute, as on the device; asking for more than the launch
// gave is a launch failure.
struct BigSmem {
  unsigned char b[64 * 1024];
};
__global__ void dynamic_smem_kernel(unsigned* out) {
  BigSmem& sm = *static_cast<BigSmem*>(pkpo_emu::dynamic_smem(sizeof(BigSmem), __FILE__, __LINE__));
  const int t = threadIdx.x;
  unsigned first = 0;
  for (int i = 0; i < 4; ++i) first = first << 8 | sm.b[t * 4 + i];  // before any write: poison
  __syncthreads();
  for (int i = t; i < (int)sizeof sm.b; i += blockDim.x) sm.b[i] = (unsigned char)(blockIdx.x + 1);
  __syncthreads();
  unsigned sum = 0;
  for (int i = 0; i < (int)sizeof sm.b; i += 4096) sum += sm.b[(i + t * 13) % sizeof sm.b];
  out[blockIdx.x * 2 * blockDim.x + 2 * t] = first;
  out[blockIdx.x * 2 * blockDim.x + 2 * t + 1] = sum;
}
TEST(Emu, DynamicSharedMemoryLimitsAndPoison) {
  unsigned* d = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&d, 2 * 2 * 64 * sizeof(unsigned)), cudaSuccess);
  const size_t bytes = sizeof(BigSmem);
  EXPECT_EQ(pkpo_emu::launch(dynamic_smem_kernel, dim3(2), dim3(64), bytes, nullptr, "test", d),
            cudaErrorInvalidValue);
  (void)cudaGetLastError();
  ASSERT_EQ(cudaFuncSetAttribute(dynamic_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
            cudaSuccess);
  ASSERT_EQ(pkpo_emu::launch(dynamic_smem_kernel, dim3(2), dim3(64), bytes, nullptr, "test", d), cudaSuccess);
  std::vector<unsigned> h(2 * 2 * 64);
  ASSERT_EQ(cudaMemcpy(h.data(), d, h.size() * sizeof(unsigned), cudaMemcpyDeviceToHost), cudaSuccess);
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 64; ++t) {
      EXPECT_EQ(h[(size_t)(b * 128 + 2 * t)], 0xA7A7A7A7u) << "block " << b << " thread " << t;
      EXPECT_EQ(h[(size_t)(b * 128 + 2 * t + 1)], 16u * (unsigned)(b + 1));
    }
  }
  EXPECT_EQ(cudaFuncSetAttribute(dynamic_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 pkpo_emu::kMaxSmemOptin + 1),
            cudaErrorInvalidValue);
  (void)cudaGetLastError();
  expect_launch_fails(
      [d, bytes] {
        if (cudaFuncSetAttribute(dynamic_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes) !=
            cudaSuccess) {
          return cudaErrorUnknown;
        }
        return pkpo_emu::launch(dynamic_smem_kernel, dim3(1), dim3(64), bytes - 1, nullptr, "test", d);
      },
      "bytes of dynamic shared memory, but the launch gave it");
  cudaFree(d);
}

// Global-mode capture: calls that may synchronise or allocate are refused and invalidate it.
TEST(Emu, UnsafeCallsInvalidateAGlobalCapture) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
  cudaGraph_t g = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
  (void)cudaGetLastError();
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&p, 16), cudaSuccess);
  EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  cudaGraphDestroy(g);
  cudaFree(p);
  cudaStreamDestroy(s);
}

// ---- defects that need the emulator's hooks --------------------------------------------------------

// A GPU the build has no code for (below sm_80 with the default architectures) is not available,
// and creating a handle on it names the device and the architectures built.
TEST(EmuDefects, DeviceWithoutCodeIsUnavailable) {
  struct Restore {
    ~Restore() { pkpo_emu::set_compute_capability(9, 0); }
  } restore;
  const struct {
    int major, minor;
    bool runs;
  } cases[] = {{7, 5, false}, {7, 0, false}, {8, 0, true}, {8, 6, true}, {9, 0, true}, {10, 0, true}, {12, 0, true}};
  for (const auto& c : cases) {
    pkpo_emu::set_compute_capability(c.major, c.minor);
    EXPECT_EQ(pkpo_backend_available(PKPO_BACKEND_CUDA), c.runs ? 1 : 0) << c.major << "." << c.minor;
    pkpo_handle h = nullptr;
    pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
    o.backend = PKPO_BACKEND_CUDA;
    const pkpo_status st = pkpo_create(&h, &o);
    if (c.runs) {
      EXPECT_EQ(st, PKPO_SUCCESS);
    } else {
      EXPECT_EQ(st, PKPO_ERROR_NO_DEVICE);
      EXPECT_EQ(h, nullptr);
      const std::string msg = pkpo_last_error(nullptr);
      EXPECT_NE(msg.find("compute capability 7."), std::string::npos) << msg;
      EXPECT_NE(msg.find("80-real"), std::string::npos) << msg;
    }
    pkpo_destroy(h);
  }
}

// An error of a CUB temporary-storage query is a CUDA error, not "group too large".
TEST(EmuDefects, CubSizeQueryErrorIsNotUnsupported) {
  pkpo_handle h = nullptr;
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.backend = PKPO_BACKEND_CUDA;
  ASSERT_EQ(pkpo_create(&h, &o), PKPO_SUCCESS);
  pkpo_desc d = PKPO_DESC_INIT;
  d.estimator = PKPO_S;
  d.dtype = PKPO_FLOAT32;
  d.num_groups = 1;
  d.group_size = 5000;  // one large uniform group: the whole-array sort's CUB size is queried
  d.k = 2;
  size_t bytes = 0;
  pkpo_emu::inject_cub_error(cudaErrorInvalidValue);
  EXPECT_EQ(pkpo_workspace_size(h, &d, &bytes), PKPO_ERROR_CUDA) << pkpo_last_error(h);
  EXPECT_NE(std::string(pkpo_last_error(h)).find("cudaErrorInvalidValue"), std::string::npos);
  EXPECT_EQ(pkpo_workspace_size(h, &d, &bytes), PKPO_SUCCESS);
  pkpo_destroy(h);
}

// One large group among many small ones costs about what the small ones cost: each group runs on
// the configuration of its own size (the batch's groups bucketed by class first), the large path's
// kernels get ~N/1024 tile blocks (not one per group) and the carry kernel at most N/4097 blocks.
// Measured in emulated CUDA threads.
TEST(EmuDefects, OneLargeGroupDoesNotSlowTheSmallOnes) {
  pkpo_handle h = nullptr;
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.backend = PKPO_BACKEND_CUDA;
  ASSERT_EQ(pkpo_create(&h, &o), PKPO_SUCCESS);
  const int64_t n = 16;
  auto run = [&](int64_t G, int64_t big, pkpo_emu::Counters* used) {
    const bool with_big = big > 0;
    std::vector<int64_t> offsets(1, 0);
    for (int64_t g = 0; g < G; ++g) offsets.push_back(offsets.back() + n);
    if (with_big) offsets.push_back(offsets.back() + big);
    const int64_t groups = (int64_t)offsets.size() - 1, N = offsets.back();
    std::vector<double> r((size_t)N);
    for (int64_t i = 0; i < N; ++i) r[(size_t)i] = (double)((i * 7919) % 1000) * 1e-3;
    double *d_r = nullptr, *d_out = nullptr;
    int64_t* d_off = nullptr;
    ASSERT_EQ(cudaMalloc((void**)&d_r, N * 8), cudaSuccess);
    ASSERT_EQ(cudaMalloc((void**)&d_out, N * 8), cudaSuccess);
    ASSERT_EQ(cudaMalloc((void**)&d_off, (groups + 1) * 8), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(d_r, r.data(), N * 8, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(d_off, offsets.data(), (groups + 1) * 8, cudaMemcpyHostToDevice), cudaSuccess);
    pkpo_desc d = PKPO_DESC_INIT;
    d.estimator = PKPO_SLOO_MINUS_ONE;
    d.dtype = PKPO_FLOAT64;
    d.num_groups = groups;
    d.num_samples = N;
    d.offsets = d_off;
    d.max_group_size = with_big ? big : n;
    d.k = 4;
    ASSERT_EQ(pkpo_reserve(h, &d), PKPO_SUCCESS);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const pkpo_emu::Counters c0 = pkpo_emu::counters();
    ASSERT_EQ(pkpo_transform(h, &d, d_r, d_out, nullptr, nullptr, nullptr), PKPO_SUCCESS) << pkpo_last_error(h);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const pkpo_emu::Counters c1 = pkpo_emu::counters();
    used->threads = c1.threads - c0.threads;
    used->blocks = c1.blocks - c0.blocks;
    cudaFree(d_r);
    cudaFree(d_out);
    cudaFree(d_off);
  };
  // Each small group runs on the configuration of its size, whatever the largest group. Compared at
  // 40,000 and 80,000 groups of 16, where the grid of every launch a group of 2000 adds (the larger
  // warp and block configurations, each bounded by N / (lower + 1) groups and a fixed cap) is at its
  // cap: that group adds exactly the same number of threads to both. With a group of 8192, the large
  // path adds its own kernels (grids sized by a bound on the tiles, about 2N / 2048), and the whole
  // call stays far below what sending every small group to a larger configuration would cost: with
  // every small group on the 256x8 block kernel, one group of 4096 made 20,000 groups of 16 cost
  // 21.0 M emulated threads instead of 0.64 M.
  pkpo_emu::Counters small = {}, mixed = {}, small2 = {}, block = {}, small4 = {}, block4 = {};
  const int64_t G = 20000, big = 8192;
  run(G, 0, &small);
  run(G, big, &mixed);
  run(2 * G, 0, &small2);
  run(2 * G, 2000, &block);
  run(4 * G, 0, &small4);
  run(4 * G, 2000, &block4);
  printf("emulated CUDA threads: %d groups of %d: %llu; plus one of %d: %llu; "
         "%d groups: %llu, plus one of 2000: %llu; %d groups: %llu, plus one of 2000: %llu\n",
         (int)G, (int)n, (unsigned long long)small.threads, (int)big, (unsigned long long)mixed.threads,
         (int)(2 * G), (unsigned long long)small2.threads,
         (unsigned long long)block.threads, (int)(4 * G), (unsigned long long)small4.threads,
         (unsigned long long)block4.threads);
  // A ragged batch spanning three or more size classes is first bucketed by class (one thread per
  // group, in blocks of 256); beyond that pass, the larger group's cost is the same at 40,000 and
  // 80,000 small groups.
  auto bucket_threads = [](int64_t groups) { return (uint64_t)((groups + 255) / 256 * 256); };
  EXPECT_EQ(block4.threads - small4.threads - bucket_threads(4 * G + 1),
            block.threads - small2.threads - bucket_threads(2 * G + 1))
      << "the cost of one larger group grows with the number of small groups";
  EXPECT_LE(mixed.threads - small.threads, (uint64_t)2500000) << "small " << small.threads << " mixed " << mixed.threads;
  pkpo_destroy(h);
}

// The workspace plan (CUB size queries) is made once per shape and handle: a call whose shape
// repeats makes no size query, and gives bitwise the same results as the call that planned.
TEST(EmuDefects, RepeatedShapeMakesNoCubSizeQuery) {
  pkpo_handle h = nullptr;
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.backend = PKPO_BACKEND_CUDA;
  ASSERT_EQ(pkpo_create(&h, &o), PKPO_SUCCESS);
  const std::vector<int64_t> offsets = {0, 5000, 5005, 9105};  // ragged, two large groups: a scan
  const int64_t N = offsets.back();
  std::vector<float> r((size_t)N);
  for (int64_t i = 0; i < N; ++i) r[(size_t)i] = (float)((i * 7919) % 1000) * 1e-3f;
  float *d_r = nullptr, *d_out = nullptr;
  int64_t* d_off = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&d_r, N * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void**)&d_out, N * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void**)&d_off, offsets.size() * 8), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_r, r.data(), N * 4, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_off, offsets.data(), offsets.size() * 8, cudaMemcpyHostToDevice), cudaSuccess);
  pkpo_desc ragged = PKPO_DESC_INIT;
  ragged.estimator = PKPO_SLOO_MINUS_ONE;
  ragged.dtype = PKPO_FLOAT32;
  ragged.num_groups = (int64_t)offsets.size() - 1;
  ragged.num_samples = N;
  ragged.offsets = d_off;
  ragged.max_group_size = 5000;
  ragged.k = 2;
  pkpo_desc whole = PKPO_DESC_INIT;  // one uniform group: the whole-array sort's size query
  whole.estimator = PKPO_L2O;
  whole.dtype = PKPO_FLOAT32;
  whole.num_groups = 1;
  whole.group_size = 7000;
  whole.k = 3;
  auto queries_of = [&](const pkpo_desc& d, std::vector<float>* out) {
    const uint64_t q0 = pkpo_emu::counters().size_queries;
    EXPECT_EQ(pkpo_transform(h, &d, d_r, d_out, nullptr, nullptr, nullptr), PKPO_SUCCESS) << pkpo_last_error(h);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    out->resize((size_t)N);
    EXPECT_EQ(cudaMemcpy(out->data(), d_out, N * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    return pkpo_emu::counters().size_queries - q0;
  };
  std::vector<float> a1, a2, b1, b2;
  EXPECT_GT(queries_of(ragged, &a1), 0u);
  EXPECT_GT(queries_of(whole, &b1), 0u);
  EXPECT_EQ(queries_of(ragged, &a2), 0u);
  EXPECT_EQ(queries_of(whole, &b2), 0u);
  EXPECT_EQ(0, memcmp(a1.data(), a2.data(), a1.size() * 4));
  EXPECT_EQ(0, memcmp(b1.data(), b2.data(), b1.size() * 4));
  const uint64_t q0 = pkpo_emu::counters().size_queries;
  size_t bytes = 0;
  EXPECT_EQ(pkpo_workspace_size(h, &ragged, &bytes), PKPO_SUCCESS);
  EXPECT_EQ(pkpo_emu::counters().size_queries, q0);
  pkpo_desc other = ragged;  // a new shape is planned again
  other.max_group_size = 4101;
  EXPECT_EQ(pkpo_workspace_size(h, &other, &bytes), PKPO_SUCCESS);
  EXPECT_GT(pkpo_emu::counters().size_queries, q0);
  cudaFree(d_r);
  cudaFree(d_out);
  cudaFree(d_off);
  pkpo_destroy(h);
}

// pkpo_group_by_id allocates only when its scratch must grow, and no handle call synchronises the
// whole device (pkpo_destroy and a growing workspace wait for the handle's own work).
TEST(EmuDefects, NoPerCallAllocationOrDeviceSync) {
  pkpo_handle h = nullptr;
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.backend = PKPO_BACKEND_CUDA;
  ASSERT_EQ(pkpo_create(&h, &o), PKPO_SUCCESS);
  const int64_t n = 1000;
  std::vector<int64_t> ids((size_t)n);
  for (int64_t i = 0; i < n; ++i) ids[(size_t)i] = (i * 7919) % 13;
  int64_t *d_ids = nullptr, *d_off = nullptr, *d_idx = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&d_ids, n * 8), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void**)&d_off, (n + 1) * 8), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void**)&d_idx, n * 8), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_ids, ids.data(), n * 8, cudaMemcpyHostToDevice), cudaSuccess);
  int64_t G = 0, maxn = 0;
  ASSERT_EQ(pkpo_group_by_id(h, d_ids, n, d_off, d_idx, &G, &maxn, nullptr), PKPO_SUCCESS) << pkpo_last_error(h);
  const pkpo_emu::Counters before = pkpo_emu::counters();
  for (int rep = 0; rep < 3; ++rep) {
    ASSERT_EQ(pkpo_group_by_id(h, d_ids, n, d_off, d_idx, &G, &maxn, nullptr), PKPO_SUCCESS);
  }
  EXPECT_EQ(G, 13);
  pkpo_emu::Counters after = pkpo_emu::counters();
  EXPECT_EQ(after.mallocs, before.mallocs);
  EXPECT_EQ(after.frees, before.frees);
  pkpo_desc d = PKPO_DESC_INIT;
  d.estimator = PKPO_S;
  d.dtype = PKPO_FLOAT64;
  d.num_groups = 2;
  d.group_size = 1 << 20;  // far more than the group_by_id scratch: grows
  d.k = 2;
  ASSERT_EQ(pkpo_reserve(h, &d), PKPO_SUCCESS);
  ASSERT_EQ(pkpo_set_workspace(h, nullptr, 0), PKPO_SUCCESS);
  pkpo_destroy(h);
  after = pkpo_emu::counters();
  EXPECT_EQ(after.device_syncs, before.device_syncs);
  cudaFree(d_ids);
  cudaFree(d_off);
  cudaFree(d_idx);
}

// ---- the large path's four-way merge splits (src/cuda/merge_kernels.cuh), called directly --------

// One quad (four lists back to back at `base`, lengths n[0..3]): lanes 0-15 find the split at d[0],
// lanes 16-31 the one at d[1] (quad_split_halfwarp), as large_merge_kernel's warps do.
__global__ void quad_split_kernel(const uint32_t* base, const int* n, const int* d, int* from) {
  pkpo_cuda::Quad<uint32_t> q;
  q.base = base;
  for (int j = 0; j < 4; ++j) q.n[j] = n[j];
  const int lane = (int)threadIdx.x;
  int f[4];
  pkpo_cuda::quad_split_halfwarp(q, d[lane / 16], f);
  if (lane % 16 == 0) {
    for (int j = 0; j < 4; ++j) from[(lane / 16) * 4 + j] = f[j];
  }
}

// Against a brute-force four-way merge (keys ordered by value, then list, then position): every
// split of sorted lists with heavy ties, all-equal keys, empty lists, one-key lists and d = 0 or
// the total. For unsorted lists (what overlapping, invalid offsets can leave) a split must still
// lie inside the lists and add up to d; the lists end at the last byte before a guard page, so a
// read past them faults.
TEST(EmuMerge, QuadSplitsMatchABruteForceMerge) {
  std::mt19937_64 rng(21);
  int* dn = nullptr;
  int* dd = nullptr;
  int* dfrom = nullptr;
  ASSERT_EQ(cudaMalloc((void**)&dn, 4 * sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void**)&dd, 2 * sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMalloc((void**)&dfrom, 8 * sizeof(int)), cudaSuccess);
  const int lens[] = {0, 1, 2, 16, 17, 300, 4096, 9000};
  int checked = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int mode = trial % 4;  // 0: four values, 1: all equal, 2: wide values, 3: unsorted
    int n[4];
    for (int j = 0; j < 4; ++j) n[j] = trial % 5 == 0 ? lens[rng() % 8] : (int)(rng() % 6000);
    const int total = n[0] + n[1] + n[2] + n[3];
    std::vector<uint32_t> keys;
    std::vector<std::tuple<uint32_t, int, int>> all;  // (key, list, position)
    for (int j = 0; j < 4; ++j) {
      std::vector<uint32_t> l((size_t)n[j]);
      for (auto& k : l) k = mode == 0 ? (uint32_t)(rng() % 4) : (mode == 1 ? 7u : (uint32_t)rng());
      if (mode != 3) std::sort(l.begin(), l.end());
      for (int i = 0; i < n[j]; ++i) all.emplace_back(l[(size_t)i], j, i);
      keys.insert(keys.end(), l.begin(), l.end());
    }
    std::sort(all.begin(), all.end());
    // the quad at the end of a page-aligned allocation: the guard page follows its last key
    const size_t bytes = ((size_t)total * 4 + 4095) / 4096 * 4096 + 4096;
    uint32_t* dk = nullptr;
    ASSERT_EQ(cudaMalloc((void**)&dk, bytes), cudaSuccess);
    uint32_t* base = dk + (bytes / 4 - (size_t)total);
    if (total > 0) cudaMemcpy(base, keys.data(), (size_t)total * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dn, n, sizeof n, cudaMemcpyHostToDevice);
    for (int rep = 0; rep < 4; ++rep) {
      int d[2];
      for (int h = 0; h < 2; ++h) {
        const int pick = (int)(rng() % 4);
        d[h] = pick == 0 ? 0 : (pick == 1 ? total : (int)(rng() % (uint64_t)(total + 1)));
      }
      cudaMemcpy(dd, d, sizeof d, cudaMemcpyHostToDevice);
      ASSERT_EQ(pkpo_emu::launch(quad_split_kernel, dim3(1), dim3(32), 0, nullptr, "test", (const uint32_t*)base,
                                 (const int*)dn, (const int*)dd, dfrom),
                cudaSuccess);
      int from[8];
      ASSERT_EQ(cudaMemcpy(from, dfrom, sizeof from, cudaMemcpyDeviceToHost), cudaSuccess);
      for (int h = 0; h < 2; ++h) {
        int want[4] = {0, 0, 0, 0};
        for (int i = 0; i < d[h]; ++i) ++want[std::get<1>(all[(size_t)i])];
        int sum = 0;
        for (int j = 0; j < 4; ++j) {
          sum += from[h * 4 + j];
          ASSERT_TRUE(from[h * 4 + j] >= 0 && from[h * 4 + j] <= n[j])
              << "trial " << trial << " list " << j << ": " << from[h * 4 + j] << " of " << n[j];
          if (mode != 3) {
            ASSERT_EQ(from[h * 4 + j], want[j]) << "trial " << trial << " mode " << mode << " d " << d[h]
                                                << " list " << j << " lengths " << n[0] << " " << n[1]
                                                << " " << n[2] << " " << n[3];
          }
        }
        ASSERT_EQ(sum, d[h]) << "trial " << trial;
        ++checked;
      }
    }
    cudaFree(dk);
  }
  EXPECT_EQ(checked, 3200);
  cudaFree(dn);
  cudaFree(dd);
  cudaFree(dfrom);
}

}  // namespace
