/*
 * backend.cu -- the pkpo__cuda_* entry points (src/host/internal.h): device selection, workspace
 * ownership, path planning, and the one place where cudaError_t becomes a pkpo_status
 * (cuda_status below, with cudaGetErrorString in the handle's message).
 *
 * Asynchrony: transforms and curves only queue work on the caller's stream, except where pkpo.h
 * says they synchronise: PKPO_NONFINITE_ERROR, PKPO_K_STRICT, a ragged layout with
 * max_group_size = 0, and a workspace that must grow (cudaMalloc). None of these is allowed while
 * the stream is capturing; they return an error instead of breaking the capture.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <new>
#include <vector>

#include <cuda_runtime.h>

#include "arch_list.h"
#include "internal.h"
#include "launch.h"

using pkpo_cuda::DevStatus;
using pkpo_cuda::Params;
using pkpo_cuda::Shape;
using pkpo_cuda::WsLayout;

namespace {

/* Shapes whose workspace plans a handle keeps: a trainer alternates a few (transform and curve,
 * pkpo_workspace_size's worst case for max_group_size = 0 and the real one). */
constexpr int kPlanCache = 4;

/* Private state of a CUDA handle (h->cuda). */
struct CudaState {
  void* h_pinned = nullptr; /* small page-locked buffer for device-to-host reads of status words */
  /* A call was captured into a graph: the graph holds the workspace's address, so an owned
   * workspace is never freed before pkpo_destroy; growing keeps the old buffer here. */
  bool captured = false;
  std::vector<void*> retired;
  /* Recorded after the work of every call that is not captured, and waited for by the next call's
   * stream: the calls of one handle (which share its workspace) run in order whatever their
   * streams, and the workspace is idle once this event has completed. No call synchronises the
   * whole device, which would break another stream's capture. */
  cudaEvent_t last = nullptr;
  bool last_recorded = false;
  /* Plans of recent shapes (plan_workspace depends only on the shape and the handle's device), so
   * that a call whose shape repeats makes no CUB size query on the host. Filled round robin. */
  struct Plan {
    bool used = false;
    Shape shape;
    WsLayout layout;
  };
  Plan plans[kPlanCache];
  int next_plan = 0;
  int sm_count = 1; /* the device's multiprocessors (a planning input: Shape::sm_count) */
};

constexpr size_t kPinnedBytes = 256;

/* Makes the handle's device current for the duration of a call and restores the caller's. */
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    err_ = cudaGetDevice(&prev_);
    if (err_ == cudaSuccess && prev_ != device) {
      err_ = cudaSetDevice(device);
      changed_ = err_ == cudaSuccess;
    }
  }
  ~DeviceGuard() {
    if (changed_) cudaSetDevice(prev_);
  }
  cudaError_t error() const { return err_; }

 private:
  int prev_ = 0;
  bool changed_ = false;
  cudaError_t err_ = cudaSuccess;
};

/* The one mapping from CUDA errors to pkpo statuses. Clears the (non-sticky) error state. */
pkpo_status cuda_status(pkpo_handle h, cudaError_t e, const char* what) {
  (void)cudaGetLastError();
  if (e == cudaErrorMemoryAllocation) {
    return pkpo__error(h, PKPO_ERROR_OUT_OF_MEMORY, "%s: %s", what, cudaGetErrorString(e));
  }
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice) {
    return pkpo__error(h, PKPO_ERROR_NO_DEVICE, "%s: %s (%s)", what, cudaGetErrorName(e),
                       cudaGetErrorString(e));
  }
  return pkpo__error(h, PKPO_ERROR_CUDA, "%s: %s (%s)", what, cudaGetErrorName(e),
                     cudaGetErrorString(e));
}

#define PKPO_CHECK_CUDA(h, expr, what)                  \
  do {                                                  \
    const cudaError_t pkpo_e_ = (expr);                 \
    if (pkpo_e_ != cudaSuccess) return cuda_status((h), pkpo_e_, (what)); \
  } while (0)

