/*
 * cli_test.c -- end-to-end tests of the `pkpo` command-line tool.
 *
 *   cli_test PKPO_BINARY EXAMPLES_DIR SUITE
 *
 * Runs the tool as a child process (stdin/stdout/stderr redirected to files in a scratch directory)
 * and checks exit statuses, messages, files left behind and every number written. Expected values
 * come from docs/math.md's worked examples (exact fractions) or from the brute-force oracle of
 * harness.c (the average over all k-subsets, straight from the definitions), never from pkpo itself.
 * Each suite is one ctest test (label `cli`); the suites of mixtures over k and of the min statistic
 * are in cli_objectives.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- suites ------------------------------------------------------------------------------------ */

/* docs/math.md worked examples, exact fractions, to 1e-15. */
static void suite_worked(void) {
  /* g = (1/2, 0, 1, 1/4, 3/4), columns around group/reward to check they are kept */
  write_text(path_in("ex.csv"),
             "id,group,reward,note\n1,p,0.5,a\n2,p,0,b\n3,p,1,c\n4,p,0.25,d\n5,p,0.75,e\n");
  static const double table[4][5][5] = {
      /* s */
      {{1. / 10, 0, 1. / 5, 1. / 20, 3. / 20},
       {11. / 40, 1. / 4, 2. / 5, 1. / 4, 13. / 40},
       {1. / 2, 1. / 2, 3. / 5, 1. / 2, 21. / 40},
       {3. / 4, 3. / 4, 4. / 5, 3. / 4, 3. / 4},
       {1, 1, 1, 1, 1}},
      /* sloo */
      {{-1. / 40, -5. / 32, 17. / 160, -29. / 320, 13. / 320},
       {-29. / 240, -1. / 6, 13. / 120, -1. / 6, -7. / 240},
       {-13. / 64, -13. / 64, 27. / 320, -13. / 64, -21. / 160},
       {-1. / 4, -1. / 4, 1. / 20, -1. / 4, -1. / 4},
       {1, 1, 1, 1, 1}},
      /* sloo_minus_one */
      {{0, -1. / 8, 1. / 8, -1. / 16, 1. / 16},
       {3. / 40, 0, 1. / 4, 1. / 40, 3. / 20},
       {1. / 40, 0, 1. / 4, 0, 1. / 10},
       {0, 0, 1. / 4, 0, 1. / 20},
       {0, 0, 1. / 4, 0, 0}},
      /* l2o (k = 5 falls back to sloo_minus_one) */
      {{0, -1. / 8, 1. / 8, -1. / 16, 1. / 16},
       {-1. / 24, -1. / 12, 1. / 6, -1. / 12, 1. / 24},
       {-1. / 16, -1. / 16, 3. / 16, -1. / 16, 0},
       {-1. / 20, -1. / 20, 1. / 5, -1. / 20, -1. / 20},
       {0, 0, 1. / 4, 0, 0}}};
  static const char* const in_lines[] = {"id,group,reward,note", "1,p,0.5,a", "2,p,0,b", "3,p,1,c",
                                         "4,p,0.25,d", "5,p,0.75,e"};
  for (int e = 0; e < 4; ++e) {
    for (int k = 1; k <= 5; ++k) {
      char ks[8];
      snprintf(ks, sizeof ks, "%d", k);
      result r = run(NULL, "transform", "-k", ks, "-e", k_est_names[e], "ex.csv", NULL);
      CHECK(r.rc == 0, "worked %s k=%d: rc %d, stderr %s", k_est_names[e], k, r.rc, r.err);
      char** lines;
      char* store;
      const int n = split_lines(r.out, &lines, &store);
      CHECK(n == 6, "worked: %d lines", n);
      for (int i = 0; i < n && i < 6; ++i) {
        char expect_prefix[64];
        snprintf(expect_prefix, sizeof expect_prefix, "%s,", in_lines[i]);
        CHECK(strncmp(lines[i], expect_prefix, strlen(expect_prefix)) == 0,
              "row %d not kept: '%s'", i, lines[i]);
        if (i == 0) {
          CHECK(strcmp(lines[0], "id,group,reward,note,transformed") == 0, "header '%s'", lines[0]);
          continue;
        }
        const double got = last_field(lines[i]);
        const double want = table[e][k - 1][i - 1];
        CHECK(fabs(got - want) <= 1e-15, "worked %s k=%d row %d: got %.17g want %.17g",
              k_est_names[e], k, i, got, want);
      }
      /* l2o at k = n warns about the fallback; nothing else warns here */
      if (e == EST_L2O && k == 5)
        CHECK(strstr(r.err, "sloo_minus_one was used") != NULL, "l2o k=n warning: %s", r.err);
      else
        CHECK(r.err[0] == '\0', "unexpected stderr: %s", r.err);
      free(lines);
      free(store);
      result_free(&r);
    }
  }
  /* rho at every k, and the binary example */
  result r = run(NULL, "estimate", "--all-k", "ex.csv", NULL);
  CHECK(r.rc == 0, "estimate rc %d", r.rc);
  {
    char** lines;
    char* store;
    const int n = split_lines(r.out, &lines, &store);
    static const double rho[5] = {0.5, 0.75, 0.875, 0.95, 1.0};
    CHECK(n == 6 && strcmp(lines[0], "group,n,k,rho") == 0, "estimate header/rows: %s", r.out);
    for (int i = 1; i < n && i < 6; ++i) {
      char want[32];
      snprintf(want, sizeof want, "p,5,%d,", i);
      CHECK(strncmp(lines[i], want, strlen(want)) == 0, "estimate row '%s'", lines[i]);
      CHECK(fabs(last_field(lines[i]) - rho[i - 1]) <= 1e-15, "rho k=%d: %s", i, lines[i]);
    }
    free(lines);
    free(store);
  }
  result_free(&r);

  write_text(path_in("bin.csv"), "group,reward\nb,1\nb,0\nb,0\nb,1\nb,0\nb,0\nb,0\nb,1\n");
  static const double bin_g[8] = {1, 0, 0, 1, 0, 0, 0, 1};
  const double want_bin[4][2] = {{1. / 2, 31. / 70}, {1. / 98, -11. / 98}, {1. / 7, 0},
                                 {1. / 14, -3. / 70}};
  for (int e = 0; e < 4; ++e) {
    r = run(NULL, "transform", "-k", "4", "-e", k_est_names[e], "bin.csv", NULL);
    CHECK(r.rc == 0, "binary rc %d", r.rc);
    char** lines;
    char* store;
    const int n = split_lines(r.out, &lines, &store);
    CHECK(n == 9, "binary lines %d", n);
    for (int i = 1; i < n && i < 9; ++i) {
      const double want = want_bin[e][bin_g[i - 1] == 1 ? 0 : 1];
      CHECK(fabs(last_field(lines[i]) - want) <= 1e-15, "binary %s row %d: %s want %.17g",
            k_est_names[e], i, lines[i], want);
    }
    free(lines);
    free(store);
    result_free(&r);
  }
  r = run(NULL, "estimate", "-k", "4", "bin.csv", NULL);
  CHECK(r.rc == 0 && strncmp(r.out, "group,n,k,rho\nb,8,4,", 20) == 0, "binary rho: %s", r.out);
  CHECK(fabs(last_field(r.out + 14) - 13. / 14) <= 1e-15, "binary rho 13/14: %s", r.out);
  result_free(&r);
}

