/*
 * emu_runtime.cpp -- the emulated device's runtime (see cuda_runtime.h for the model).
 *
 * This file is compiled WITHOUT ThreadSanitizer instrumentation even in the TSan build: the
 * scheduler's own bookkeeping is shared by all fibers by design, and only the kernels' accesses
 * (instrumented in the backend's translation units) are to be checked. Happens-before edges are
 * given to TSan explicitly: block barriers and __syncwarp (release on arrival, acquire on
 * departure, one sync object per barrier generation parity), kernel start (acquire of what the
 * host did before the launch) and block end (released to the host). Shuffles, ballots and votes
 * exchange values but do not order memory, as on the device.
 *
 * Blocks of a grid run one after another with a happens-before edge between them (a race between
 * two blocks of one launch through global memory is therefore not reported by TSan; atomics are
 * modelled as atomics); their order is emu_hazards.cpp's (index order unless a test or the
 * environment asks for another), so that code relying on it shows as changed results instead.
 */
#include "cuda_runtime.h"
#include "emu_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#ifdef PKPO_EMU_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}
#define TSAN_ACQUIRE(a) __tsan_acquire((void*)(a))
#define TSAN_RELEASE(a) __tsan_release((void*)(a))
#else
#define TSAN_ACQUIRE(a) ((void)0)
#define TSAN_RELEASE(a) ((void)0)
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace pkpo_emu {
namespace {

/* ---- context switching ------------------------------------------------------------------------ */

#if defined(__x86_64__)
extern "C" void pkpo_emu_switch_ctx(void** save_sp, void* load_sp);
extern "C" void pkpo_emu_fiber_start(void);
asm(R"(
.text
.globl pkpo_emu_switch_ctx
.type pkpo_emu_switch_ctx,@function
pkpo_emu_switch_ctx:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  stmxcsr 8(%rsp)
  fnstcw (%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr 8(%rsp)
  fldcw (%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size pkpo_emu_switch_ctx, .-pkpo_emu_switch_ctx
.globl pkpo_emu_fiber_start
.type pkpo_emu_fiber_start,@function
pkpo_emu_fiber_start:
  movq %r12, %rdi
  callq *%r13
  ud2
.size pkpo_emu_fiber_start, .-pkpo_emu_fiber_start
.section .note.GNU-stack,"",@progbits
.text
)");
#endif

constexpr size_t kStackBytes = 256 * 1024;

struct Fiber;
void fiber_main(Fiber* f);

enum State { RUN = 0, WAIT_BAR = 1, WAIT_WARP = 2, DONE = 3 };

struct Fiber {
  ThreadCtx ctx;
  int linear = 0;
  int state = RUN;
  const char* wfile = "";
  int wline = 0;
  char* stack = nullptr;
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
  void* tsan = nullptr;
};

struct Warp {
  unsigned arrived = 0, mask = 0;
  int op = -1, width = 32;
  const char* file = "";
  int line = 0;
  uint64_t gen = 0;
  uint64_t vals[32], res[32];
  int args[32];
  char sync[2];
};

struct Block {
  int n = 0;
  std::vector<Fiber>* fibers = nullptr;
  std::vector<Warp> warps;
  int bar_arrived = 0, bar_op = -1;
  const char* bar_file = "";
  int bar_line = 0;
  int acc[3] = {0, 0, 1}, res[3] = {0, 0, 0};
  uint64_t bar_gen = 0;
  char bar_sync[2];
  bool failed = false;
  std::string error;
};

/* Scheduler state (one launching host thread at a time). */
Block* g_block = nullptr;
Fiber* g_cur = nullptr;
#if defined(__x86_64__)
void* g_host_sp = nullptr;
#else
ucontext_t g_host_uc;
#endif
[[maybe_unused]] void* g_host_tsan = nullptr;
const std::function<void()>* g_body = nullptr;
[[maybe_unused]] char g_launch_sync, g_block_end;
std::vector<char*> g_stacks;
[[maybe_unused]] std::vector<void*> g_tsan_fibers;

void switch_to_fiber(Fiber* f) {
  g_cur = f;
#ifdef PKPO_EMU_TSAN
  __tsan_switch_to_fiber(f->tsan, 1 /* __tsan_switch_to_fiber_no_sync */);
#endif
#if defined(__x86_64__)
  pkpo_emu_switch_ctx(&g_host_sp, f->sp);
#else
  swapcontext(&g_host_uc, &f->uc);
#endif
}

void yield_to_host() {
  Fiber* f = g_cur;
#ifdef PKPO_EMU_TSAN
  __tsan_switch_to_fiber(g_host_tsan, 1);
#endif
#if defined(__x86_64__)
  pkpo_emu_switch_ctx(&f->sp, g_host_sp);
#else
  swapcontext(&f->uc, &g_host_uc);
#endif
}

#if !defined(__x86_64__)
void fiber_entry_uc(unsigned lo, unsigned hi) {
  fiber_main(reinterpret_cast<Fiber*>((uintptr_t)lo | ((uintptr_t)hi << 32)));
}
#endif

void init_fiber(Fiber* f, char* stack) {
  f->stack = stack;
  f->state = RUN;
#if defined(__x86_64__)
  char* top = stack + kStackBytes;
  top = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(top) & ~uintptr_t(15));
  uint64_t* sp = reinterpret_cast<uint64_t*>(top - 88);
  uint32_t mxcsr;
  uint16_t fpcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  sp[0] = fpcw;
  sp[1] = mxcsr;
  sp[2] = 0;                                                 /* r15 */
  sp[3] = 0;                                                 /* r14 */
  sp[4] = reinterpret_cast<uint64_t>(&fiber_main);           /* r13: entry */
  sp[5] = reinterpret_cast<uint64_t>(f);                     /* r12: argument */
  sp[6] = 0;                                                 /* rbx */
  sp[7] = 0;                                                 /* rbp */
  sp[8] = reinterpret_cast<uint64_t>(&pkpo_emu_fiber_start); /* return address */
  sp[9] = 0;
  f->sp = sp;
#else
  getcontext(&f->uc);
  f->uc.uc_stack.ss_sp = stack;
  f->uc.uc_stack.ss_size = kStackBytes;
  f->uc.uc_link = nullptr;
  const uintptr_t a = reinterpret_cast<uintptr_t>(f);
  makecontext(&f->uc, (void (*)())fiber_entry_uc, 2, (unsigned)a, (unsigned)(a >> 32));
#endif
}

char* stack_at(size_t i) {
  while (g_stacks.size() <= i) {
    void* m = mmap(nullptr, kStackBytes + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      fprintf(stderr, "pkpo emu: cannot map a fiber stack\n");
      abort();
    }
    mprotect(m, 4096, PROT_NONE); /* overflow guard below the stack */
    g_stacks.push_back(static_cast<char*>(m) + 4096);
  }
  return g_stacks[i];
}

void fail_block(const std::string& msg) {
  if (!g_block->failed) {
    g_block->failed = true;
    g_block->error = msg;
  }
}

std::string vformat(const char* fmt, va_list ap) {
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  return buf;
}

std::string where(const Fiber& f) {
  char buf[160];
  snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", f.ctx.tid.x, f.ctx.tid.y, f.ctx.tid.z,
           f.ctx.bid.x, f.ctx.bid.y, f.ctx.bid.z);
  return buf;
}

const char* base_name(const char* path) {
  const char* s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* ---- errors, counters, device properties ---------------------------------------------------- */

cudaError_t g_last = cudaSuccess;
cudaError_t g_sticky = cudaSuccess;
/* Who launched the running kernel (for diagnostics). */
const std::string* g_caller = nullptr;
Counters g_counters = {0, 0, 0, 0, 0, 0, 0};
int g_cc_major = -1, g_cc_minor = 0;
/* Dynamic shared memory: the opt-in of each kernel (cudaFuncSetAttribute), the default limit, and
 * the running block's buffer. */
std::map<const void*, int> g_func_smem;
constexpr size_t kDefaultSmem = 48 * 1024;
unsigned char* g_dsmem = nullptr;
size_t g_dsmem_bytes = 0;

cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) g_last = e;
  return e;
}

void load_cc() {
  if (g_cc_major >= 0) return;
  g_cc_major = 9;
  g_cc_minor = 0;
  const char* s = getenv("PKPO_EMU_CC");
  if (s && strlen(s) >= 2) {
    g_cc_major = s[0] - '0';
    g_cc_minor = s[1] - '0';
  }
}

/* ---- memory ------------------------------------------------------------------------------------- */

constexpr size_t kDeviceBytes = size_t(16) << 30; /* emulated device memory */
using detail::kPage;
struct Alloc {
  size_t bytes, mapped;
};
std::map<uintptr_t, Alloc> g_allocs;
std::deque<std::pair<void*, size_t>> g_quarantine;
size_t g_allocated = 0;
std::set<void*> g_host_allocs;

void* map_region(size_t bytes, size_t* mapped) {
  const size_t body = (bytes + kPage - 1) / kPage * kPage;
  *mapped = body + kPage;
  void* m = mmap(nullptr, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  mprotect(static_cast<char*>(m) + body, kPage, PROT_NONE); /* guard after the allocation */
  return m;
}

/* ---- streams, capture, graphs ---------------------------------------------------------------- */

struct Graph {
  std::vector<std::function<void()>> nodes;
};

}  // namespace
}  // namespace pkpo_emu

