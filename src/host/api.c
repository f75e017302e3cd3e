/*
 * api.c -- the public entry points: argument validation, handle life cycle, dispatch.
 *
 * Every public call checks what the host can see (pointers, enums, sizes) here, once, resolves the
 * layout into a pkpo__plan, and hands over to a backend. Backends check only data in their own
 * memory (offsets, k arrays, rewards).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PKPO__STR2(x) #x
#define PKPO__STR(x) PKPO__STR2(x)

/* ---- version, statuses, errors ----------------------------------------------------------------- */

unsigned pkpo_version(void) { return PKPO_VERSION_NUMBER; }

const char* pkpo_version_string(void) {
  return PKPO__STR(PKPO_VERSION_MAJOR) "." PKPO__STR(PKPO_VERSION_MINOR) "." PKPO__STR(
      PKPO_VERSION_PATCH);
}

const char* pkpo_status_string(pkpo_status status) {
  switch (status) {
#define PKPO__STATUS_CASE(name, value, text) \
  case name:                                 \
    return text;
    PKPO_STATUS_LIST(PKPO__STATUS_CASE)
#undef PKPO__STATUS_CASE
  }
  return "unknown status";
}

pkpo_status pkpo__error(pkpo_handle h, pkpo_status status, const char* fmt, ...) {
  if (h) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(h->last_error, sizeof h->last_error, fmt, args);
    va_end(args);
  }
  return status;
}

/* The message of the last pkpo_create that failed on this thread (there is no handle to hold it). */
static _Thread_local char pkpo__create_error[PKPO__ERROR_CAPACITY];

const char* pkpo_last_error(pkpo_handle handle) { return handle ? handle->last_error : pkpo__create_error; }

