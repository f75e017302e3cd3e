/*
 * cli_objectives.c -- end-to-end tests of the objectives beyond one k: mixtures over k
 * (-k K1,K2,... --k-weights W1,W2,..., --mixture harmonic:K|uniform:K) and the min statistic
 * (--statistic min: pass^k) of `pkpo transform` and `pkpo estimate` (docs/math.md §5).
 *
 * Expected values come from the harness's brute-force oracle (sum_j w_j T_{k_j}(g), -T(-g)), from
 * exact fractions worked by hand, or from pkpo runs that the contract ties together exactly: a
 * one-term mixture is the plain k byte for byte, a preset is its explicit list byte for byte, and
 * the min statistic is the negated max transform of the negated rewards, bit for bit.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

/* The finite rewards of group q (all of them: the batches here hold no NaN). */
static void group_of(const batch* b, int q, int f32, double* g) {
  for (int i = 0; i < b->size[q]; ++i) g[i] = f32 ? (double)(float)b->g[q][i] : b->g[q][i];
}

/* docs/math.md §4 scale of one term: (k/n) range for sloo_minus_one and l2o, (k/n) max|g| else. */
static double term_scale(int est, const double* g, int n, int k) {
  double lo = g[0], hi = g[0], amax = 0;
  for (int i = 0; i < n; ++i) {
    lo = g[i] < lo ? g[i] : lo;
    hi = g[i] > hi ? g[i] : hi;
    amax = fabs(g[i]) > amax ? fabs(g[i]) : amax;
  }
  const double kn = (double)(k < n ? k : n) / n;
  return (est == EST_SMO || est == EST_L2O) ? kn * (hi - lo) : kn * amax;
}

/* Runs `pkpo transform` with the extra arguments (NULL-terminated, at most 8) on `file`, -q, and
 * returns the row-order outputs in vals (count in *n). The run must succeed. */