struct CUstream_st {
  unsigned flags = 0;
  bool capturing = false;
  bool invalidated = false;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  pkpo_emu::Graph* graph = nullptr;
};
struct CUevent_st {
  bool recorded = false;
};
struct CUgraph_st {
  pkpo_emu::Graph g;
};
struct CUgraphExec_st {
  pkpo_emu::Graph g;
};

namespace pkpo_emu {
namespace {

std::set<cudaStream_t> g_streams;

/* A call that real CUDA refuses while a global-mode capture is under way (it may synchronise or
 * allocate): refuse it and invalidate the capture, as the driver does. */
cudaError_t unsafe_call(const char* what) {
  bool hit = false;
  for (cudaStream_t s : g_streams) {
    if (s->capturing && s->mode != cudaStreamCaptureModeRelaxed) {
      s->invalidated = true;
      hit = true;
    }
  }
  if (!hit) return cudaSuccess;
  fprintf(stderr, "pkpo emu: %s while a stream is capturing (global mode): not permitted\n", what);
  return set_error(cudaErrorStreamCaptureUnsupported);
}

/* Work on the legacy stream synchronises with every blocking stream: a capture on one of them is
 * invalidated. */
cudaError_t legacy_stream_use(const char* what) {
  bool hit = false;
  for (cudaStream_t s : g_streams) {
    if (s->capturing && !(s->flags & cudaStreamNonBlocking)) {
      s->invalidated = true;
      hit = true;
    }
  }
  if (!hit) return cudaSuccess;
  fprintf(stderr, "pkpo emu: %s on the legacy stream while a blocking stream captures\n", what);
  return set_error(cudaErrorStreamCaptureInvalidated);
}

bool known_stream(cudaStream_t s) { return s == nullptr || g_streams.count(s) != 0; }

void run_block(const std::function<void()>& body, dim3 grid, dim3 block, uint3 bid, int n,
               std::vector<Fiber>& fibers, Block& B) {
  B = Block();
  B.n = n;
  B.fibers = &fibers;
  B.warps.assign((size_t)(n + 31) / 32, Warp());
  g_block = &B;
  g_body = &body;
  for (int i = 0; i < n; ++i) {
    Fiber& f = fibers[(size_t)i];
    f.linear = i;
    f.ctx.tid.x = (unsigned)i % block.x;
    f.ctx.tid.y = ((unsigned)i / block.x) % block.y;
    f.ctx.tid.z = (unsigned)i / (block.x * block.y);
    f.ctx.bid = bid;
    f.ctx.bdim = block;
    f.ctx.gdim = grid;
    init_fiber(&f, stack_at((size_t)i));
#ifdef PKPO_EMU_TSAN
    /* TSan fibers are reused by the same thread index across blocks (creating one per CUDA thread
     * costs a system call or more each); blocks are ordered anyway (see the file comment). */
    while (g_tsan_fibers.size() <= (size_t)i) g_tsan_fibers.push_back(__tsan_create_fiber(0));
    f.tsan = g_tsan_fibers[(size_t)i];
#endif
  }
  TSAN_RELEASE(&g_launch_sync);
  for (;;) {
    bool ran = false, alive = false;
    for (int i = 0; i < n && !B.failed; ++i) {
      Fiber& f = fibers[(size_t)i];
      if (f.state == RUN) {
        switch_to_fiber(&f);
        ran = true;
      }
      if (f.state != DONE) alive = true;
    }
    if (B.failed || !alive) break;
    if (!ran) {
      /* Nobody can run: a barrier or warp collective waits for threads that will never come. */
      std::string msg = "deadlock: ";
      int done = 0;
      for (int i = 0; i < n; ++i) done += fibers[(size_t)i].state == DONE;
      char buf[512];
      if (B.bar_arrived > 0) {
        snprintf(buf, sizeof buf, "%d of %d threads wait at __syncthreads (%s:%d); ", B.bar_arrived, n,
                 base_name(B.bar_file), B.bar_line);
        msg += buf;
      }
      for (size_t w = 0; w < B.warps.size(); ++w) {
        if (B.warps[w].arrived) {
          snprintf(buf, sizeof buf, "warp %zu: lanes %08x of mask %08x wait at %s:%d; ", w,
                   B.warps[w].arrived, B.warps[w].mask, base_name(B.warps[w].file), B.warps[w].line);
          msg += buf;
        }
      }
      snprintf(buf, sizeof buf, "%d threads have exited", done);
      msg += buf;
      fail_block(msg);
      break;
    }
  }
#ifdef PKPO_EMU_TSAN
  /* Threads of a failed block never finish: release on their behalf (TSan's current fiber is
   * switched, the stack is not), so that the host may free what they touched. */
  for (int i = 0; i < n; ++i) {
    if (fibers[(size_t)i].state == DONE) continue;
    __tsan_switch_to_fiber(fibers[(size_t)i].tsan, 1);
    __tsan_release(&g_block_end);
    __tsan_switch_to_fiber(g_host_tsan, 1);
  }
#endif
  TSAN_ACQUIRE(&g_block_end);
  g_block = nullptr;
  g_cur = nullptr;
}

void run_grid(const void* fn, const std::function<void()>& body, dim3 grid, dim3 block, size_t smem,
              const std::string& caller) {
  if (g_sticky != cudaSuccess) return;
  const int n = (int)(block.x * block.y * block.z);
  std::vector<Fiber> fibers((size_t)n);
  /* Dynamic shared memory: one buffer for the launch (blocks run one at a time), poisoned before
   * every block, as CUDA leaves it undefined. */
  std::vector<unsigned char> dsmem(smem + 16);
  unsigned char* const dsmem_base =
      reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(dsmem.data()) + 15) & ~uintptr_t(15));
  Block B;
#ifdef PKPO_EMU_TSAN
  g_host_tsan = __tsan_get_current_fiber();
#endif
  ++g_counters.launches;
  const uint64_t blocks = (uint64_t)grid.x * grid.y * grid.z;
  std::vector<uint64_t> order;
  detail::block_order(blocks, g_counters.launches, &order);
  /* Static shared memory, like dynamic: undefined at the start of every block. */
  const std::vector<detail::SmemRange>& statics = detail::kernel_statics(fn);
  g_caller = &caller;
  for (const uint64_t linear : order) {
    const unsigned x = (unsigned)(linear % grid.x), y = (unsigned)(linear / grid.x % grid.y),
                   z = (unsigned)(linear / grid.x / grid.y);
    uint3 bid = {x, y, z};
    ++g_counters.blocks;
    g_counters.threads += (uint64_t)n;
    memset(dsmem_base, kPoisonByte, smem);
    for (const detail::SmemRange& r : statics) memset(r.p, kPoisonByte, r.bytes);
    g_dsmem = dsmem_base;
    g_dsmem_bytes = smem;
    run_block(body, grid, block, bid, n, fibers, B);
    g_dsmem = nullptr;
    g_dsmem_bytes = 0;
    if (B.failed) {
      fprintf(stderr,
              "pkpo emu: kernel launched by %s, grid (%u,%u,%u), block (%u,%u,%u), failed in block "
              "(%u,%u,%u): %s\n",
              caller.c_str(), grid.x, grid.y, grid.z, block.x, block.y, block.z, x, y, z, B.error.c_str());
      detail::set_fatal(cudaErrorLaunchFailure);
      break;
    }
  }
  g_caller = nullptr;
}

}  // namespace

