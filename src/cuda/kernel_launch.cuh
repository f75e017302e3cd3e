/*
 * kernel_launch.cuh -- the one way src/cuda launches a kernel:
 *
 *   PKPO_CUDA_TRY(launch_kernel(kernel, grid, block, stream)(args...));
 *
 * returns the launch's cudaError_t (cudaGetLastError after <<<>>>). With nvcc it is a plain
 * <<<grid, block, 0, stream>>> launch. On the emulated device of the tests (tests/cuda/emu,
 * PKPO_CUDA_EMU) the same kernels run on the CPU; the launch arithmetic above this call is shared.
 */
#ifndef PKPO_CUDA_KERNEL_LAUNCH_CUH
#define PKPO_CUDA_KERNEL_LAUNCH_CUH

#include <cuda_runtime.h>

#include <utility>

namespace pkpo_cuda {

template <typename... P>
struct KernelLaunch {
  void (*kernel)(P...);
  dim3 grid, block;
  cudaStream_t stream;
  const char* caller;
  template <typename... A>
  cudaError_t operator()(A&&... args) const {
#ifdef PKPO_CUDA_EMU
    return pkpo_emu::launch(kernel, grid, block, 0, stream, caller, std::forward<A>(args)...);
#else
    kernel<<<grid, block, 0, stream>>>(std::forward<A>(args)...);
    return cudaGetLastError();
#endif
  }
};

#ifdef PKPO_CUDA_EMU
template <typename... P>
inline KernelLaunch<P...> launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream,
                                        const char* caller = __builtin_FUNCTION()) {
  return KernelLaunch<P...>{kernel, grid, block, stream, caller};
}
#else
template <typename... P>
inline KernelLaunch<P...> launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream) {
  return KernelLaunch<P...>{kernel, grid, block, stream, "pkpo_cuda"};
}
#endif

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_KERNEL_LAUNCH_CUH */
