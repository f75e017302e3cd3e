/*
 * cuda_runtime.h -- the emulated device (test infrastructure, never part of the library).
 *
 * The CUDA backend's sources (src/cuda/ *.cu and *_kernels.cuh) compile with the host C++ compiler
 * against this header (and the CUB / Thrust stand-ins next to it) and run on the CPU:
 *
 * - One fiber per CUDA thread. The blocks of a grid run one after another (in index order unless
 *   set_block_order or PKPO_EMU_BLOCK_ORDER says reversed or shuffled); the threads of a block run
 *   cooperatively on the launching host thread and switch only at barriers and warp collectives,
 *   so a kernel's `__shared__` variables (function-local statics here) are shared by exactly the
 *   threads of the running block, and poisoned before every block.
 * - __syncthreads (and _count/_or/_and) wait for every thread of the block; __syncwarp, shuffles,
 *   ballot, any/all wait for every lane of their mask. A thread that never arrives (it exited, or
 *   waits at another barrier) is a reported launch failure, not a hang. A lane outside the mask or
 *   a mask that differs between lanes is an error; reading a lane that is not in the mask returns
 *   a poison value.
 * - Device memory is host memory (page-aligned mappings with a guard page; freed memory stays
 *   inaccessible for a while, so a use after free faults). Work on a stream runs in order; work
 *   on the legacy (NULL) stream is held back until something orders it (a synchronising call,
 *   work on a blocking stream, cudaFree), while non-blocking streams run at once: a missing
 *   dependency between them shows: an access to a pending copy's destination from a non-blocking
 *   stream is a reported error (emu_hazards.cpp). Stream capture records the calls and a graph
 *   launch replays them. Capture rules that matter to pkpo are enforced (see emu_runtime.cpp).
 * - Errors of a launch (a misuse reported by the emulator, or a memory fault: cudaErrorIllegalAddress)
 *   are sticky for the rest of the process, as on the device: every later call that needs the
 *   device returns the error, and cudaDeviceReset does not clear it.
 * - Under ThreadSanitizer (PKPO_EMU_TSAN) every CUDA thread is a TSan fiber and only barriers,
 *   __syncwarp, atomics and the launch boundaries order memory, so a missing barrier is a
 *   reported data race.
 */
#ifndef PKPO_EMU_CUDA_RUNTIME_H
#define PKPO_EMU_CUDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#endif

#define PKPO_CUDA_EMU 1

/* ---- qualifiers -------------------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
/* Blocks run one at a time on one host thread, so a function-local static is block-shared. The
 * emulator finds a kernel's statics in the symbol table and poisons them before each of its blocks
 * (CUDA leaves them undefined: nothing carries over from the block before). */
#define __shared__ static
#define __constant__ static
#define __restrict__ __restrict

/* ---- types and errors -------------------------------------------------------------------------- */
typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotPermitted = 800,
  cudaErrorNotSupported = 801,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureImplicit = 906,
  cudaErrorStreamCaptureWrongThread = 908,
  cudaErrorUnknown = 999
} cudaError_t;

typedef enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
} cudaMemcpyKind;

typedef enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2
} cudaStreamCaptureStatus;

typedef enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2
} cudaStreamCaptureMode;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
typedef struct CUgraph_st* cudaGraph_t;
typedef struct CUgraphExec_st* cudaGraphExec_t;

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
#ifdef __cplusplus
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
#endif
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int multiProcessorCount;
  int major;
  int minor;
};

enum cudaDeviceAttr {
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

#ifdef __cplusplus
extern "C" {
#endif
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaGetDevice(int* d);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* p, int d);
cudaError_t cudaDeviceGetAttribute(int* v, enum cudaDeviceAttr a, int d);
cudaError_t cudaDeviceSynchronize(void);
/* Returns the sticky error of a failed launch, if any, and clears nothing: as on the device, the
 * process cannot use the device again. */
cudaError_t cudaDeviceReset(void);
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, size_t bytes);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemset(void* p, int v, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t s);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t s);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g);
cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus* st);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* x, cudaGraph_t g, unsigned long long flags);
cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus

/* ---- the emulator's interface to device code and to the stand-ins ----------------------------- */
namespace pkpo_emu {

struct ThreadCtx {
  uint3 tid, bid;
  dim3 bdim, gdim;
};
/* The running CUDA thread (undefined outside a kernel). Returned by value: the emulator's own
 * memory stays out of ThreadSanitizer's view. */
ThreadCtx* current();
uint3 thread_idx();
uint3 block_idx();
dim3 block_dim();
dim3 grid_dim();

void syncthreads(const char* file, int line);
int syncthreads_reduce(int op, int pred, const char* file, int line); /* 0 count, 1 or, 2 and */
/* Warp collectives: op codes in emu_runtime.cpp. Returns the 8-byte result of this lane. */
uint64_t warp_op(int op, unsigned mask, uint64_t value, int arg, int width, const char* file, int line);
/* Number of block barriers completed by the running block (for the CUB stand-ins' checks). */
uint64_t barrier_generation();
/* Reports a misuse from device code: the launch fails with cudaErrorLaunchFailure. */
[[noreturn]] void device_error(const char* file, int line, const char* fmt, ...);
/* Host-side stream work: runs now, or is recorded when `s` is capturing. */
cudaError_t submit(cudaStream_t s, std::function<void()> work, const char* what);
/* Runs a kernel: fn(i) runs CUDA thread i of the current block. `fn` identifies the kernel (its
 * cudaFuncSetAttribute settings); smem is its dynamic shared memory in bytes, as on the device at
 * most 48 KiB unless cudaFuncAttributeMaxDynamicSharedMemorySize allows more (and never more than
 * the device's opt-in limit), poisoned at the start of every block. */
cudaError_t launch_raw(const void* fn, dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                       std::function<void()> thread_body, const char* caller);
/* The running block's dynamic shared memory; `bytes` beyond the launch's size is a device error. */
void* dynamic_smem(size_t bytes, const char* file, int line);
/* cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes). */
cudaError_t set_max_dynamic_smem(const void* fn, int bytes);
/* The emulated device's opt-in limit of shared memory per block (the H100's 227 KiB). */
constexpr int kMaxSmemOptin = 232448;
/* Statistics of the emulated device (tests of launch cost). */
struct Counters {
  uint64_t launches, blocks, threads;
  uint64_t mallocs, frees, device_syncs; /* cudaMalloc, cudaFree, cudaDeviceSynchronize calls */
  uint64_t size_queries; /* CUB temporary-storage size queries (calls with d_temp_storage == NULL) */
};
void count_size_query();
Counters counters();
/* The order in which the blocks of every grid run: index order (the default), reversed, or
 * shuffled (another permutation for every launch, the same for the same seed and sequence of
 * launches). PKPO_EMU_BLOCK_ORDER=index|reverse|shuffle[:SEED] in the environment sets it. Correct
 * kernels give the same bits in every order. */
enum class BlockOrder { kIndex, kReverse, kShuffle };
void set_block_order(BlockOrder order, uint64_t seed = 0);
BlockOrder block_order(uint64_t* seed = nullptr);
/* Emulated compute capability (default 9.0; PKPO_EMU_CC=75 in the environment gives 7.5). */
void set_compute_capability(int major, int minor);
/* Poison byte written into memory whose contents CUDA/CUB leave undefined. */
constexpr unsigned char kPoisonByte = 0xA7;

template <typename... P, typename... A>
cudaError_t launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                   const char* caller, A&&... args) {
  /* Parameters are copied at launch (as the driver copies them to constant memory). */
  std::tuple<typename std::decay<P>::type...> params(std::forward<A>(args)...);
  return launch_raw(reinterpret_cast<const void*>(kernel), grid, block, smem, s,
                    [kernel, params]() { std::apply(kernel, params); }, caller);
}

template <typename T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8, "warp collectives move at most 8 bytes");
  uint64_t b = 0;
  memcpy(&b, &v, sizeof v);
  return b;
}
template <typename T>
inline T from_bits(uint64_t b) {
  T v;
  memcpy(&v, &b, sizeof v);
  return v;
}
enum WarpOp { W_SYNC = 0, W_SHFL = 1, W_SHFL_UP = 2, W_SHFL_DOWN = 3, W_SHFL_XOR = 4, W_BALLOT = 5,
              W_ANY = 6, W_ALL = 7 };

}  // namespace pkpo_emu

