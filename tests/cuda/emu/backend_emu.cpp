/* The CUDA backend's backend.cu compiled for the emulated device (cuda_runtime.h in this folder). */
#include "backend.cu"