/* Records the reason of a failing pkpo_create for pkpo_last_error(NULL) and returns `status`. */
static pkpo_status create_failed(pkpo_status status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static pkpo_status create_failed(pkpo_status status, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(pkpo__create_error, sizeof pkpo__create_error, fmt, args);
  va_end(args);
  return status;
}

int pkpo__mul_overflow(int64_t a, int64_t b, int64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

int pkpo__add_overflow(int64_t a, int64_t b, int64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

/* ---- handle ------------------------------------------------------------------------------------ */

int pkpo_backend_available(pkpo_backend backend) {
  switch (backend) {
    case PKPO_BACKEND_CPU:
      return 1;
    case PKPO_BACKEND_CUDA:
#ifdef PKPO_HAVE_CUDA
      return pkpo__cuda_available();
#else
      return 0;
#endif
  }
  return 0;
}

pkpo_status pkpo_create(pkpo_handle* handle, const pkpo_handle_options* options) {
  pkpo__create_error[0] = '\0';
  if (!handle) return create_failed(PKPO_ERROR_NULL_POINTER, "handle is NULL");
  *handle = NULL;
  const pkpo_handle_options defaults = PKPO_HANDLE_OPTIONS_INIT;
  const pkpo_handle_options* o = options ? options : &defaults;
  /* One version so far: the struct_size rule of pkpo.h accepts that size alone. */
  if (o->struct_size != sizeof(pkpo_handle_options)) {
    return create_failed(PKPO_ERROR_INVALID_ARGUMENT,
                         "options->struct_size is %zu, this library knows %zu; start from "
                         "PKPO_HANDLE_OPTIONS_INIT", o->struct_size, sizeof(pkpo_handle_options));
  }
  if (o->backend != PKPO_BACKEND_CPU && o->backend != PKPO_BACKEND_CUDA) {
    return create_failed(PKPO_ERROR_INVALID_ARGUMENT, "unknown backend %d", (int)o->backend);
  }
  if (o->num_threads < 0 || o->cuda_device < -1) {
    return create_failed(PKPO_ERROR_INVALID_ARGUMENT,
                         "num_threads %d must be >= 0 and cuda_device %d >= -1", o->num_threads,
                         o->cuda_device);
  }
#ifndef PKPO_HAVE_CUDA
  if (o->backend == PKPO_BACKEND_CUDA) {
    return create_failed(PKPO_ERROR_UNSUPPORTED, "this build of pkpo has no CUDA backend");
  }
#endif

  pkpo_handle h = (pkpo_handle)calloc(1, sizeof *h);
  if (!h) return create_failed(PKPO_ERROR_OUT_OF_MEMORY, "cannot allocate the handle");
  h->backend = o->backend;
  h->ws_owned = 1;
  h->cpu_blocks = PKPO__BLOCKS_DISPATCH;
  h->num_threads = o->num_threads; /* 0: chosen per call (cpu.c, threads_for) */
#ifndef _OPENMP
  h->num_threads = 1; /* built without OpenMP: the CPU backend runs on the calling thread */
#endif
  h->cuda_device = o->cuda_device;
#ifdef PKPO_HAVE_CUDA
  if (h->backend == PKPO_BACKEND_CUDA) {
    const pkpo_status st = pkpo__cuda_create(h, o->cuda_device);
    if (st != PKPO_SUCCESS) {
      memcpy(pkpo__create_error, h->last_error, sizeof pkpo__create_error);
      free(h);
      return st;
    }
  }
#endif
  *handle = h;
  return PKPO_SUCCESS;
}

void pkpo_destroy(pkpo_handle handle) {
  if (!handle) return;
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) {
    pkpo__cuda_destroy(handle); /* frees the device workspace it owns */
    free(handle);
    return;
  }
#endif
  if (handle->ws_owned) free(handle->ws);
  free(handle);
}

pkpo_status pkpo_get_backend(pkpo_handle handle, pkpo_backend* backend) {
  if (!handle || !backend) return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "NULL argument");
  *backend = handle->backend;
  return PKPO_SUCCESS;
}

/* ---- desc validation --------------------------------------------------------------------------- */

/* The caller's desc as one of this version (*out): a desc of an earlier, smaller version of pkpo.h
 * gets the defaults for the fields past its end (pkpo.h, "Growth"). */
static pkpo_status normalize_desc(pkpo_handle h, const pkpo_desc* d, pkpo_desc* out) {
  if (!d) return pkpo__error(h, PKPO_ERROR_NULL_POINTER, "desc is NULL");
  const size_t size = d->struct_size;
  if (size != sizeof(pkpo_desc) && size != PKPO_DESC_SIZE_V1) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                       "desc->struct_size is %zu: this library knows %zu (0.2) and %zu (0.1); "
                       "start from PKPO_DESC_INIT",
                       size, sizeof(pkpo_desc), (size_t)PKPO_DESC_SIZE_V1);
  }
  const pkpo_desc defaults = PKPO_DESC_INIT;
  *out = defaults;
  memcpy(out, d, size);
  out->struct_size = sizeof(pkpo_desc);
  return PKPO_SUCCESS;
}

/* uses_k = 0 for pkpo_rho_curve, which ignores desc->estimator, k, k_per_group and the mixture
 * (pkpo.h). d is already normalized. */
