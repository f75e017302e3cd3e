/*
 * harness.c -- the shared part of the `pkpo` tool's end-to-end tests (see harness.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

const char* const k_est_names[4] = {"s", "sloo", "sloo_minus_one", "l2o"};

/* ---- harness ---------------------------------------------------------------------------------- */

const char* g_bin;
const char* g_examples;
char g_dir[256];
int g_failures = 0, g_checks = 0;

char* path_in(const char* name) {
  static char buf[8][512];
  static int slot = 0;
  char* p = buf[slot++ % 8];
  snprintf(p, 512, "%s/%s", g_dir, name);
  return p;
}

char* read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char* b = (char*)malloc(cap);
  for (;;) {
    if (n + 1 >= cap) b = (char*)realloc(b, cap *= 2);
    const size_t got = fread(b + n, 1, cap - 1 - n, f);
    n += got;
    if (got == 0) break;
  }
  fclose(f);
  b[n] = '\0';
  if (len) *len = n;
  return b;
}

void write_file(const char* path, const void* data, size_t len) {
  FILE* f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(99);
  }
}

void write_text(const char* path, const char* text) { write_file(path, text, strlen(text)); }

int file_exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Number of "*.tmp.*" files in the scratch directory (temporary outputs left behind). */
int tmp_leftovers(void) {
  DIR* d = opendir(g_dir);
  int n = 0;
  struct dirent* e;
  while (d && (e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) ++n;
  if (d) closedir(d);
  return n;
}

void result_free(result* r) {
  free(r->out);
  free(r->err);
  memset(r, 0, sizeof *r);
}

/* Runs the tool with the NULL-terminated arguments, stdin from `in` (NULL = /dev/null). */
static result run_v(const char* in, va_list ap) {
  const char* argv[64];
  int argc = 0;
  argv[argc++] = g_bin;
  const char* a;
  while ((a = va_arg(ap, const char*)) && argc < 63) argv[argc++] = a;
  argv[argc] = NULL;
  char out_path[300], err_path[300];
  snprintf(out_path, sizeof out_path, "%s/.stdout", g_dir);
  snprintf(err_path, sizeof err_path, "%s/.stderr", g_dir);
  fflush(NULL);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fi = open(in ? in : "/dev/null", O_RDONLY);
    const int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fi < 0 || fo < 0 || fe < 0) _exit(98);
    dup2(fi, 0);
    dup2(fo, 1);
    dup2(fe, 2);
    if (chdir(g_dir) != 0) _exit(98);
    execv(g_bin, (char* const*)argv);
    _exit(97);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path, &r.out_len);
  r.err = read_file(err_path, NULL);
  return r;
}

result run(const char* in, ...) {
  va_list ap;
  va_start(ap, in);
  result r = run_v(in, ap);
  va_end(ap);
  return r;
}

/* ---- brute-force oracle (docs/math.md §2, by definition) ---------------------------------------- */

/* U_k(g without `skip`) = mean over k-subsets of max; skip = -1 for none. n <= 20. */
double oracle_U(const double* g, int n, int k, int skip) {
  double sum = 0;
  long count = 0;
  for (uint32_t m = 0; m < (1u << n); ++m) {
    if (skip >= 0 && (m >> skip & 1)) continue;
    if (__builtin_popcount(m) != k) continue;
    double mx = -INFINITY;
    for (int i = 0; i < n; ++i)
      if (m >> i & 1) mx = g[i] > mx ? g[i] : mx;
    sum += mx;
    ++count;
  }
  return sum / (double)count;
}

/* s_i = (1/C(n,k)) sum over k-subsets containing i of their max. */
double oracle_s(const double* g, int n, int k, int i) {
  double sum = 0;
  long count = 0;
  for (uint32_t m = 0; m < (1u << n); ++m) {
    if (__builtin_popcount(m) != k) continue;
    ++count;
    if (!(m >> i & 1)) continue;
    double mx = -INFINITY;
    for (int j = 0; j < n; ++j)
      if (m >> j & 1) mx = g[j] > mx ? g[j] : mx;
    sum += mx;
  }
  return sum / (double)count;
}