CudaState* state_of(pkpo_handle h) { return static_cast<CudaState*>(h->cuda); }

bool is_capturing(cudaStream_t s, cudaError_t* err) {
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  *err = cudaStreamIsCapturing(s, &cs);
  return cs != cudaStreamCaptureStatusNone;
}

/* Orders this call's work after the handle's previous call (on whatever stream). Not while
 * capturing: a graph cannot depend on work outside it. */
pkpo_status order_after_last(pkpo_handle h, cudaStream_t stream, bool capturing) {
  CudaState* cs = state_of(h);
  if (capturing || !cs->last_recorded) return PKPO_SUCCESS;
  PKPO_CHECK_CUDA(h, cudaStreamWaitEvent(stream, cs->last, 0), "cudaStreamWaitEvent");
  return PKPO_SUCCESS;
}

pkpo_status record_last(pkpo_handle h, cudaStream_t stream, bool capturing) {
  CudaState* cs = state_of(h);
  if (capturing) return PKPO_SUCCESS;
  PKPO_CHECK_CUDA(h, cudaEventRecord(cs->last, stream), "cudaEventRecord");
  cs->last_recorded = true;
  return PKPO_SUCCESS;
}

/* Releases the handle-owned workspace: freed once the handle's queued work is complete, or kept
 * until pkpo_destroy if a captured graph may point to it. */
pkpo_status release_owned(pkpo_handle h) {
  if (!h->ws) return PKPO_SUCCESS;
  CudaState* cs = state_of(h);
  if (cs->captured) {
    try {
      cs->retired.push_back(h->ws);
    } catch (const std::bad_alloc&) {
      return pkpo__error(h, PKPO_ERROR_OUT_OF_MEMORY, "keeping a captured workspace alive");
    }
  } else {
    if (cs->last_recorded) {
      PKPO_CHECK_CUDA(h, cudaEventSynchronize(cs->last), "waiting for the handle's queued work");
    }
    PKPO_CHECK_CUDA(h, cudaFree(h->ws), "cudaFree(workspace)");
  }
  h->ws = NULL;
  h->ws_bytes = 0;
  return PKPO_SUCCESS;
}

/* Grows the handle-owned workspace to `bytes` (cudaMalloc, and cudaFree of the old one unless a
 * graph may use it: both synchronise the device). */
pkpo_status grow_owned(pkpo_handle h, size_t bytes) {
  const pkpo_status rs = release_owned(h);
  if (rs != PKPO_SUCCESS) return rs;
  void* mem = NULL;
  const cudaError_t e = cudaMalloc(&mem, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return pkpo__error(h, PKPO_ERROR_OUT_OF_MEMORY, "cudaMalloc of a %zu-byte workspace: %s", bytes,
                       cudaGetErrorString(e));
  }
  h->ws = mem;
  h->ws_bytes = bytes;
  return PKPO_SUCCESS;
}

/* Makes sure the workspace holds `bytes`; grows an owned one unless the stream is capturing. */
pkpo_status ensure_workspace(pkpo_handle h, size_t bytes, bool capturing) {
  if (bytes <= h->ws_bytes) return PKPO_SUCCESS;
  if (!h->ws_owned) {
    return pkpo__error(h, PKPO_ERROR_WORKSPACE_TOO_SMALL,
                       "caller workspace holds %zu bytes, this call needs %zu", h->ws_bytes, bytes);
  }
  if (capturing) {
    return pkpo__error(h, PKPO_ERROR_WORKSPACE_TOO_SMALL,
                       "workspace holds %zu bytes, this call needs %zu, and it cannot grow while "
                       "the stream is capturing (call pkpo_reserve before capture)",
                       h->ws_bytes, bytes);
  }
  return grow_owned(h, bytes);
}