static pkpo_status check_desc(pkpo_handle h, const pkpo_desc* d, pkpo__plan* p, int uses_k) {
  if (uses_k && (unsigned)d->estimator > (unsigned)PKPO_L2O) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "unknown estimator %d", (int)d->estimator);
  }
  if (d->dtype != PKPO_FLOAT32 && d->dtype != PKPO_FLOAT64) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "unknown dtype %d", (int)d->dtype);
  }
  if ((unsigned)d->nonfinite > (unsigned)PKPO_NONFINITE_ERROR) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "unknown non-finite policy %d",
                       (int)d->nonfinite);
  }
  if (d->k_policy != PKPO_K_CLAMP && d->k_policy != PKPO_K_STRICT) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "unknown k policy %d", (int)d->k_policy);
  }
  if (d->statistic != PKPO_STATISTIC_MAX && d->statistic != PKPO_STATISTIC_MIN) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "unknown statistic %d", (int)d->statistic);
  }
  if (uses_k && d->num_k_terms < 0) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "num_k_terms is %lld, must be >= 0",
                       (long long)d->num_k_terms);
  }
  if (uses_k && d->num_k_terms > 0) {
    int64_t term_bytes;
    if (pkpo__mul_overflow(d->num_k_terms, 16, &term_bytes)) {
      return pkpo__error(h, PKPO_ERROR_SIZE_OVERFLOW, "num_k_terms %lld is too large",
                         (long long)d->num_k_terms);
    }
    if (!d->k_terms || !d->k_weights) {
      return pkpo__error(h, PKPO_ERROR_NULL_POINTER,
                         "k_terms or k_weights is NULL with num_k_terms = %lld",
                         (long long)d->num_k_terms);
    }
    if (d->k_per_group) {
      return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                         "a mixture over k (num_k_terms > 0) does not combine with k_per_group");
    }
  }
  if (d->num_groups < 0) {
    return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "num_groups is %lld, must be >= 0",
                       (long long)d->num_groups);
  }
  memset(p, 0, sizeof *p);
  p->num_groups = d->num_groups;
  p->elem_bytes = d->dtype == PKPO_FLOAT32 ? 4 : 8;
  if (d->offsets) {
    int64_t entries;
    if (pkpo__add_overflow(d->num_groups, 1, &entries)) {
      return pkpo__error(h, PKPO_ERROR_SIZE_OVERFLOW, "num_groups + 1 overflows int64");
    }
    if (d->num_samples < 0) {
      return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT, "num_samples is %lld, must be >= 0",
                         (long long)d->num_samples);
    }
    if (d->max_group_size < 0 || d->max_group_size > d->num_samples) {
      return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                         "max_group_size is %lld, must be in [0, num_samples = %lld]",
                         (long long)d->max_group_size, (long long)d->num_samples);
    }
    p->num_samples = d->num_samples;
    p->max_group_size = d->max_group_size;
  } else {
    if (d->num_groups > 0 && d->group_size < 1) {
      return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                         "group_size is %lld, must be >= 1 (or pass offsets)",
                         (long long)d->group_size);
    }
    int64_t n_total = 0;
    if (d->num_groups > 0 && pkpo__mul_overflow(d->num_groups, d->group_size, &n_total)) {
      return pkpo__error(h, PKPO_ERROR_SIZE_OVERFLOW,
                         "num_groups * group_size (%lld * %lld) overflows int64",
                         (long long)d->num_groups, (long long)d->group_size);
    }
    if (d->num_samples != 0 && d->num_samples != n_total) {
      return pkpo__error(h, PKPO_ERROR_INVALID_ARGUMENT,
                         "num_samples is %lld but num_groups * group_size is %lld",
                         (long long)d->num_samples, (long long)n_total);
    }
    p->num_samples = n_total;
    p->uniform_n = d->num_groups > 0 ? d->group_size : 0;
    p->max_group_size = p->uniform_n;
  }
  int64_t bytes;
  if (pkpo__mul_overflow(p->num_samples, 16, &bytes)) {
    return pkpo__error(h, PKPO_ERROR_SIZE_OVERFLOW,
                       "num_samples %lld is too large to address", (long long)p->num_samples);
  }
  const int single_k = uses_k && !d->k_per_group && d->num_k_terms == 0;
  if (single_k && d->k < 1) {
    return pkpo__error(h, PKPO_ERROR_INVALID_K, "k is %lld, must be >= 1", (long long)d->k);
  }
  if (single_k && d->k_policy == PKPO_K_STRICT && p->uniform_n > 0 && d->k > p->uniform_n) {
    return pkpo__error(h, PKPO_ERROR_K_EXCEEDS_N,
                       "k = %lld exceeds the group size %lld (strict k policy)", (long long)d->k,
                       (long long)p->uniform_n);
  }
  return PKPO_SUCCESS;
}

