/*
 * harness.h -- what the end-to-end test suites of the `pkpo` tool (cli_test.c, cli_objectives.c)
 * share: running the tool as a child process, scratch files, output parsing, fixed-seed random data
 * and a brute-force oracle written from the definitions of docs/math.md §2 (never from pkpo itself).
 */
#ifndef PKPO_CLI_TEST_HARNESS_H
#define PKPO_CLI_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern const char* g_bin;      /* the pkpo binary under test */
extern const char* g_examples; /* the repository's examples/ */
extern char g_dir[256];        /* the scratch directory: the tool's working directory */
extern int g_failures, g_checks;
extern uint64_t g_rng;         /* seeded per suite by main */

#define CHECK(cond, ...)                                   \
  do {                                                     \
    ++g_checks;                                            \
    if (!(cond)) {                                         \
      ++g_failures;                                        \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
    }                                                      \
  } while (0)

typedef struct result {
  int rc;
  char* out;
  size_t out_len;
  char* err;
} result;

/* A random batch with awkward group names, shuffled rows, ties and negative rewards, against the
 * brute-force oracle for every estimator and several k; and `estimate` against U_k. */
typedef struct batch {
  int num_groups;
  int size[40];
  double g[40][9];
  char name[40][32];
  int rows;
  int row_group[400], row_pos[400];
} batch;

/* ---- running the tool ---- */

/* A scratch path: g_dir/name (eight rotating buffers). */
char* path_in(const char* name);
/* A whole file, NUL-terminated, malloc'd (NULL if it cannot be read). */
char* read_file(const char* path, size_t* len);
void write_file(const char* path, const void* data, size_t len);
void write_text(const char* path, const char* text);
int file_exists(const char* path);
/* Number of "*.tmp.*" files in the scratch directory (temporary outputs left behind). */
int tmp_leftovers(void);
void result_free(result* r);
/* Runs the tool with the NULL-terminated arguments, stdin from `in` (NULL = /dev/null), in g_dir. */
result run(const char* in, ...);
/* Exit status rc, one-line message holding needle1 (and needle2), nothing on stdout, no output
 * file (out.csv) or temporary left behind. Frees r. */
void expect_error(result* r, int rc, const char* needle1, const char* needle2, const char* what);
void remove_dir(const char* dir);

/* ---- brute-force oracle (docs/math.md §2, by definition; n <= 20) ---- */

enum { EST_S, EST_SLOO, EST_SMO, EST_L2O };
extern const char* const k_est_names[4]; /* -e names in EST_* order */

/* U_k(g without `skip`) = mean over k-subsets of max; skip = -1 for none. */
double oracle_U(const double* g, int n, int k, int skip);
/* s_i = (1/C(n,k)) sum over k-subsets containing i of their max. */
double oracle_s(const double* g, int n, int k, int i);
/* The transform of one group of finite rewards, with k already clamped to n. */
void oracle_transform(int est, const double* g_in, int n, int k, double* out);

/* ---- output parsing ---- */

/* Splits text into lines (LF; a CR before it is dropped). Returns the count; lines[] point into a
 * modified copy of the text owned by *store. */
int split_lines(const char* text, char*** lines, char** store);
/* The number after the last comma of a line. */
double last_field(const char* line);
/* The last field of every record after the header, in row order (quoted names may hold newlines). */
int output_values(const char* out, double* vals, int max);

/* ---- NPY ---- */

/* A version 1.0 .npy of `descr` ('<f8', '<f4', ...) and `shape` ("(3, 4)"); swap_to_big writes
 * the payload byte-swapped (for a '>' descr). */
void write_npy(const char* path, const char* descr, const char* shape, const void* data,
               size_t bytes, int swap_to_big);
/* The data of an .npy written by pkpo: checks its header says descr/shape, returns the payload. */
const unsigned char* npy_payload(const char* buf, size_t len, const char* descr, const char* shape,
                                 size_t* bytes);

/* ---- random data ---- */

uint64_t rnd(void);
double rnd_unit(void);
/* 40 groups of 1-9 samples (binary, ties with negatives, offset continuous), awkward names,
 * shuffled rows; with_nan puts a NaN in some groups. */
void make_batch(batch* b, int with_nan);
void csv_field(FILE* f, const char* s);
/* The batch as CSV "row,reward,group" (reward before group on purpose). */
void write_batch_csv(const batch* b, const char* path);

/* ---- suites of cli_objectives.c ---- */

void suite_mixture(void);
void suite_statistic(void);
void suite_objective_errors(void);

#endif /* PKPO_CLI_TEST_HARNESS_H */
