/*
 * emu_internal.h -- what the emulated device's two runtime files share (not seen by device code):
 * emu_runtime.cpp (scheduler, memory, streams, the runtime API), emu_hazards.cpp (faults as
 * sticky errors, copies on the legacy stream that a non-blocking stream overtakes, block order)
 * and emu_smem.cpp (a kernel's static shared variables).
 */
#ifndef PKPO_EMU_INTERNAL_H
#define PKPO_EMU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <string>
#include <vector>

#include "cuda_runtime.h"

namespace pkpo_emu {
namespace detail {

constexpr size_t kPage = 4096;

/* emu_runtime.cpp */
/* Makes `e` the process's sticky error: every later call that needs the device returns it. */
void set_fatal(cudaError_t e);
/* "thread (x,y,z) of block (x,y,z) of the kernel launched by F" while a kernel runs, else "". */
std::string running_thread();
/* Forgets the kernel whose fiber faulted: its block never resumes. */
void abandon_kernel();
/* Which allocation an address belongs to, for a diagnostic ("byte 5 past the end of a 64-byte
 * allocation", "inside a freed allocation", ...). */
std::string describe_address(uintptr_t a);

/* emu_hazards.cpp */
/* Runs stream work (a kernel, a copy, a CUB stand-in). A memory fault in it (a guard page, freed
 * memory, a fiber's stack overflow) does not kill the process: it is reported on stderr and becomes
 * the sticky cudaErrorIllegalAddress, as a faulting kernel does on the device. Returns false then. */
bool run_guarded(const std::function<void()>& work);
/* Work on a non-blocking stream. Copies and memsets still queued on the legacy stream are not
 * ordered with it: while it runs, their destinations are inaccessible, and an access to them is
 * reported (sticky cudaErrorLaunchFailure) instead of reading what the copy has not yet written. */
void run_unordered(const std::function<void()>& work, const char* what);
/* A copy or memset into device memory was queued on the legacy stream / the queue was run. */
void note_legacy_write(void* dst, size_t bytes, const char* what);
void legacy_writes_done();
/* The order in which the blocks of a grid of `count` blocks run (linear block indices). */
void block_order(uint64_t count, uint64_t launch, std::vector<uint64_t>* order);

/* emu_smem.cpp: the static shared variables of the kernel at `fn`, poisoned before its blocks. */
struct SmemRange {
  unsigned char* p;
  size_t bytes;
};
const std::vector<SmemRange>& kernel_statics(const void* fn);

}  // namespace detail
}  // namespace pkpo_emu

#endif /* PKPO_EMU_INTERNAL_H */
