/* The CUDA backend's transform.cu compiled for the emulated device (cuda_runtime.h in this folder). */
#include "transform.cu"
