/*
 * internal.h -- what the public entry points (api.c) share with the backends. Not installed.
 *
 * Layering: api.c validates the host-visible arguments once (pkpo__check_desc), resolves them into a
 * pkpo__plan, and dispatches to a backend: cpu.c (always built) or src/cuda/ (PKPO_HAVE_CUDA).
 * Backends never re-validate what the plan already states; they check only what lives in their own
 * memory (offsets, k arrays, rewards).
 */
#ifndef PKPO_INTERNAL_H
#define PKPO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pkpo.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PKPO__ERROR_CAPACITY 512

struct pkpo_handle_s {
  pkpo_backend backend;
  int num_threads; /* CPU: worker count as given (>= 1), or 0 = chosen per call */
  int cpu_blocks;  /* CPU: PKPO__BLOCKS_* (default PKPO__BLOCKS_DISPATCH) */
  int cuda_device; /* CUDA: resolved device ordinal */
  char last_error[PKPO__ERROR_CAPACITY];

  /* Workspace in the backend's memory space: handle-owned (ws_owned = 1) or the caller's. */
  void* ws;
  size_t ws_bytes;
  int ws_owned;

  void* cuda; /* private state of src/cuda (NULL on the CPU backend) */
};

/* Host-side facts about a validated batch. */
typedef struct pkpo__plan {
  int64_t num_groups;     /* G */
  int64_t num_samples;    /* N */
  int64_t uniform_n;      /* group size of the uniform layout, 0 for ragged */
  int64_t max_group_size; /* uniform: uniform_n; ragged: desc->max_group_size (may be 0 = unknown on
                             CUDA; the CPU backend fills it from the offsets) */
  size_t elem_bytes;      /* 4 or 8 */
} pkpo__plan;

/* Records a message on the handle (printf-style) and returns `status`. NULL handle is fine. */
pkpo_status pkpo__error(pkpo_handle h, pkpo_status status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Overflow-checked int64 arithmetic: 0 on success, 1 on overflow. */
int pkpo__mul_overflow(int64_t a, int64_t b, int64_t* out);
int pkpo__add_overflow(int64_t a, int64_t b, int64_t* out);

/* ---- CPU backend (src/host/cpu.c) ---- */
pkpo_status pkpo__cpu_workspace_size(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                     size_t* bytes);
pkpo_status pkpo__cpu_transform(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                const void* rewards, void* out, void* rho, uint32_t* flags);
pkpo_status pkpo__cpu_rho_curve(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                const void* rewards, const int64_t* ks, int64_t num_ks, void* rho,
                                uint32_t* flags);
pkpo_status pkpo__cpu_group_by_id(pkpo_handle h, const int64_t* ids, int64_t num_samples,
                                  int64_t* offsets, int64_t* index, int64_t* num_groups,
                                  int64_t* max_group_size);
/* Test hook, not in pkpo.h: which road cpu.c takes for small float32 groups, so that the tests can
 * compare the roads bitwise. OFF: every group one by one; BASELINE: blocks, with the baseline
 * instruction set only (SSE2 on x86-64); DISPATCH (the default): blocks, with AVX where the CPU
 * has it. */
enum { PKPO__BLOCKS_OFF = 0, PKPO__BLOCKS_BASELINE = 1, PKPO__BLOCKS_DISPATCH = 2 };
pkpo_status pkpo__cpu_set_blocks(pkpo_handle h, int mode);
/* Makes sure the handle's host workspace holds `bytes`: grows an owned one, fails for a caller's. */
pkpo_status pkpo__cpu_ensure_workspace(pkpo_handle h, size_t bytes);

/* ---- CUDA backend (src/cuda/, only when PKPO_HAVE_CUDA) ----
 * Same contracts as the public calls; every pointer is a device pointer unless named h_. */
#ifdef PKPO_HAVE_CUDA
int pkpo__cuda_available(void);
pkpo_status pkpo__cuda_create(pkpo_handle h, int device);
void pkpo__cuda_destroy(pkpo_handle h);
pkpo_status pkpo__cuda_workspace_size(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                      size_t* bytes);
pkpo_status pkpo__cuda_reserve(pkpo_handle h, size_t bytes);
pkpo_status pkpo__cuda_set_workspace(pkpo_handle h, void* workspace, size_t bytes);
pkpo_status pkpo__cuda_transform(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                 const void* rewards, void* out, void* rho, uint32_t* flags,
                                 pkpo_stream stream);
pkpo_status pkpo__cuda_rho_curve(pkpo_handle h, const pkpo_desc* d, const pkpo__plan* p,
                                 const void* rewards, const int64_t* h_ks, int64_t num_ks,
                                 void* rho, uint32_t* flags, pkpo_stream stream);
pkpo_status pkpo__cuda_group_by_id_workspace_size(pkpo_handle h, int64_t num_samples,
                                                  size_t* bytes);
pkpo_status pkpo__cuda_group_by_id(pkpo_handle h, const int64_t* ids, int64_t num_samples,
                                   int64_t* offsets, int64_t* index, int64_t* h_num_groups,
                                   int64_t* h_max_group_size, pkpo_stream stream);
#endif

#ifdef __cplusplus
}
#endif

#endif /* PKPO_INTERNAL_H */
