/*
 * main.c -- the `pkpo` command-line tool.
 *
 *   pkpo transform -k K [-e ESTIMATOR] [options] [INPUT] [-o OUTPUT]
 *   pkpo estimate  (-k K1,K2,... | --all-k) [options] [INPUT] [-o OUTPUT]
 *
 * Uses only the public API (pkpo.h). Exit status: 0 success; 1 the data were rejected by a policy
 * (--nan error, --k-policy strict) or computing/writing failed; 2 the command line or the input is
 * wrong (unknown option, malformed CSV/NPY, unreadable file). Output files are written to a
 * temporary file beside the target and renamed at the end, so no partial output is ever left.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_io.h"
#include "pkpo.h"

#ifdef PKPO_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

enum { EXIT_OK = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

/* Samples per library call on the uniform (NPY) path: small enough for a smooth progress bar and a
 * small flags buffer, large enough that the per-call cost (thread start-up) is negligible. */
#define CHUNK_SAMPLES ((int64_t)1 << 22)
/* rho values per pkpo_rho_curve call in `estimate` (bounds its output buffer: 32 MiB of doubles). */
#define CURVE_CHUNK_VALUES ((int64_t)1 << 22)

/* ---- messages --------------------------------------------------------------------------------- */

static const char* g_cmd = "pkpo"; /* "pkpo" or "pkpo transform" ... for messages */
static int g_quiet = 0;