static void transform_values(const char* file, int est, int f32, double* vals, int* n,
                             const char* const* extra) {
  const char* a[8] = {NULL};
  for (int i = 0; i < 8 && extra[i]; ++i) a[i] = extra[i];
  result r = run(NULL, "transform", "-e", k_est_names[est], "--precision", f32 ? "f32" : "f64",
                 "-q", file, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
  CHECK(r.rc == 0, "transform %s %s %s %s: rc %d: %s", k_est_names[est], a[0] ? a[0] : "",
        a[1] ? a[1] : "", a[2] ? a[2] : "", r.rc, r.err);
  *n = output_values(r.out, vals, 400);
  result_free(&r);
}

/* Bitwise equality of two doubles (so 0.0 and -0.0 differ, and NaN equals the same NaN). */
static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- mixtures ---------------------------------------------------------------------------------- */

/* A mixture with k = 1, a negative and a zero weight, a repeated k and a k above every group's
 * size (clamped per term): the output equals the oracle's sum_j w_j T_{k_j}(g), and equals the
 * weighted sum of pkpo's own single-k outputs, to rounding. */
static void check_mixture_batch(const batch* b, const char* file, int est, int f32) {
  static const int ks[] = {1, 3, 2, 20, 3};
  static const double ws[] = {1.0, -0.5, 0.25, 0.125, 0.0};
  enum { T = 5 };
  double mix[400], single[T][400];
  int n = 0, m = 0;
  const char* const args[] = {"-k", "1,3,2,20,3", "--k-weights", "1,-0.5,0.25,0.125,0", NULL};
  transform_values(file, est, f32, mix, &n, args);
  CHECK(n == b->rows, "mixture rows %d != %d", n, b->rows);
  for (int j = 0; j < T; ++j) {
    char k[8];
    snprintf(k, sizeof k, "%d", ks[j]);
    const char* const one[] = {"-k", k, NULL};
    transform_values(file, est, f32, single[j], &m, one);
    CHECK(m == b->rows, "single-k rows %d", m);
  }
  double expect[40][9];
  for (int q = 0; q < b->num_groups; ++q) {
    double g[9], a[9];
    const int sz = b->size[q];
    group_of(b, q, f32, g);
    for (int i = 0; i < sz; ++i) expect[q][i] = 0;
    for (int j = 0; j < T; ++j) {
      oracle_transform(est, g, sz, ks[j] < sz ? ks[j] : sz, a);
      for (int i = 0; i < sz; ++i) expect[q][i] += ws[j] * a[i];
    }
  }
  const double tol = f32 ? 4e-6 : 1e-12;
  for (int r = 0; r < n && r < b->rows; ++r) {
    const int q = b->row_group[r], sz = b->size[q];
    double g[9];
    group_of(b, q, f32, g);
    double scale = 0, from_singles = 0;
    for (int j = 0; j < T; ++j) {
      scale += fabs(ws[j]) * term_scale(est, g, sz, ks[j]);
      from_singles += ws[j] * single[j][r];
    }
    const double want = expect[q][b->row_pos[r]];
    CHECK(fabs(mix[r] - want) <= tol * scale || (want == 0 && mix[r] == 0),
          "mixture %s f32=%d row %d (group %d, n %d): %.17g, oracle %.17g", k_est_names[est], f32,
          r, q, sz, mix[r], want);
    CHECK(fabs(mix[r] - from_singles) <= 2 * tol * scale || (from_singles == 0 && mix[r] == 0),
          "mixture %s f32=%d row %d: %.17g, weighted sum of single-k outputs %.17g",
          k_est_names[est], f32, r, mix[r], from_singles);
  }
}

/* g = (1/2, 0, 1, 1/4, 3/4), sloo_minus_one: k = 1 gives (0, -1/8, 1/8, -1/16, 1/16) and k = 2
 * (3/40, 0, 1/4, 1/40, 3/20) (docs/math.md's worked example), so 1 T_1 + 1/2 T_2 is
 * (3/80, -1/8, 1/4, -1/20, 11/80). */
static void check_mixture_worked(void) {
  write_text(path_in("ex.csv"), "group,reward\np,0.5\np,0\np,1\np,0.25\np,0.75\n");
  static const double want[5] = {3. / 80, -1. / 8, 1. / 4, -1. / 20, 11. / 80};
  result r = run(NULL, "transform", "-k", "1,2", "--k-weights", "1,0.5", "ex.csv", NULL);
  CHECK(r.rc == 0 && r.err[0] == '\0', "worked mixture: rc %d %s", r.rc, r.err);
  double v[8];
  const int n = output_values(r.out, v, 8);
  CHECK(n == 5, "worked mixture rows %d", n);
  for (int i = 0; i < n && i < 5; ++i)
    CHECK(fabs(v[i] - want[i]) <= 1e-15, "worked mixture row %d: %.17g want %.17g", i, v[i],
          want[i]);
  result_free(&r);
}

/* A one-term mixture of weight 1 is the plain k, byte for byte (CSV and NPY, f64 and f32, max and
 * min); a preset is its explicit list of terms, byte for byte. */
static void check_exact_equivalences(void) {
  for (int e = 0; e < 4; ++e)
    for (int f32 = 0; f32 < 2; ++f32)
      for (int stat = 0; stat < 2; ++stat)
        for (int k = 1; k <= 10; k += 3) {
          char ks[8];
          snprintf(ks, sizeof ks, "%d", k);
          const char* st = stat ? "min" : "max";
          const char* p = f32 ? "f32" : "f64";
          result a = run(NULL, "transform", "-k", ks, "-e", k_est_names[e], "--precision", p,
                         "--statistic", st, "-q", "mix.csv", NULL);
          result b = run(NULL, "transform", "-k", ks, "--k-weights", "1", "-e", k_est_names[e],
                         "--precision", p, "--statistic", st, "-q", "mix.csv", NULL);
          CHECK(a.rc == 0 && b.rc == 0 && strcmp(a.out, b.out) == 0,
                "one-term mixture differs from k = %d (%s, %s, %s)", k, k_est_names[e], p, st);
          result_free(&a);
          result_free(&b);
        }
  /* NPY: a [7, 5] float64 array, in place on the uniform path */
  double g[35];
  for (int i = 0; i < 35; ++i) g[i] = (double)(int)(rnd() % 5) - 1.0 + 0.25 * (double)(i % 3);
  write_npy(path_in("mix.npy"), "<f8", "(7, 5)", g, sizeof g, 0);
  for (int stat = 0; stat < 2; ++stat) {
    const char* st = stat ? "min" : "max";
    result a = run(NULL, "transform", "-k", "3", "--statistic", st, "mix.npy", "-o", "a.npy", NULL);
    result b = run(NULL, "transform", "-k", "3", "--k-weights", "1", "--statistic", st, "mix.npy",
                   "-o", "b.npy", NULL);
    size_t la = 0, lb = 0;
    char* fa = read_file(path_in("a.npy"), &la);
    char* fb = read_file(path_in("b.npy"), &lb);
    CHECK(a.rc == 0 && b.rc == 0 && fa && fb && la == lb && la > 0 && memcmp(fa, fb, la) == 0,
          "NPY one-term mixture differs from k = 3 (%s)", st);
    free(fa);
    free(fb);
    result_free(&a);
    result_free(&b);
  }
  /* harmonic:K and uniform:K against their terms written out (%.17g reads back exactly) */
  for (int K = 1; K <= 12; K += 11) {
    for (int u = 0; u < 2; ++u) {
      char ks[128] = "", ws[512] = "", preset[32];
      size_t ok = 0, ow = 0;
      for (int j = 1; j <= K; ++j) {
        ok += (size_t)snprintf(ks + ok, sizeof ks - ok, "%s%d", j > 1 ? "," : "", j);
        ow += (size_t)snprintf(ws + ow, sizeof ws - ow, "%s%.17g", j > 1 ? "," : "",
                               u ? 1.0 : 1.0 / j);
      }
      snprintf(preset, sizeof preset, "%s:%d", u ? "uniform" : "harmonic", K);
      result a = run(NULL, "transform", "--mixture", preset, "-e", "l2o", "-q", "mix.csv", NULL);
      result b = run(NULL, "transform", "-k", ks, "--k-weights", ws, "-e", "l2o", "-q", "mix.csv",
                     NULL);
      CHECK(a.rc == 0 && b.rc == 0 && strcmp(a.out, b.out) == 0, "--mixture %s differs from "
            "-k %s --k-weights %s: rc %d %d %s", preset, ks, ws, a.rc, b.rc, a.err);
      result_free(&a);
      result_free(&b);
    }
  }
}

void suite_mixture(void) {
  batch b;
  make_batch(&b, 0);
  write_batch_csv(&b, path_in("mix.csv"));
  for (int e = 0; e < 4; ++e) {
    check_mixture_batch(&b, "mix.csv", e, 0);
    if (e == EST_SMO || e == EST_L2O) check_mixture_batch(&b, "mix.csv", e, 1);
  }
  check_mixture_worked();
  check_exact_equivalences();

  /* weights all 0: every output is 0 */
  result r = run(NULL, "transform", "-k", "2,5", "--k-weights", "0,0", "-q", "mix.csv", NULL);
  double v[400];
  int n = output_values(r.out, v, 400), nonzero = 0;
  for (int i = 0; i < n; ++i) nonzero += v[i] != 0;
  CHECK(r.rc == 0 && n == b.rows && nonzero == 0, "zero weights: rc %d, %d non-zero", r.rc,
        nonzero);
  result_free(&r);

  /* groups smaller than the largest term: the clamp warning names the mixture; strict fails */
  write_text(path_in("small.csv"), "group,reward\nbig,1\nbig,0\nbig,1\nbig,0\ntiny,0.5\ntiny,1\n");
  r = run(NULL, "transform", "-k", "1,4", "--k-weights", "1,1", "small.csv", NULL);
  CHECK(r.rc == 0 && strstr(r.err, "1 of 2 groups have fewer than the mixture's largest k = 4") &&
            strstr(r.err, "group 'tiny'"),
        "mixture clamp warning: %s", r.err);
  result_free(&r);
  r = run(NULL, "transform", "-k", "1,4", "--k-weights", "1,1", "--k-policy", "strict",
          "small.csv", "-o", "out.csv", NULL);
  expect_error(&r, 1, "group 'tiny' has 2 usable samples", "the mixture's largest k = 4",
               "mixture --k-policy strict");
  /* l2o with a term at k = n falls back for that term, and says so */
  r = run(NULL, "transform", "-e", "l2o", "-k", "1,4", "--k-weights", "1,1", "small.csv", NULL);
  CHECK(r.rc == 0 && strstr(r.err, "no more samples than some term's k"), "mixture fallback: %s",
        r.err);
  result_free(&r);
}

/* ---- the min statistic ------------------------------------------------------------------------- */

/* The batch with every reward negated, same names and row order. */
static void write_negated(const batch* b, const char* path) {
  batch nb = *b;
  for (int q = 0; q < nb.num_groups; ++q)
    for (int i = 0; i < nb.size[q]; ++i) nb.g[q][i] = -nb.g[q][i];
  write_batch_csv(&nb, path);
}

/* --statistic min is -T_max(-g), output by output, bit for bit (zeros become -0.0). */
static void check_min_is_negated_max(const batch* b, int est, int f32, const char* const* obj) {
  double vmin[400], vneg[400];
  int n1 = 0, n2 = 0;
  const char* a[8] = {NULL};
  int c = 0;
  for (; obj[c]; ++c) a[c] = obj[c];
  a[c] = "--statistic";
  a[c + 1] = "min";
  transform_values("stat.csv", est, f32, vmin, &n1, a);
  transform_values("neg.csv", est, f32, vneg, &n2, obj);
  CHECK(n1 == b->rows && n2 == b->rows, "min rows %d %d", n1, n2);
  int bad = 0;
  for (int r = 0; r < n1 && r < n2; ++r) {
    if (same_bits(vmin[r], -vneg[r])) continue;
    if (bad++ < 3)
      CHECK(0, "min %s f32=%d %s %s row %d: %.17g, -(max of negated) %.17g", k_est_names[est], f32,
            obj[0], obj[1], r, vmin[r], -vneg[r]);
  }
  CHECK(bad == 0, "min %s f32=%d: %d rows differ from the negated max of the negated rewards",
        k_est_names[est], f32, bad);
}

/* pass^k against closed forms: for binary groups C(c, k)/C(n, k); for any group the mean over
 * k-subsets of their min, i.e. -U_k(-g). */
static void check_pass_hat_k(const batch* b) {
  result r = run(NULL, "estimate", "-k", "1,2,3,20", "--statistic", "min", "-q", "stat.csv", NULL);
  CHECK(r.rc == 0, "estimate --statistic min rc %d: %s", r.rc, r.err);
  char** lines;
  char* store;
  const int n = split_lines(r.out, &lines, &store);
  int checked = 0;
  for (int q = 0; q < b->num_groups; ++q) {
    if (strchr(b->name[q], '\n') || strchr(b->name[q], ',') || strchr(b->name[q], '"')) continue;
    const int sz = b->size[q];
    double neg[9];
    for (int i = 0; i < sz; ++i) neg[i] = -b->g[q][i];
    static const int kk[] = {1, 2, 3, 20};
    for (int j = 0; j < 4; ++j) {
      const int k = kk[j] < sz ? kk[j] : sz;
      double want = -oracle_U(neg, sz, k, -1);
      if (q % 3 == 0) { /* binary: C(c, k) / C(n, k) */
        int correct = 0;
        for (int i = 0; i < sz; ++i) correct += b->g[q][i] == 1;
        double p = 1;
        for (int i = 0; i < k; ++i) p *= (double)(correct - i) / (sz - i);
        CHECK(fabs(want - (correct >= k ? p : 0)) <= 1e-12, "oracle vs C(c,k)/C(n,k)");
        want = correct >= k ? p : 0;
      }
      char prefix[64];
      snprintf(prefix, sizeof prefix, "%s,%d,%d,", b->name[q], sz, kk[j]);
      for (int l = 1; l < n; ++l) {
        if (strncmp(lines[l], prefix, strlen(prefix)) != 0) continue;
        const double got = last_field(lines[l]);
        CHECK(fabs(got - want) <= 1e-12 * (fabs(want) + 1), "pass^%d of %s: %.17g want %.17g",
              kk[j], b->name[q], got, want);
        ++checked;
      }
    }
  }
  CHECK(checked >= 80, "pass^k rows checked: %d", checked);
  free(lines);
  free(store);
  result_free(&r);

  /* estimate under min is the negated estimate of the negated rewards, bit for bit, for a list
   * of k and for --all-k (the curve) */
  static const char* const forms[2][3] = {{"-k", "1,2,5", NULL}, {"--all-k", NULL, NULL}};
  for (int f = 0; f < 2; ++f) {
    result a = run(NULL, "estimate", forms[f][0], forms[f][1], "--statistic", "min", "stat.csv",
                   NULL);
    if (f == 1) {
      result_free(&a);
      a = run(NULL, "estimate", "--all-k", "--statistic", "min", "stat.csv", NULL);
    }
    result c = f == 0 ? run(NULL, "estimate", "-k", "1,2,5", "neg.csv", NULL)
                      : run(NULL, "estimate", "--all-k", "neg.csv", NULL);
    char **la, **lc;
    char *sa, *sc;
    const int na = split_lines(a.out, &la, &sa), nc = split_lines(c.out, &lc, &sc);
    CHECK(a.rc == 0 && c.rc == 0 && na == nc && na > 40, "estimate min vs negated: %d %d", na, nc);
    int bad = 0;
    for (int l = 1; l < na && l < nc; ++l) {
      const char* ca = strrchr(la[l], ',');
      const char* cc = strrchr(lc[l], ',');
      const int same_prefix = ca && cc && ca - la[l] == cc - lc[l] &&
                              strncmp(la[l], lc[l], (size_t)(ca - la[l])) == 0;
      /* the first line of a name holding a newline carries no number */
      const int ok = (!ca && !cc && strcmp(la[l], lc[l]) == 0) ||
                     (same_prefix && same_bits(strtod(ca + 1, NULL), -strtod(cc + 1, NULL)));
      if (!ok && bad++ < 3) CHECK(0, "estimate min: '%s' vs negated '%s'", la[l], lc[l]);
    }
    CHECK(bad == 0, "estimate %s --statistic min: %d rows are not the negated estimate of the "
          "negated rewards", forms[f][0], bad);
    free(la);
    free(lc);
    free(sa);
    free(sc);
    result_free(&a);
    result_free(&c);
  }
}

void suite_statistic(void) {
  batch b;
  make_batch(&b, 0);
  write_batch_csv(&b, path_in("stat.csv"));
  write_negated(&b, path_in("neg.csv"));
  const char* const objs[3][5] = {{"-k", "1", NULL},
                                  {"-k", "3", NULL},
                                  {"-k", "1,2,20", "--k-weights", "0.5,-1,2", NULL}};
  for (int e = 0; e < 4; ++e)
    for (int o = 0; o < 3; ++o) {
      check_min_is_negated_max(&b, e, 0, objs[o]);
      if (o == 2) check_min_is_negated_max(&b, e, 1, objs[o]);
    }
  check_pass_hat_k(&b);

  /* docs/math.md §5's worked example: g = (1, 0, 0) and (1, 1, 0), k = 2, s under min */
  write_text(path_in("w.csv"), "group,reward\na,1\na,0\na,0\nb,1\nb,1\nb,0\n");
  result r = run(NULL, "transform", "-k", "2", "-e", "s", "--statistic", "min", "w.csv", NULL);
  double v[8];
  int n = output_values(r.out, v, 8);
  static const double want[6] = {0, 0, 0, 1. / 3, 1. / 3, 0};
  CHECK(r.rc == 0 && n == 6, "worked min: rc %d, %d rows", r.rc, n);
  for (int i = 0; i < n && i < 6; ++i)
    CHECK(fabs(v[i] - want[i]) <= 1e-15, "worked min row %d: %.17g want %.17g", i, v[i], want[i]);
  result_free(&r);
  r = run(NULL, "estimate", "-k", "2", "--statistic", "min", "w.csv", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "\na,3,2,") && strstr(r.out, "\nb,3,2,0.33333333333333331\n"),
        "worked pass^2: %s", r.out);
  result_free(&r);

  /* sloo_minus_one under min is never positive; l2o still sums to 0 per group */
  for (int e = EST_SMO; e <= EST_L2O; ++e) {
    r = run(NULL, "transform", "-k", "3", "-e", k_est_names[e], "--statistic", "min", "-q",
            "stat.csv", NULL);
    double out[400], sum[40] = {0}, range[40] = {0};
    const int rows = output_values(r.out, out, 400);
    for (int i = 0; i < rows; ++i) {
      const int q = b.row_group[i];
      sum[q] += out[i];
      if (e == EST_SMO) CHECK(out[i] <= 0, "min sloo_minus_one row %d = %.17g > 0", i, out[i]);
    }
    for (int q = 0; q < b.num_groups; ++q) {
      double lo = b.g[q][0], hi = b.g[q][0];
      for (int i = 0; i < b.size[q]; ++i) {
        lo = b.g[q][i] < lo ? b.g[q][i] : lo;
        hi = b.g[q][i] > hi ? b.g[q][i] : hi;
      }
      range[q] = hi - lo;
      if (e == EST_L2O && b.size[q] > 3)
        CHECK(fabs(sum[q]) <= 1e-12 * b.size[q] * range[q], "min l2o group %d sums to %.3g", q,
              sum[q]);
    }
    result_free(&r);
  }

  /* NaN rewards keep their policies: an excluded sample gets -0.0 (the negated 0 of the max
   * statistic), a propagated group is NaN */
  write_text(path_in("nan.csv"), "group,reward\na,1\na,nan\na,0\nb,0.5\nb,0.25\n");
  r = run(NULL, "transform", "-k", "1", "--statistic", "min", "--nan", "propagate", "-q", "nan.csv",
          NULL);
  n = output_values(r.out, v, 8);
  CHECK(r.rc == 0 && n == 5 && isnan(v[0]) && isnan(v[1]) && isnan(v[2]) && !isnan(v[3]),
        "min propagate: %s", r.out);
  result_free(&r);
  r = run(NULL, "transform", "-k", "1", "--statistic", "min", "-q", "nan.csv", NULL);
  n = output_values(r.out, v, 8);
  CHECK(r.rc == 0 && n == 5 && v[1] == 0 && signbit(v[1]) && v[0] == 0.5 && v[2] == -0.5,
        "min exclude: %s", r.out);
  result_free(&r);
}