template <typename... P>
inline cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  return pkpo_emu::set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), value);
}
#define threadIdx (pkpo_emu::thread_idx())
#define blockIdx (pkpo_emu::block_idx())
#define blockDim (pkpo_emu::block_dim())
#define gridDim (pkpo_emu::grid_dim())
static constexpr int warpSize = 32;

#define PKPO_EMU_SITE const char* file_ = __builtin_FILE(), int line_ = __builtin_LINE()

inline void __syncthreads(PKPO_EMU_SITE) { pkpo_emu::syncthreads(file_, line_); }
inline int __syncthreads_count(int p, PKPO_EMU_SITE) { return pkpo_emu::syncthreads_reduce(0, p, file_, line_); }
inline int __syncthreads_or(int p, PKPO_EMU_SITE) { return pkpo_emu::syncthreads_reduce(1, p, file_, line_); }
inline int __syncthreads_and(int p, PKPO_EMU_SITE) { return pkpo_emu::syncthreads_reduce(2, p, file_, line_); }
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu, PKPO_EMU_SITE) {
  (void)pkpo_emu::warp_op(pkpo_emu::W_SYNC, mask, 0, 0, 32, file_, line_);
}
template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32, PKPO_EMU_SITE) {
  return pkpo_emu::from_bits<T>(pkpo_emu::warp_op(pkpo_emu::W_SHFL, mask, pkpo_emu::to_bits(v), src, width, file_, line_));
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32, PKPO_EMU_SITE) {
  return pkpo_emu::from_bits<T>(
      pkpo_emu::warp_op(pkpo_emu::W_SHFL_UP, mask, pkpo_emu::to_bits(v), (int)delta, width, file_, line_));
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32, PKPO_EMU_SITE) {
  return pkpo_emu::from_bits<T>(
      pkpo_emu::warp_op(pkpo_emu::W_SHFL_DOWN, mask, pkpo_emu::to_bits(v), (int)delta, width, file_, line_));
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32, PKPO_EMU_SITE) {
  return pkpo_emu::from_bits<T>(
      pkpo_emu::warp_op(pkpo_emu::W_SHFL_XOR, mask, pkpo_emu::to_bits(v), lane_mask, width, file_, line_));
}
inline unsigned __ballot_sync(unsigned mask, int p, PKPO_EMU_SITE) {
  return (unsigned)pkpo_emu::warp_op(pkpo_emu::W_BALLOT, mask, p != 0, 0, 32, file_, line_);
}
inline int __any_sync(unsigned mask, int p, PKPO_EMU_SITE) {
  return (int)pkpo_emu::warp_op(pkpo_emu::W_ANY, mask, p != 0, 0, 32, file_, line_);
}
inline int __all_sync(unsigned mask, int p, PKPO_EMU_SITE) {
  return (int)pkpo_emu::warp_op(pkpo_emu::W_ALL, mask, p != 0, 0, 32, file_, line_);
}

/* Atomics: relaxed read-modify-writes (TSan sees them as atomics, not as races). */
template <typename T>
inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }
template <typename T>
inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_RELAXED); }
template <typename T>
inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_RELAXED); }
template <typename T>
inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }
template <typename T>
inline T atomicMax(T* a, T v) {
  T old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(a, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <typename T>
inline T atomicMin(T* a, T v) {
  T old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (v < old && !__atomic_compare_exchange_n(a, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <typename T>
inline T atomicCAS(T* a, T expected, T v) {
  __atomic_compare_exchange_n(a, &expected, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline double __longlong_as_double(long long x) { return pkpo_emu::from_bits<double>((uint64_t)x); }
inline long long __double_as_longlong(double x) { return (long long)pkpo_emu::to_bits(x); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#endif /* __cplusplus */

#endif /* PKPO_EMU_CUDA_RUNTIME_H */