static void msg(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void msg(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "pkpo: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void warn(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void warn(const char* fmt, ...) {
  if (g_quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "pkpo: warning: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Usage errors: one line, then a pointer to the help. */
static int usage_error(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static int usage_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", g_cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see '%s --help')\n", g_cmd);
  va_end(ap);
  return EXIT_USAGE;
}

/* A short, printable rendering of a group name for messages. */
static void printable(char* dst, size_t cap, const char* s, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len && o + 4 < cap; ++i) {
    const unsigned char c = (unsigned char)s[i];
    dst[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (o + 4 >= cap && len > o) {
    dst[o++] = '.';
    dst[o++] = '.';
    dst[o++] = '.';
  }
  dst[o] = '\0';
}

/* ---- help ------------------------------------------------------------------------------------- */

static const char k_main_help[] =
    "pkpo -- Pass@k Policy Optimization reward transforms (Walder & Karkhanis, arXiv 2505.15201)\n"
    "\n"
    "Usage:\n"
    "  pkpo transform -k K [-e ESTIMATOR] [options] [INPUT] [-o OUTPUT]\n"
    "  pkpo estimate (-k K1,K2,... | --all-k) [options] [INPUT] [-o OUTPUT]\n"
    "  pkpo --help | --version\n"
    "\n"
    "Commands:\n"
    "  transform   turn the rewards of groups of samples into pass@k-optimising rewards\n"
    "  estimate    unbiased pass@k (maxg@k) of every group, for one or many k\n"
    "\n"
    "INPUT is a CSV file with a header holding the columns 'group' and 'reward' (other columns are\n"
    "kept), or a float32/float64 .npy array of rewards. '-' or no INPUT reads stdin.\n"
    "Run 'pkpo COMMAND --help' for the options of a command.\n"
    "\n"
    "Exit status: 0 success; 1 data rejected by --nan error or --k-policy strict, or a write\n"
    "failure; 2 bad command line or malformed/unreadable input.\n";

static const char k_transform_help[] =
    "Usage: pkpo transform -k K [-e ESTIMATOR] [options] [INPUT] [-o OUTPUT]\n"
    "\n"
    "Transforms the reward of every sample so that the policy gradient estimates the gradient of\n"
    "pass@k (binary rewards) or maxg@k (continuous rewards) of its group.\n"
    "\n"
    "CSV input: a header row with columns 'group' (any string; rows of a group need not be\n"
    "adjacent) and 'reward' (a number; nan, inf, -inf accepted). The output is every input row in\n"
    "the input order, byte for byte, with a new last column 'transformed' (17 significant digits,\n"
    "9 with --precision f32, so values read back exactly).\n"
    "NPY input: a 1-D array with --group-size N (consecutive groups of N), or a 2-D array (one\n"
    "group per row). The output is an .npy of the same dtype and shape.\n"
    "\n"
    "Options:\n"
    "  -k, --k K               samples per pass@k attempt, K >= 1 (required)\n"
    "  -e, --estimator NAME    sloo_minus_one (default; the paper's eq. 33), s (eq. 19),\n"
    "                          sloo (eq. 29), l2o (leave-two-out, zero-mean per group)\n"
    "  -o, --output PATH       output file ('-' = stdout, the default)\n"
    "      --precision P       f64 (default) or f32: the type rewards are read into and written\n"
    "                          from (computation is float64 inside). NPY: the file's dtype\n"
    "      --nan POLICY        non-finite rewards: exclude (default; the sample leaves its group\n"
    "                          and gets 0), propagate (the group's outputs become nan), error\n"
    "      --k-policy P        groups with fewer than K samples: clamp (default; use k = n for\n"
    "                          them, with a warning) or strict (an error)\n"
    "      --device D          auto (default: CUDA when built with it and a GPU is present),\n"
    "                          cpu, or cuda\n"
    "      --group-size N      NPY input: samples per group (a 1-D array holds consecutive groups)\n"
    "      --group-column NAME CSV column holding the group (default 'group')\n"
    "      --reward-column NAME\n"
    "                          CSV column holding the reward (default 'reward')\n"
    "  -j, --threads N         CPU worker threads (default: all cores); results do not depend on it\n"
    "      --progress          always draw a progress bar on stderr\n"
    "      --no-progress       never draw it (default: only for long runs on a terminal)\n"
    "  -q, --quiet             no warnings (clamped k, excluded non-finite rewards, ...)\n"
    "  -h, --help              this help\n"
    "\n"
    "Example:\n"
    "  pkpo transform -k 4 examples/binary.csv -o binary.pkpo.csv\n";

static const char k_estimate_help[] =
    "Usage: pkpo estimate (-k K1,K2,... | --all-k) [options] [INPUT] [-o OUTPUT]\n"
    "\n"
    "Writes the unbiased pass@k (binary rewards) or maxg@k (continuous rewards) estimate of every\n"
    "group as CSV 'group,n,k,rho': one row per group and k, groups in order of first appearance.\n"
    "n is the number of samples the estimate uses (finite rewards under --nan exclude).\n"
    "\n"
    "Options:\n"
    "  -k, --k LIST            comma-separated values of k, each >= 1 (e.g. 1,2,4,8); a k above a\n"
    "                          group's n follows --k-policy (clamp: the estimate at k = n)\n"
    "      --all-k             every k from 1 to n of each group (a pass@k curve)\n"
    "  -o, --output PATH       output file ('-' = stdout, the default)\n"
    "      --precision P       f64 (default) or f32 (NPY: the file's dtype)\n"
    "      --nan POLICY        exclude (default), propagate or error\n"
    "      --k-policy P        clamp (default) or strict\n"
    "      --device D          auto (default), cpu or cuda\n"
    "      --group-size N      NPY input: samples per group; groups are named 0, 1, ...\n"
    "      --group-column NAME, --reward-column NAME\n"
    "                          CSV column names (default 'group' and 'reward')\n"
    "  -j, --threads N         CPU worker threads (default: all cores)\n"
    "      --progress, --no-progress, -q/--quiet, -h/--help  as for transform\n"
    "\n"
    "Example:\n"
    "  pkpo estimate --all-k examples/binary.csv\n";

/* ---- options ---------------------------------------------------------------------------------- */

typedef enum device_choice { DEVICE_AUTO, DEVICE_CPU, DEVICE_CUDA } device_choice;
typedef enum command { CMD_TRANSFORM, CMD_ESTIMATE } command;

typedef struct options {
  command cmd;
  int64_t k;     /* transform */
  int64_t* ks;   /* estimate */
  int64_t num_ks;
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

/* Parses a whole decimal integer in [lo, hi]. */
static int parse_int(const char* s, int64_t lo, int64_t hi, int64_t* out) {
  if (!s || !*s) return -1;
  char* end = NULL;
  errno = 0;
  const long long v = strtoll(s, &end, 10);
  if (errno || *end != '\0' || end == s || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_k_value(const char* opt, const char* s, int64_t* k) {
  if (parse_int(s, INT64_MIN, INT64_MAX, k) != 0)
    return usage_error("%s: '%s' is not an integer", opt, s);
  if (*k < 1) return usage_error("%s: k must be >= 1 (got %s)", opt, s);
  return 0;
}

static int parse_k_list(options* o, const char* opt, const char* s) {
  int64_t count = 1;
  for (const char* p = s; *p; ++p) count += *p == ',';
  int64_t* ks = (int64_t*)realloc(o->ks, (size_t)count * sizeof *ks);
  if (!ks) {
    msg("out of memory");
    return EXIT_DATA;
  }
  o->ks = ks;
  o->num_ks = 0;
  const char* p = s;
  for (int64_t i = 0; i < count; ++i) {
    const char* comma = strchr(p, ',');
    const size_t n = comma ? (size_t)(comma - p) : strlen(p);
    char item[32];
    if (n == 0 || n >= sizeof item) return usage_error("%s: bad list of k '%s'", opt, s);
    memcpy(item, p, n);
    item[n] = '\0';
    const int rc = parse_k_value(opt, item, &o->ks[o->num_ks]);
    if (rc) return rc;
    ++o->num_ks;
    p = comma ? comma + 1 : p + n;
  }
  return 0;
}

/* The value of option `name`: attached (--opt=V, -kV) or the next argument. */
static const char* take_value(int argc, char** argv, int* i, const char* attached, const char* name,
                              int* rc) {
  if (attached) return attached;
  if (*i + 1 >= argc) {
    *rc = usage_error("option %s needs a value", name);
    return NULL;
  }
  return argv[++*i];
}

static int parse_choice(const char* what, const char* v, const char* const* names, int count,
                        int* out) {
  for (int i = 0; i < count; ++i)
    if (strcmp(v, names[i]) == 0) {
      *out = i;
      return 0;
    }
  char list[128] = "";
  size_t o = 0;
  for (int i = 0; i < count; ++i)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
  return usage_error("unknown %s '%s' (expected one of: %s)", what, v, list);
}

static int parse_options(int argc, char** argv, options* o, int* want_help) {
  int positional = 0, rc = 0;
  int only_positional = 0;
  for (int i = 0; i < argc; ++i) {
    const char* a = argv[i];
    if (only_positional || a[0] != '-' || a[1] == '\0') {
      if (positional++) return usage_error("more than one input file ('%s' and '%s')", o->input, a);
      o->input = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_positional = 1;
      continue;
    }
    /* split "--name=value" / "-kVALUE" */
    char name[64];
    const char* attached = NULL;
    if (a[1] == '-') {
      const char* eq = strchr(a, '=');
      const size_t n = eq ? (size_t)(eq - a) : strlen(a);
      if (n >= sizeof name) return usage_error("unknown option '%s'", a);
      memcpy(name, a, n);
      name[n] = '\0';
      if (eq) attached = eq + 1;
    } else {
      name[0] = '-';
      name[1] = a[1];
      name[2] = '\0';
      if (a[2]) attached = a + 2;
    }
#define IS(s, l) (strcmp(name, s) == 0 || strcmp(name, l) == 0)
#define FLAG_ONLY()                                                               \
  do {                                                                            \
    if (attached) return usage_error("option %s takes no value", name);           \
  } while (0)
    const char* v;
    if (IS("-h", "--help")) {
      FLAG_ONLY();
      *want_help = 1;
    } else if (IS("-k", "--k")) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (o->cmd == CMD_TRANSFORM) {
        if ((rc = parse_k_value(name, v, &o->k))) return rc;
      } else if ((rc = parse_k_list(o, name, v))) {
        return rc;
      }
    } else if (o->cmd == CMD_ESTIMATE && strcmp(name, "--all-k") == 0) {
      FLAG_ONLY();
      o->all_k = 1;
    } else if (o->cmd == CMD_TRANSFORM && IS("-e", "--estimator")) {
      static const char* const names[] = {"s", "sloo", "sloo_minus_one", "l2o"};
      static const pkpo_estimator values[] = {PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};
      int c;
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("estimator", v, names, 4, &c))) return rc;
      o->estimator = values[c];
    } else if (IS("-o", "--output")) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (!*v) return usage_error("%s: empty path", name);
      o->output = v;
    } else if (strcmp(name, "--precision") == 0) {
      static const char* const names[] = {"f64", "f32"};
      int c;
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("precision", v, names, 2, &c))) return rc;
      o->dtype = c == 0 ? PKPO_FLOAT64 : PKPO_FLOAT32;
      o->precision_given = 1;
    } else if (strcmp(name, "--device") == 0) {
      static const char* const names[] = {"auto", "cpu", "cuda"};
      int c;
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("device", v, names, 3, &c))) return rc;
      o->device = (device_choice)c;
    } else if (strcmp(name, "--nan") == 0) {
      static const char* const names[] = {"exclude", "propagate", "error"};
      static const pkpo_nonfinite_policy values[] = {
          PKPO_NONFINITE_EXCLUDE, PKPO_NONFINITE_PROPAGATE, PKPO_NONFINITE_ERROR};
      int c;
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("--nan policy", v, names, 3, &c))) return rc;
      o->nan = values[c];
    } else if (strcmp(name, "--k-policy") == 0) {
      static const char* const names[] = {"clamp", "strict"};
      int c;
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("--k-policy", v, names, 2, &c))) return rc;
      o->k_policy = c == 0 ? PKPO_K_CLAMP : PKPO_K_STRICT;
    } else if (strcmp(name, "--group-size") == 0) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (parse_int(v, 1, INT64_MAX, &o->group_size) != 0)
        return usage_error("%s: expected an integer >= 1, got '%s'", name, v);
    } else if (strcmp(name, "--group-column") == 0 || strcmp(name, "--reward-column") == 0) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (name[2] == 'g')
        o->group_col = v;
      else
        o->reward_col = v;
    } else if (IS("-j", "--threads")) {
      int64_t t;
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (parse_int(v, 1, 4096, &t) != 0)
        return usage_error("%s: expected a thread count from 1 to 4096, got '%s'", name, v);
      o->threads = (int)t;
    } else if (strcmp(name, "--progress") == 0) {
      FLAG_ONLY();
      o->progress = 1;
    } else if (strcmp(name, "--no-progress") == 0) {
      FLAG_ONLY();
      o->progress = 0;
    } else if (IS("-q", "--quiet")) {
      FLAG_ONLY();
      g_quiet = 1;
    } else {
      return usage_error("unknown option '%s'", a);
    }