Shape shape_of(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p) {
  Shape sh;
  sh.sm_count = state_of(h)->sm_count;
  sh.num_groups = p->num_groups;
  sh.num_samples = p->num_samples;
  sh.max_n = p->max_group_size;
  sh.uniform_n = p->uniform_n;
  sh.elem_bytes = p->elem_bytes;
  sh.has_index = d->index != NULL;
  return sh;
}

Params params_of(const pkpo_desc* d, const pkpo__plan* p, const void* rewards, void* out, void* rho,
                 uint32_t* flags) {
  Params q;
  memset(&q, 0, sizeof q);
  q.rewards = rewards;
  q.out = out;
  q.rho = rho;
  q.flags = flags;
  q.offsets = d->offsets;
  q.index = d->index;
  q.k_per_group = d->k_per_group;
  q.num_groups = p->num_groups;
  q.num_samples = p->num_samples;
  q.uniform_n = p->uniform_n;
  q.max_n = p->max_group_size;
  q.k = d->num_k_terms > 0 ? 1 : d->k; /* a mixture does not use k (pkpo.h), whatever it holds */
  q.estimator = (int)d->estimator;
  q.nonfinite = (int)d->nonfinite;
  q.k_policy = (int)d->k_policy;
  q.negate = d->statistic == PKPO_STATISTIC_MIN;
  q.num_terms = d->num_k_terms;
  q.k_terms = d->k_terms;
  q.k_weights = d->k_weights;
  q.write_out = d->estimator != PKPO_RHO && out != NULL;
  q.rho_stride = 1;
  return q;
}

bool same_shape(const Shape& a, const Shape& b) {
  return a.num_groups == b.num_groups && a.num_samples == b.num_samples && a.max_n == b.max_n &&
         a.uniform_n == b.uniform_n && a.elem_bytes == b.elem_bytes && a.has_index == b.has_index &&
         a.sm_count == b.sm_count;
}

/* plan_workspace, or the handle's plan of the same shape. Only successful plans are kept. */
cudaError_t plan_cached(pkpo_handle h, const Shape& sh, WsLayout* L) {
  CudaState* cs = state_of(h);
  for (const CudaState::Plan& p : cs->plans) {
    if (p.used && same_shape(p.shape, sh)) {
      *L = p.layout;
      return cudaSuccess;
    }
  }
  const cudaError_t e = pkpo_cuda::plan_workspace(sh, L);
  if (e != cudaSuccess) return e;
  CudaState::Plan& slot = cs->plans[cs->next_plan];
  cs->next_plan = (cs->next_plan + 1) % kPlanCache;
  slot.used = true;
  slot.shape = sh;
  slot.layout = *L;
  return cudaSuccess;
}

/* Reads the call's device status (synchronises the stream) and turns error bits into a status. */
pkpo_status read_status(pkpo_handle h, const void* d_status, cudaStream_t s, DevStatus* st) {
  void* pinned = state_of(h)->h_pinned;
  PKPO_CHECK_CUDA(h, cudaMemcpyAsync(pinned, d_status, sizeof(DevStatus), cudaMemcpyDeviceToHost, s),
                  "reading the device status");
  PKPO_CHECK_CUDA(h, cudaStreamSynchronize(s), "cudaStreamSynchronize");
  memcpy(st, pinned, sizeof *st);
  return PKPO_SUCCESS;
}

pkpo_status status_from_bits(pkpo_handle h, const DevStatus& st) {
  if (st.error_bits == 0) return PKPO_SUCCESS;
  /* ~0 (all ones) for a policy that failed in no group, as the reset's zero inverted */
  const unsigned long long g_nf = ~st.first_group_inv[0], g_k = ~st.first_group_inv[1];
  if (g_nf <= g_k) {
    return pkpo__error(h, PKPO_ERROR_NON_FINITE,
                       "group %lld holds a non-finite reward (error policy); other groups may "
                       "have been written", (long long)g_nf);
  }
  return pkpo__error(h, PKPO_ERROR_K_EXCEEDS_N,
                     "group %lld: k exceeds its usable samples (strict k policy); other groups may "
                     "have been written", (long long)g_k);
}

