/* The CUDA backend's group_by_id.cu compiled for the emulated device (cuda_runtime.h in this folder). */
#include "group_by_id.cu"