#undef IS
#undef FLAG_ONLY
  }
  return 0;
}

/* ---- progress bar ----------------------------------------------------------------------------- */

typedef struct progress {
  int mode;   /* -1 auto (terminal and slow), 0 off, 1 always */
  int tty;
  double t0, last;
  int drawn;
  const char* stage;
} progress;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_init(progress* p, int mode) {
  memset(p, 0, sizeof *p);
  p->tty = isatty(STDERR_FILENO);
  p->mode = mode < 0 ? (p->tty ? -1 : 0) : mode;
  p->t0 = now_s();
  p->last = -1.0;
}

/* Shows `stage` at fraction `frac` (0..1). Auto mode stays silent for the first half second, so
 * short runs print nothing; redraws are limited to ten a second. */
static void progress_update(progress* p, const char* stage, double frac) {
  if (p->mode == 0) return;
  const double t = now_s();
  const int stage_changed = p->stage != stage;
  if (p->mode < 0 && t - p->t0 < 0.5) return;
  if (!stage_changed && p->last >= 0 && t - p->last < 0.1 && frac < 1.0) return;
  p->stage = stage;
  p->last = t;
  if (frac < 0) frac = 0;
  if (frac > 1) frac = 1;
  enum { WIDTH = 30 };
  char bar[WIDTH + 1];
  const int fill = (int)(frac * WIDTH + 0.5);
  for (int i = 0; i < WIDTH; ++i) bar[i] = i < fill ? '#' : '.';
  bar[WIDTH] = '\0';
  if (p->tty)
    fprintf(stderr, "\r\033[Kpkpo: %-12s [%s] %3d%%  %.1fs", stage, bar, (int)(frac * 100 + 0.5),
            t - p->t0);
  else
    fprintf(stderr, "pkpo: %-12s [%s] %3d%%  %.1fs\n", stage, bar, (int)(frac * 100 + 0.5),
            t - p->t0);
  fflush(stderr);
  p->drawn = 1;
}

static void progress_end(progress* p) {
  if (p->drawn && p->tty) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  p->drawn = 0;
}

static void parse_progress(void* ctx, double fraction) {
  progress_update((progress*)ctx, "parsing", fraction);
}

/* ---- input ------------------------------------------------------------------------------------ */

static const char* display_name(const char* path) {
  return (!path || strcmp(path, "-") == 0) ? "<stdin>" : path;
}

/* Reads the whole input into a malloc'd buffer (one spare byte at the end). Regular files are read
 * into a buffer of exactly their size, so an N-byte array costs N bytes. */