namespace {
/* Entry of every fiber: the kernel body, then back to the host for good. */
void fiber_main(Fiber* f) {
  TSAN_ACQUIRE(&g_launch_sync);
  (*g_body)();
  f->state = DONE;
  TSAN_RELEASE(&g_block_end);
  yield_to_host();
  abort(); /* never resumed */
}
}  // namespace

/* ---- device-side primitives ------------------------------------------------------------------- */

ThreadCtx* current() {
  if (!g_cur) {
    fprintf(stderr, "pkpo emu: threadIdx/blockIdx used outside a kernel\n");
    abort();
  }
  return &g_cur->ctx;
}

uint3 thread_idx() { return current()->tid; }
uint3 block_idx() { return current()->bid; }
dim3 block_dim() { return current()->bdim; }
dim3 grid_dim() { return current()->gdim; }

uint64_t barrier_generation() { return g_block ? g_block->bar_gen : 0; }

void device_error(const char* file, int line, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string msg = where(*g_cur) + " at " + base_name(file) + ":" + std::to_string(line) + ": " + vformat(fmt, ap);
  va_end(ap);
  fail_block(msg);
  g_cur->state = DONE;
  TSAN_RELEASE(&g_block_end);
  yield_to_host();
  abort();
}

static const char* const kBarName[] = {"__syncthreads_count", "__syncthreads_or", "__syncthreads_and",
                                       "__syncthreads"};

