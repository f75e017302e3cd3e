/*
 * emu_hazards.cpp -- the emulated device's model of what breaks a process on a real device and
 * of what depends on timing there (see emu_internal.h):
 *
 * - Memory faults. A kernel (or a copy) that touches a guard page, freed device memory or
 *   overflows its stack raises SIGSEGV/SIGBUS on the host. While stream work runs, a handler turns
 *   that into the sticky cudaErrorIllegalAddress (a diagnostic names the thread, the block and the
 *   allocation) and abandons the work: every later call returns the error, as the driver does
 *   after an illegal address, for the rest of the process.
 * - Pageable copies overtaken by a non-blocking stream. cudaMemcpy from pageable host memory
 *   returns once the source is staged, and work on the legacy stream is not ordered with a stream
 *   created with cudaStreamNonBlocking. While non-blocking work runs, the destinations of the
 *   legacy stream's pending copies and memsets are mapped inaccessible; an access is recorded (the
 *   page is made accessible again and the access repeated) and the work fails with the sticky
 *   cudaErrorLaunchFailure and a diagnostic, instead of reading stale data silently.
 * - Block order. The blocks of a grid run one at a time, in index order by default; a seed can
 *   shuffle or reverse them, so that code relying on the launch order of blocks shows.
 *
 * Like emu_runtime.cpp, this file is compiled without ThreadSanitizer instrumentation; under TSan
 * (PKPO_EMU_TSAN) no signal handler is installed and faults end the process as before.
 */
#include "emu_internal.h"

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "cub_standin.h"

namespace pkpo_emu {
namespace detail {
namespace {

/* ---- faults -------------------------------------------------------------------------------- */

#ifndef PKPO_EMU_TSAN
constexpr size_t kAltStackBytes = 64 * 1024;
struct sigaction g_prev_segv, g_prev_bus;
bool g_handler_installed = false;
thread_local bool g_altstack_set = false;
/* The innermost run_guarded's return point (nullptr outside stream work). */
thread_local sigjmp_buf* g_fault_jmp = nullptr;
volatile uintptr_t g_fault_addr = 0;
volatile int g_fault_sig = 0;

/* Destinations of pending legacy-stream writes, protected while non-blocking work runs. */
struct Range {
  uintptr_t lo, hi;
  const char* what;
};
std::vector<Range> g_pending;
volatile bool g_protected = false;
volatile uintptr_t g_hazard_addr = 0;
const char* volatile g_hazard_what = nullptr;

uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)(kPage - 1); }
uintptr_t page_up(uintptr_t a) { return (a + kPage - 1) & ~(uintptr_t)(kPage - 1); }

void protect_pending(int prot) {
  for (const Range& r : g_pending) {
    const uintptr_t lo = page_down(r.lo), hi = page_up(r.hi);
    mprotect(reinterpret_cast<void*>(lo), hi - lo, prot);
  }
}

void on_fault(int sig, siginfo_t* si, void* uc) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(si->si_addr);
  if (g_protected) {
    for (const Range& r : g_pending) {
      if (a >= page_down(r.lo) && a < page_up(r.hi)) {
        if (a >= r.lo && a < r.hi && g_hazard_addr == 0) {
          g_hazard_addr = a;
          g_hazard_what = r.what;
        }
        mprotect(reinterpret_cast<void*>(page_down(a)), kPage, PROT_READ | PROT_WRITE);
        return; /* the access is repeated and proceeds */
      }
    }
  }
  if (g_fault_jmp) {
    g_fault_addr = a;
    g_fault_sig = sig;
    siglongjmp(*g_fault_jmp, 1);
  }
  /* Not a fault of stream work: the handler that was there before takes it. */
  const struct sigaction& prev = sig == SIGBUS ? g_prev_bus : g_prev_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) {
      prev.sa_sigaction(sig, si, uc);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL); /* the faulting access repeats and ends the process */
}

void install_handler() {
  if (!g_altstack_set) {
    /* A fiber that overflows its stack faults with no stack left to run the handler on. */
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = malloc(kAltStackBytes);
    ss.ss_size = kAltStackBytes;
    if (ss.ss_sp && sigaltstack(&ss, nullptr) == 0) g_altstack_set = true;
  }
  if (g_handler_installed) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_prev_segv);
  sigaction(SIGBUS, &sa, &g_prev_bus);
  g_handler_installed = true;
}
#endif

}  // namespace

bool run_guarded(const std::function<void()>& work) {
#ifdef PKPO_EMU_TSAN
  work();
  return true;
#else
  install_handler();
  sigjmp_buf here;
  sigjmp_buf* const outer = g_fault_jmp;
  if (sigsetjmp(here, 1) == 0) {
    g_fault_jmp = &here;
    try {
      work();
    } catch (...) {
      g_fault_jmp = outer; /* never a return point in a frame that is gone */
      throw;
    }
    g_fault_jmp = outer;
    return true;
  }
  g_fault_jmp = outer;
  if (g_protected) {
    protect_pending(PROT_READ | PROT_WRITE);
    g_protected = false;
  }
  const std::string who = running_thread();
  abandon_kernel();
  fprintf(stderr, "pkpo emu: %s: illegal address %p (%s, %s)\n", who.empty() ? "stream work" : who.c_str(),
          reinterpret_cast<void*>(g_fault_addr), g_fault_sig == SIGBUS ? "SIGBUS" : "SIGSEGV",
          describe_address(g_fault_addr).c_str());
  fprintf(stderr,
          "pkpo emu: cudaErrorIllegalAddress is sticky: every later CUDA call of this process fails with it\n");
  set_fatal(cudaErrorIllegalAddress);
  return false;
#endif
}