enum CallKind { CALL_TRANSFORM, CALL_CURVE };

/* The common path of transform and rho_curve. */
pkpo_status run_call(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* plan, CallKind kind,
                     const void* rewards, void* out, void* rho, uint32_t* flags, const int64_t* h_ks,
                     int64_t num_ks, cudaStream_t stream) {
  DeviceGuard guard(h->cuda_device);
  PKPO_CHECK_CUDA(h, guard.error(), "selecting the handle's device");
  cudaError_t e = cudaSuccess;
  const bool capturing = is_capturing(stream, &e);
  PKPO_CHECK_CUDA(h, e, "cudaStreamIsCapturing");
  const bool unknown_max = plan->uniform_n == 0 && plan->max_group_size == 0;
  const bool sync_policy = d->nonfinite == PKPO_NONFINITE_ERROR || d->k_policy == PKPO_K_STRICT;
  if (capturing && (unknown_max || sync_policy)) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                       "the stream is capturing, but %s needs a device-to-host read; set "
                       "max_group_size and use the default policies to capture",
                       unknown_max ? "max_group_size = 0" : "the strict k / non-finite error policy");
  }
  Params prm = params_of(d, plan, rewards, out, rho, flags);
  if (kind == CALL_CURVE) {
    /* pkpo_rho_curve ignores desc->k, k_per_group and estimator (pkpo.h); the kernels would
     * otherwise flag every group invalid for a k < 1 they never use. */
    prm.k = 1;
    prm.k_per_group = NULL;
    prm.num_terms = 0;
    prm.k_terms = NULL;
    prm.k_weights = NULL;
    prm.estimator = (int)PKPO_RHO;
    prm.write_out = 0;
  }
  Shape sh = shape_of(h, d, plan);
  if (unknown_max) {
    pkpo_status st = ensure_workspace(h, sizeof(DevStatus), capturing);
    if (st != PKPO_SUCCESS) return st;
    st = order_after_last(h, stream, capturing);
    if (st != PKPO_SUCCESS) return st;
    PKPO_CHECK_CUDA(h, pkpo_cuda::launch_max_group(prm, h->ws, stream), "max_group_size kernel");
    DevStatus ds;
    st = read_status(h, h->ws, stream, &ds);
    if (st != PKPO_SUCCESS) return st;
    sh.max_n = (int64_t)ds.max_n;
    prm.max_n = sh.max_n;
  }
  WsLayout L;
  e = plan_cached(h, sh, &L);
  if (e == cudaErrorNotSupported) {
    return pkpo__error(h, PKPO_ERROR_UNSUPPORTED,
                       "the CUDA backend supports groups of at most %lld samples and at most "
                       "2^31-1 groups when a group exceeds %d samples (largest group: %lld)",
                       (long long)pkpo_cuda::kMaxLargeGroup, pkpo_cuda::kBlockMaxN,
                       (long long)sh.max_n);
  }
  PKPO_CHECK_CUDA(h, e, "planning the workspace (CUB temporary storage query)");
  pkpo_status st = ensure_workspace(h, L.total, capturing);
  if (st != PKPO_SUCCESS) return st;
  if (capturing && h->ws_owned) state_of(h)->captured = true;
  st = order_after_last(h, stream, capturing);
  if (st != PKPO_SUCCESS) return st;
  if (kind == CALL_TRANSFORM) {
    PKPO_CHECK_CUDA(h, pkpo_cuda::launch_transform(prm, sh, L, h->ws, stream), "queuing the transform");
  } else {
    PKPO_CHECK_CUDA(h, pkpo_cuda::launch_rho_curve(prm, sh, L, h->ws, h_ks, num_ks, stream),
                    "queuing the rho curve");
  }
  st = record_last(h, stream, capturing);
  if (st != PKPO_SUCCESS) return st;
  if (!sync_policy) return PKPO_SUCCESS;
  DevStatus ds;
  st = read_status(h, static_cast<char*>(h->ws) + L.status, stream, &ds);
  if (st != PKPO_SUCCESS) return st;
  return status_from_bits(h, ds);
}