int syncthreads_reduce(int op, int pred, const char* file, int line) {
  Block& B = *g_block;
  Fiber* f = g_cur;
  [[maybe_unused]] const uint64_t gen = B.bar_gen;
  if (B.bar_arrived == 0) {
    B.bar_op = op;
    B.bar_file = file;
    B.bar_line = line;
    B.acc[0] = 0;
    B.acc[1] = 0;
    B.acc[2] = 1;
  } else if (B.bar_op != op || B.bar_line != line || strcmp(B.bar_file, file) != 0) {
    device_error(file, line, "reaches %s while %d threads wait at %s (%s:%d): divergent barrier",
                 kBarName[op], B.bar_arrived, kBarName[B.bar_op], base_name(B.bar_file), B.bar_line);
  }
  TSAN_RELEASE(&B.bar_sync[gen & 1]);
  B.acc[0] += pred != 0;
  B.acc[1] |= pred != 0;
  B.acc[2] &= pred != 0;
  if (++B.bar_arrived == B.n) {
    B.res[0] = B.acc[0];
    B.res[1] = B.acc[1];
    B.res[2] = B.acc[2];
    B.bar_arrived = 0;
    ++B.bar_gen;
    for (Fiber& o : *B.fibers) {
      if (o.state == WAIT_BAR) o.state = RUN;
    }
  } else {
    f->state = WAIT_BAR;
    f->wfile = file;
    f->wline = line;
    yield_to_host();
  }
  TSAN_ACQUIRE(&B.bar_sync[gen & 1]);
  return op <= 2 ? B.res[op] : 0;
}