/* The transform of one group of finite rewards, with k already clamped to n. sloo_minus_one and
 * l2o are shift-invariant (docs/math.md §4): they are evaluated on g - min(g), which is exact
 * (Sterbenz) and keeps the oracle's own cancellation far below the 1e-12 target for offset rewards
 * like 100 + 0.01 u. */
void oracle_transform(int est, const double* g_in, int n, int k, double* out) {
  double g[32];
  double lo = g_in[0];
  for (int i = 0; i < n; ++i) lo = g_in[i] < lo ? g_in[i] : lo;
  const int shift = est == EST_SMO || est == EST_L2O;
  for (int i = 0; i < n; ++i) g[i] = shift ? g_in[i] - lo : g_in[i];
  for (int i = 0; i < n; ++i) {
    const double s = oracle_s(g, n, k, i);
    double a;
    if (n == 1) {
      a = est == EST_S ? g[0] : 0.0;
    } else if (est == EST_S) {
      a = s;
    } else if (est == EST_SLOO) {
      a = k == n ? s : s - (double)k / (n - 1) * oracle_U(g, n, k, i);
    } else {
      int e = est;
      if (e == EST_L2O && k == n) e = EST_SMO; /* docs/math.md: l2o falls back at k = n */
      if (e == EST_SMO && k == 1) e = EST_L2O; /* docs/math.md: sloo_minus_one's k = 1 rule */
      a = e == EST_SMO ? s - (double)k / n * oracle_U(g, n, k - 1, i)
                       : s - (double)k / n * oracle_U(g, n, k, i);
    }
    out[i] = a;
  }
}

/* ---- output parsing ---------------------------------------------------------------------------- */

/* Splits text into lines (LF; a CR before it is dropped). Returns the count; lines[] point into a
 * modified copy of the text owned by *store. */
int split_lines(const char* text, char*** lines, char** store) {
  *store = strdup(text);
  int cap = 64, n = 0;
  *lines = (char**)malloc(sizeof(char*) * (size_t)cap);
  char* p = *store;
  while (*p) {
    char* nl = strchr(p, '\n');
    if (n == cap) *lines = (char**)realloc(*lines, sizeof(char*) * (size_t)(cap *= 2));
    (*lines)[n++] = p;
    if (!nl) break;
    if (nl > p && nl[-1] == '\r') nl[-1] = '\0';
    *nl = '\0';
    p = nl + 1;
  }
  return n;
}

/* The number after the last comma of a line. */
double last_field(const char* line) {
  const char* c = strrchr(line, ',');
  return c ? strtod(c + 1, NULL) : NAN;
}

/* ---- random data ------------------------------------------------------------------------------- */

uint64_t g_rng = 0x9e3779b97f4a7c15ull;
uint64_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}
double rnd_unit(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }

/* ---- a random batch ---------------------------------------------------------------------------- */

void make_batch(batch* b, int with_nan) {
  static const char* const stems[] = {"plain", "with,comma", "quote\"d", "sp ace", "multi\nline",
                                      "ünïcödé", "", "x"};
  memset(b, 0, sizeof *b);
  b->num_groups = 40;
  for (int q = 0; q < b->num_groups; ++q) {
    snprintf(b->name[q], sizeof b->name[q], "%s%d", stems[q % 8], q);
    b->size[q] = 1 + (int)(rnd() % 9);
    for (int i = 0; i < b->size[q]; ++i) {
      const int kind = q % 3;
      b->g[q][i] = kind == 0 ? (double)(rnd() % 2)                     /* binary */
                   : kind == 1 ? (double)(int)(rnd() % 4) - 1.5          /* ties, negative */
                               : 100.0 + 0.01 * rnd_unit();              /* offset continuous */
      if (with_nan && q % 7 == 3 && i == 0) b->g[q][i] = NAN;
      b->row_group[b->rows] = q;
      b->row_pos[b->rows] = i;
      ++b->rows;
    }
  }
  for (int i = b->rows - 1; i > 0; --i) { /* shuffle rows */
    const int j = (int)(rnd() % (uint64_t)(i + 1));
    int t = b->row_group[i];
    b->row_group[i] = b->row_group[j];
    b->row_group[j] = t;
    t = b->row_pos[i];
    b->row_pos[i] = b->row_pos[j];
    b->row_pos[j] = t;
  }
}