void run_unordered(const std::function<void()>& work, const char* what) {
#ifdef PKPO_EMU_TSAN
  (void)what;
  work();
#else
  if (g_pending.empty()) {
    run_guarded(work);
    return;
  }
  install_handler();
  g_hazard_addr = 0;
  g_hazard_what = nullptr;
  protect_pending(PROT_NONE);
  g_protected = true;
  const bool ok = run_guarded(work);
  if (g_protected) {
    protect_pending(PROT_READ | PROT_WRITE);
    g_protected = false;
  }
  if (ok && g_hazard_addr != 0) {
    fprintf(stderr,
            "pkpo emu: %s on a non-blocking stream accesses %p (%s), which a %s queued on the legacy "
            "stream has not written yet: the two are not ordered (a cudaMemcpy from pageable memory "
            "returns before its data arrives); synchronise, or copy on the same stream\n",
            what, reinterpret_cast<void*>(g_hazard_addr), describe_address(g_hazard_addr).c_str(),
            g_hazard_what ? g_hazard_what : "copy");
    set_fatal(cudaErrorLaunchFailure);
  }
#endif
}

void note_legacy_write(void* dst, size_t bytes, const char* what) {
#ifdef PKPO_EMU_TSAN
  (void)dst;
  (void)bytes;
  (void)what;
#else
  if (bytes == 0) return;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(dst);
  g_pending.push_back(Range{lo, lo + bytes, what});
#endif
}

void legacy_writes_done() {
#ifndef PKPO_EMU_TSAN
  g_pending.clear();
#endif
}

/* ---- block order ---------------------------------------------------------------------------- */

namespace {
BlockOrder g_order = BlockOrder::kIndex;
uint64_t g_order_seed = 0;
bool g_order_loaded = false;

void load_order() {
  if (g_order_loaded) return;
  g_order_loaded = true;
  const char* s = getenv("PKPO_EMU_BLOCK_ORDER");
  if (!s || !*s || strcmp(s, "index") == 0) return;
  if (strcmp(s, "reverse") == 0) {
    g_order = BlockOrder::kReverse;
  } else if (strncmp(s, "shuffle", 7) == 0) {
    g_order = BlockOrder::kShuffle;
    if (s[7] == ':') g_order_seed = strtoull(s + 8, nullptr, 10);
  } else {
    fprintf(stderr, "pkpo emu: PKPO_EMU_BLOCK_ORDER=%s is not index, reverse or shuffle[:SEED]\n", s);
    abort();
  }
}
}  // namespace

void block_order(uint64_t count, uint64_t launch, std::vector<uint64_t>* order) {
  load_order();
  order->resize(count);
  for (uint64_t i = 0; i < count; ++i) (*order)[i] = g_order == BlockOrder::kReverse ? count - 1 - i : i;
  if (g_order == BlockOrder::kShuffle) {
    /* A different permutation for every launch, the same for the same seed and launch sequence. */
    std::mt19937_64 rng(g_order_seed * 0x9E3779B97F4A7C15ull + launch);
    for (uint64_t i = count; i > 1; --i) std::swap((*order)[i - 1], (*order)[rng() % i]);
  }
}

}  // namespace detail

void set_block_order(BlockOrder order, uint64_t seed) {
  detail::load_order();
  detail::g_order = order;
  detail::g_order_seed = seed;
}

BlockOrder block_order(uint64_t* seed) {
  detail::load_order();
  if (seed) *seed = detail::g_order_seed;
  return detail::g_order;
}

/* ---- CUB stand-ins: where a DoubleBuffer sort leaves its result ------------------------------- */

namespace {
SortResult g_sort_result = SortResult::kPassParity;
bool g_sort_result_loaded = false;
}  // namespace

SortResult sort_result() {
  if (!g_sort_result_loaded) {
    g_sort_result_loaded = true;
    const char* s = getenv("PKPO_EMU_SORT_RESULT");
    if (s && strcmp(s, "current") == 0) g_sort_result = SortResult::kCurrent;
    else if (s && strcmp(s, "alternate") == 0) g_sort_result = SortResult::kAlternate;
    else if (s && *s && strcmp(s, "parity") != 0) {
      fprintf(stderr, "pkpo emu: PKPO_EMU_SORT_RESULT=%s is not parity, current or alternate\n", s);
      abort();
    }
  }
  return g_sort_result;
}

void set_sort_result(SortResult r) {
  (void)sort_result();
  g_sort_result = r;
}

}  // namespace pkpo_emu