void syncthreads(const char* file, int line) { (void)syncthreads_reduce(3, 0, file, line); }

static const char* const kWarpName[] = {"__syncwarp", "__shfl_sync", "__shfl_up_sync", "__shfl_down_sync",
                                        "__shfl_xor_sync", "__ballot_sync", "__any_sync", "__all_sync"};
/* What a lane reads from a lane outside the mask (undefined on the device): a NaN in float and
 * double. */
constexpr uint64_t kPoisonLane = 0x7FF4DEAD7FC0DEADull;

uint64_t warp_op(int op, unsigned mask, uint64_t value, int arg, int width, const char* file, int line) {
  Block& B = *g_block;
  Fiber* f = g_cur;
  const int lane = f->linear & 31;
  Warp& W = B.warps[(size_t)(f->linear >> 5)];
  const int warp_lanes = std::min(32, B.n - (f->linear & ~31));
  const unsigned existing = warp_lanes == 32 ? 0xFFFFFFFFu : ((1u << warp_lanes) - 1u);
  if (!((mask >> lane) & 1u)) {
    device_error(file, line, "%s with mask %08x that does not include the calling lane %d", kWarpName[op], mask, lane);
  }
  if (mask & ~existing) {
    device_error(file, line, "%s with mask %08x names lanes that do not exist (warp has %d)", kWarpName[op], mask,
                 warp_lanes);
  }
  if (op >= W_SHFL && op <= W_SHFL_XOR && (width < 1 || width > 32 || (width & (width - 1)))) {
    device_error(file, line, "%s with width %d", kWarpName[op], width);
  }
  if (W.arrived == 0) {
    W.op = op;
    W.mask = mask;
    W.width = width;
    W.file = file;
    W.line = line;
  } else if (W.op != op || W.mask != mask || W.width != width) {
    device_error(file, line, "%s (mask %08x) while lanes %08x wait at %s (mask %08x, %s:%d)", kWarpName[op], mask,
                 W.arrived, kWarpName[W.op], W.mask, base_name(W.file), W.line);
  }
  [[maybe_unused]] const uint64_t gen = W.gen;
  if (op == W_SYNC) TSAN_RELEASE(&W.sync[gen & 1]);
  W.vals[lane] = value;
  W.args[lane] = arg;
  W.arrived |= 1u << lane;
  if (W.arrived == W.mask) {
    unsigned ballot = 0;
    for (int l = 0; l < 32; ++l) {
      if (((W.mask >> l) & 1u) && W.vals[l]) ballot |= 1u << l;
    }
    for (int l = 0; l < 32; ++l) {
      if (!((W.mask >> l) & 1u)) continue;
      const int seg = l & ~(W.width - 1);
      int src = l;
      switch (W.op) {
        case W_SHFL: src = seg + (W.args[l] & (W.width - 1)); break;
        case W_SHFL_UP: src = l - W.args[l] >= seg ? l - W.args[l] : l; break;
        case W_SHFL_DOWN: src = l + W.args[l] < seg + W.width ? l + W.args[l] : l; break;
        case W_SHFL_XOR: src = ((l ^ W.args[l]) & ~(W.width - 1)) == seg ? (l ^ W.args[l]) : l; break;
        default: break;
      }
      uint64_t r = 0;
      switch (W.op) {
        case W_SYNC: r = 0; break;
        case W_BALLOT: r = ballot; break;
        case W_ANY: r = ballot != 0; break;
        case W_ALL: r = ballot == W.mask; break;
        default: r = ((W.mask >> src) & 1u) ? W.vals[src] : kPoisonLane; break;
      }
      W.res[l] = r;
    }
    W.arrived = 0;
    ++W.gen;
    const int base = f->linear & ~31;
    for (int l = 0; l < warp_lanes; ++l) {
      Fiber& o = (*B.fibers)[(size_t)(base + l)];
      if (o.state == WAIT_WARP) o.state = RUN;
    }
  } else {
    f->state = WAIT_WARP;
    f->wfile = file;
    f->wline = line;
    yield_to_host();
  }
  if (op == W_SYNC) TSAN_ACQUIRE(&W.sync[gen & 1]);
  return W.res[lane];
}

namespace {
/* Work queued on the legacy stream and not yet run. Streams created with cudaStreamNonBlocking do
 * not synchronise with the legacy stream, so their work runs at once while legacy work waits for
 * the next point that does order the two (a synchronising call, work on a blocking stream): the
 * emulator picks the legal order that exposes a missing dependency. */
std::vector<std::function<void()>> g_legacy;

void flush_legacy() {
  while (!g_legacy.empty()) {
    std::vector<std::function<void()>> q;
    q.swap(g_legacy);
    for (auto& w : q) {
      if (g_sticky != cudaSuccess) break;
      detail::run_guarded(w);
    }
  }
  detail::legacy_writes_done();
}
}  // namespace