/* The common head of every batch call: the handle and its desc, normalized into *dn. */
static pkpo_status begin_call(pkpo_handle h, const pkpo_desc* d, pkpo_desc* dn, pkpo__plan* p,
                              int uses_k) {
  if (!h) return PKPO_ERROR_NULL_POINTER;
  h->last_error[0] = '\0';
  const pkpo_status st = normalize_desc(h, d, dn);
  if (st != PKPO_SUCCESS) return st;
  return check_desc(h, dn, p, uses_k);
}


/* ---- workspace --------------------------------------------------------------------------------- */

pkpo_status pkpo_workspace_size(pkpo_handle handle, const pkpo_desc* desc, size_t* bytes) {
  pkpo__plan p;
  pkpo_desc d;
  pkpo_status st = begin_call(handle, desc, &d, &p, 1);
  if (st != PKPO_SUCCESS) return st;
  if (!bytes) return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "bytes is NULL");
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) return pkpo__cuda_workspace_size(handle, &d, &p, bytes);
#endif
  return pkpo__cpu_workspace_size(handle, &d, &p, bytes);
}

pkpo_status pkpo_reserve(pkpo_handle handle, const pkpo_desc* desc) {
  size_t bytes = 0;
  pkpo_status st = pkpo_workspace_size(handle, desc, &bytes);
  if (st != PKPO_SUCCESS) return st;
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) return pkpo__cuda_reserve(handle, bytes);
#endif
  return pkpo__cpu_ensure_workspace(handle, bytes);
}

pkpo_status pkpo_set_workspace(pkpo_handle handle, void* workspace, size_t bytes) {
  if (!handle) return PKPO_ERROR_NULL_POINTER;
  handle->last_error[0] = '\0';
  if (workspace && ((uintptr_t)workspace % 256) != 0) {
    return pkpo__error(handle, PKPO_ERROR_INVALID_ARGUMENT, "workspace must be 256-byte aligned");
  }
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) return pkpo__cuda_set_workspace(handle, workspace, bytes);
#endif
  if (handle->ws_owned) free(handle->ws);
  handle->ws = workspace;
  handle->ws_bytes = workspace ? bytes : 0;
  handle->ws_owned = workspace == NULL;
  return PKPO_SUCCESS;
}

/* ---- transforms -------------------------------------------------------------------------------- */

pkpo_status pkpo_transform(pkpo_handle handle, const pkpo_desc* desc, const void* rewards, void* out,
                           void* rho, uint32_t* flags, pkpo_stream stream) {
  pkpo__plan p;
  pkpo_desc d;
  pkpo_status st = begin_call(handle, desc, &d, &p, 1);
  if (st != PKPO_SUCCESS) return st;
  if (p.num_samples > 0 && !rewards) {
    return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "rewards is NULL");
  }
  if (d.estimator != PKPO_RHO && p.num_samples > 0 && !out) {
    return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "out is NULL (only PKPO_RHO may omit it)");
  }
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) {
    if (p.num_groups == 0) return PKPO_SUCCESS;
    return pkpo__cuda_transform(handle, &d, &p, rewards, out, rho, flags, stream);
  }
#endif
  (void)stream;
  /* CPU: no early return without groups, so that host offsets describing a non-empty batch
   * (offsets[0] != 0 or != num_samples) are still reported as an invalid layout. */
  return pkpo__cpu_transform(handle, &d, &p, rewards, out, rho, flags);
}

