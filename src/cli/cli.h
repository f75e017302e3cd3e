/*
 * cli.h -- what the files of the `pkpo` command-line tool share. Not installed.
 *
 *   pkpo transform -k K [-e ESTIMATOR] [options] [INPUT] [-o OUTPUT]
 *   pkpo transform (-k K1,K2,... --k-weights W1,W2,... | --mixture harmonic:K) [options] ...
 *   pkpo estimate  (-k K1,K2,... | --all-k) [--statistic min] [options] [INPUT] [-o OUTPUT]
 *
 * Where things are:
 *   main.c       the entry point: command dispatch, defaults, signals, the run of one command
 *   help.c       --help texts and --version
 *   options.c    the command line -> struct options
 *   messages.c   errors and warnings on stderr (one line each)
 *   progress.c   the progress bar
 *   input.c      reading INPUT, parsing + grouping a CSV, checking an NPY header
 *   output.c     output files: a temporary file renamed into place, removed on a signal
 *   device.c     CPU or CUDA handles, and running one library call on the chosen one
 *   report.c     failed calls and flagged groups explained in the user's terms
 *   transform.c  `pkpo transform` (CSV and NPY)
 *   estimate.c   `pkpo estimate` (CSV and NPY)
 *   csv.c, npy.c the readers and writers (cli_io.h; also built into the fuzz targets)
 *
 * The tool uses only the public API (pkpo.h). Exit status: 0 success; 1 the data were rejected by
 * a policy (--nan error, --k-policy strict) or computing/writing failed; 2 the command line or the
 * input is wrong (unknown option, malformed CSV/NPY, unreadable file). Output files are written to
 * a temporary file beside the target and renamed at the end, so no partial output is ever left.
 */
#ifndef PKPO_CLI_H
#define PKPO_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli_io.h"
#include "pkpo.h"

