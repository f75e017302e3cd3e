/*
 * arch_list.h -- whether a device can run a build's kernels, from the build's list of CUDA
 * architectures (CMake's CUDA_ARCHITECTURES with commas, e.g. "80-real,90-real,90-virtual"). Host
 * code, no CUDA call: backend.cu asks it for every device before using one.
 */
#ifndef PKPO_CUDA_ARCH_LIST_H
#define PKPO_CUDA_ARCH_LIST_H

#include <string.h>

namespace pkpo_cuda {

/* Whether a device of compute capability major.minor can run kernels built for `archs`: machine
 * code for X.Y ("XY-real", or plain "XY") runs on X.y with y >= Y; PTX ("XY-virtual", or plain
 * "XY") is JIT-compiled for any device of X.Y or newer. A list that names no number ("all",
 * "native", empty) counts as runnable everywhere: the launch itself then reports a missing image. */
inline bool arch_runs(const char* archs, int major, int minor) {
  const char* p = archs;
  bool any_number = false;
  const int cc = major * 10 + minor;
  while (*p) {
    int v = 0;
    bool digits = false;
    while (*p >= '0' && *p <= '9') {
      v = v * 10 + (*p++ - '0');
      digits = true;
    }
    const bool real = strncmp(p, "-real", 5) == 0;
    const bool virt = strncmp(p, "-virtual", 8) == 0;
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
    if (!digits) continue;
    any_number = true;
    if (!virt && v / 10 == major && v % 10 <= minor) return true; /* machine code */
    if (!real && v <= cc) return true;                             /* PTX */
  }
  return !any_number;
}

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_ARCH_LIST_H */