static void check_batch_transform(const batch* b, const char* file, int est, int k, int f32,
                                  int nan_policy /* 0 exclude 1 propagate */) {
  char ks[16];
  snprintf(ks, sizeof ks, "%d", k);
  result r = run(NULL, "transform", "-k", ks, "-e", k_est_names[est], "--precision",
                 f32 ? "f32" : "f64", "--nan", nan_policy ? "propagate" : "exclude", "-q", file,
                 NULL);
  CHECK(r.rc == 0, "batch %s k=%d rc=%d: %s", k_est_names[est], k, r.rc, r.err);
  double vals[400];
  const int n = output_values(r.out, vals, 400);
  CHECK(n == b->rows, "batch rows %d != %d", n, b->rows);
  double expect[40][9];
  for (int q = 0; q < b->num_groups; ++q) {
    double fin[9];
    int pos[9], m = 0, has_nan = 0;
    for (int i = 0; i < b->size[q]; ++i) {
      if (isnan(b->g[q][i])) {
        has_nan = 1;
        expect[q][i] = nan_policy ? NAN : 0.0;
        continue;
      }
      fin[m] = f32 ? (double)(float)b->g[q][i] : b->g[q][i];
      pos[m++] = i;
    }
    double a[9];
    if (m > 0) oracle_transform(est, fin, m, k < m ? k : m, a);
    for (int j = 0; j < m; ++j) expect[q][pos[j]] = (has_nan && nan_policy) ? NAN : a[j];
  }
  for (int r2 = 0; r2 < n && r2 < b->rows; ++r2) {
    const int q = b->row_group[r2];
    const double want = expect[q][b->row_pos[r2]];
    double lo = INFINITY, hi = -INFINITY, amax = 0;
    for (int i = 0; i < b->size[q]; ++i) {
      const double v = b->g[q][i];
      if (isnan(v)) continue;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      amax = fabs(v) > amax ? fabs(v) : amax;
    }
    /* docs/math.md §4 accuracy targets, scale (k/n)*range or (k/n)*max|g| */
    const int m = b->size[q];
    const double kn = (double)(k < m ? k : m) / m;
    double scale = (est == EST_SMO || est == EST_L2O) ? kn * (hi - lo) : kn * amax;
    if (scale == 0) scale = 1e-300;
    const double tol = f32 ? 4e-6 : 1e-12;
    if (isnan(want)) {
      CHECK(isnan(vals[r2]), "row %d: want nan got %.17g", r2, vals[r2]);
    } else {
      const double err = fabs(vals[r2] - want) / scale;
      CHECK(err <= tol || (want == 0 && vals[r2] == 0),
            "batch %s k=%d f32=%d row %d (group %d): got %.17g want %.17g (err %.3g)",
            k_est_names[est], k, f32, r2, q, vals[r2], want, err);
    }
  }
  result_free(&r);
}

static void suite_oracle(void) {
  batch b;
  make_batch(&b, 0);
  write_batch_csv(&b, path_in("batch.csv"));
  static const int ks[] = {1, 2, 3, 5, 20};
  for (int e = 0; e < 4; ++e)
    for (int j = 0; j < 5; ++j) {
      check_batch_transform(&b, "batch.csv", e, ks[j], 0, 0);
      if (j == 1 || j == 3) check_batch_transform(&b, "batch.csv", e, ks[j], 1, 0);
    }

  /* every other column and the row order are kept byte for byte */
  {
    result r = run(NULL, "transform", "-k", "2", "-q", "batch.csv", NULL);
    char* in = read_file(path_in("batch.csv"), NULL);
    const char* p = in;
    const char* o = r.out;
    int ok = 1;
    while (*p && ok) { /* every input record is a prefix of the output record */
      const char* end = p;
      int q = 0;
      for (; *end && (q || *end != '\n'); ++end)
        if (*end == '"') q = !q;
      const size_t len = (size_t)(end - p);
      ok = strncmp(p, o, len) == 0 && o[len] == ',';
      const char* oe = o + len;
      while (*oe && *oe != '\n') ++oe;
      o = *oe ? oe + 1 : oe;
      p = *end ? end + 1 : end;
    }
    CHECK(ok && *o == '\0', "columns or row order not kept");
    free(in);
    result_free(&r);
  }

  /* estimate -k list: U_k of each group at min(k, n), groups in first-appearance order */
  result r = run(NULL, "estimate", "-k", "1,3,20", "-q", "batch.csv", NULL);
  CHECK(r.rc == 0, "estimate rc %d: %s", r.rc, r.err);
  {
    char** lines;
    char* store;
    const int n = split_lines(r.out, &lines, &store);
    int multi = 0;
    for (int q = 0; q < b.num_groups; ++q) multi += strchr(b.name[q], '\n') != NULL;
    CHECK(n == 1 + 3 * (b.num_groups + multi), "estimate lines %d", n);
    int order[40], seen[40] = {0}, ng = 0;
    for (int i = 0; i < b.rows; ++i)
      if (!seen[b.row_group[i]]) {
        seen[b.row_group[i]] = 1;
        order[ng++] = b.row_group[i];
      }
    /* names with newlines span lines; check the groups whose names are one line */
    int line = 1;
    for (int gi = 0; gi < ng && line < n; ++gi) {
      const int q = order[gi];
      const int multiline = strchr(b.name[q], '\n') != NULL;
      for (int j = 0; j < 3; ++j) {
        static const int kk[] = {1, 3, 20};
        if (multiline) {
          line += 2;
          continue;
        }
        const int m = b.size[q];
        const double want = oracle_U(b.g[q], m, kk[j] < m ? kk[j] : m, -1);
        char prefix[64];
        snprintf(prefix, sizeof prefix, ",%d,%d,", m, kk[j]);
        CHECK(strstr(lines[line], prefix) != NULL, "estimate line '%s' lacks '%s'", lines[line],
              prefix);
        CHECK(fabs(last_field(lines[line]) - want) <= 1e-12 * (fabs(want) + 1),
              "estimate %s k=%d: %s want %.17g", b.name[q], kk[j], lines[line], want);
        ++line;
      }
    }
    free(lines);
    free(store);
  }
  result_free(&r);

  /* estimate --all-k: k = 1..n per group */
  r = run(NULL, "estimate", "--all-k", "batch.csv", NULL);
  CHECK(r.rc == 0 && r.err[0] == '\0', "all-k rc %d: %s", r.rc, r.err);
  {
    int total = 0;
    for (int q = 0; q < b.num_groups; ++q) total += b.size[q];
    int records = 0;
    int q = 0;
    for (const char* p = r.out; *p; ++p) {
      if (*p == '"') q = !q;
      if (*p == '\n' && !q) ++records;
    }
    CHECK(records == 1 + total, "all-k records %d want %d", records, 1 + total);
  }
  result_free(&r);

  /* NaN handling: exclude and propagate against the oracle on the finite samples */
  make_batch(&b, 1);
  write_batch_csv(&b, path_in("nan.csv"));
  for (int e = 0; e < 4; ++e) {
    check_batch_transform(&b, "nan.csv", e, 3, 0, 0);
    check_batch_transform(&b, "nan.csv", e, 3, 0, 1);
  }
  r = run(NULL, "transform", "-k", "3", "nan.csv", NULL);
  CHECK(r.rc == 0 && strstr(r.err, "non-finite") && strstr(r.err, "excluded"),
        "nan exclude warning: %s", r.err);
  result_free(&r);
}

