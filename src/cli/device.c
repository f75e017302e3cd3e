/*
 * device.c -- --device: the CPU handle (always: grouping, and the CPU backend) and the CUDA handle
 * when chosen; one library call on host arrays, copied to and from the device for CUDA.
 */
#define _POSIX_C_SOURCE 200809L

#include <string.h>

#include "cli.h"

#ifdef PKPO_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

int engine_open(engine* e, const options* o) {
  memset(e, 0, sizeof *e);
  pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
  ho.num_threads = o->threads;
  pkpo_status st = pkpo_create(&e->cpu, &ho);
  if (st != PKPO_SUCCESS) {
    cli_msg("cannot create a CPU handle: %s", pkpo_status_string(st));
    return EXIT_DATA;
  }
  int want_cuda = 0;
  if (o->device == DEVICE_CUDA) {
#ifndef PKPO_HAVE_CUDA
    cli_msg("--device cuda: this pkpo was built without the CUDA backend (rebuild with "
            "-DPKPO_CUDA=ON, or use --device cpu)");
    return EXIT_USAGE;
#else
    want_cuda = 1; /* a failing pkpo_create below says why: no device, no driver, no code for it */
#endif
  } else if (o->device == DEVICE_AUTO) {
    want_cuda = pkpo_backend_available(PKPO_BACKEND_CUDA);
  }
  if (want_cuda) {
    ho.backend = PKPO_BACKEND_CUDA;
    st = pkpo_create(&e->cuda, &ho);
    if (st != PKPO_SUCCESS) {
      if (o->device == DEVICE_CUDA) {
        cli_msg("--device cuda: %s (use --device cpu or auto)", cuda_create_failure(st));
        return EXIT_USAGE;
      }
      e->cuda = NULL; /* auto: fall back to the CPU */
    }
  }
  return EXIT_OK;
}

void engine_close(engine* e) {
  pkpo_destroy(e->cuda);
  pkpo_destroy(e->cpu);
}

pkpo_handle engine_handle(const engine* e) { return e->cuda ? e->cuda : e->cpu; }

const char* cuda_create_failure(pkpo_status st) {
  const char* why = pkpo_last_error(NULL); /* this thread's last pkpo_create */
  return why[0] ? why : pkpo_status_string(st);
}

#ifdef PKPO_HAVE_CUDA
/* Copies the host arrays of one call to the device, runs it, copies the results back. */
typedef struct dev_buf {
  void* p;
} dev_buf;

static pkpo_status dev_alloc_copy(dev_buf* b, const void* h, size_t bytes) {
  b->p = NULL;
  if (bytes == 0) return PKPO_SUCCESS;
  if (cudaMalloc(&b->p, bytes) != cudaSuccess) return PKPO_ERROR_OUT_OF_MEMORY;
  if (h && cudaMemcpy(b->p, h, bytes, cudaMemcpyHostToDevice) != cudaSuccess) return PKPO_ERROR_CUDA;
  return PKPO_SUCCESS;
}

static pkpo_status cuda_run(pkpo_handle h, const pkpo_desc* d, const void* rewards, void* out,
                            void* rho, size_t rho_bytes, uint32_t* flags, const int64_t* ks,
                            int64_t num_ks) {
  const size_t elem = d->dtype == PKPO_FLOAT32 ? 4 : 8;
  const size_t n = (size_t)(d->offsets ? d->offsets[d->num_groups] : d->num_groups * d->group_size);
  const size_t g = (size_t)d->num_groups;
  dev_buf r = {0}, o = {0}, rh = {0}, fl = {0}, off = {0}, idx = {0}, kt = {0}, kw = {0};
  pkpo_status st = dev_alloc_copy(&r, rewards, n * elem);
  if (!st && out) st = dev_alloc_copy(&o, NULL, n * elem);
  if (!st && rho) st = dev_alloc_copy(&rh, NULL, rho_bytes);
  if (!st && flags) st = dev_alloc_copy(&fl, NULL, g * sizeof(uint32_t));
  if (!st && d->offsets) st = dev_alloc_copy(&off, d->offsets, (g + 1) * sizeof(int64_t));
  if (!st && d->index) st = dev_alloc_copy(&idx, d->index, n * sizeof(int64_t));
  /* a mixture's terms live in the handle's memory space (pkpo.h) */
  const size_t terms = d->num_k_terms > 0 ? (size_t)d->num_k_terms : 0;
  if (!st && terms) st = dev_alloc_copy(&kt, d->k_terms, terms * sizeof(int64_t));
  if (!st && terms) st = dev_alloc_copy(&kw, d->k_weights, terms * sizeof(double));
  if (!st) {
    pkpo_desc dd = *d;
    dd.offsets = (const int64_t*)off.p;
    dd.index = (const int64_t*)idx.p;
    if (terms) {
      dd.k_terms = (const int64_t*)kt.p;
      dd.k_weights = (const double*)kw.p;
    }
    st = ks ? pkpo_rho_curve(h, &dd, r.p, ks, num_ks, rh.p, (uint32_t*)fl.p, NULL)
            : pkpo_transform(h, &dd, r.p, o.p, rh.p, (uint32_t*)fl.p, NULL);
  }
  if (!st && cudaDeviceSynchronize() != cudaSuccess) st = PKPO_ERROR_CUDA;
  if (!st && out && n && cudaMemcpy(out, o.p, n * elem, cudaMemcpyDeviceToHost) != cudaSuccess)
    st = PKPO_ERROR_CUDA;
  if (!st && rho && rho_bytes && cudaMemcpy(rho, rh.p, rho_bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
    st = PKPO_ERROR_CUDA;
  if (!st && flags && g &&
      cudaMemcpy(flags, fl.p, g * sizeof(uint32_t), cudaMemcpyDeviceToHost) != cudaSuccess)
    st = PKPO_ERROR_CUDA;
  cudaFree(r.p);
  cudaFree(o.p);
  cudaFree(rh.p);
  cudaFree(fl.p);
  cudaFree(off.p);
  cudaFree(idx.p);
  cudaFree(kt.p);
  cudaFree(kw.p);
  return st;
}
#endif

pkpo_status engine_transform(const engine* e, const pkpo_desc* d, const void* rewards,
                                    void* out, uint32_t* flags) {
#ifdef PKPO_HAVE_CUDA
  if (e->cuda) return cuda_run(e->cuda, d, rewards, out, NULL, 0, flags, NULL, 0);
#endif
  return pkpo_transform(e->cpu, d, rewards, out, NULL, flags, NULL);
}

pkpo_status engine_rho_curve(const engine* e, const pkpo_desc* d, const void* rewards,
                                    const int64_t* ks, int64_t num_ks, void* rho, uint32_t* flags) {
#ifdef PKPO_HAVE_CUDA
  if (e->cuda) {
    const size_t elem = d->dtype == PKPO_FLOAT32 ? 4 : 8;
    return cuda_run(e->cuda, d, rewards, NULL, rho, (size_t)(d->num_groups * num_ks) * elem, flags,
                    ks, num_ks);
  }
#endif
  return pkpo_rho_curve(e->cpu, d, rewards, ks, num_ks, rho, flags, NULL);
}
