/*
 * kernel_launch.cuh -- the one way src/cuda launches a kernel:
 *
 *   PKPO_CUDA_TRY(launch_kernel(kernel, grid, block, stream[, smem])(args...));
 *
 * launch_kernel returns the launch's cudaError_t (cudaGetLastError after <<<>>>), and PKPO_CUDA_TRY
 * returns it from the calling launcher unless it is cudaSuccess. With nvcc it is a plain
 * <<<grid, block, smem, stream>>> launch. On the emulated device of the tests (tests/cuda/emu,
 * PKPO_CUDA_EMU) the same kernels run on the CPU; the launch arithmetic above this call is shared.
 *
 * A kernel launched with smem > 0 bytes of dynamic shared memory reaches it through
 * PKPO_DYNAMIC_SMEM(T) below (device code; T is the kernel's shared-memory struct). Above 48 KiB the
 * kernel needs cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize) on the device
 * first (prepare_device in transform.cu), on the GPU and on the emulated device alike.
 */
#ifndef PKPO_CUDA_KERNEL_LAUNCH_CUH
#define PKPO_CUDA_KERNEL_LAUNCH_CUH

#include <cuda_runtime.h>

#include <utility>

/* Returns the first failing cudaError_t of a launcher's sequence of CUDA calls. */
#define PKPO_CUDA_TRY(expr)                       \
  do {                                            \
    const cudaError_t pkpo_e_ = (expr);           \
    if (pkpo_e_ != cudaSuccess) return pkpo_e_;   \
  } while (0)

namespace pkpo_cuda {

template <typename... P>
struct KernelLaunch {
  void (*kernel)(P...);
  dim3 grid, block;
  cudaStream_t stream;
  size_t smem;
  const char* caller;
  template <typename... A>
  cudaError_t operator()(A&&... args) const {
#ifdef PKPO_CUDA_EMU
    return pkpo_emu::launch(kernel, grid, block, smem, stream, caller, std::forward<A>(args)...);
#else
    kernel<<<grid, block, smem, stream>>>(std::forward<A>(args)...);
    return cudaGetLastError();
#endif
  }
};

#ifdef PKPO_CUDA_EMU
template <typename... P>
inline KernelLaunch<P...> launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream,
                                        size_t smem = 0, const char* caller = __builtin_FUNCTION()) {
  return KernelLaunch<P...>{kernel, grid, block, stream, smem, caller};
}
#else
template <typename... P>
inline KernelLaunch<P...> launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream,
                                        size_t smem = 0) {
  return KernelLaunch<P...>{kernel, grid, block, stream, smem, "pkpo_cuda"};
}
#endif

/* The dynamic shared memory of the running block as a T (16-byte aligned; the launch gave it at
 * least sizeof(T) bytes). */
#ifdef PKPO_CUDA_EMU
#define PKPO_DYNAMIC_SMEM(T) (*static_cast<T*>(pkpo_emu::dynamic_smem(sizeof(T), __FILE__, __LINE__)))
#else
extern __shared__ __align__(16) unsigned char pkpo_cuda_dynamic_smem[];
#define PKPO_DYNAMIC_SMEM(T) (*reinterpret_cast<T*>(pkpo_cuda_dynamic_smem))
#endif

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_KERNEL_LAUNCH_CUH */