static void suite_errors(void) {
  write_text(path_in("good.csv"), "group,reward\na,1\na,0\nb,0.5\nb,0.25\n");
  result r;
#define BAD_CSV(text, rc, n1, n2)                                             \
  do {                                                                        \
    write_text(path_in("bad.csv"), text);                                     \
    r = run(NULL, "transform", "-k", "2", "bad.csv", "-o", "out.csv", NULL); \
    expect_error(&r, rc, n1, n2, text);                                       \
    r = run(NULL, "estimate", "-k", "2", "bad.csv", "-o", "out.csv", NULL);  \
    expect_error(&r, rc, n1, n2, text);                                       \
  } while (0)
  BAD_CSV("group,score\na,1\n", 2, "bad.csv:1:", "no column named 'reward'");
  BAD_CSV("prompt,reward\na,1\n", 2, "bad.csv:1:", "no column named 'group'");
  BAD_CSV("", 2, "bad.csv:1:", "empty input");
  BAD_CSV("group,reward\na,1\na,abc\n", 2, "bad.csv:3:", "reward 'abc' is not a number");
  BAD_CSV("group,reward\na,1\na,1.5x\n", 2, "bad.csv:3:", "is not a number");
  BAD_CSV("group,reward\na,1\n\"multi\nline\",2\na,\n", 2, "bad.csv:5:", "empty reward");
  BAD_CSV("group,reward\na,1\n\"a,0\n", 2, "bad.csv:3:", "unterminated quoted field");
  BAD_CSV("group,reward\na\"b,1\n", 2, "bad.csv:2:", "quote character inside an unquoted field");
  BAD_CSV("group,reward\n\"a\"b,1\n", 2, "bad.csv:2:", "after a closing quote");
  BAD_CSV("group,reward\na,1\na,1,extra\n", 2, "bad.csv:3:", "3 fields, but the header has 2");
  BAD_CSV("group,reward\na,1\na\n", 2, "bad.csv:3:", "1 field, but the header has 2");
  BAD_CSV("group,reward,group\na,1,a\n", 2, "bad.csv:1:", "twice");

  /* usage errors */
#define BAD_ARGS(rc, n1, n2, ...)                       \
  do {                                                  \
    r = run(NULL, __VA_ARGS__, "-o", "out.csv", NULL); \
    expect_error(&r, rc, n1, n2, #__VA_ARGS__);         \
  } while (0)
  BAD_ARGS(2, "unknown option '--bogus'", "--help", "transform", "-k", "2", "--bogus", "good.csv");
  BAD_ARGS(2, "unknown option '-z'", NULL, "transform", "-k", "2", "-z", "good.csv");
  BAD_ARGS(2, "unknown estimator 'grpo'", "sloo_minus_one", "transform", "-k", "2", "-e", "grpo",
           "good.csv");
  BAD_ARGS(2, "k must be >= 1", NULL, "transform", "-k", "0", "good.csv");
  BAD_ARGS(2, "k must be >= 1", NULL, "transform", "-k", "-3", "good.csv");
  BAD_ARGS(2, "not an integer", NULL, "transform", "-k", "2.5", "good.csv");
  BAD_ARGS(2, "-k K is required", NULL, "transform", "good.csv");
  r = run(NULL, "transform", "good.csv", "-k", NULL);
  expect_error(&r, 2, "option -k needs a value", NULL, "-k without a value");
  BAD_ARGS(2, "k must be >= 1", NULL, "estimate", "-k", "1,0,4", "good.csv");
  BAD_ARGS(2, "bad list of k", NULL, "estimate", "-k", "1,,4", "good.csv");
  BAD_ARGS(2, "-k K1,K2,... or --all-k", NULL, "estimate", "good.csv");
  BAD_ARGS(2, "exclude each other", NULL, "estimate", "-k", "2", "--all-k", "good.csv");
  BAD_ARGS(2, "unknown option '--all-k'", NULL, "transform", "-k", "2", "--all-k", "good.csv");
  BAD_ARGS(2, "unknown option '-e'", NULL, "estimate", "-k", "2", "-e", "s", "good.csv");
  BAD_ARGS(2, "unknown precision 'f16'", NULL, "transform", "-k", "2", "--precision", "f16",
           "good.csv");
  BAD_ARGS(2, "unknown device 'tpu'", NULL, "transform", "-k", "2", "--device", "tpu", "good.csv");
  BAD_ARGS(2, "unknown --nan policy 'zero'", NULL, "transform", "-k", "2", "--nan", "zero",
           "good.csv");
  BAD_ARGS(2, "unknown --k-policy 'loose'", NULL, "transform", "-k", "2", "--k-policy", "loose",
           "good.csv");
  BAD_ARGS(2, "--group-size", "integer >= 1", "transform", "-k", "2", "--group-size", "0",
           "good.csv");
  BAD_ARGS(2, "--group-size applies to .npy input only", NULL, "transform", "-k", "2",
           "--group-size", "2", "good.csv");
  BAD_ARGS(2, "thread count", NULL, "transform", "-k", "2", "-j", "0", "good.csv");
  BAD_ARGS(2, "takes no value", NULL, "transform", "-k", "2", "--progress=yes", "good.csv");
  BAD_ARGS(2, "more than one input", NULL, "transform", "-k", "2", "good.csv", "good.csv");
  BAD_ARGS(2, "cannot open 'missing.csv'", NULL, "transform", "-k", "2", "missing.csv");
  BAD_ARGS(2, "no column named 'score'", NULL, "transform", "-k", "2", "--reward-column", "score",
           "good.csv");
  r = run(NULL, "frobnicate", NULL);
  expect_error(&r, 2, "unknown command 'frobnicate'", NULL, "unknown command");
  r = run(NULL, NULL);
  CHECK(r.rc == 2 && strstr(r.err, "Usage:"), "no arguments: rc %d", r.rc);
  result_free(&r);

  /* policy errors: exit 1 naming the group (and line) */
  write_text(path_in("nan.csv"), "group,reward\nok,1\nok,0\n\"bad, group\",0.5\n\"bad, group\",nan\n");
  r = run(NULL, "transform", "-k", "1", "--nan", "error", "nan.csv", "-o", "out.csv", NULL);
  expect_error(&r, 1, "nan.csv:5:", "group 'bad, group'", "--nan error");
  r = run(NULL, "estimate", "-k", "1", "--nan", "error", "nan.csv", "-o", "out.csv", NULL);
  expect_error(&r, 1, "nan.csv:5:", "group 'bad, group'", "estimate --nan error");
  write_text(path_in("small.csv"), "group,reward\nbig,1\nbig,0\nbig,1\ntiny,0.5\nbig,0\ntiny,1\n");
  r = run(NULL, "transform", "-k", "3", "--k-policy", "strict", "small.csv", "-o", "out.csv", NULL);
  expect_error(&r, 1, "group 'tiny'", "fewer than k = 3", "--k-policy strict");
  r = run(NULL, "estimate", "-k", "1,3", "--k-policy", "strict", "small.csv", "-o", "out.csv",
          NULL);
  expect_error(&r, 1, "small.csv:5:", "group 'tiny'", "estimate --k-policy strict");
  /* under --nan exclude, a NaN makes a group too small */
  write_text(path_in("small2.csv"), "group,reward\ng,1\ng,inf\ng,0\n");
  r = run(NULL, "transform", "-k", "3", "--k-policy", "strict", "small2.csv", "-o", "out.csv",
          NULL);
  expect_error(&r, 1, "group 'g' has 2 usable samples", NULL, "strict after exclusion");

  /* an existing output file is left untouched by a failing run */
  write_text(path_in("keep.csv"), "precious\n");
  write_text(path_in("bad.csv"), "group,reward\na,x\n");
  r = run(NULL, "transform", "-k", "2", "bad.csv", "-o", "keep.csv", NULL);
  CHECK(r.rc == 2, "keep: rc %d", r.rc);
  char* kept = read_file(path_in("keep.csv"), NULL);
  CHECK(kept && strcmp(kept, "precious\n") == 0, "existing output modified on error");
  free(kept);
  CHECK(tmp_leftovers() == 0, "keep: temporary file left behind");
  result_free(&r);

  /* --device cuda: a clear error on a build without CUDA or a machine without a GPU */
  r = run(NULL, "transform", "-k", "2", "--device", "cuda", "good.csv", "-o", "out.csv", NULL);
#ifndef CLI_TEST_HAVE_CUDA
  expect_error(&r, 2, "--device cuda", "built without the CUDA backend", "--device cuda");
#else
  if (r.rc != 0) {
    expect_error(&r, 2, "--device cuda", "no usable CUDA device", "--device cuda");
  } else {
    result c = run(NULL, "transform", "-k", "2", "--device", "cpu", "good.csv", NULL);
    char* got = read_file(path_in("out.csv"), NULL);
    CHECK(got && strcmp(got, c.out) == 0, "cuda output differs from cpu");
    free(got);
    unlink(path_in("out.csv"));
    result_free(&c);
    result_free(&r);
  }
#endif
}

/* CSV details: CRLF, quoting, BOM, blank lines, column placement, names, empty batch. */
static void suite_csv(void) {
  result r;
  /* CRLF in, CRLF out; quoted fields (comma, doubled quotes, newline) kept byte for byte */
  write_text(path_in("crlf.csv"),
             "note,group,reward\r\n\"a, \"\"b\"\"\",g1,1\r\n\"line1\r\nline2\",g1,0\r\nx,g2,0.5\r\n"
             ",g2,0.25\r\n");
  r = run(NULL, "transform", "-k", "1", "-e", "s", "crlf.csv", NULL);
  CHECK(r.rc == 0, "crlf rc %d %s", r.rc, r.err);
  CHECK(strcmp(r.out, "note,group,reward,transformed\r\n"
                      "\"a, \"\"b\"\"\",g1,1,0.5\r\n"
                      "\"line1\r\nline2\",g1,0,0\r\n"
                      "x,g2,0.5,0.25\r\n"
                      ",g2,0.25,0.125\r\n") == 0,
        "crlf output:\n%s", r.out);
  result_free(&r);

  /* no final newline, BOM, blank lines, quoted group and reward, spaces around the number */
  write_text(path_in("bom.csv"), "\xEF\xBB\xBFgroup,reward\n\n\"p\",\" 1 \"\np,0\n\n\"p\",\"0.5\"");
  r = run(NULL, "transform", "-k", "1", "-e", "s", "bom.csv", NULL);
  CHECK(r.rc == 0, "bom rc %d %s", r.rc, r.err);
  CHECK(strcmp(r.out, "\xEF\xBB\xBFgroup,reward,transformed\n\"p\",\" 1 \",0.33333333333333331\n"
                      "p,0,0\n\"p\",\"0.5\",0.16666666666666666\n") == 0,
        "bom output:\n%s", r.out);
  result_free(&r);

  /* groups need not be adjacent; "a" quoted and unquoted are one group; names are strings */
  write_text(path_in("mix.csv"), "group,reward\n1,1\n01,0\n\"1\",0\n01,1\n1.0,0.5\n");
  r = run(NULL, "estimate", "-k", "1", "mix.csv", NULL);
  CHECK(r.rc == 0 && strcmp(r.out, "group,n,k,rho\n1,2,1,0.5\n01,2,1,0.5\n1.0,1,1,0.5\n") == 0,
        "string ids:\n%s", r.out);
  result_free(&r);

  /* group names needing quotes are quoted in estimate's output */
  write_text(path_in("names.csv"), "group,reward\n\"a,b\",1\n\"say \"\"hi\"\"\",0\n");
  r = run(NULL, "estimate", "-k", "1", "names.csv", NULL);
  CHECK(r.rc == 0 && strcmp(r.out, "group,n,k,rho\n\"a,b\",1,1,1\n\"say \"\"hi\"\"\",1,1,0\n") == 0,
        "quoted names:\n%s", r.out);
  result_free(&r);

  /* custom column names */
  write_text(path_in("cols.csv"), "uid,score,group\nu,1,ignored\nu,0,ignored2\n");
  r = run(NULL, "transform", "-k", "1", "-e", "s", "--group-column", "uid", "--reward-column=score",
          "cols.csv", NULL);
  CHECK(r.rc == 0 && strcmp(r.out, "uid,score,group,transformed\nu,1,ignored,0.5\nu,0,ignored2,0\n") == 0,
        "custom columns:\n%s%s", r.out, r.err);
  result_free(&r);

  /* header only: an empty batch is valid */
  write_text(path_in("empty.csv"), "group,reward\n");
  r = run(NULL, "transform", "-k", "4", "empty.csv", NULL);
  CHECK(r.rc == 0 && strcmp(r.out, "group,reward,transformed\n") == 0, "empty batch: %s", r.out);
  result_free(&r);
  r = run(NULL, "estimate", "--all-k", "empty.csv", NULL);
  CHECK(r.rc == 0 && strcmp(r.out, "group,n,k,rho\n") == 0, "empty estimate: %s", r.out);
  result_free(&r);

  /* non-finite spellings are accepted (--nan propagate shows them as nan) */
  write_text(path_in("inf.csv"),
             "group,reward\na,NaN\na,1\nb,inf\nb,0\nc,-Infinity\nc,0\nd,-inf\nd,1\ne,1e999\ne,0\nf,2\nf,1\n");
  r = run(NULL, "transform", "-k", "1", "-e", "s", "--nan", "propagate", "-q", "inf.csv", NULL);
  CHECK(r.rc == 0, "inf rc %d", r.rc);
  CHECK(strcmp(r.out, "group,reward,transformed\na,NaN,nan\na,1,nan\nb,inf,nan\nb,0,nan\n"
                      "c,-Infinity,nan\nc,0,nan\nd,-inf,nan\nd,1,nan\ne,1e999,nan\ne,0,nan\n"
                      "f,2,1\nf,1,0.5\n") == 0,
        "propagate:\n%s", r.out);
  result_free(&r);
  r = run(NULL, "transform", "-k", "1", "-e", "s", "inf.csv", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "a,NaN,0\na,1,1\n") && strstr(r.out, "f,2,1\nf,1,0.5\n"),
        "exclude:\n%s", r.out);
  CHECK(strstr(r.err, "5 groups held non-finite rewards") != NULL, "exclude warning: %s", r.err);
  result_free(&r);
  r = run(NULL, "estimate", "-k", "1", "inf.csv", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "\na,1,1,1\n") && strstr(r.out, "\nf,2,1,1.5\n"),
        "estimate n counts usable samples:\n%s", r.out);
  result_free(&r);
  /* a group with no finite reward */
  write_text(path_in("allnan.csv"), "group,reward\nz,nan\nz,nan\ny,1\n");
  r = run(NULL, "estimate", "-k", "1", "allnan.csv", NULL);
  CHECK(r.rc == 0 && strcmp(r.out, "group,n,k,rho\nz,0,1,nan\ny,1,1,1\n") == 0 &&
            strstr(r.err, "no finite reward"),
        "all-nan group:\n%s%s", r.out, r.err);
  result_free(&r);
}