static int read_input(const char* path, unsigned char** out, size_t* out_len, progress* pg) {
  const int use_stdin = !path || strcmp(path, "-") == 0;
  FILE* f = use_stdin ? stdin : fopen(path, "rb");
  if (use_stdin && isatty(STDIN_FILENO))
    fprintf(stderr, "pkpo: reading the batch from the terminal (end with Ctrl-D; see --help)\n");
  if (!f) {
    msg("cannot open '%s': %s", path, strerror(errno));
    return EXIT_USAGE;
  }
  struct stat st;
  size_t cap = 1 << 16, len = 0, expect = 0;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
    if ((uint64_t)st.st_size >= (uint64_t)SIZE_MAX) {
      msg("'%s' is too large", display_name(path));
      if (!use_stdin) fclose(f);
      return EXIT_USAGE;
    }
    expect = (size_t)st.st_size;
    cap = expect + 1;
  } else if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    msg("cannot read '%s': it is a directory", display_name(path));
    if (!use_stdin) fclose(f);
    return EXIT_USAGE;
  }
  unsigned char* buf = (unsigned char*)malloc(cap);
  if (!buf) {
    msg("out of memory reading '%s' (%zu bytes)", display_name(path), cap);
    if (!use_stdin) fclose(f);
    return EXIT_DATA;
  }
  for (;;) {
    if (len + 1 >= cap) {
      const size_t ncap = cap * 2;
      unsigned char* nb = ncap > cap ? (unsigned char*)realloc(buf, ncap) : NULL;
      if (!nb) {
        free(buf);
        msg("out of memory reading '%s'", display_name(path));
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
    msg("cannot read '%s': %s", display_name(path), strerror(saved));
    return EXIT_USAGE;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return EXIT_OK;
}

/* ---- output (temporary file + rename) --------------------------------------------------------- */

/* The temporary file being written, for the signal handler (async-signal-safe unlink). */
static char g_tmp_path[PATH_MAX + 32];
static volatile sig_atomic_t g_tmp_active = 0;

static void on_signal(int sig) {
  if (g_tmp_active) unlink(g_tmp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

typedef struct sink {
  FILE* f;
  const char* path; /* the file renamed into place at commit; NULL for stdout or a direct write */
  const char* shown; /* the name for messages */
} sink;

static char g_target[PATH_MAX];

/* Opens the output. A regular file (new or existing, possibly behind a symlink, which is kept) is
 * written as a temporary file beside it and renamed over it at the end. Anything else that exists
 * (/dev/null, a FIFO, a terminal) is written directly: replacing it would be wrong. */
static int sink_open(sink* s, const char* path) {
  memset(s, 0, sizeof *s);
  if (!path || strcmp(path, "-") == 0) {
    s->f = stdout;
    s->shown = "<stdout>";
    setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    return EXIT_OK;
  }
  s->shown = path;
  struct stat st;
  const int exists = stat(path, &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) {
    msg("cannot write '%s': it is a directory", path);
    return EXIT_USAGE;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    s->f = fopen(path, "wb");
    if (!s->f) {
      msg("cannot write '%s': %s", path, strerror(errno));
      return EXIT_DATA;
    }
    return EXIT_OK;
  }
  const char* target = path;
  struct stat lst;
  if (exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
    if (!realpath(path, g_target)) {
      msg("cannot resolve '%s': %s", path, strerror(errno));
      return EXIT_DATA;
    }
    target = g_target;
  }
  if (strlen(target) + 12 > PATH_MAX) {
    msg("output path too long: '%s'", path);
    return EXIT_USAGE;
  }
  snprintf(g_tmp_path, sizeof g_tmp_path, "%s.tmp.XXXXXX", target);
  const int fd = mkstemp(g_tmp_path);
  if (fd < 0) {
    msg("cannot create a file beside '%s': %s", path, strerror(errno));
    return EXIT_DATA;
  }
  g_tmp_active = 1;
  /* mkstemp creates the file 0600: keep an existing file's permissions, or give a new one those
   * a plain fopen would. Failure is not fatal (the content is still right). */
  mode_t mode;
  if (exists) {
    mode = st.st_mode & 07777;
  } else {
    const mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  (void)!fchmod(fd, mode);
  s->f = fdopen(fd, "wb");
  if (!s->f) {
    msg("cannot write '%s': %s", g_tmp_path, strerror(errno));
    close(fd);
    unlink(g_tmp_path);
    g_tmp_active = 0;
    return EXIT_DATA;
  }
  setvbuf(s->f, NULL, _IOFBF, 1 << 20);
  s->path = target;
  return EXIT_OK;
}

static void sink_abort(sink* s) {
  if (!s->f) return;
  if (s->path) {
    fclose(s->f);
    unlink(g_tmp_path);
    g_tmp_active = 0;
  } else if (s->f == stdout) {
    fflush(stdout);
  } else {
    fclose(s->f);
  }
  s->f = NULL;
}

static int sink_commit(sink* s) {
  if (!s->path) { /* stdout or a direct write */
    int bad = fflush(s->f) != 0 || ferror(s->f);
    int saved = errno;
    if (s->f != stdout && fclose(s->f) != 0 && !bad) {
      bad = 1;
      saved = errno;
    }
    s->f = NULL;
    if (bad) {
      msg("error writing to %s: %s", s->shown, strerror(saved));
      return EXIT_DATA;
    }
    return EXIT_OK;
  }
  int bad = fflush(s->f) != 0 || ferror(s->f);
  int saved = errno;
  if (fclose(s->f) != 0 && !bad) {
    bad = 1;
    saved = errno;
  }
  s->f = NULL;
  if (!bad && rename(g_tmp_path, s->path) != 0) {
    bad = 1;
    saved = errno;
  }
  if (bad) {
    unlink(g_tmp_path);
    g_tmp_active = 0;
    msg("error writing '%s': %s", s->shown, strerror(saved));
    return EXIT_DATA;
  }
  g_tmp_active = 0;
  return EXIT_OK;
}

/* ---- execution on the chosen backend ---------------------------------------------------------- */

typedef struct engine {
  pkpo_handle cpu;  /* always: grouping, and the CPU backend */
  pkpo_handle cuda; /* the CUDA backend, when chosen */
} engine;

static int engine_open(engine* e, const options* o) {
  memset(e, 0, sizeof *e);
  pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
  ho.num_threads = o->threads;
  pkpo_status st = pkpo_create(&e->cpu, &ho);
  if (st != PKPO_SUCCESS) {
    msg("cannot create a CPU handle: %s", pkpo_status_string(st));
    return EXIT_DATA;
  }
  int want_cuda = 0;
  if (o->device == DEVICE_CUDA) {
#ifndef PKPO_HAVE_CUDA
    msg("--device cuda: this pkpo was built without the CUDA backend (rebuild with "
        "-DPKPO_CUDA=ON, or use --device cpu)");
    return EXIT_USAGE;
#else
    if (!pkpo_backend_available(PKPO_BACKEND_CUDA)) {
      msg("--device cuda: no usable CUDA device (use --device cpu or auto)");
      return EXIT_USAGE;
    }
    want_cuda = 1;
#endif
  } else if (o->device == DEVICE_AUTO) {
    want_cuda = pkpo_backend_available(PKPO_BACKEND_CUDA);
  }
  if (want_cuda) {
    ho.backend = PKPO_BACKEND_CUDA;
    st = pkpo_create(&e->cuda, &ho);
    if (st != PKPO_SUCCESS) {
      if (o->device == DEVICE_CUDA) {
        msg("--device cuda: %s", pkpo_status_string(st));
        return EXIT_USAGE;
      }
      e->cuda = NULL; /* auto: fall back to the CPU */
    }
  }
  return EXIT_OK;
}

static void engine_close(engine* e) {
  pkpo_destroy(e->cuda);
  pkpo_destroy(e->cpu);
}

/* The handle whose last_error explains a failure of the last call. */
static pkpo_handle engine_handle(const engine* e) { return e->cuda ? e->cuda : e->cpu; }

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
  dev_buf r = {0}, o = {0}, rh = {0}, fl = {0}, off = {0}, idx = {0};
  pkpo_status st = dev_alloc_copy(&r, rewards, n * elem);
  if (!st && out) st = dev_alloc_copy(&o, NULL, n * elem);
  if (!st && rho) st = dev_alloc_copy(&rh, NULL, rho_bytes);
  if (!st && flags) st = dev_alloc_copy(&fl, NULL, g * sizeof(uint32_t));
  if (!st && d->offsets) st = dev_alloc_copy(&off, d->offsets, (g + 1) * sizeof(int64_t));
  if (!st && d->index) st = dev_alloc_copy(&idx, d->index, n * sizeof(int64_t));
  if (!st) {
    pkpo_desc dd = *d;
    dd.offsets = (const int64_t*)off.p;
    dd.index = (const int64_t*)idx.p;
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
  return st;
}
#endif

static pkpo_status engine_transform(const engine* e, const pkpo_desc* d, const void* rewards,
                                    void* out, uint32_t* flags) {
#ifdef PKPO_HAVE_CUDA
  if (e->cuda) return cuda_run(e->cuda, d, rewards, out, NULL, 0, flags, NULL, 0);
#endif
  return pkpo_transform(e->cpu, d, rewards, out, NULL, flags, NULL);
}

static pkpo_status engine_rho_curve(const engine* e, const pkpo_desc* d, const void* rewards,
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

/* ---- naming groups and samples in messages ---------------------------------------------------- */

/* How a batch's groups and samples are named: CSV (names and line numbers) or uniform NPY. */
typedef struct batch_names {
  const char* file;     /* display name of the input */
  const csv_table* csv; /* CSV, or NULL for NPY */
  int64_t group_size;   /* NPY: uniform group size */
} batch_names;

static void group_label(const batch_names* b, int64_t g, char* dst, size_t cap) {
  if (b->csv) {
    size_t n;
    const char* s = csv_group_name(b->csv, g, &n);
    char p[96];
    printable(p, sizeof p, s, n);
    snprintf(dst, cap, "group '%s'", p);
  } else {
    snprintf(dst, cap, "group %lld (elements %lld..%lld)", (long long)g,
             (long long)(g * b->group_size), (long long)((g + 1) * b->group_size - 1));
  }
}

static double reward_at(const void* r, pkpo_dtype dt, int64_t i) {
  return dt == PKPO_FLOAT32 ? (double)((const float*)r)[i] : ((const double*)r)[i];
}

/* Explains a failed pkpo call in the user's terms: which group (and CSV line) broke which policy.
 * `rewards` are in input order (CSV) or grouped (NPY), restricted to samples [s0, s1) where the
 * failing call started, so that nothing already transformed in place is scanned. */
static int report_failure(pkpo_status st, const engine* e, const options* o, const batch_names* b,
                          const void* rewards, pkpo_dtype dt, int64_t s0, int64_t s1,
                          int64_t k_max) {
  char label[160];
  if (st == PKPO_ERROR_NON_FINITE) {
    for (int64_t i = s0; i < s1; ++i) {
      const double v = reward_at(rewards, dt, i);
      if (isfinite(v)) continue;
      char num[32];
      cli_format_number(num, v, 0);
      if (b->csv) {
        group_label(b, b->csv->group_id[i], label, sizeof label);
        msg("%s:%lld: non-finite reward %s in %s (--nan error; use --nan exclude or propagate "
            "to accept it)", b->file, (long long)b->csv->row_line[i], num, label);
      } else {
        group_label(b, i / b->group_size, label, sizeof label);
        msg("%s: non-finite reward %s at element %lld, in %s (--nan error; use --nan exclude or "
            "propagate to accept it)", b->file, num, (long long)i, label);
      }
      return EXIT_DATA;
    }
  } else if (st == PKPO_ERROR_K_EXCEEDS_N) {
    /* the first group (in group order) with fewer usable samples than k */
    if (b->csv) {
      const csv_table* t = b->csv;
      int64_t* cnt = (int64_t*)calloc((size_t)t->num_groups + 1, sizeof *cnt);
      int64_t* first = (int64_t*)malloc(((size_t)t->num_groups + 1) * sizeof *first);
      if (cnt && first) {
        for (int64_t g = 0; g < t->num_groups; ++g) first[g] = -1;
        for (int64_t i = 0; i < t->num_rows; ++i) {
          const int64_t g = t->group_id[i];
          if (first[g] < 0) first[g] = i;
          if (o->nan != PKPO_NONFINITE_EXCLUDE || isfinite(t->reward[i])) ++cnt[g];
        }
        for (int64_t g = 0; g < t->num_groups; ++g) {
          if (cnt[g] >= k_max) continue;
          group_label(b, g, label, sizeof label);
          msg("%s:%lld: %s has %lld usable sample%s, fewer than k = %lld (--k-policy strict; the "
              "default --k-policy clamp uses k = n for it)", b->file,
              (long long)t->row_line[first[g]], label, (long long)cnt[g], cnt[g] == 1 ? "" : "s",
              (long long)k_max);
          free(cnt);
          free(first);
          return EXIT_DATA;
        }
      }
      free(cnt);
      free(first);
    } else {
      const int64_t n = b->group_size;
      for (int64_t g = s0 / n; g < s1 / n; ++g) {
        int64_t c = 0;
        for (int64_t i = g * n; i < (g + 1) * n; ++i)
          c += o->nan != PKPO_NONFINITE_EXCLUDE || isfinite(reward_at(rewards, dt, i));
        if (c >= k_max) continue;
        group_label(b, g, label, sizeof label);
        msg("%s: %s has %lld usable sample%s, fewer than k = %lld (--k-policy strict; the default "
            "--k-policy clamp uses k = n for it)", b->file, label, (long long)c, c == 1 ? "" : "s",
            (long long)k_max);
        return EXIT_DATA;
      }
    }
  }
  const char* detail = pkpo_last_error(engine_handle(e));
  msg("%s: %s%s%s", b->file, pkpo_status_string(st), *detail ? ": " : "", detail);
  return EXIT_DATA;
}

/* Warnings about groups the estimator treated specially, from the per-group flags. */
typedef struct flag_counts {
  int64_t count[6];
  int64_t first[6];
} flag_counts;

static void flags_init(flag_counts* c) {
  for (int i = 0; i < 6; ++i) {
    c->count[i] = 0;
    c->first[i] = -1;
  }
}

static void flags_add(flag_counts* c, const uint32_t* flags, int64_t g0, int64_t count) {
  for (int64_t g = 0; g < count; ++g) {
    const uint32_t f = flags[g];
    if (!f) continue;
    for (int b = 0; b < 6; ++b)
      if (f & (1u << b)) {
        if (c->first[b] < 0) c->first[b] = g0 + g;
        ++c->count[b];
      }
  }
}

static void flags_warn(const flag_counts* c, const options* o, const batch_names* b,
                       int64_t num_groups, int64_t k) {
  char label[160];
  const char* s;
#define FIRST(bit) (group_label(b, c->first[bit], label, sizeof label), label)
  if (c->count[1]) {
    if (o->cmd == CMD_TRANSFORM)
      warn("%lld of %lld groups have fewer than k = %lld usable samples and were computed with "
           "k = n (first: %s); --k-policy strict makes this an error",
           (long long)c->count[1], (long long)num_groups, (long long)k, FIRST(1));
    else
      warn("%lld of %lld groups have fewer usable samples than some requested k; for those k "
           "their rho is at k = n (first: %s); --k-policy strict makes this an error",
           (long long)c->count[1], (long long)num_groups, FIRST(1));
  }
  if (c->count[2]) {
    s = o->nan == PKPO_NONFINITE_PROPAGATE ? "their outputs are nan"
                                           : "those samples were excluded (output 0)";
    warn("%lld group%s held non-finite rewards; %s (first: %s)", (long long)c->count[2],
         c->count[2] == 1 ? "" : "s", s, FIRST(2));
  }
  if (c->count[4])
    warn("%lld group%s had no finite reward; %s (first: %s)", (long long)c->count[4],
         c->count[4] == 1 ? "" : "s",
         o->cmd == CMD_TRANSFORM ? "their outputs are 0"
                                 : "nothing to estimate (rho nan; no rows with --all-k)",
         FIRST(4));
  if (c->count[0] && o->cmd == CMD_TRANSFORM && o->estimator != PKPO_S)
    warn("%lld group%s had a single usable sample; its output is 0 (first: %s)",
         (long long)c->count[0], c->count[0] == 1 ? "" : "s", FIRST(0));
  if (c->count[3])
    warn("%lld group%s had exactly k samples; l2o is undefined there and sloo_minus_one was "
         "used (first: %s)", (long long)c->count[3], c->count[3] == 1 ? "" : "s", FIRST(3));
#undef FIRST
}

/* ---- transform -------------------------------------------------------------------------------- */

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

/* Parses a CSV and groups its rows by the group column (pkpo_group_by_id): on success the caller owns
 * t (csv_free), *offsets (G+1 entries) and *index (row of each grouped position). Returns an exit
 * status and prints the reason on failure, having freed everything. */
static int parse_and_group(const options* o, const engine* e, const char* file, const char* data,
                           size_t len, progress* pg, csv_table* t, int64_t** offsets,
                           int64_t** index, int64_t* num_groups, int64_t* max_n) {
  cli_error err;
  progress_update(pg, "parsing", 0.0);
  if (csv_parse(data, len, o->group_col, o->reward_col, t, &err, parse_progress, pg) != 0) {
    if (err.line > 0)
      msg("%s:%lld: %s", file, (long long)err.line, err.msg);
    else
      msg("%s: %s", file, err.msg);
    return EXIT_USAGE;
  }
  const int64_t n = t->num_rows;
  *offsets = (int64_t*)malloc(((size_t)n + 1) * sizeof **offsets);
  *index = (int64_t*)malloc(((size_t)n + 1) * sizeof **index);
  *num_groups = 0;
  *max_n = 0;
  int rc = EXIT_OK;
  if (!*offsets || !*index) {
    msg("out of memory (%lld rows)", (long long)n);
    rc = EXIT_DATA;
  } else {
    (*offsets)[0] = 0;
    if (n > 0) {
      const pkpo_status st =
          pkpo_group_by_id(e->cpu, t->group_id, n, *offsets, *index, num_groups, max_n, NULL);
      if (st != PKPO_SUCCESS || *num_groups != t->num_groups) {
        msg("%s: grouping failed: %s %s", file, pkpo_status_string(st), pkpo_last_error(e->cpu));
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

static int transform_csv(const options* o, const engine* e, const char* file, const char* data,
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
    msg("out of memory (%lld rows)", (long long)n);
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
    d.k = o->k;
    d.nonfinite = o->nan;
    d.k_policy = o->k_policy;
    progress_update(pg, "computing", 0.0);
    const pkpo_status st = engine_transform(e, &d, rewards, out, flags);
    if (st != PKPO_SUCCESS) {
      rc = report_failure(st, e, o, &names, rewards, o->dtype, 0, n, o->k);
      goto done;
    }
    progress_update(pg, "computing", 1.0);
    flag_counts fc;
    flags_init(&fc);
    flags_add(&fc, flags, 0, num_groups);
    flags_warn(&fc, o, &names, num_groups, o->k);
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

/* Validates the NPY header against the options; fills the data pointer (aligned, native order). */
static int npy_open(const options* o, const char* file, unsigned char* buf, size_t len,
                    npy_info* info, void** data, int64_t* group_size, pkpo_dtype* dt) {
  cli_error err;
  if (npy_parse_header(buf, len, len, info, &err) != 0) {
    msg("%s: %s", file, err.msg);
    return EXIT_USAGE;
  }
  *dt = info->elem_size == NPY_FLOAT32 ? PKPO_FLOAT32 : PKPO_FLOAT64;
  if (o->precision_given && o->dtype != *dt)
    return usage_error("--precision %s does not apply to '%s', a %s array (the output keeps the "
                       "input's dtype)", o->dtype == PKPO_FLOAT32 ? "f32" : "f64", file,
                       *dt == PKPO_FLOAT32 ? "float32" : "float64");
  if (info->ndim == 2) {
    if (o->group_size && o->group_size != info->shape[1])
      return usage_error("--group-size %lld contradicts the shape (%lld, %lld) of '%s' (a 2-D "
                         "array holds one group per row)", (long long)o->group_size,
                         (long long)info->shape[0], (long long)info->shape[1], file);
    *group_size = info->shape[1];
    if (*group_size == 0 && info->shape[0] > 0) {
      msg("%s: the array has shape (%lld, 0): groups of no samples", file,
          (long long)info->shape[0]);
      return EXIT_USAGE;
    }
  } else {
    if (!o->group_size)
      return usage_error("'%s' is a 1-D array of %lld rewards: give --group-size N (samples per "
                         "group)", file, (long long)info->count);
    if (info->count % o->group_size != 0)
      return usage_error("'%s' holds %lld rewards, not a multiple of --group-size %lld", file,
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

static int transform_npy(const options* o, const engine* e, const char* file, unsigned char* buf,
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
    msg("out of memory");
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
    d.k = o->k;
    d.nonfinite = o->nan;
    d.k_policy = o->k_policy;
    unsigned char* p = (unsigned char*)data + (size_t)(g0 * n) * elem;
    const pkpo_status st = engine_transform(e, &d, p, p, flags);
    if (st != PKPO_SUCCESS) {
      free(flags);
      return report_failure(st, e, o, &names, data, dt, g0 * n, (g0 + gc) * n, o->k);
    }
    flags_add(&fc, flags, g0, gc);
    progress_update(pg, "computing", (double)(g0 + gc) / (double)num_groups);
  }
  free(flags);
  flags_warn(&fc, o, &names, num_groups, o->k);

  sink s;
  if ((rc = sink_open(&s, o->output))) return rc;
  if (npy_write_header(s.f, info.elem_size, info.ndim, info.shape) != 0) {
    sink_abort(&s);
    msg("error writing the output: %s", strerror(errno));
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

/* ---- estimate --------------------------------------------------------------------------------- */

/* Rewards in group order: group g holds samples [begin(g), begin(g+1)). */
typedef struct grouped {
  const void* rewards;
  pkpo_dtype dtype;
  const int64_t* offsets; /* or NULL: uniform groups of `n` */
  int64_t n;
  int64_t num_groups;
} grouped;

static int64_t grp_begin(const grouped* gr, int64_t g) {
  return gr->offsets ? gr->offsets[g] : g * gr->n;
}

static int write_group_name(FILE* f, const batch_names* b, int64_t g) {
  if (b->csv) {
    size_t n;
    const char* s = csv_group_name(b->csv, g, &n);
    return csv_write_field(f, s, n);
  }
  return fprintf(f, "%lld", (long long)g) < 0 ? -1 : 0;
}

static int estimate_core(const options* o, const engine* e, const batch_names* b,
                         const grouped* gr, progress* pg) {
  const int64_t G = gr->num_groups;
  const size_t elem = gr->dtype == PKPO_FLOAT32 ? 4 : 8;
  /* usable samples per group (what rho is computed from) */
  int64_t* used = (int64_t*)malloc(((size_t)G + 1) * sizeof *used);
  if (!used) {
    msg("out of memory");
    return EXIT_DATA;
  }
  int64_t k_max = 0;
  for (int64_t j = 0; j < o->num_ks; ++j) k_max = o->ks[j] > k_max ? o->ks[j] : k_max;
  int any_nonfinite = 0, too_small = 0;
  for (int64_t g = 0; g < G; ++g) {
    int64_t c = 0;
    for (int64_t i = grp_begin(gr, g); i < grp_begin(gr, g + 1); ++i) {
      const int fin = isfinite(reward_at(gr->rewards, gr->dtype, i));
      any_nonfinite |= !fin;
      c += o->nan != PKPO_NONFINITE_EXCLUDE || fin;
    }
    used[g] = c;
    too_small |= c < k_max;
  }
  /* Policy errors are found before any output is written (stdout cannot be taken back). */
  const void* in_order = b->csv ? (const void*)b->csv->reward : gr->rewards;
  const pkpo_dtype in_dtype = b->csv ? PKPO_FLOAT64 : gr->dtype;
  const int64_t in_count = b->csv ? b->csv->num_rows : grp_begin(gr, G);
  if (o->nan == PKPO_NONFINITE_ERROR && any_nonfinite) {
    free(used);
    return report_failure(PKPO_ERROR_NON_FINITE, e, o, b, in_order, in_dtype, 0, in_count, k_max);
  }
  if (!o->all_k && o->k_policy == PKPO_K_STRICT && too_small) {
    free(used);
    return report_failure(PKPO_ERROR_K_EXCEEDS_N, e, o, b, in_order, in_dtype, 0, in_count, k_max);
  }

  sink s;
  int rc = sink_open(&s, o->output);
  if (rc) {
    free(used);
    return rc;
  }
  fputs("group,n,k,rho\n", s.f);
  int64_t* ks = NULL;
  void* rho = NULL;
  int64_t* offs = NULL;
  uint32_t* flags = NULL;
  flag_counts fc;
  flags_init(&fc);
  int64_t g0 = 0;
  while (g0 < G) {
    /* chunk [g0, g1): bounded rho output; --all-k evaluates k = 1..(largest n in the chunk) */
    int64_t g1 = g0 + 1, kk = o->all_k ? (used[g0] > 0 ? used[g0] : 1) : o->num_ks;
    while (g1 < G) {
      const int64_t k2 = o->all_k ? (used[g1] > kk ? used[g1] : kk) : kk;
      if ((g1 + 1 - g0) * k2 > CURVE_CHUNK_VALUES) break;
      kk = k2;
      ++g1;
    }
    const int64_t gc = g1 - g0;
    free(ks);
    free(rho);
    free(offs);
    free(flags);
    ks = (int64_t*)malloc((size_t)kk * sizeof *ks);
    rho = malloc((size_t)(gc * kk) * elem);
    offs = (int64_t*)malloc(((size_t)gc + 1) * sizeof *offs);
    flags = (uint32_t*)malloc((size_t)gc * sizeof *flags);
    if (!ks || !rho || !offs || !flags) {
      msg("out of memory");
      rc = EXIT_DATA;
      break;
    }
    for (int64_t j = 0; j < kk; ++j) ks[j] = o->all_k ? j + 1 : o->ks[j];
    const int64_t base = grp_begin(gr, g0);
    int64_t max_n = 0;
    for (int64_t g = 0; g <= gc; ++g) offs[g] = grp_begin(gr, g0 + g) - base;
    for (int64_t g = 0; g < gc; ++g) max_n = offs[g + 1] - offs[g] > max_n ? offs[g + 1] - offs[g] : max_n;
    pkpo_desc d = PKPO_DESC_INIT;
    d.dtype = gr->dtype;
    d.num_groups = gc;
    d.num_samples = offs[gc];
    d.offsets = offs;
    d.max_group_size = max_n;
    d.nonfinite = o->nan;
    d.k_policy = o->all_k ? PKPO_K_CLAMP : o->k_policy; /* --all-k prints only k <= n */
    const void* r = (const unsigned char*)gr->rewards + (size_t)base * elem;
    const pkpo_status st = engine_rho_curve(e, &d, r, ks, kk, rho, flags);
    if (st != PKPO_SUCCESS) {
      sink_abort(&s);
      s.f = NULL;
      rc = report_failure(st, e, o, b, in_order, in_dtype, 0, in_count, k_max);
      break;
    }
    if (o->all_k) /* clamping beyond a group's own n is expected there: not worth a warning */
      for (int64_t g = 0; g < gc; ++g) flags[g] &= ~(uint32_t)PKPO_FLAG_K_CLAMPED;
    flags_add(&fc, flags, g0, gc);
    char num[40];
    for (int64_t g = 0; g < gc; ++g) {
      const int64_t nu = used[g0 + g];
      const int64_t nk = o->all_k ? nu : kk;
      for (int64_t j = 0; j < nk; ++j) {
        double v = gr->dtype == PKPO_FLOAT32 ? (double)((const float*)rho)[g * kk + j]
                                             : ((const double*)rho)[g * kk + j];
        if (nu == 0) v = NAN; /* no usable sample: there is nothing to estimate */
        write_group_name(s.f, b, g0 + g);
        const int len = cli_format_number(num, v, gr->dtype == PKPO_FLOAT32);
        fprintf(s.f, ",%lld,%lld,%.*s\n", (long long)nu, (long long)ks[j], len, num);
      }
    }
    g0 = g1;
    progress_update(pg, "estimating", (double)g0 / (double)G);
  }
  free(ks);
  free(rho);
  free(offs);
  free(flags);
  free(used);
  if (rc) {
    if (s.f) sink_abort(&s);
    return rc;
  }
  flags_warn(&fc, o, b, G, k_max);
  return sink_commit(&s);
}

static int estimate_csv(const options* o, const engine* e, const char* file, const char* data,
                        size_t len, progress* pg) {
  csv_table t;
  int64_t *offsets, *index, num_groups, max_n;
  int rc = parse_and_group(o, e, file, data, len, pg, &t, &offsets, &index, &num_groups, &max_n);
  if (rc) return rc;
  const int64_t n = t.num_rows;
  const size_t elem = o->dtype == PKPO_FLOAT32 ? 4 : 8;
  void* rg = malloc((size_t)n * elem + 8);
  if (!rg) {
    msg("out of memory (%lld rows)", (long long)n);
    rc = EXIT_DATA;
    goto done;
  }
  /* gather into group order, so that chunks of groups are contiguous */
  for (int64_t j = 0; j < n; ++j) {
    if (o->dtype == PKPO_FLOAT32)
      ((float*)rg)[j] = (float)t.reward[index[j]];
    else
      ((double*)rg)[j] = t.reward[index[j]];
  }
  {
    const batch_names names = {file, &t, 0};
    const grouped gr = {rg, o->dtype, offsets, 0, num_groups};
    rc = estimate_core(o, e, &names, &gr, pg);
  }
done:
  free(offsets);
  free(index);
  free(rg);
  csv_free(&t);
  return rc;
}

static int estimate_npy(const options* o, const engine* e, const char* file, unsigned char* buf,
                        size_t len, progress* pg) {
  npy_info info;
  void* data;
  int64_t n;
  pkpo_dtype dt;
  const int rc = npy_open(o, file, buf, len, &info, &data, &n, &dt);
  if (rc) return rc;
  if (n == 0) n = 1; /* shape (0, 0): no groups */
  const batch_names names = {file, NULL, n};
  const grouped gr = {data, dt, NULL, n, info.count / n};
  return estimate_core(o, e, &names, &gr, pg);
}

/* ---- main ------------------------------------------------------------------------------------- */

#define PKPO__STR2(x) #x
#define PKPO__STR(x) PKPO__STR2(x)
#define PKPO_CLI_VERSION \
  PKPO__STR(PKPO_VERSION_MAJOR) "." PKPO__STR(PKPO_VERSION_MINOR) "." PKPO__STR(PKPO_VERSION_PATCH)

static int print_version(void) {
  printf("pkpo %s (library %s; backends: cpu%s)\n", PKPO_CLI_VERSION, pkpo_version_string(),
#ifdef PKPO_HAVE_CUDA
         pkpo_backend_available(PKPO_BACKEND_CUDA) ? ", cuda" : ", cuda (built; no device visible)"
#else
         ""
#endif
  );
  return fflush(stdout) == 0 ? EXIT_OK : EXIT_DATA;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fputs(k_main_help, stderr);
    return EXIT_USAGE;
  }
  const char* c = argv[1];
  if (strcmp(c, "-h") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "help") == 0) {
    if (strcmp(c, "help") == 0 && argc > 2) {
      if (strcmp(argv[2], "transform") == 0) return fputs(k_transform_help, stdout), EXIT_OK;
      if (strcmp(argv[2], "estimate") == 0) return fputs(k_estimate_help, stdout), EXIT_OK;
    }
    fputs(k_main_help, stdout);
    return EXIT_OK;
  }
  if (strcmp(c, "-V") == 0 || strcmp(c, "--version") == 0) return print_version();

  options o;
  memset(&o, 0, sizeof o);
  o.estimator = PKPO_SLOO_MINUS_ONE;
  o.dtype = PKPO_FLOAT64;
  o.device = DEVICE_AUTO;
  o.nan = PKPO_NONFINITE_EXCLUDE;
  o.k_policy = PKPO_K_CLAMP;
  o.group_col = "group";
  o.reward_col = "reward";
  o.progress = -1;
  if (strcmp(c, "transform") == 0) {
    o.cmd = CMD_TRANSFORM;
    g_cmd = "pkpo transform";
  } else if (strcmp(c, "estimate") == 0) {
    o.cmd = CMD_ESTIMATE;
    g_cmd = "pkpo estimate";
  } else if (c[0] == '-') {
    return usage_error("unknown option '%s'", c);
  } else {
    return usage_error("unknown command '%s' (commands: transform, estimate)", c);
  }

  int want_help = 0;
  int rc = parse_options(argc - 2, argv + 2, &o, &want_help);
  if (rc) {
    free(o.ks);
    return rc;
  }
  if (want_help) {
    free(o.ks);
    fputs(o.cmd == CMD_TRANSFORM ? k_transform_help : k_estimate_help, stdout);
    return EXIT_OK;
  }
  if (o.cmd == CMD_TRANSFORM && o.k == 0) return usage_error("-k K is required (e.g. -k 4)");
  if (o.cmd == CMD_ESTIMATE && !o.all_k && o.num_ks == 0) {
    free(o.ks);
    return usage_error("give -k K1,K2,... or --all-k");
  }
  if (o.cmd == CMD_ESTIMATE && o.all_k && o.num_ks) {
    free(o.ks);
    return usage_error("-k and --all-k exclude each other");
  }
  if (!o.output) o.output = "-";

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  engine e;
  rc = engine_open(&e, &o);
  if (rc) {
    engine_close(&e);
    free(o.ks);
    return rc;
  }
  progress pg;
  progress_init(&pg, o.progress);
  unsigned char* buf = NULL;
  size_t len = 0;
  const char* file = display_name(o.input);
  rc = read_input(o.input, &buf, &len, &pg);
  if (!rc) {
    const int is_npy = npy_is_npy(buf, len);
    if (!is_npy && o.group_size)
      rc = usage_error("--group-size applies to .npy input only ('%s' is read as CSV)", file);
    else if (o.cmd == CMD_TRANSFORM)
      rc = is_npy ? transform_npy(&o, &e, file, buf, len, &pg)
                  : transform_csv(&o, &e, file, (const char*)buf, len, &pg);
    else
      rc = is_npy ? estimate_npy(&o, &e, file, buf, len, &pg)
                  : estimate_csv(&o, &e, file, (const char*)buf, len, &pg);
  }
  progress_end(&pg);
  free(buf);
  free(o.ks);
  engine_close(&e);
  return rc;
}
