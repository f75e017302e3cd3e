/*
 * input.c -- reading INPUT (a file or stdin) whole, parsing and grouping a CSV, checking an NPY
 * header.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

const char* display_name(const char* path) {
  return (!path || strcmp(path, "-") == 0) ? "<stdin>" : path;
}

/* Reads the whole input into a malloc'd buffer (one spare byte at the end). Regular files are read
 * into a buffer of exactly their size, so an N-byte array costs N bytes. */
int read_input(const char* path, unsigned char** out, size_t* out_len, progress* pg) {
  const int use_stdin = !path || strcmp(path, "-") == 0;
  FILE* f = use_stdin ? stdin : fopen(path, "rb");
  if (use_stdin && isatty(STDIN_FILENO))
    fprintf(stderr, "pkpo: reading the batch from the terminal (end with Ctrl-D; see --help)\n");
  if (!f) {
    cli_msg("cannot open '%s': %s", path, strerror(errno));
    return EXIT_USAGE;
  }
  struct stat st;
  size_t cap = 1 << 16, len = 0, expect = 0;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size >= (uint64_t)SIZE_MAX) {
      cli_msg("'%s' is too large", display_name(path));
      if (!use_stdin) fclose(f);
      return EXIT_USAGE;
    }
    expect = (size_t)st.st_size;
    cap = expect + 1;
  } else if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    cli_msg("cannot read '%s': it is a directory", display_name(path));
    if (!use_stdin) fclose(f);
    return EXIT_USAGE;
  }
  unsigned char* buf = (unsigned char*)malloc(cap);
  if (!buf) {
    cli_msg("out of memory reading '%s' (%zu bytes)", display_name(path), cap);
    if (!use_stdin) fclose(f);
    return EXIT_DATA;
  }
  for (;;) {
    if (len + 1 >= cap) {
      const size_t ncap = cap * 2;
      unsigned char* nb = ncap > cap ? (unsigned char*)realloc(buf, ncap) : NULL;
      if (!nb) {
        free(buf);
        cli_msg("out of memory reading '%s'", display_name(path));
        if (!use_stdin) fclose(f);
        return EXIT_DATA;
      }
      buf = nb;
      cap = ncap;
    }
    size_t want = cap - 1 - len;
    if (want > ((size_t)64 << 20)) want = (size_t)64 << 20;
    const size_t got = fread(buf + len, 1, want, f);
    len += got;
    if (expect) progress_update(pg, "reading", (double)len / (double)expect);
    if (got < want) break;
  }
  const int bad = ferror(f);
  const int saved = errno;
  if (!use_stdin) fclose(f);
  if (bad) {
    free(buf);
    cli_msg("cannot read '%s': %s", display_name(path), strerror(saved));
    return EXIT_USAGE;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return EXIT_OK;
}

/* Parses a CSV and groups its rows by the group column (pkpo_group_by_id); see cli.h. */
int parse_and_group(const options* o, const engine* e, const char* file, const char* data,
                           size_t len, progress* pg, csv_table* t, int64_t** offsets,
                           int64_t** index, int64_t* num_groups, int64_t* max_n) {
  cli_error err;
  progress_update(pg, "parsing", 0.0);
  if (csv_parse(data, len, o->group_col, o->reward_col, t, &err, parse_progress, pg) != 0) {
    if (err.line > 0)
      cli_msg("%s:%lld: %s", file, (long long)err.line, err.msg);
    else
      cli_msg("%s: %s", file, err.msg);
    return EXIT_USAGE;
  }
  const int64_t n = t->num_rows;
  *offsets = (int64_t*)malloc(((size_t)n + 1) * sizeof **offsets);
  *index = (int64_t*)malloc(((size_t)n + 1) * sizeof **index);
  *num_groups = 0;
  *max_n = 0;
  int rc = EXIT_OK;
  if (!*offsets || !*index) {
    cli_msg("out of memory (%lld rows)", (long long)n);
    rc = EXIT_DATA;
  } else {
    (*offsets)[0] = 0;
    if (n > 0) {
      const pkpo_status st =
          pkpo_group_by_id(e->cpu, t->group_id, n, *offsets, *index, num_groups, max_n, NULL);
      if (st != PKPO_SUCCESS || *num_groups != t->num_groups) {
        cli_msg("%s: grouping failed: %s %s", file, pkpo_status_string(st), pkpo_last_error(e->cpu));
        rc = EXIT_DATA;
      }
    }
  }
  if (rc) {
    free(*offsets);
    free(*index);
    *offsets = *index = NULL;
    csv_free(t);
  }
  return rc;
}

/* Validates the NPY header against the options; fills the data pointer (aligned, native order). */
int npy_open(const options* o, const char* file, unsigned char* buf, size_t len,
                    npy_info* info, void** data, int64_t* group_size, pkpo_dtype* dt) {
  cli_error err;
  if (npy_parse_header(buf, len, len, info, &err) != 0) {
    cli_msg("%s: %s", file, err.msg);
    return EXIT_USAGE;
  }
  *dt = info->elem_size == NPY_FLOAT32 ? PKPO_FLOAT32 : PKPO_FLOAT64;
  if (o->precision_given && o->dtype != *dt)
    return cli_usage_error("--precision %s does not apply to '%s', a %s array (the output keeps the "
                           "input's dtype)", o->dtype == PKPO_FLOAT32 ? "f32" : "f64", file,
                           *dt == PKPO_FLOAT32 ? "float32" : "float64");
  if (info->ndim == 2) {
    if (o->group_size && o->group_size != info->shape[1])
      return cli_usage_error("--group-size %lld contradicts the shape (%lld, %lld) of '%s' (a 2-D "
                             "array holds one group per row)", (long long)o->group_size,
                             (long long)info->shape[0], (long long)info->shape[1], file);
    *group_size = info->shape[1];
    if (*group_size == 0 && info->shape[0] > 0) {
      cli_msg("%s: the array has shape (%lld, 0): groups of no samples", file,
              (long long)info->shape[0]);
      return EXIT_USAGE;
    }
  } else {
    if (!o->group_size)
      return cli_usage_error("'%s' is a 1-D array of %lld rewards: give --group-size N (samples per "
                             "group)", file, (long long)info->count);
    if (info->count % o->group_size != 0)
      return cli_usage_error("'%s' holds %lld rewards, not a multiple of --group-size %lld", file,
                             (long long)info->count, (long long)o->group_size);
    *group_size = o->group_size;
  }
  unsigned char* p = buf + info->data_offset;
  if (info->data_offset % (size_t)info->elem_size != 0) { /* align (old writers pad to 16 only) */
    memmove(buf, p, (size_t)info->count * (size_t)info->elem_size);
    p = buf;
  }
  if (info->big_endian) npy_swap_bytes(p, info->count, info->elem_size);
  *data = p;
  return EXIT_OK;
}
