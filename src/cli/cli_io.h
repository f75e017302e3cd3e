/*
 * cli_io.h -- the readers and writers of the pkpo command-line tool (CSV, NPY). Not installed.
 *
 * Kept apart from main.c so that the fuzz targets (fuzz/fuzz_csv.c, fuzz/fuzz_npy.c) and the tests
 * can drive the parsers on arbitrary bytes without a process. Nothing here prints or exits: every
 * failure is returned as a message plus (for CSV) the 1-based line it refers to.
 */
#ifndef PKPO_CLI_IO_H
#define PKPO_CLI_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLI_MSG_CAPACITY 256

/* A parse failure: what went wrong, and where (CSV: physical line, 1-based; 0 = whole input). */
typedef struct cli_error {
  int64_t line;
  char msg[CLI_MSG_CAPACITY];
} cli_error;

/* ---- CSV ------------------------------------------------------------------------------------- */

/* A parsed CSV batch. The table does not own `data`: row spans point into the caller's buffer,
 * which must outlive the table. Rows keep the input order; blank lines are skipped. */
typedef struct csv_table {
  const char* data;      /* the whole input (not owned) */
  size_t header_begin;   /* the header record is data[header_begin, header_end), without its */
  size_t header_end;     /* line ending (a leading UTF-8 byte-order mark is kept in it) */
  size_t num_cols;       /* fields in the header */
  size_t group_col;      /* 0-based positions of the group and reward columns */
  size_t reward_col;
  int crlf;              /* 1 if the header ended with CRLF: output lines end the same way */

  int64_t num_rows;
  size_t* row_begin;     /* num_rows raw record spans [row_begin, row_end) in data, without */
  size_t* row_end;       /* the line ending: written back byte for byte */
  int64_t* row_line;     /* num_rows physical line numbers where each record starts */
  double* reward;        /* num_rows rewards (NaN / +-Inf allowed: "nan", "inf", "-inf", ...) */
  int64_t* group_id;     /* num_rows dense ids: group g is the g-th distinct name met */

  int64_t num_groups;
  char* names;           /* the unescaped group names, back to back */
  size_t* name_begin;    /* num_groups+1 offsets into names */
} csv_table;

/* Parses RFC 4180 CSV (quoted fields with commas, doubled quotes and line breaks; LF or CRLF line
 * endings) with a header row holding `group_name` and `reward_name` columns anywhere (other columns
 * are carried along untouched). Every record must have as many fields as the header. Returns 0 on
 * success; on failure returns -1, fills *err (with the line) and leaves *t empty (csv_free-able).
 * `progress` (may be NULL) is called now and then with the fraction of the input parsed. */
typedef void (*csv_progress_fn)(void* ctx, double fraction);
int csv_parse(const char* data, size_t len, const char* group_name, const char* reward_name,
              csv_table* t, cli_error* err, csv_progress_fn progress, void* progress_ctx);
void csv_free(csv_table* t);

/* The name of group g (not NUL-terminated; *len receives its length). */
const char* csv_group_name(const csv_table* t, int64_t g, size_t* len);

/* Writes `s` (len bytes) as one CSV field: quoted (with doubled quotes) only when it holds a
 * comma, a quote, CR or LF, or leading/trailing spaces. Returns 0, or -1 on a write error. */
int csv_write_field(FILE* f, const char* s, size_t len);

/* Formats a double so that it reads back bitwise-identically (%.17g), or a float (%.9g) when
 * `is_float32`, spelling non-finite values nan, inf, -inf. Returns the length (< 32). */
int cli_format_number(char buf[32], double v, int is_float32);

/* Parses a reward field (already unescaped): a decimal or hex float, or nan / inf / infinity with
 * an optional sign, in any case, with optional surrounding spaces or tabs. 0 on success, -1 if the
 * field is empty or not a number. */
int cli_parse_double(const char* s, size_t len, double* out);

/* ---- NPY ------------------------------------------------------------------------------------- */

enum { NPY_FLOAT32 = 4, NPY_FLOAT64 = 8 }; /* values are the element sizes */

typedef struct npy_info {
  int elem_size;        /* NPY_FLOAT32 or NPY_FLOAT64 */
  int big_endian;       /* the file's byte order ('>'): the caller must swap (npy_to_native) */
  int ndim;             /* 1 or 2 (0-d arrays are rejected) */
  int64_t shape[2];
  int64_t count;        /* elements: shape[0] (* shape[1]) */
  size_t data_offset;   /* bytes before the array data */
} npy_info;

/* Parses an NPY (format 1.0, 2.0 or 3.0) header of a C-ordered (or 1-D) float32/float64 array
 * from the first `len` bytes of a file of `file_len` bytes, and checks that the data fills the
 * rest of the file exactly. Returns 0, or -1 with *err filled (line 0). */
int npy_parse_header(const unsigned char* buf, size_t len, size_t file_len, npy_info* info,
                     cli_error* err);

/* Returns 1 if buf (len bytes) starts with the NPY magic string "\x93NUMPY". */
int npy_is_npy(const unsigned char* buf, size_t len);

/* Byte-swaps `count` elements of `elem_size` bytes in place (for big-endian files). */
void npy_swap_bytes(void* data, int64_t count, int elem_size);

/* Writes an NPY 1.0 header for a little-endian C-ordered array ('<f4' or '<f8') of the given shape
 * (ndim 1 or 2), padded so that the data starts on a 64-byte boundary. Returns 0 or -1. */
int npy_write_header(FILE* f, int elem_size, int ndim, const int64_t* shape);

#ifdef __cplusplus
}
#endif

#endif /* PKPO_CLI_IO_H */