/* The architectures this build has device code for (set by CMakeLists.txt; arch_list.h). */
#ifndef PKPO_CUDA_ARCHS
#define PKPO_CUDA_ARCHS ""
#endif

/* Whether device `d` can run this build's kernels; else fills `why`. */
bool device_runs(int d, char* why, size_t why_bytes) {
  cudaDeviceProp prop;
  const cudaError_t e = cudaGetDeviceProperties(&prop, d);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    snprintf(why, why_bytes, "cudaGetDeviceProperties(%d): %s", d, cudaGetErrorString(e));
    return false;
  }
  if (pkpo_cuda::arch_runs(PKPO_CUDA_ARCHS, prop.major, prop.minor)) return true;
  snprintf(why, why_bytes,
           "device %d (%s, compute capability %d.%d) cannot run this build's kernels, built for "
           "CUDA architectures %s",
           d, prop.name, prop.major, prop.minor, PKPO_CUDA_ARCHS);
  return false;
}

}  // namespace

extern "C" {

int pkpo__cuda_available(void) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  char why[512];
  for (int d = 0; d < n; ++d) {
    if (device_runs(d, why, sizeof why)) return 1;
  }
  return 0;
}

pkpo_status pkpo__cuda_create(pkpo_handle h, int device) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count < 1) {
    (void)cudaGetLastError();
    return pkpo__error(h, PKPO_ERROR_NO_DEVICE, "no usable CUDA device (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
  }
  if (device < 0) {
    PKPO_CHECK_CUDA(h, cudaGetDevice(&device), "cudaGetDevice");
  }
  if (device >= count) {
    return pkpo__error(h, PKPO_ERROR_NO_DEVICE, "cuda_device %d, but only %d devices are visible",
                       device, count);
  }
  char why[512];
  if (!device_runs(device, why, sizeof why)) return pkpo__error(h, PKPO_ERROR_NO_DEVICE, "%s", why);
  h->cuda_device = device;
  h->ws = NULL;
  h->ws_bytes = 0;
  h->ws_owned = 1;
  CudaState* s = new (std::nothrow) CudaState();
  if (!s) return PKPO_ERROR_OUT_OF_MEMORY;
  DeviceGuard guard(device);
  if (guard.error() != cudaSuccess) {
    delete s;
    return cuda_status(h, guard.error(), "selecting the device");
  }
  e = pkpo_cuda::prepare_device(device);
  if (e != cudaSuccess) {
    delete s;
    if (e == cudaErrorNotSupported) {
      return pkpo__error(h, PKPO_ERROR_NO_DEVICE,
                         "device %d allows a thread block less shared memory than the group kernels need",
                         device);
    }
    return cuda_status(h, e, "setting the kernels' shared-memory limit");
  }
  e = cudaDeviceGetAttribute(&s->sm_count, cudaDevAttrMultiProcessorCount, device);
  if (e != cudaSuccess) {
    delete s;
    return cuda_status(h, e, "reading the device's multiprocessor count");
  }
  e = cudaMallocHost(&s->h_pinned, kPinnedBytes);
  if (e != cudaSuccess) {
    delete s;
    return cuda_status(h, e, "cudaMallocHost");
  }
  e = cudaEventCreateWithFlags(&s->last, cudaEventDisableTiming);
  if (e != cudaSuccess) {
    (void)cudaFreeHost(s->h_pinned);
    delete s;
    return cuda_status(h, e, "cudaEventCreateWithFlags");
  }
  h->cuda = s;
  return PKPO_SUCCESS;
}