cudaError_t submit(cudaStream_t s, std::function<void()> work, const char* what) {
  if (!known_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  if (s && s->capturing) {
    if (s->invalidated) return set_error(cudaErrorStreamCaptureInvalidated);
    s->graph->nodes.push_back(std::move(work));
    return cudaSuccess;
  }
  if (!s) {
    const cudaError_t e = legacy_stream_use(what);
    if (e != cudaSuccess) return e;
    if (g_sticky != cudaSuccess) return g_sticky;
    g_legacy.push_back(std::move(work));
    return cudaSuccess;
  }
  if (s->flags & cudaStreamNonBlocking) {
    if (g_sticky != cudaSuccess) return g_sticky;
    detail::run_unordered(work, what);
    return g_sticky;
  }
  flush_legacy(); /* a blocking stream waits for it */
  if (g_sticky != cudaSuccess) return g_sticky;
  detail::run_guarded(work);
  return g_sticky;
}

cudaError_t set_max_dynamic_smem(const void* fn, int bytes) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (bytes < 0 || bytes > kMaxSmemOptin) return set_error(cudaErrorInvalidValue);
  g_func_smem[fn] = bytes;
  return cudaSuccess;
}

void* dynamic_smem(size_t bytes, const char* file, int line) {
  if (bytes > g_dsmem_bytes) {
    device_error(file, line, "uses %zu bytes of dynamic shared memory, but the launch gave it %zu", bytes,
                 g_dsmem_bytes);
  }
  return g_dsmem;
}

cudaError_t launch_raw(const void* fn, dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                       std::function<void()> body, const char* caller) {
  const uint64_t threads = (uint64_t)block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x == 0 ||
      grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    return set_error(cudaErrorInvalidConfiguration);
  }
  /* As on the device: above 48 KiB only what cudaFuncSetAttribute allowed for this kernel. */
  const auto it = g_func_smem.find(fn);
  const size_t allowed = std::max<size_t>(kDefaultSmem, it == g_func_smem.end() ? 0 : (size_t)it->second);
  if (smem > allowed) return set_error(cudaErrorInvalidValue);
  if (g_sticky != cudaSuccess) return g_sticky;
  std::string who = caller ? caller : "?";
  return set_error(submit(
      s, [fn, grid, block, smem, body, who]() { run_grid(fn, body, grid, block, smem, who); }, "kernel launch"));
}

void report_uninitialized(const char* what, int64_t position) {
  fprintf(stderr, "pkpo emu: %s reads key %lld, which was never written (fresh device memory)\n", what,
          (long long)position);
  detail::set_fatal(cudaErrorLaunchFailure);
}

namespace detail {

void set_fatal(cudaError_t e) {
  if (g_sticky == cudaSuccess) g_sticky = e;
  g_last = g_sticky;
}

std::string running_thread() {
  if (!g_cur) return "";
  return where(*g_cur) + " of the kernel launched by " + (g_caller ? *g_caller : std::string("?"));
}

void abandon_kernel() {
  if (g_block) g_block->failed = true;
  g_block = nullptr;
  g_cur = nullptr;
  g_caller = nullptr;
  g_dsmem = nullptr;
  g_dsmem_bytes = 0;
}

std::string describe_address(uintptr_t a) {
  char buf[200];
  auto it = g_allocs.upper_bound(a);
  if (it != g_allocs.begin()) {
    --it;
    const uintptr_t base = it->first;
    if (a < base + it->second.bytes) {
      snprintf(buf, sizeof buf, "byte %zu of a %zu-byte device allocation", (size_t)(a - base), it->second.bytes);
      return buf;
    }
    if (a < base + it->second.mapped) {
      snprintf(buf, sizeof buf, "%zu bytes past the end of a %zu-byte device allocation",
               (size_t)(a - base - it->second.bytes), it->second.bytes);
      return buf;
    }
  }
  for (const auto& q : g_quarantine) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(q.first);
    if (a >= base && a < base + q.second) return "inside freed device memory (use after cudaFree)";
  }
  for (const char* st : g_stacks) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(st);
    if (a >= base - 4096 && a < base) return "the guard page below an emulated thread's stack (stack overflow)";
  }
  return "not device memory";
}

}  // namespace detail

namespace {
cudaError_t g_injected_cub = cudaSuccess;
}
void inject_cub_error(cudaError_t e) { g_injected_cub = e; }
cudaError_t take_injected_cub_error() {
  const cudaError_t e = g_injected_cub;
  g_injected_cub = cudaSuccess;
  return e;
}

Counters counters() { return g_counters; }
void count_size_query() { ++g_counters.size_queries; }

