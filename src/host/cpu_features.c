/*
 * cpu_features.c -- the instruction sets the CPU backend may choose at run time, asked in one place.
 */
#include "cpu.h"

int pkpo__cpu_has_avx(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx") ? 1 : 0;
#else
  return 0;
#endif
}