void pkpo__cuda_destroy(pkpo_handle h) {
  CudaState* s = state_of(h);
  DeviceGuard guard(h->cuda_device);
  if (s && s->last_recorded) (void)cudaEventSynchronize(s->last); /* queued work may use the workspace */
  if (h->ws_owned && h->ws) (void)cudaFree(h->ws);
  h->ws = NULL;
  h->ws_bytes = 0;
  if (s) {
    for (void* old : s->retired) (void)cudaFree(old);
    if (s->h_pinned) (void)cudaFreeHost(s->h_pinned);
    if (s->last) (void)cudaEventDestroy(s->last);
    delete s;
  }
  h->cuda = NULL;
  (void)cudaGetLastError();
}

pkpo_status pkpo__cuda_workspace_size(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                      size_t* bytes) {
  DeviceGuard guard(h->cuda_device);
  PKPO_CHECK_CUDA(h, guard.error(), "selecting the handle's device");
  Shape sh = shape_of(h, d, p);
  /* Ragged with max_group_size = 0: the call reads the real maximum back; size for the worst. */
  if (sh.uniform_n == 0 && sh.max_n == 0) {
    sh.max_n = std::min<int64_t>(sh.num_samples, pkpo_cuda::kMaxLargeGroup);
  }
  WsLayout L;
  const cudaError_t e = plan_cached(h, sh, &L);
  if (e == cudaErrorNotSupported) {
    return pkpo__error(h, PKPO_ERROR_UNSUPPORTED,
                       "groups of %lld samples exceed the CUDA backend's limit of %lld",
                       (long long)sh.max_n, (long long)pkpo_cuda::kMaxLargeGroup);
  }
  PKPO_CHECK_CUDA(h, e, "planning the workspace (CUB temporary storage query)");
  *bytes = L.total;
  return PKPO_SUCCESS;
}

pkpo_status pkpo__cuda_reserve(pkpo_handle h, size_t bytes) {
  if (bytes <= h->ws_bytes) return PKPO_SUCCESS;
  if (!h->ws_owned) {
    return pkpo__error(h, PKPO_ERROR_WORKSPACE_TOO_SMALL,
                       "caller workspace holds %zu bytes, %zu are needed", h->ws_bytes, bytes);
  }
  DeviceGuard guard(h->cuda_device);
  PKPO_CHECK_CUDA(h, guard.error(), "selecting the handle's device");
  return grow_owned(h, bytes);
}

pkpo_status pkpo__cuda_set_workspace(pkpo_handle h, void* workspace, size_t bytes) {
  DeviceGuard guard(h->cuda_device);
  PKPO_CHECK_CUDA(h, guard.error(), "selecting the handle's device");
  if (h->ws_owned && h->ws) {
    const pkpo_status rs = release_owned(h);
    if (rs != PKPO_SUCCESS) return rs;
  }
  h->ws = workspace;
  h->ws_bytes = workspace ? bytes : 0;
  h->ws_owned = workspace == NULL;
  return PKPO_SUCCESS;
}

pkpo_status pkpo__cuda_transform(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                 const void* rewards, void* out, void* rho, uint32_t* flags,
                                 pkpo_stream stream) {
  return run_call(h, d, p, CALL_TRANSFORM, rewards, out, rho, flags, NULL, 0,
                  reinterpret_cast<cudaStream_t>(stream));
}

pkpo_status pkpo__cuda_rho_curve(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                 const void* rewards, const int64_t* h_ks, int64_t num_ks,
                                 void* rho, uint32_t* flags, pkpo_stream stream) {
  return run_call(h, d, p, CALL_CURVE, rewards, NULL, rho, flags, h_ks, num_ks,
                  reinterpret_cast<cudaStream_t>(stream));
}