void set_compute_capability(int major, int minor) {
  g_cc_major = major;
  g_cc_minor = minor;
}

}  // namespace pkpo_emu

using namespace pkpo_emu;

/* ---- the runtime API -------------------------------------------------------------------------- */

extern "C" {

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoKernelImageForDevice: return "cudaErrorNoKernelImageForDevice";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotPermitted: return "cudaErrorNotPermitted";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulated device: see stderr)";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorNoKernelImageForDevice: return "no kernel image is available for execution on the device";
    default: return cudaGetErrorName(e);
  }
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = g_sticky != cudaSuccess ? g_sticky : g_last;
  g_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return g_sticky != cudaSuccess ? g_sticky : g_last; }

cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : set_error(cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return set_error(cudaErrorInvalidDevice);
  load_cc();
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "pkpo emulated device (sm_%d%d)", g_cc_major, g_cc_minor);
  p->totalGlobalMem = kDeviceBytes;
  p->sharedMemPerBlock = 48 * 1024;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->multiProcessorCount = 1;
  p->major = g_cc_major;
  p->minor = g_cc_minor;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d) {
  if (d != 0) return set_error(cudaErrorInvalidDevice);
  load_cc();
  if (a == cudaDevAttrComputeCapabilityMajor) *v = g_cc_major;
  else if (a == cudaDevAttrComputeCapabilityMinor) *v = g_cc_minor;
  else if (a == cudaDevAttrMaxSharedMemoryPerBlockOptin) *v = kMaxSmemOptin;
  else if (a == cudaDevAttrMultiProcessorCount) *v = 1; /* as cudaGetDeviceProperties */
  else return set_error(cudaErrorInvalidValue);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  ++g_counters.device_syncs;
  const cudaError_t e = unsafe_call("cudaDeviceSynchronize");
  if (e != cudaSuccess) return e;
  flush_legacy();
  return g_sticky;
}

cudaError_t cudaDeviceReset(void) {
  /* As after a fault on the device, a sticky error stays (the process must be restarted). */
  if (g_sticky != cudaSuccess) return g_sticky;
  flush_legacy();
  g_last = cudaSuccess;
  return g_sticky;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  ++g_counters.mallocs;
  *p = nullptr;
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  const cudaError_t e = unsafe_call("cudaMalloc");
  if (e != cudaSuccess) return e;
  if (bytes == 0) return cudaSuccess;
  if (bytes > kDeviceBytes - g_allocated) return set_error(cudaErrorMemoryAllocation);
  size_t mapped = 0;
  void* m = map_region(bytes, &mapped);
  if (!m) return set_error(cudaErrorMemoryAllocation);
  memset(m, kPoisonByte, bytes); /* fresh device memory holds no meaningful values */
  g_allocs[reinterpret_cast<uintptr_t>(m)] = Alloc{bytes, mapped};
  g_allocated += bytes;
  *p = m;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  ++g_counters.frees;
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  const cudaError_t e = unsafe_call("cudaFree");
  if (e != cudaSuccess) return e;
  if (!p) return cudaSuccess;
  flush_legacy(); /* cudaFree synchronises the device */
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end()) return set_error(cudaErrorInvalidDevicePointer);
  /* Quarantine: the pages stay mapped but inaccessible, so a later use (e.g. a graph replay that
   * still points here) faults instead of silently writing reused memory. */
  mprotect(p, it->second.mapped, PROT_NONE);
  g_quarantine.emplace_back(p, it->second.mapped);
  g_allocated -= it->second.bytes;
  g_allocs.erase(it);
  while (g_quarantine.size() > 2048) {
    munmap(g_quarantine.front().first, g_quarantine.front().second);
    g_quarantine.pop_front();
  }
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  const cudaError_t e = unsafe_call("cudaMallocHost");
  if (e != cudaSuccess) return e;
  *p = malloc(bytes ? bytes : 1);
  if (!*p) return set_error(cudaErrorMemoryAllocation);
  g_host_allocs.insert(*p);
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* p) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  const cudaError_t e = unsafe_call("cudaFreeHost");
  if (e != cudaSuccess) return e;
  if (!p) return cudaSuccess;
  flush_legacy();
  if (!g_host_allocs.erase(p)) return set_error(cudaErrorInvalidValue);
  free(p);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  *free_bytes = kDeviceBytes - g_allocated;
  *total_bytes = kDeviceBytes;
  return cudaSuccess;
}

namespace pkpo_emu {
namespace {
bool is_device(const void* p);
/* Work on the legacy stream stays queued (see flush_legacy); what it will write is noted, so that
 * a non-blocking stream's access to it is reported. */
cudaError_t submit_write(cudaStream_t s, void* dst, size_t bytes, std::function<void()> work, const char* what) {
  const bool queued = !s && g_sticky == cudaSuccess;
  const cudaError_t e = submit(s, std::move(work), what);
  if (e == cudaSuccess && queued && is_device(dst)) detail::note_legacy_write(dst, bytes, what);
  return e;
}
}  // namespace
}  // namespace pkpo_emu

cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t s) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  return set_error(submit_write(s, p, bytes, [p, v, bytes]() { memset(p, v, bytes); }, "cudaMemsetAsync"));
}
cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  const cudaError_t e = unsafe_call("cudaMemset");
  if (e != cudaSuccess) return e;
  return cudaMemsetAsync(p, v, bytes, nullptr);
}
namespace pkpo_emu {
namespace {
bool is_device(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return false;
  --it;
  return a < it->first + it->second.bytes;
}
}  // namespace
}  // namespace pkpo_emu

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  (void)kind;
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!s && !is_device(src) && !g_host_allocs.count(const_cast<void*>(src))) {
    /* From pageable host memory the source is staged before the call returns (the caller may
     * reuse it at once); the copy to the destination happens in stream order. */
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src),
                                                      static_cast<const char*>(src) + bytes);
    return set_error(submit_write(s, dst, bytes, [dst, staged, bytes]() { memmove(dst, staged->data(), bytes); },
                                  "copy from pageable host memory"));
  }
  return set_error(submit_write(s, dst, bytes, [dst, src, bytes]() { memmove(dst, src, bytes); }, "cudaMemcpyAsync"));
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  const cudaError_t e = unsafe_call("cudaMemcpy");
  if (e != cudaSuccess) return e;
  const cudaError_t r = cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
  /* Returns once the data is at its destination, except from pageable host memory to the device
   * (CUDA returns once the source is staged: the transfer is not ordered with non-blocking
   * streams). */
  if (r == cudaSuccess && is_device(src)) flush_legacy();
  if (r == cudaSuccess && !is_device(dst)) flush_legacy();
  return r != cudaSuccess ? r : g_sticky;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  *s = new CUstream_st();
  (*s)->flags = flags;
  g_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!s || !g_streams.erase(s)) return set_error(cudaErrorInvalidResourceHandle);
  delete s->graph;
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!known_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  if (s && s->capturing) {
    s->invalidated = true;
    return set_error(cudaErrorStreamCaptureUnsupported);
  }
  if (!s) {
    const cudaError_t e = unsafe_call("cudaStreamSynchronize(legacy stream)");
    if (e != cudaSuccess) return e;
  }
  if (!s || !(s->flags & cudaStreamNonBlocking)) flush_legacy();
  return g_sticky;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  (void)flags;
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  if (!(s && s->capturing)) flush_legacy(); /* the event may be pending on the legacy stream */
  return set_error(submit(s, []() {}, "cudaStreamWaitEvent"));
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!s || !known_stream(s)) return set_error(cudaErrorStreamCaptureUnsupported); /* not the legacy stream */
  if (s->capturing) return set_error(cudaErrorIllegalAddress);
  s->capturing = true;
  s->invalidated = false;
  s->mode = mode;
  delete s->graph;
  s->graph = new Graph();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = nullptr;
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!s || !known_stream(s) || !s->capturing) return set_error(cudaErrorIllegalAddress);
  s->capturing = false;
  Graph* graph = s->graph;
  s->graph = nullptr;
  if (s->invalidated) {
    delete graph;
    return set_error(cudaErrorStreamCaptureInvalidated);
  }
  CUgraph_st* out = new CUgraph_st();
  out->g = std::move(*graph);
  delete graph;
  *g = out;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* st) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!known_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  *st = cudaStreamCaptureStatusNone;
  if (s && s->capturing) *st = s->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  if (!s) {
    /* Asking about the legacy stream while a blocking stream captures is itself an error. */
    for (cudaStream_t o : g_streams) {
      if (o->capturing && !(o->flags & cudaStreamNonBlocking)) {
        o->invalidated = true;
        return set_error(cudaErrorStreamCaptureImplicit);
      }
    }
  }
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  *e = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  (void)flags;
  return cudaEventCreate(e);
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  return set_error(submit(s, [e]() { e->recorded = true; }, "cudaEventRecord"));
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  flush_legacy();
  return g_sticky;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  flush_legacy();
  return g_sticky;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!a || !b) return set_error(cudaErrorInvalidResourceHandle);
  *ms = 0.0f; /* no meaningful device time on the emulator */
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* x, cudaGraph_t g, unsigned long long flags) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  (void)flags;
  if (!g) return set_error(cudaErrorInvalidValue);
  *x = new CUgraphExec_st();
  (*x)->g = g->g;
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  if (!x) return set_error(cudaErrorInvalidValue);
  return set_error(submit(
      s,
      [x]() {
        for (auto& node : x->g.nodes) {
          if (g_sticky != cudaSuccess) return;
          node();
        }
      },
      "cudaGraphLaunch"));
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  delete x;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  if (g_sticky != cudaSuccess) return g_sticky; /* the device is lost to this process */
  delete g;
  return cudaSuccess;
}

}  // extern "C"