void csv_field(FILE* f, const char* s) {
  if (strpbrk(s, ",\"\n\r") || s[0] == ' ') {
    fputc('"', f);
    for (; *s; ++s) {
      if (*s == '"') fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  } else {
    fputs(s, f);
  }
}

void write_batch_csv(const batch* b, const char* path) {
  FILE* f = fopen(path, "wb");
  fputs("row,reward,group\n", f); /* reward before group on purpose */
  for (int r = 0; r < b->rows; ++r) {
    const double v = b->g[b->row_group[r]][b->row_pos[r]];
    if (isnan(v))
      fprintf(f, "%d,NaN,", r);
    else
      fprintf(f, "%d,%.17g,", r, v);
    csv_field(f, b->name[b->row_group[r]]);
    fputc('\n', f);
  }
  fclose(f);
}

/* The transformed values of the output, in row order (the last field of each record). Quoted
 * names may hold newlines, so this walks records with a minimal RFC 4180 scanner. */
int output_values(const char* out, double* vals, int max) {
  const char* p = strchr(out, '\n');
  if (!p) return 0;
  ++p;
  int n = 0;
  while (*p && n < max) {
    const char* last = p;
    int q = 0;
    for (; *p && (q || *p != '\n'); ++p) {
      if (*p == '"') q = !q;
      if (!q && *p == ',') last = p + 1;
    }
    vals[n++] = strtod(last, NULL);
    if (*p) ++p;
  }
  return n;
}

/* Exit status, one-line message naming file and line, and no output file left behind. */
void expect_error(result* r, int rc, const char* needle1, const char* needle2,
                         const char* what) {
  CHECK(r->rc == rc, "%s: rc %d want %d (stderr: %s)", what, r->rc, rc, r->err);
  CHECK(strstr(r->err, needle1) != NULL, "%s: stderr lacks '%s': %s", what, needle1, r->err);
  if (needle2) CHECK(strstr(r->err, needle2) != NULL, "%s: stderr lacks '%s': %s", what, needle2, r->err);
  const char* nl = strchr(r->err, '\n');
  CHECK(nl && nl[1] == '\0', "%s: message is not exactly one line: %s", what, r->err);
  CHECK(r->out_len == 0, "%s: wrote %zu bytes to stdout", what, r->out_len);
  CHECK(!file_exists(path_in("out.csv")), "%s: output file left behind", what);
  CHECK(tmp_leftovers() == 0, "%s: temporary file left behind", what);
  result_free(r);
}

/* ---- NPY ---- */

void write_npy(const char* path, const char* descr, const char* shape, const void* data,
               size_t bytes, int swap_to_big) {
  char dict[200];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   descr, shape);
  const size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
  const size_t hlen = (size_t)n + 1 + pad;
  FILE* f = fopen(path, "wb");
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 255),
                                 (unsigned char)(hlen >> 8)};
  fwrite(pre, 1, 10, f);
  fwrite(dict, 1, (size_t)n, f);
  for (size_t i = 0; i < pad; ++i) fputc(' ', f);
  fputc('\n', f);
  if (swap_to_big) {
    const size_t es = descr[2] == '8' ? 8 : 4;
    const unsigned char* p = (const unsigned char*)data;
    for (size_t i = 0; i < bytes; i += es)
      for (size_t b = 0; b < es; ++b) fputc(p[i + es - 1 - b], f);
  } else {
    fwrite(data, 1, bytes, f);
  }
  fclose(f);
}

const unsigned char* npy_payload(const char* buf, size_t len, const char* descr,
                                 const char* shape, size_t* bytes) {
  if (len < 10 || memcmp(buf, "\x93NUMPY\x01\x00", 8) != 0) return NULL;
  const size_t hlen = (size_t)(unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
  if ((10 + hlen) % 64 != 0 || 10 + hlen > len) return NULL;
  char want[200];
  snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
           shape);
  if (strncmp(buf + 10, want, strlen(want)) != 0) return NULL;
  *bytes = len - 10 - hlen;
  return (const unsigned char*)buf + 10 + hlen;
}

void remove_dir(const char* dir) {
  DIR* d = opendir(dir);
  struct dirent* e;
  char p[600];
  while (d && (e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}