pkpo_status pkpo_rho_curve(pkpo_handle handle, const pkpo_desc* desc, const void* rewards,
                           const int64_t* ks, int64_t num_ks, void* rho, uint32_t* flags,
                           pkpo_stream stream) {
  pkpo__plan p;
  pkpo_desc d;
  pkpo_status st = begin_call(handle, desc, &d, &p, 0);
  if (st != PKPO_SUCCESS) return st;
  if (p.num_samples > 0 && !rewards) {
    return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "rewards is NULL");
  }
  if (!ks || !rho) return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "ks or rho is NULL");
  if (num_ks < 1) {
    return pkpo__error(handle, PKPO_ERROR_INVALID_ARGUMENT, "num_ks is %lld, must be >= 1",
                       (long long)num_ks);
  }
  int64_t entries;
  if (pkpo__mul_overflow(p.num_groups, num_ks, &entries) ||
      pkpo__mul_overflow(entries, 8, &entries)) {
    return pkpo__error(handle, PKPO_ERROR_SIZE_OVERFLOW, "num_groups * num_ks overflows");
  }
  for (int64_t j = 0; j < num_ks; ++j) {
    if (ks[j] < 1) {
      return pkpo__error(handle, PKPO_ERROR_INVALID_K, "ks[%lld] is %lld, must be >= 1",
                         (long long)j, (long long)ks[j]);
    }
    if (d.k_policy == PKPO_K_STRICT && p.uniform_n > 0 && ks[j] > p.uniform_n) {
      return pkpo__error(handle, PKPO_ERROR_K_EXCEEDS_N,
                         "ks[%lld] = %lld exceeds the group size %lld (strict k policy)",
                         (long long)j, (long long)ks[j], (long long)p.uniform_n);
    }
  }
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) {
    if (p.num_groups == 0) return PKPO_SUCCESS;
    return pkpo__cuda_rho_curve(handle, &d, &p, rewards, ks, num_ks, rho, flags, stream);
  }
#endif
  (void)stream;
  /* CPU: checks the host offsets even without groups, as in pkpo_transform. */
  return pkpo__cpu_rho_curve(handle, &d, &p, rewards, ks, num_ks, rho, flags);
}

pkpo_status pkpo_group_by_id_workspace_size(pkpo_handle handle, int64_t num_samples,
                                            size_t* bytes) {
  if (!handle) return PKPO_ERROR_NULL_POINTER;
  handle->last_error[0] = '\0';
  if (!bytes) return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "bytes is NULL");
  if (num_samples < 0) {
    return pkpo__error(handle, PKPO_ERROR_INVALID_ARGUMENT, "num_samples is %lld, must be >= 0",
                       (long long)num_samples);
  }
  int64_t total;
  if (pkpo__mul_overflow(num_samples, 32, &total)) {
    return pkpo__error(handle, PKPO_ERROR_SIZE_OVERFLOW, "num_samples %lld is too large",
                       (long long)num_samples);
  }
  *bytes = 0;
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) {
    return pkpo__cuda_group_by_id_workspace_size(handle, num_samples, bytes);
  }
#endif
  return PKPO_SUCCESS;
}

pkpo_status pkpo_group_by_id(pkpo_handle handle, const int64_t* ids, int64_t num_samples,
                             int64_t* offsets, int64_t* index, int64_t* num_groups,
                             int64_t* max_group_size, pkpo_stream stream) {
  if (!handle) return PKPO_ERROR_NULL_POINTER;
  handle->last_error[0] = '\0';
  if (num_samples < 0) {
    return pkpo__error(handle, PKPO_ERROR_INVALID_ARGUMENT, "num_samples is %lld, must be >= 0",
                       (long long)num_samples);
  }
  if ((num_samples > 0 && (!ids || !index)) || !offsets || !num_groups) {
    return pkpo__error(handle, PKPO_ERROR_NULL_POINTER, "ids, offsets, index or num_groups is NULL");
  }
  int64_t bytes;
  if (pkpo__mul_overflow(num_samples, 32, &bytes)) {
    return pkpo__error(handle, PKPO_ERROR_SIZE_OVERFLOW, "num_samples %lld is too large",
                       (long long)num_samples);
  }
#ifdef PKPO_HAVE_CUDA
  if (handle->backend == PKPO_BACKEND_CUDA) {
    return pkpo__cuda_group_by_id(handle, ids, num_samples, offsets, index, num_groups,
                                  max_group_size, stream);
  }
#endif
  (void)stream;
  return pkpo__cpu_group_by_id(handle, ids, num_samples, offsets, index, num_groups,
                               max_group_size);
}
