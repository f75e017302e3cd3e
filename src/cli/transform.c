/*
 * transform.c -- `pkpo transform`: CSV rows get a new column 'transformed' (grouped by the group
 * column through pkpo_group_by_id); an NPY array is transformed in place, chunk by chunk.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int write_csv_transform(const options* o, const csv_table* t, const void* out,
                               progress* pg) {
  sink s;
  int rc = sink_open(&s, o->output);
  if (rc) return rc;
  const char* eol = t->crlf ? "\r\n" : "\n";
  const size_t eol_len = t->crlf ? 2 : 1;
  FILE* f = s.f;
  const int f32 = o->dtype == PKPO_FLOAT32;
  fwrite(t->data + t->header_begin, 1, t->header_end - t->header_begin, f);
  fputs(",transformed", f);
  fwrite(eol, 1, eol_len, f);
  char num[40];
  for (int64_t r = 0; r < t->num_rows; ++r) {
    fwrite(t->data + t->row_begin[r], 1, t->row_end[r] - t->row_begin[r], f);
    num[0] = ',';
    const double v = f32 ? (double)((const float*)out)[r] : ((const double*)out)[r];
    const int n = cli_format_number(num + 1, v, f32);
    memcpy(num + 1 + n, eol, eol_len);
    fwrite(num, 1, (size_t)n + 1 + eol_len, f);
    if ((r & 0xffff) == 0) progress_update(pg, "writing", (double)r / (double)t->num_rows);
  }
  progress_update(pg, "writing", 1.0);
  return sink_commit(&s);
}

int transform_csv(const options* o, const engine* e, const char* file, const char* data,
                         size_t len, progress* pg) {
  csv_table t;
  int64_t *offsets, *index, num_groups, max_n;
  int rc = parse_and_group(o, e, file, data, len, pg, &t, &offsets, &index, &num_groups, &max_n);
  if (rc) return rc;
  const int64_t n = t.num_rows;
  const size_t elem = o->dtype == PKPO_FLOAT32 ? 4 : 8;
  void* out = malloc((size_t)n * elem + 8);
  float* r32 = o->dtype == PKPO_FLOAT32 ? (float*)malloc((size_t)n * sizeof(float) + 4) : NULL;
  uint32_t* flags = (uint32_t*)malloc(((size_t)t.num_groups + 1) * sizeof *flags);
  if (!out || !flags || (o->dtype == PKPO_FLOAT32 && !r32)) {
    cli_msg("out of memory (%lld rows)", (long long)n);
    rc = EXIT_DATA;
    goto done;
  }
  if (r32)
    for (int64_t i = 0; i < n; ++i) r32[i] = (float)t.reward[i];
  const void* rewards = r32 ? (const void*)r32 : (const void*)t.reward;
  const batch_names names = {file, &t, 0};

  if (n > 0) {
    pkpo_desc d = PKPO_DESC_INIT;
    d.estimator = o->estimator;
    d.dtype = o->dtype;
    d.num_groups = num_groups;
    d.num_samples = n;
    d.offsets = offsets;
    d.index = index;
    d.max_group_size = max_n;
    set_objective(o, &d);
    d.nonfinite = o->nan;
    d.k_policy = o->k_policy;
    progress_update(pg, "computing", 0.0);
    const pkpo_status st = engine_transform(e, &d, rewards, out, flags);
    if (st != PKPO_SUCCESS) {
      rc = report_failure(st, e, o, &names, rewards, o->dtype, 0, n, o->k_max);
      goto done;
    }
    progress_update(pg, "computing", 1.0);
    flag_counts fc;
    flags_init(&fc);
    flags_add(&fc, flags, 0, num_groups);
    flags_warn(&fc, o, &names, num_groups, o->k_max);
  }
  rc = write_csv_transform(o, &t, out, pg);

done:
  free(offsets);
  free(index);
  free(out);
  free(r32);
  free(flags);
  csv_free(&t);
  return rc;
}

int transform_npy(const options* o, const engine* e, const char* file, unsigned char* buf,
                         size_t len, progress* pg) {
  npy_info info;
  void* data;
  int64_t n;
  pkpo_dtype dt;
  int rc = npy_open(o, file, buf, len, &info, &data, &n, &dt);
  if (rc) return rc;
  if (n == 0) n = 1; /* shape (0, 0): no groups */
  const int64_t num_groups = info.count / n;
  const batch_names names = {file, NULL, n};
  const size_t elem = (size_t)info.elem_size;

  /* In place (out == rewards, allowed by pkpo_transform), chunk by chunk: the array is the only
   * large allocation. On CUDA one call moves the whole array. */
  const int64_t chunk_groups =
      e->cuda ? (num_groups ? num_groups : 1) : (CHUNK_SAMPLES / n > 0 ? CHUNK_SAMPLES / n : 1);
  uint32_t* flags = (uint32_t*)malloc((size_t)(chunk_groups < num_groups ? chunk_groups : num_groups) *
                                          sizeof *flags + 4);
  if (!flags) {
    cli_msg("out of memory");
    return EXIT_DATA;
  }
  flag_counts fc;
  flags_init(&fc);
  progress_update(pg, "computing", 0.0);
  for (int64_t g0 = 0; g0 < num_groups; g0 += chunk_groups) {
    const int64_t gc = num_groups - g0 < chunk_groups ? num_groups - g0 : chunk_groups;
    pkpo_desc d = PKPO_DESC_INIT;
    d.estimator = o->estimator;
    d.dtype = dt;
    d.num_groups = gc;
    d.group_size = n;
    d.num_samples = gc * n;
    set_objective(o, &d);
    d.nonfinite = o->nan;
    d.k_policy = o->k_policy;
    unsigned char* p = (unsigned char*)data + (size_t)(g0 * n) * elem;
    const pkpo_status st = engine_transform(e, &d, p, p, flags);
    if (st != PKPO_SUCCESS) {
      free(flags);
      return report_failure(st, e, o, &names, data, dt, g0 * n, (g0 + gc) * n, o->k_max);
    }
    flags_add(&fc, flags, g0, gc);
    progress_update(pg, "computing", (double)(g0 + gc) / (double)num_groups);
  }
  free(flags);
  flags_warn(&fc, o, &names, num_groups, o->k_max);

  sink s;
  if ((rc = sink_open(&s, o->output))) return rc;
  if (npy_write_header(s.f, info.elem_size, info.ndim, info.shape) != 0) {
    sink_abort(&s);
    cli_msg("error writing the output: %s", strerror(errno));
    return EXIT_DATA;
  }
  const size_t total = (size_t)info.count * elem, step = (size_t)16 << 20;
  for (size_t off = 0; off < total; off += step) {
    const size_t m = total - off < step ? total - off : step;
    if (fwrite((unsigned char*)data + off, 1, m, s.f) != m) break; /* reported by commit */
    progress_update(pg, "writing", (double)(off + m) / (double)total);
  }
  return sink_commit(&s);
}