enum { EXIT_OK = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

/* Samples per library call on the uniform (NPY) path: small enough for a smooth progress bar and a
 * small flags buffer, large enough that the per-call cost (thread start-up) is negligible. */
#define CHUNK_SAMPLES ((int64_t)1 << 22)
/* rho values per pkpo_rho_curve call in `estimate` (bounds its output buffer: 32 MiB of doubles). */
#define CURVE_CHUNK_VALUES ((int64_t)1 << 22)

#if defined(__GNUC__)
#define CLI_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define CLI_PRINTF(fmt_index, first_arg)
#endif

/* ---- messages (messages.c) -------------------------------------------------------------------- */

extern const char* g_cmd; /* "pkpo" or "pkpo transform" ... for messages */
extern int g_quiet;       /* -q: no warnings */

/* "pkpo: <message>" on stderr. */
void cli_msg(const char* fmt, ...) CLI_PRINTF(1, 2);
/* "pkpo: warning: <message>" on stderr, unless -q. */
void cli_warn(const char* fmt, ...) CLI_PRINTF(1, 2);
/* A usage error: one line, then a pointer to the help. Returns EXIT_USAGE. */
int cli_usage_error(const char* fmt, ...) CLI_PRINTF(1, 2);
/* A short, printable rendering of a group name for messages. */
void printable(char* dst, size_t cap, const char* s, size_t len);

/* ---- help and version (help.c) ---------------------------------------------------------------- */

extern const char k_main_help[];
extern const char k_transform_help[];
extern const char k_estimate_help[];
int print_version(void);

/* ---- options (options.c) ---------------------------------------------------------------------- */

typedef enum device_choice { DEVICE_AUTO, DEVICE_CPU, DEVICE_CUDA } device_choice;
typedef enum command { CMD_TRANSFORM, CMD_ESTIMATE } command;

typedef struct options {
  command cmd;
  int64_t k;     /* transform: one k (k_weights == NULL) */
  int64_t* ks;   /* estimate: the ks; transform: a mixture's ks */
  int64_t num_ks;
  double* k_weights; /* transform: a mixture's weights (num_ks of them), or NULL: one k */
  int64_t k_max;     /* transform: k, or the mixture's largest k (what --k-policy compares) */
  pkpo_statistic statistic;
  int all_k;
  pkpo_estimator estimator;
  pkpo_dtype dtype;
  int precision_given;
  device_choice device;
  pkpo_nonfinite_policy nan;
  pkpo_k_policy k_policy;
  const char* input;  /* NULL or "-" = stdin */
  const char* output; /* NULL or "-" = stdout */
  int64_t group_size; /* 0 = not given */
  const char* group_col;
  const char* reward_col;
  int threads;
  int progress; /* -1 auto, 0 never, 1 always */
} options;

/* Parses the arguments after the command word into *o (which holds the defaults). Returns an exit
 * status (a message was printed) or 0; *want_help is set by -h/--help. */
int parse_options(int argc, char** argv, options* o, int* want_help);
/* Frees what parse_options allocated. */
void free_options(options* o);
/* The objective of `transform` (k, or the mixture's terms; the statistic) set in a desc. */
void set_objective(const options* o, pkpo_desc* d);

/* ---- progress bar (progress.c) ---------------------------------------------------------------- */

typedef struct progress {
  int mode;   /* -1 auto (terminal and slow), 0 off, 1 always */
  int tty;
  double t0, last;
  int drawn;
  const char* stage;
} progress;

void progress_init(progress* p, int mode);
/* Shows `stage` at fraction `frac` (0..1). */
void progress_update(progress* p, const char* stage, double frac);
void progress_end(progress* p);
/* A csv_progress_fn whose ctx is a progress*. */
void parse_progress(void* ctx, double fraction);

/* ---- input (input.c) -------------------------------------------------------------------------- */

/* "<stdin>" for NULL or "-", else the path. */
const char* display_name(const char* path);
/* Reads the whole input into a malloc'd buffer (one spare byte at the end). */
int read_input(const char* path, unsigned char** out, size_t* out_len, progress* pg);

struct engine;
/* Parses a CSV and groups its rows by the group column (pkpo_group_by_id): on success the caller
 * owns t (csv_free), *offsets (G+1 entries) and *index (row of each grouped position). Returns an
 * exit status and prints the reason on failure, having freed everything. */
int parse_and_group(const options* o, const struct engine* e, const char* file, const char* data,
                    size_t len, progress* pg, csv_table* t, int64_t** offsets, int64_t** index,
                    int64_t* num_groups, int64_t* max_n);
/* Validates the NPY header against the options; fills the data pointer (aligned, native order). */
int npy_open(const options* o, const char* file, unsigned char* buf, size_t len, npy_info* info,
             void** data, int64_t* group_size, pkpo_dtype* dt);

/* ---- output (output.c) ------------------------------------------------------------------------ */

typedef struct sink {
  FILE* f;
  const char* path; /* the file renamed into place at commit; NULL for stdout or a direct write */
  const char* shown; /* the name for messages */
} sink;

/* Removes the temporary output file, then re-raises the signal (install for INT, TERM, HUP). */
void on_signal(int sig);
/* Opens the output ("-" or NULL = stdout). */
int sink_open(sink* s, const char* path);
/* Drops what was written (the temporary file is removed). */
void sink_abort(sink* s);
/* Flushes and closes; renames the temporary file into place. */
int sink_commit(sink* s);

/* ---- execution on the chosen backend (device.c) ----------------------------------------------- */

typedef struct engine {
  pkpo_handle cpu;  /* always: grouping, and the CPU backend */
  pkpo_handle cuda; /* the CUDA backend, when chosen */
} engine;

int engine_open(engine* e, const options* o);
void engine_close(engine* e);
/* The handle whose last_error explains a failure of the last call. */
pkpo_handle engine_handle(const engine* e);
/* Why a CUDA pkpo_create failed with status st: the library's reason (pkpo_last_error(NULL): no
 * device, a driver too old, a device this build has no code for), else the status text. */
const char* cuda_create_failure(pkpo_status st);
/* pkpo_transform / pkpo_rho_curve on host arrays, on the chosen backend. */
pkpo_status engine_transform(const engine* e, const pkpo_desc* d, const void* rewards, void* out,
                             uint32_t* flags);
pkpo_status engine_rho_curve(const engine* e, const pkpo_desc* d, const void* rewards,
                             const int64_t* ks, int64_t num_ks, void* rho, uint32_t* flags);

/* ---- failures and warnings in the user's terms (report.c) ------------------------------------- */

/* How a batch's groups and samples are named: CSV (names and line numbers) or uniform NPY. */
typedef struct batch_names {
  const char* file;     /* display name of the input */
  const csv_table* csv; /* CSV, or NULL for NPY */
  int64_t group_size;   /* NPY: uniform group size */
} batch_names;

double reward_at(const void* r, pkpo_dtype dt, int64_t i);
/* Explains a failed pkpo call: which group (and CSV line) broke which policy. Returns EXIT_DATA. */
int report_failure(pkpo_status st, const engine* e, const options* o, const batch_names* b,
                   const void* rewards, pkpo_dtype dt, int64_t s0, int64_t s1, int64_t k_max);

/* Warnings about groups the estimator treated specially, from the per-group flags. */
typedef struct flag_counts {
  int64_t count[6];
  int64_t first[6];
} flag_counts;

void flags_init(flag_counts* c);
void flags_add(flag_counts* c, const uint32_t* flags, int64_t g0, int64_t count);
void flags_warn(const flag_counts* c, const options* o, const batch_names* b, int64_t num_groups,
                int64_t k);

/* ---- the commands (transform.c, estimate.c) --------------------------------------------------- */

int transform_csv(const options* o, const engine* e, const char* file, const char* data,
                  size_t len, progress* pg);
int transform_npy(const options* o, const engine* e, const char* file, unsigned char* buf,
                  size_t len, progress* pg);
int estimate_csv(const options* o, const engine* e, const char* file, const char* data, size_t len,
                 progress* pg);
int estimate_npy(const options* o, const engine* e, const char* file, unsigned char* buf,
                 size_t len, progress* pg);

#endif /* PKPO_CLI_H */