/* ---- NPY --------------------------------------------------------------------------------------- */

static void suite_npy(void) {
  /* 37 groups of 6: a prime count, ties, binary and continuous */
  enum { G = 37, N = 6 };
  double g64[G * N];
  float g32[G * N];
  FILE* csv = fopen(path_in("same.csv"), "wb");
  fputs("group,reward\n", csv);
  for (int i = 0; i < G * N; ++i) {
    const int q = i / N;
    g64[i] = q % 2 ? (double)(rnd() % 2) : (double)(int)(rnd() % 5) * 0.3 - 0.4 + rnd_unit() * (q % 3);
    g32[i] = (float)g64[i];
    fprintf(csv, "%d,%.17g\n", q, g64[i]);
  }
  fclose(csv);
  write_npy(path_in("r64.npy"), "<f8", "(222,)", g64, sizeof g64, 0);
  write_npy(path_in("r64be.npy"), ">f8", "(222,)", g64, sizeof g64, 1);
  write_npy(path_in("r64_2d.npy"), "<f8", "(37, 6)", g64, sizeof g64, 0);
  write_npy(path_in("r32.npy"), "<f4", "(222,)", g32, sizeof g32, 0);

  for (int e = 0; e < 4; ++e) {
    /* the CSV path prints 17 significant digits: parsing them must give the NPY path's bits */
    result c = run(NULL, "transform", "-k", "3", "-e", k_est_names[e], "same.csv", NULL);
    double vals[G * N];
    CHECK(output_values(c.out, vals, G * N) == G * N, "csv rows");
    static const char* const files[] = {"r64.npy", "r64be.npy", "r64_2d.npy"};
    for (int f = 0; f < 3; ++f) {
      result r = f == 2 ? run(NULL, "transform", "-k", "3", "-e", k_est_names[e], files[f], "-o",
                              "o.npy", NULL)
                        : run(NULL, "transform", "-k", "3", "-e", k_est_names[e], "--group-size",
                              "6", files[f], "-o", "o.npy", NULL);
      CHECK(r.rc == 0 && r.out_len == 0, "npy %s rc %d: %s", files[f], r.rc, r.err);
      size_t len, bytes = 0;
      char* o = read_file(path_in("o.npy"), &len);
      const unsigned char* p = o ? npy_payload(o, len, "<f8", f == 2 ? "(37, 6)" : "(222,)", &bytes)
                                 : NULL;
      CHECK(p && bytes == sizeof g64, "npy %s header/size", files[f]);
      int same = p != NULL;
      for (int i = 0; p && i < G * N; ++i) {
        double v;
        memcpy(&v, p + 8 * i, 8);
        same &= memcmp(&v, &vals[i], 8) == 0;
      }
      CHECK(same, "npy %s %s differs from the CSV path", files[f], k_est_names[e]);
      free(o);
      result_free(&r);
    }
    result_free(&c);

    /* float32 NPY against the CSV path at --precision f32 (9 digits round-trip a float) */
    c = run(NULL, "transform", "-k", "3", "-e", k_est_names[e], "--precision", "f32", "same.csv",
            NULL);
    CHECK(output_values(c.out, vals, G * N) == G * N, "csv f32 rows");
    result r = run(NULL, "transform", "-k", "3", "-e", k_est_names[e], "--group-size", "6",
                   "r32.npy", "-o", "o32.npy", NULL);
    CHECK(r.rc == 0, "npy f32 rc %d: %s", r.rc, r.err);
    size_t len, bytes = 0;
    char* o = read_file(path_in("o32.npy"), &len);
    const unsigned char* p = o ? npy_payload(o, len, "<f4", "(222,)", &bytes) : NULL;
    CHECK(p && bytes == sizeof g32, "npy f32 header/size");
    int same = p != NULL;
    for (int i = 0; p && i < G * N; ++i) {
      float v;
      memcpy(&v, p + 4 * i, 4);
      const float w = (float)vals[i];
      same &= memcmp(&v, &w, 4) == 0;
    }
    CHECK(same, "npy f32 %s differs from the CSV path", k_est_names[e]);
    free(o);
    result_free(&r);
    result_free(&c);
  }

  /* stdin and stdout ('-') for both formats */
  result a = run(NULL, "transform", "-k", "2", "--group-size", "6", "r64.npy", NULL);
  result b = run(path_in("r64.npy"), "transform", "-k", "2", "--group-size", "6", "-", "-o", "-",
                 NULL);
  CHECK(a.rc == 0 && b.rc == 0 && a.out_len == b.out_len && a.out_len > 64 &&
            memcmp(a.out, b.out, a.out_len) == 0,
        "npy via stdin/stdout differs");
  result_free(&a);
  result_free(&b);
  a = run(NULL, "transform", "-k", "2", "same.csv", NULL);
  b = run(path_in("same.csv"), "transform", "-k", "2", NULL);
  CHECK(a.rc == 0 && b.rc == 0 && strcmp(a.out, b.out) == 0, "csv via stdin differs");
  result_free(&a);
  result_free(&b);

  /* estimate on NPY: groups named 0..G-1, same numbers as the CSV (whose ids are 0..G-1) */
  a = run(NULL, "estimate", "-k", "1,2,6", "--group-size", "6", "r64.npy", NULL);
  b = run(NULL, "estimate", "-k", "1,2,6", "same.csv", NULL);
  CHECK(a.rc == 0 && b.rc == 0 && strcmp(a.out, b.out) == 0, "npy estimate differs:\n%s", a.out);
  result_free(&a);
  result_free(&b);

  /* errors */
  result r;
  r = run(NULL, "transform", "-k", "2", "r64.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "give --group-size N", NULL, "1-D without --group-size");
  r = run(NULL, "transform", "-k", "2", "--group-size", "5", "r64.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "not a multiple of --group-size 5", NULL, "group size does not divide");
  r = run(NULL, "transform", "-k", "2", "--group-size", "5", "r64_2d.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "contradicts the shape (37, 6)", NULL, "2-D group size");
  r = run(NULL, "transform", "-k", "2", "--precision", "f32", "r64_2d.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "--precision f32 does not apply", NULL, "precision vs dtype");
  int64_t ints[4] = {1, 0, 1, 1};
  write_npy(path_in("int.npy"), "<i8", "(4,)", ints, sizeof ints, 0);
  r = run(NULL, "transform", "-k", "2", "--group-size", "2", "int.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "int.npy: unsupported NPY dtype '<i8'", NULL, "int dtype");
  write_npy(path_in("short.npy"), "<f8", "(5,)", g64, 4 * 8, 0);
  r = run(NULL, "transform", "-k", "2", "--group-size", "5", "short.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "short.npy:", "truncated or corrupt", "truncated data");
  write_npy(path_in("3d.npy"), "<f8", "(2, 2, 2)", g64, 8 * 8, 0);
  r = run(NULL, "transform", "-k", "2", "3d.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "3 dimensions", NULL, "3-D");
  write_file(path_in("junk.npy"), "\x93NUMPY\x01\x00\x04\x00{'de", 14);
  r = run(NULL, "transform", "-k", "2", "--group-size", "1", "junk.npy", "-o", "out.csv", NULL);
  expect_error(&r, 2, "junk.npy:", "NPY", "junk header");
  /* --nan error and strict on NPY name the group by index and element range */
  double withnan[6] = {1, 0, 0.5, 0.25, NAN, 1};
  write_npy(path_in("nan.npy"), "<f8", "(6,)", withnan, sizeof withnan, 0);
  r = run(NULL, "transform", "-k", "2", "--group-size", "3", "--nan", "error", "nan.npy", "-o",
          "out.csv", NULL);
  expect_error(&r, 1, "element 4", "group 1 (elements 3..5)", "npy --nan error");
  r = run(NULL, "transform", "-k", "3", "--group-size", "3", "--k-policy", "strict", "nan.npy",
          "-o", "out.csv", NULL);
  expect_error(&r, 1, "group 1 (elements 3..5) has 2 usable samples", NULL, "npy strict");
  r = run(NULL, "transform", "-k", "2", "--group-size", "3", "--nan", "propagate", "nan.npy", "-o",
          "o.npy", NULL);
  {
    size_t len, bytes = 0;
    char* o = read_file(path_in("o.npy"), &len);
    const unsigned char* p = o ? npy_payload(o, len, "<f8", "(6,)", &bytes) : NULL;
    double v[6] = {0};
    if (p && bytes == sizeof v) memcpy(v, p, sizeof v);
    CHECK(r.rc == 0 && p && !isnan(v[0]) && isnan(v[3]) && isnan(v[4]) && isnan(v[5]),
          "npy propagate");
    free(o);
  }
  result_free(&r);
}

/* ---- options ----------------------------------------------------------------------------------- */

static void suite_options(void) {
  result r;
  r = run(NULL, "--help", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "pkpo transform -k K") && strstr(r.out, "pkpo estimate") &&
            r.err[0] == '\0',
        "--help");
  result_free(&r);
  r = run(NULL, "transform", "--help", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "Usage: pkpo transform") && strstr(r.out, "--k-policy"),
        "transform --help");
  result_free(&r);
  r = run(NULL, "estimate", "-h", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "Usage: pkpo estimate") && strstr(r.out, "--all-k"),
        "estimate -h");
  result_free(&r);
  r = run(NULL, "--version", NULL);
  CHECK(r.rc == 0 && strncmp(r.out, "pkpo 0.", 7) == 0 && strstr(r.out, "backends: cpu"),
        "--version: %s", r.out);
#ifndef CLI_TEST_HAVE_CUDA
  CHECK(strstr(r.out, "\nbackends: cpu\ncuda: not built\n") != NULL, "--version: %s", r.out);
#else
  /* "not usable" carries the library's reason, e.g. no device or no code for its architecture */
  CHECK(strstr(r.out, "\nbackends: cpu, cuda\ncuda: available\n") ||
            strstr(r.out, "\nbackends: cpu, cuda\ncuda: not usable: "),
        "--version: %s", r.out);
#endif
  result_free(&r);

  batch b;
  make_batch(&b, 0);
  write_batch_csv(&b, path_in("opt.csv"));

  /* spellings of options: -k4, --k=4, --estimator=l2o, -el2o, -- before the input */
  result ref = run(NULL, "transform", "-k", "4", "-e", "l2o", "-q", "opt.csv", NULL);
  CHECK(ref.rc == 0, "ref rc %d", ref.rc);
  static const char* const forms[][6] = {{"-k4", "-el2o", "-q", "opt.csv", NULL},
                                         {"--k=4", "--estimator=l2o", "--quiet", "opt.csv", NULL},
                                         {"-q", "-e", "l2o", "--k", "4", "opt.csv"},
                                         {"-k", "4", "-e", "l2o", "-q", "--"}};
  for (int i = 0; i < 4; ++i) {
    r = i == 3 ? run(NULL, "transform", forms[i][0], forms[i][1], forms[i][2], forms[i][3],
                     forms[i][4], forms[i][5], "opt.csv", NULL)
               : run(NULL, "transform", forms[i][0], forms[i][1], forms[i][2], forms[i][3],
                     forms[i][4], forms[i][5], NULL);
    CHECK(r.rc == 0 && strcmp(r.out, ref.out) == 0, "option spelling %d differs", i);
    result_free(&r);
  }
  /* default estimator is sloo_minus_one; default precision f64; defaults equal explicit values */
  result d1 = run(NULL, "transform", "-k", "4", "-q", "opt.csv", NULL);
  result d2 = run(NULL, "transform", "-k", "4", "-e", "sloo_minus_one", "--precision", "f64",
                  "--nan", "exclude", "--k-policy", "clamp", "--device", "auto", "-q", "opt.csv",
                  "-o", "-", NULL);
  result d3 = run(NULL, "transform", "-k", "4", "--device", "cpu", "-j", "1", "-q", "opt.csv", NULL);
  result d4 = run(NULL, "transform", "-k", "4", "--device", "cpu", "--threads", "2", "-q", "opt.csv",
                  NULL);
  /* the strict and error policies change nothing when no group breaks them */
  result d5 = run(NULL, "transform", "-k", "1", "--k-policy", "strict", "--nan", "error", "opt.csv",
                  NULL);
  result d6 = run(NULL, "transform", "-k", "1", "opt.csv", NULL);
  CHECK(d5.rc == 0 && strcmp(d5.err, d6.err) == 0 && strcmp(d5.out, d6.out) == 0,
        "strict/error policies without offenders: rc %d %s", d5.rc, d5.err);
  result_free(&d5);
  result_free(&d6);
  d5 = run(NULL, "estimate", "-k", "1", "--k-policy", "strict", "--nan", "error", "opt.csv", NULL);
  d6 = run(NULL, "estimate", "-k", "1", "opt.csv", NULL);
  CHECK(d5.rc == 0 && strcmp(d5.out, d6.out) == 0, "estimate strict/error without offenders");
  result_free(&d5);
  result_free(&d6);
  CHECK(d1.rc == 0 && strcmp(d1.out, d2.out) == 0, "defaults differ from explicit values");
  CHECK(strcmp(d1.out, d3.out) == 0 && strcmp(d3.out, d4.out) == 0,
        "thread count or device changes the output");
  result_free(&d1);
  result_free(&d2);
  result_free(&d3);
  result_free(&d4);
  result_free(&ref);

  /* -o: the file appears complete, with ordinary permissions, and no temporary is left */
  r = run(NULL, "transform", "-k", "2", "-q", "opt.csv", "-o", "written.csv", NULL);
  CHECK(r.rc == 0 && r.out_len == 0, "-o rc %d", r.rc);
  result s = run(NULL, "transform", "-k", "2", "-q", "opt.csv", NULL);
  char* w = read_file(path_in("written.csv"), NULL);
  CHECK(w && strcmp(w, s.out) == 0, "-o file differs from stdout");
  struct stat st;
  const mode_t mask = umask(0);
  umask(mask);
  CHECK(stat(path_in("written.csv"), &st) == 0 && (st.st_mode & 0777) == (0666 & ~mask),
        "-o permissions %o", st.st_mode & 0777);
  CHECK(tmp_leftovers() == 0, "-o left a temporary file");
  free(w);
  result_free(&r);
  result_free(&s);
  /* -o to something that exists and is not a regular file (a FIFO here; /dev/null in real use)
   * is written directly and never replaced by a rename */
  {
    result want = run(NULL, "transform", "-k", "2", "-q", "opt.csv", NULL);
    char fifo[512], copy[512];
    snprintf(fifo, sizeof fifo, "%s", path_in("fifo"));
    snprintf(copy, sizeof copy, "%s", path_in("fifo.out"));
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    fflush(NULL);
    const pid_t reader = fork();
    if (reader == 0) {
      const int in = open(fifo, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      char buf[4096];
      ssize_t n;
      while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) _exit(1);
      _exit(0);
    }
    r = run(NULL, "transform", "-k", "2", "-q", "opt.csv", "-o", "fifo", NULL);
    int status;
    waitpid(reader, &status, 0);
    char* got = read_file(copy, NULL);
    CHECK(r.rc == 0 && got && strcmp(got, want.out) == 0, "-o FIFO: rc %d", r.rc);
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "-o FIFO was replaced");
    CHECK(tmp_leftovers() == 0, "-o FIFO left a temporary file");
    free(got);
    result_free(&r);

    /* a symlink stays a symlink; its target gets the output and keeps its permissions */
    write_text(path_in("real.csv"), "old\n");
    chmod(path_in("real.csv"), 0640);
    CHECK(symlink("real.csv", path_in("link.csv")) == 0, "symlink: %s", strerror(errno));
    r = run(NULL, "transform", "-k", "2", "-q", "opt.csv", "-o", "link.csv", NULL);
    got = read_file(path_in("real.csv"), NULL);
    CHECK(r.rc == 0 && got && strcmp(got, want.out) == 0, "-o symlink: rc %d", r.rc);
    CHECK(lstat(path_in("link.csv"), &st) == 0 && S_ISLNK(st.st_mode), "-o symlink was replaced");
    CHECK(stat(path_in("real.csv"), &st) == 0 && (st.st_mode & 0777) == 0640,
          "existing file's permissions not kept: %o", st.st_mode & 0777);
    CHECK(tmp_leftovers() == 0, "-o symlink left a temporary file");
    free(got);
    result_free(&r);
    result_free(&want);
  }
  /* the input may be the output */
  write_text(path_in("self.csv"), "group,reward\na,1\na,0\n");
  r = run(NULL, "transform", "-k", "1", "-e", "s", "self.csv", "-o", "self.csv", NULL);
  w = read_file(path_in("self.csv"), NULL);
  CHECK(r.rc == 0 && w && strcmp(w, "group,reward,transformed\na,1,0.5\na,0,0\n") == 0,
        "in-place rewrite: %s", w);
  free(w);
  result_free(&r);

  /* progress: silent when stderr is not a terminal, drawn with --progress, off with --no-progress */
  r = run(NULL, "transform", "-k", "2", "-q", "opt.csv", "-o", "p.csv", NULL);
  CHECK(r.err[0] == '\0', "progress drawn on a non-terminal: %s", r.err);
  result_free(&r);
  r = run(NULL, "transform", "-k", "2", "-q", "--progress", "opt.csv", "-o", "p.csv", NULL);
  CHECK(strstr(r.err, "computing") && strstr(r.err, "100%") && strstr(r.err, "writing"),
        "--progress: %s", r.err);
  result_free(&r);
  r = run(NULL, "estimate", "--all-k", "--progress", "opt.csv", "-o", "p.csv", NULL);
  CHECK(strstr(r.err, "estimating") && strstr(r.err, "100%"), "estimate --progress: %s", r.err);
  result_free(&r);
  r = run(NULL, "transform", "-k", "2", "-q", "--progress", "--no-progress", "opt.csv", "-o",
          "p.csv", NULL);
  CHECK(r.err[0] == '\0', "--no-progress: %s", r.err);
  result_free(&r);

  /* warnings and -q; --k-policy clamp computes k = n for small groups */
  write_text(path_in("clamp.csv"), "group,reward\na,1\na,0\na,0.5\nb,1\nb,0\nb,0.5\nb,0.25\n");
  r = run(NULL, "transform", "-k", "4", "-e", "s", "clamp.csv", NULL);
  result r2 = run(NULL, "transform", "-k", "3", "-e", "s", "-q", "clamp.csv", NULL);
  {
    char** l1;
    char** l2;
    char* s1;
    char* s2;
    const int n1 = split_lines(r.out, &l1, &s1), n2 = split_lines(r2.out, &l2, &s2);
    CHECK(n1 == 8 && n2 == 8, "clamp lines");
    for (int i = 1; i <= 3 && i < n1 && i < n2; ++i)
      CHECK(strcmp(l1[i], l2[i]) == 0, "clamped group differs from k = n: %s vs %s", l1[i], l2[i]);
    free(l1);
    free(l2);
    free(s1);
    free(s2);
  }
  CHECK(strstr(r.err, "1 of 2 groups have fewer than k = 4") && strstr(r.err, "group 'a'"),
        "clamp warning: %s", r.err);
  CHECK(r2.err[0] == '\0', "-q: %s", r2.err);
  result_free(&r);
  result_free(&r2);
  r = run(NULL, "transform", "-k", "4", "-q", "clamp.csv", NULL);
  CHECK(r.rc == 0 && r.err[0] == '\0', "-q clamp: %s", r.err);
  result_free(&r);
  write_text(path_in("single.csv"), "group,reward\nsolo,0.7\npair,1\npair,0\n");
  r = run(NULL, "transform", "-k", "1", "single.csv", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "solo,0.7,0\n") && strstr(r.err, "single usable sample"),
        "singleton: %s %s", r.out, r.err);
  result_free(&r);
}

/* The committed example batches: shapes and values against independent closed forms. */
static double binom(int n, int k) {
  if (k < 0 || k > n) return 0;
  double c = 1;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

static void suite_examples(void) {
  char bin_path[512], cont_path[512];
  snprintf(bin_path, sizeof bin_path, "%s/binary.csv", g_examples);
  snprintf(cont_path, sizeof cont_path, "%s/continuous.csv", g_examples);
  for (int f = 0; f < 2; ++f) {
    const char* path = f ? cont_path : bin_path;
    char* text = read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text) continue;
    result r = run(NULL, "transform", "-k", "4", path, NULL);
    CHECK(r.rc == 0 && r.err[0] == '\0', "example %s: rc %d %s", path, r.rc, r.err);
    char** in;
    char** out;
    char* s1;
    char* s2;
    const int ni = split_lines(text, &in, &s1), no = split_lines(r.out, &out, &s2);
    CHECK(ni == 1 + 64 * 16 && no == ni, "example %s: %d input rows, %d output rows", path, ni, no);
    /* find the group and reward columns of the header */
    int gcol = -1, rcol = -1, c = 0;
    for (char* p = in[0]; p; c++) {
      char* comma = strchr(p, ',');
      const size_t len = comma ? (size_t)(comma - p) : strlen(p);
      if (len == 5 && strncmp(p, "group", 5) == 0) gcol = c;
      if (len == 6 && strncmp(p, "reward", 6) == 0) rcol = c;
      p = comma ? comma + 1 : NULL;
    }
    CHECK(gcol >= 0 && rcol >= 0, "example header %s", in[0]);
    /* collect groups (names are plain uuids: no quoting) */
    char names[64][64];
    double g[64][16], a[64][16];
    int sizes[64] = {0}, ng = 0;
    for (int i = 1; i < ni && i < no && gcol >= 0 && rcol >= 0; ++i) {
      char* fields[16];
      int nf = 0;
      char* line = strdup(in[i]);
      for (char* p = line; p && nf < 16;) {
        fields[nf++] = p;
        char* comma = strchr(p, ',');
        if (comma) *comma = '\0';
        p = comma ? comma + 1 : NULL;
      }
      int q = 0;
      while (q < ng && strcmp(names[q], fields[gcol]) != 0) ++q;
      if (q == ng && ng < 64) snprintf(names[ng++], 64, "%s", fields[gcol]);
      if (q < 64 && sizes[q] < 16) {
        g[q][sizes[q]] = strtod(fields[rcol], NULL);
        a[q][sizes[q]] = last_field(out[i]);
        ++sizes[q];
      }
      free(line);
    }
    CHECK(ng == 64, "example %s: %d groups", path, ng);
    for (int q = 0; q < ng; ++q) {
      CHECK(sizes[q] == 16, "example group %s has %d samples", names[q], sizes[q]);
      if (f == 0) { /* binary closed form: correct C(n-c,k-1)/C(n,k), incorrect 0 */
        int correct = 0;
        for (int i = 0; i < 16; ++i) correct += g[q][i] == 1;
        const double want_c = binom(16 - correct, 3) / binom(16, 4);
        for (int i = 0; i < 16; ++i) {
          CHECK(g[q][i] == 0 || g[q][i] == 1, "binary example holds %g", g[q][i]);
          const double want = g[q][i] == 1 ? want_c : 0.0;
          CHECK(fabs(a[q][i] - want) <= 1e-15, "binary example %s: %.17g want %.17g", names[q],
                a[q][i], want);
        }
      } else if (q % 8 == 0) { /* continuous: brute force over all 4-subsets (every 8th group) */
        double want[16];
        oracle_transform(EST_SMO, g[q], 16, 4, want);
        double lo = g[q][0], hi = g[q][0];
        for (int i = 0; i < 16; ++i) {
          lo = g[q][i] < lo ? g[q][i] : lo;
          hi = g[q][i] > hi ? g[q][i] : hi;
        }
        for (int i = 0; i < 16; ++i)
          CHECK(fabs(a[q][i] - want[i]) <= 1e-12 * 0.25 * (hi - lo) + 1e-300,
                "continuous example %s: %.17g want %.17g", names[q], a[q][i], want[i]);
      }
    }
    free(in);
    free(out);
    free(s1);
    free(s2);
    free(text);
    result_free(&r);
  }
}

/* ---- main -------------------------------------------------------------------------------------- */

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PKPO_BINARY EXAMPLES_DIR SUITE\n", argv[0]);
    return 2;
  }
  g_bin = argv[1];
  g_examples = argv[2];
  const char* suite = argv[3];
  const char* tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/pkpo_cli_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 2;
  }
  /* fixed seed per suite, printed so a failure can be replayed */
  uint64_t seed = 0x5eed;
  for (const char* p = suite; *p; ++p) seed = seed * 131 + (unsigned char)*p;
  g_rng = seed | 1;
  fprintf(stderr, "suite %s, seed %llu, scratch %s\n", suite, (unsigned long long)seed, g_dir);

  static const struct {
    const char* name;
    void (*fn)(void);
  } suites[] = {{"worked", suite_worked}, {"oracle", suite_oracle},     {"errors", suite_errors},
                {"csv", suite_csv},       {"npy", suite_npy},           {"options", suite_options},
                {"examples", suite_examples}, {"mixture", suite_mixture},
                {"statistic", suite_statistic}, {"objective_errors", suite_objective_errors}};
  int found = 0;
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; ++i)
    if (strcmp(suite, suites[i].name) == 0) {
      suites[i].fn();
      found = 1;
    }
  remove_dir(g_dir);
  if (!found) {
    fprintf(stderr, "unknown suite %s\n", suite);
    return 2;
  }
  fprintf(stderr, "%s: %d checks, %d failed\n", suite, g_checks, g_failures);
  return g_failures ? 1 : 0;
}