/* ---- command-line errors ------------------------------------------------------------------------ */

void suite_objective_errors(void) {
  write_text(path_in("good.csv"), "group,reward\na,1\na,0\nb,0.5\nb,0.25\n");
  result r;
#define BAD_ARGS(rc, n1, n2, ...)                       \
  do {                                                  \
    r = run(NULL, __VA_ARGS__, "-o", "out.csv", NULL); \
    expect_error(&r, rc, n1, n2, #__VA_ARGS__);         \
  } while (0)
  /* without --k-weights a list of k is not a k (as before mixtures existed) */
  BAD_ARGS(2, "-k: '1,4' is a list", "--k-weights", "transform", "-k", "1,4", "good.csv");
  BAD_ARGS(2, "--k: '2,3' is a list", NULL, "transform", "--k=2,3", "good.csv");
  BAD_ARGS(2, "1 weight for 2 values of -k", NULL, "transform", "-k", "1,4", "--k-weights", "1",
           "good.csv");
  BAD_ARGS(2, "3 weights for 2 values of -k", NULL, "transform", "-k", "1,4", "--k-weights",
           "1,2,3", "good.csv");
  BAD_ARGS(2, "weight 2 ('nan', for k = 4) is not a finite number", NULL, "transform", "-k", "1,4",
           "--k-weights", "1,nan", "good.csv");
  BAD_ARGS(2, "weight 1 ('inf', for k = 1)", NULL, "transform", "-k", "1,4", "--k-weights",
           "inf,1", "good.csv");
  BAD_ARGS(2, "weight 2 ('-1e999', for k = 4)", NULL, "transform", "-k", "1,4", "--k-weights",
           "1,-1e999", "good.csv");
  BAD_ARGS(2, "weight 1 ('0.5x', for k = 1)", NULL, "transform", "-k", "1,4", "--k-weights",
           "0.5x,1", "good.csv");
  BAD_ARGS(2, "--k-weights: bad list of weights '1,,2'", NULL, "transform", "-k", "1,4,5",
           "--k-weights", "1,,2", "good.csv");
  BAD_ARGS(2, "-k: k must be >= 1 (got 0)", NULL, "transform", "-k", "1,0", "--k-weights", "1,1",
           "good.csv");
  BAD_ARGS(2, "-k: k must be >= 1 (got -2)", NULL, "transform", "-k", "-2,3", "--k-weights", "1,1",
           "good.csv");
  BAD_ARGS(2, "-k: bad list of k '1,,4'", NULL, "transform", "-k", "1,,4", "--k-weights", "1,1,1",
           "good.csv");
  BAD_ARGS(2, "--k-weights needs -k K1,K2,...", NULL, "transform", "--k-weights", "1,1",
           "good.csv");
  BAD_ARGS(2, "--mixture and -k exclude each other", NULL, "transform", "--mixture", "harmonic:4",
           "-k", "4", "good.csv");
  BAD_ARGS(2, "--mixture and --k-weights exclude each other", NULL, "transform", "--mixture",
           "uniform:4", "--k-weights", "1", "good.csv");
  BAD_ARGS(2, "unknown mixture 'geometric:4'", "harmonic:K or uniform:K", "transform",
           "--mixture", "geometric:4", "good.csv");
  BAD_ARGS(2, "unknown mixture 'harmonic'", NULL, "transform", "--mixture", "harmonic",
           "good.csv");
  BAD_ARGS(2, "'harmonic:0': K must be an integer from 1 to 1048576", NULL, "transform",
           "--mixture", "harmonic:0", "good.csv");
  BAD_ARGS(2, "'uniform:2x'", "K must be an integer", "transform", "--mixture", "uniform:2x",
           "good.csv");
  BAD_ARGS(2, "'harmonic:9999999'", "K must be an integer", "transform", "--mixture",
           "harmonic:9999999", "good.csv");
  BAD_ARGS(2, "unknown --statistic 'mean' (expected one of: max, min)", NULL, "transform", "-k",
           "2", "--statistic", "mean", "good.csv");
  BAD_ARGS(2, "unknown --statistic 'pass^k'", NULL, "estimate", "-k", "2", "--statistic", "pass^k",
           "good.csv");
  BAD_ARGS(2, "-k K is required", "--mixture harmonic:16", "transform", "--statistic", "min",
           "good.csv");
  BAD_ARGS(2, "unknown option '--k-weights'", NULL, "estimate", "-k", "1,2", "--k-weights", "1,1",
           "good.csv");
  BAD_ARGS(2, "unknown option '--mixture'", NULL, "estimate", "--mixture", "harmonic:2",
           "good.csv");
  r = run(NULL, "transform", "-k", "1,2", "good.csv", "--k-weights", NULL);
  expect_error(&r, 2, "option --k-weights needs a value", NULL, "--k-weights without a value");
#undef BAD_ARGS

  /* data rejected by a policy: exit 1, naming the group */
  write_text(path_in("nan.csv"), "group,reward\nok,1\nok,0\n\"bad, group\",0.5\n\"bad, group\",nan\n");
  r = run(NULL, "transform", "-k", "1,2", "--k-weights", "1,1", "--statistic", "min", "--nan",
          "error", "nan.csv", "-o", "out.csv", NULL);
  expect_error(&r, 1, "nan.csv:5:", "group 'bad, group'", "mixture --nan error");
  r = run(NULL, "estimate", "-k", "3", "--statistic", "min", "--k-policy", "strict", "nan.csv",
          "-o", "out.csv", NULL);
  expect_error(&r, 1, "group 'ok' has 2 usable samples", "fewer than k = 3",
               "estimate min --k-policy strict");

  /* --help documents the new options */
  r = run(NULL, "transform", "--help", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "--k-weights W1,W2,...") && strstr(r.out, "--mixture NAME:K") &&
            strstr(r.out, "--statistic S") && strstr(r.out, "pass^k"),
        "transform --help: %s", r.out);
  result_free(&r);
  r = run(NULL, "estimate", "--help", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "--statistic S") && strstr(r.out, "pass^k"),
        "estimate --help: %s", r.out);
  result_free(&r);
  r = run(NULL, "--help", NULL);
  CHECK(r.rc == 0 && strstr(r.out, "--k-weights") && strstr(r.out, "--statistic min"),
        "--help: %s", r.out);
  result_free(&r);

  /* --device cuda: the library's answer for what its CUDA backend does not compute, exit 2 */
  r = run(NULL, "transform", "--mixture", "harmonic:2", "--device", "cuda", "good.csv", "-o",
          "out.csv", NULL);
#ifndef CLI_TEST_HAVE_CUDA
  expect_error(&r, 2, "--device cuda", "built without the CUDA backend", "mixture --device cuda");
#else
  if (r.rc == 0) { /* a CUDA backend that computes mixtures: same numbers as the CPU's */
    result c = run(NULL, "transform", "--mixture", "harmonic:2", "--device", "cpu", "good.csv",
                   NULL);
    char* got = read_file(path_in("out.csv"), NULL);
    CHECK(got && strcmp(got, c.out) == 0, "cuda mixture output differs from cpu");
    free(got);
    unlink(path_in("out.csv"));
    result_free(&c);
    result_free(&r);
  } else {
    expect_error(&r, 2, "--device cuda", "", "mixture --device cuda");
  }
#endif
}