pkpo_status pkpo__cuda_group_by_id_workspace_size(pkpo_handle h, int64_t num_samples,
                                                  size_t* bytes) {
  *bytes = 0;
  if (num_samples == 0) return PKPO_SUCCESS;
  PKPO_CHECK_CUDA(h, pkpo_cuda::group_by_id_scratch(num_samples, bytes), "sizing group_by_id scratch");
  return PKPO_SUCCESS;
}

pkpo_status pkpo__cuda_group_by_id(pkpo_handle h, const int64_t* ids, int64_t num_samples,
                                   int64_t* offsets, int64_t* index, int64_t* h_num_groups,
                                   int64_t* h_max_group_size, pkpo_stream stream) {
  cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  DeviceGuard guard(h->cuda_device);
  PKPO_CHECK_CUDA(h, guard.error(), "selecting the handle's device");
  cudaError_t e = cudaSuccess;
  if (is_capturing(s, &e)) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                       "pkpo_group_by_id synchronises and cannot run while the stream is capturing");
  }
  PKPO_CHECK_CUDA(h, e, "cudaStreamIsCapturing");
  if (num_samples == 0) {
    PKPO_CHECK_CUDA(h, cudaMemsetAsync(offsets, 0, sizeof(int64_t), s), "cudaMemsetAsync");
    PKPO_CHECK_CUDA(h, cudaStreamSynchronize(s), "cudaStreamSynchronize");
    *h_num_groups = 0;
    if (h_max_group_size) *h_max_group_size = 0;
    return PKPO_SUCCESS;
  }
  size_t bytes = 0;
  PKPO_CHECK_CUDA(h, pkpo_cuda::group_by_id_scratch(num_samples, &bytes), "sizing group_by_id scratch");
  /* Scratch (about 80 bytes per sample) from the handle's workspace, grown like a transform's:
   * repeated calls allocate nothing and never synchronise more than their stream. */
  pkpo_status st = ensure_workspace(h, bytes, false);
  if (st != PKPO_SUCCESS) return st;
  st = order_after_last(h, s, false);
  if (st != PKPO_SUCCESS) return st;
  void* pinned = state_of(h)->h_pinned;
  /* the ids' range first (read back: the sort covers only the bits in which the ids differ) */
  uint64_t* d_range = NULL;
  PKPO_CHECK_CUDA(h, pkpo_cuda::launch_group_by_id_range(ids, num_samples, h->ws, bytes, &d_range, s),
                  "queuing group_by_id's id range");
  PKPO_CHECK_CUDA(h, cudaMemcpyAsync(pinned, d_range, 2 * sizeof(uint64_t), cudaMemcpyDeviceToHost, s),
                  "reading the id range");
  PKPO_CHECK_CUDA(h, cudaStreamSynchronize(s), "cudaStreamSynchronize");
  uint64_t range[2];
  memcpy(range, pinned, sizeof range);
  int64_t id_min = 0, id_max = 0;
  pkpo_cuda::id_range(range, &id_min, &id_max);
  int64_t* d_counts = NULL;
  PKPO_CHECK_CUDA(h, pkpo_cuda::launch_group_by_id(ids, num_samples, id_min, id_max, offsets, index, h->ws,
                                                    bytes, &d_counts, s),
                  "queuing group_by_id");
  PKPO_CHECK_CUDA(h, cudaMemcpyAsync(pinned, d_counts, 2 * sizeof(int64_t), cudaMemcpyDeviceToHost, s),
                  "reading the group count");
  st = record_last(h, s, false);
  if (st != PKPO_SUCCESS) return st;
  PKPO_CHECK_CUDA(h, cudaStreamSynchronize(s), "cudaStreamSynchronize");
  int64_t counts[2];
  memcpy(counts, pinned, sizeof counts);
  *h_num_groups = counts[0];
  if (h_max_group_size) *h_max_group_size = counts[1];
  return PKPO_SUCCESS;
}

}  /* extern "C" */
