/*
 * bench_cpu.c -- CPU backend sweep: ns/element per estimator, float32, uniform groups, 1 and 2
 * threads (or the list given), n from 4 to 65536.
 *
 * Each configuration is validated before it is timed; a configuration that fails validation is
 * reported (stderr and a CSV row with valid=FAIL, no timings) and the program exits 1 at the end.
 * Validation:
 *  1. outputs and rho for every thread count are bitwise identical to the 1-thread call
 *     (pkpo.h promises this);
 *  2. a few groups (first, middle, last and some random ones) are checked against the independent
 *     float64 oracle of bench_common.h with the docs/math.md float32 target, err <= 4e-6 * scale;
 *  3. docs/math.md invariants on every group: sloo_minus_one >= 0; l2o sums to 0 and s sums to k*rho within
 *     rounding; min g <= rho <= max g; finite everywhere.
 * Timing: one untimed warm-up call, then `runs` calls of pkpo_transform over the whole batch
 * (N ~ 2^22 elements = 16 MiB in + 16 MiB out, larger than this machine's caches), wall clock,
 * median reported; cpu_ms is the median process CPU time per call (all threads), which shows how
 * much of a wall time was lost to other processes on a shared machine. Workspace is reserved beforehand so no timed call allocates.
 *
 * --mixtures: instead of the sweep, the cost of a mixture over k against one k (bench_mixture.h):
 * harmonic(16) (k = 1..16, weights 1/k) vs k = --k, 1 thread, n in {16, 64, 256, 4096} (or --n),
 * sloo_minus_one and l2o (or --estimators), median of --runs (default 31) interleaved calls each.
 *
 * Usage: bench_cpu [--quick] [--mixtures] [--csv PATH] [--machine SLUG] [--k K] [--N ELEMS]
 *                  [--runs R] [--threads 1,2] [--n 4,8,...]
 *                  [--estimators rho,s,sloo,sloo_minus_one,l2o]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "pkpo.h"

#define MAX_LIST 32

typedef struct options {
  int quick;
  int mixtures;
  const char* csv;
  const char* machine;
  int64_t k;
  int64_t target_n; /* elements per configuration */
  int runs;
  int threads[MAX_LIST];
  int num_threads;
  int64_t ns[MAX_LIST];
  int num_ns;
  pkpo_estimator est[MAX_LIST];
  int num_est;
} options;

static int parse_int_list(const char* s, int64_t* out, int cap) {
  int count = 0;
  while (*s) {
    char* end = NULL;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    if (end == s || errno || count == cap) return -1;
    out[count++] = v;
    s = end;
    if (*s == ',') ++s;
    else if (*s) return -1;
  }
  return count;
}

static int parse_args(int argc, char** argv, options* o) {
  static const int64_t default_ns[] = {4, 8, 16, 32, 64, 128, 256, 1024, 4096, 65536};
  memset(o, 0, sizeof(*o));
  o->machine = "cpu";
  o->k = 4;
  o->target_n = (int64_t)1 << 22;
  o->runs = 7;
  o->threads[0] = 1;
  o->threads[1] = 2;
  o->num_threads = 2;
  o->num_ns = (int)(sizeof(default_ns) / sizeof(default_ns[0]));
  memcpy(o->ns, default_ns, sizeof(default_ns));
  const pkpo_estimator all[5] = {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};
  memcpy(o->est, all, sizeof(all));
  o->num_est = 5;
  int explicit_n = 0, explicit_runs = 0, explicit_ns = 0, explicit_est = 0;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = (i + 1 < argc) ? argv[i + 1] : NULL;
    int64_t tmp[MAX_LIST];
    if (strcmp(a, "--quick") == 0) {
      o->quick = 1;
      continue;
    }
    if (strcmp(a, "--mixtures") == 0) {
      o->mixtures = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "bench_cpu: unknown or incomplete argument %s\n", a);
      return -1;
    }
    ++i;
    if (strcmp(a, "--csv") == 0) {
      o->csv = v;
    } else if (strcmp(a, "--machine") == 0) {
      o->machine = v;
    } else if (strcmp(a, "--k") == 0) {
      o->k = strtoll(v, NULL, 10);
    } else if (strcmp(a, "--N") == 0) {
      o->target_n = strtoll(v, NULL, 10);
      explicit_n = 1;
    } else if (strcmp(a, "--runs") == 0) {
      o->runs = atoi(v);
      explicit_runs = 1;
    } else if (strcmp(a, "--threads") == 0) {
      const int c = parse_int_list(v, tmp, MAX_LIST);
      if (c <= 0) return -1;
      for (int j = 0; j < c; ++j) o->threads[j] = (int)tmp[j];
      o->num_threads = c;
    } else if (strcmp(a, "--n") == 0) {
      const int c = parse_int_list(v, o->ns, MAX_LIST);
      if (c <= 0) return -1;
      o->num_ns = c;
      explicit_ns = 1;
    } else if (strcmp(a, "--estimators") == 0) {
      char buf[256];
      snprintf(buf, sizeof(buf), "%s", v);
      o->num_est = 0;
      for (char* t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        if (o->num_est == MAX_LIST || bench_estimator_parse(t, &o->est[o->num_est]) != 0) {
          fprintf(stderr, "bench_cpu: bad estimator %s\n", t);
          return -1;
        }
        ++o->num_est;
      }
      explicit_est = 1;
    } else {
      fprintf(stderr, "bench_cpu: unknown argument %s\n", a);
      return -1;
    }
  }
  if (o->mixtures) { /* the comparison's own defaults */
    static const int64_t mix_ns[] = {16, 64, 256, 4096};
    if (!explicit_ns) {
      memcpy(o->ns, mix_ns, sizeof mix_ns);
      o->num_ns = 4;
    }
    if (!explicit_est) {
      o->est[0] = PKPO_SLOO_MINUS_ONE;
      o->est[1] = PKPO_L2O;
      o->num_est = 2;
    }
    if (!explicit_runs) o->runs = 31;
  }
  if (o->quick) {
    if (!explicit_n) o->target_n = (int64_t)1 << 18;
    if (!explicit_runs) o->runs = 3;
  }
  if (o->k < 1 || o->target_n < 1 || o->runs < 1) return -1;
  for (int j = 0; j < o->num_threads; ++j)
    if (o->threads[j] < 1) return -1;
  for (int j = 0; j < o->num_ns; ++j)
    if (o->ns[j] < 2) return -1;
  return 0;
}

static double process_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#include "bench_mixture.h"

/* One timed call: wall clock, and the CPU time of the whole process (all threads) during it. On a
 * shared machine wall time grows when other processes take the cores; CPU time does not, so the
 * pair shows how much of a slow run was contention (wall >> cpu / threads). */
static pkpo_status run_once(pkpo_handle h, const pkpo_desc* d, const float* in, float* out,
                            float* rho, double* seconds, double* cpu_seconds) {
  const double c0 = process_cpu_s();
  const double t0 = bench_now_s();
  const pkpo_status st = pkpo_transform(h, d, in, d->estimator == PKPO_RHO ? NULL : out, rho, NULL,
                                        NULL);
  *seconds = bench_now_s() - t0;
  *cpu_seconds = process_cpu_s() - c0;
  return st;
}

/* docs/math.md invariants on every group; returns 0 or -1 with a message. */
static int check_invariants(const pkpo_desc* d, const float* in, const float* out,
                            const float* rho, char* msg, size_t cap) {
  const int64_t n = d->group_size, k = d->k < n ? d->k : n;
  for (int64_t g = 0; g < d->num_groups; ++g) {
    const float* x = in + g * n;
    double lo = x[0], hi = x[0], amax = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      lo = x[i] < lo ? x[i] : lo;
      hi = x[i] > hi ? x[i] : hi;
      amax = fabs((double)x[i]) > amax ? fabs((double)x[i]) : amax;
    }
    const double r = rho[g];
    /* rho is a convex combination of the rewards. */
    if (!(r >= lo - 1e-6 * amax && r <= hi + 1e-6 * amax)) {
      snprintf(msg, cap, "group %lld: rho %.9g outside [min %.9g, max %.9g]", (long long)g, r, lo,
               hi);
      return -1;
    }
    if (d->estimator == PKPO_RHO) continue;
    const float* a = out + g * n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      if (!isfinite(a[i])) {
        snprintf(msg, cap, "group %lld sample %lld: non-finite output", (long long)g, (long long)i);
        return -1;
      }
      if (d->estimator == PKPO_SLOO_MINUS_ONE && a[i] < 0.0f) {
        snprintf(msg, cap, "group %lld sample %lld: sloo_minus_one output %.9g < 0", (long long)g,
                 (long long)i, (double)a[i]);
        return -1;
      }
      sum += a[i];
    }
    const double kn = (double)k / (double)n;
    /* Each output carries at most 4e-6 * scale of error (docs/math.md §4), so a sum of n of them
     * is within n * 4e-6 * scale; rho carries 2^-24 max|g| of rounding (scaled by k for s). */
    if (d->estimator == PKPO_L2O && k < n) {
      const double tol = (double)n * BENCH_TOL_F32 * kn * (hi - lo);
      if (fabs(sum) > tol) {
        snprintf(msg, cap, "group %lld: l2o outputs sum to %.3g (tolerance %.3g)", (long long)g, sum,
                 tol);
        return -1;
      }
    }
    if (d->estimator == PKPO_S) {
      const double tol = (double)n * BENCH_TOL_F32 * kn * amax + (double)k * 6e-8 * amax;
      if (fabs(sum - (double)k * r) > tol) {
        snprintf(msg, cap, "group %lld: sum of s = %.9g but k*rho = %.9g", (long long)g, sum,
                 (double)k * r);
        return -1;
      }
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  options o;
  if (parse_args(argc, argv, &o) != 0) {
    fprintf(stderr,
            "usage: bench_cpu [--quick] [--mixtures] [--csv PATH] [--machine SLUG] [--k K] "
            "[--N ELEMS] [--runs R] [--threads 1,2] [--n 4,8,...] [--estimators rho,s,...]\n");
    return 2;
  }
  if (bench_oracle_selftest() != 0) {
    fprintf(stderr, "bench_cpu: the oracle disagrees with the docs/math.md worked examples\n");
    return 1;
  }
  if (o.mixtures) return bench_mixtures(o.csv, o.machine, o.k, o.target_n, o.runs, o.ns, o.num_ns,
                                        o.est, o.num_est);
  FILE* csv = o.csv ? fopen(o.csv, "w") : stdout;
  if (!csv) {
    fprintf(stderr, "bench_cpu: cannot open %s\n", o.csv);
    return 2;
  }
  fprintf(csv,
          "device,backend,estimator,dtype,n,k,G,N,threads,runs,median_ms,min_ms,ns_per_elem,"
          "GBps,workspace_bytes,valid,max_err,cpu_ms\n");
  fflush(csv);
  fprintf(stderr, "bench_cpu: pkpo %s, k=%lld, N~%lld, runs=%d\n", pkpo_version_string(),
          (long long)o.k, (long long)o.target_n, o.runs);

  int failures = 0;
  for (int ni = 0; ni < o.num_ns; ++ni) {
    const int64_t n = o.ns[ni];
    const int64_t G = (o.target_n + n - 1) / n;
    const int64_t N = G * n;
    float* in = (float*)malloc((size_t)N * sizeof(float));
    float* out_ref = (float*)malloc((size_t)N * sizeof(float));
    float* out = (float*)malloc((size_t)N * sizeof(float));
    float* rho_ref = (float*)malloc((size_t)G * sizeof(float));
    float* rho = (float*)malloc((size_t)G * sizeof(float));
    if (!in || !out_ref || !out || !rho_ref || !rho) {
      fprintf(stderr, "bench_cpu: out of memory at n=%lld\n", (long long)n);
      return 1;
    }
    bench_fill_uniform(in, N, 0x5eed0000ull + (uint64_t)n);

    for (int ei = 0; ei < o.num_est; ++ei) {
      pkpo_desc d = PKPO_DESC_INIT;
      d.estimator = o.est[ei];
      d.dtype = PKPO_FLOAT32;
      d.num_groups = G;
      d.group_size = n;
      d.num_samples = N;
      d.k = o.k;
      const int64_t k_eff = o.k < n ? o.k : n;
      const char* ename = bench_estimator_name(d.estimator);
      char msg[512] = "";
      int valid = 1;
      double max_err = 0.0;

      /* ---- validation ---- */
      {
        pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
        ho.num_threads = 1;
        pkpo_handle h1 = NULL;
        pkpo_status st = pkpo_create(&h1, &ho);
        if (st == PKPO_SUCCESS) {
          memset(out_ref, 0, (size_t)N * sizeof(float));
          st = pkpo_transform(h1, &d, in, d.estimator == PKPO_RHO ? NULL : out_ref, rho_ref, NULL,
                              NULL);
        }
        if (st != PKPO_SUCCESS) {
          snprintf(msg, sizeof(msg), "1-thread call failed: %s (%s)", pkpo_status_string(st),
                   pkpo_last_error(h1));
          valid = 0;
        }
        pkpo_destroy(h1);
      }
      for (int ti = 0; valid && ti < o.num_threads; ++ti) {
        if (o.threads[ti] == 1) continue;
        pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
        ho.num_threads = o.threads[ti];
        pkpo_handle h = NULL;
        pkpo_status st = pkpo_create(&h, &ho);
        if (st == PKPO_SUCCESS) {
          memset(out, 0xff, (size_t)N * sizeof(float));
          st = pkpo_transform(h, &d, in, d.estimator == PKPO_RHO ? NULL : out, rho, NULL, NULL);
        }
        if (st != PKPO_SUCCESS) {
          snprintf(msg, sizeof(msg), "%d-thread call failed: %s (%s)", o.threads[ti],
                   pkpo_status_string(st), pkpo_last_error(h));
          valid = 0;
        } else if (memcmp(rho, rho_ref, (size_t)G * sizeof(float)) != 0 ||
                   (d.estimator != PKPO_RHO &&
                    memcmp(out, out_ref, (size_t)N * sizeof(float)) != 0)) {
          snprintf(msg, sizeof(msg), "%d-thread outputs differ bitwise from 1-thread outputs",
                   o.threads[ti]);
          valid = 0;
        }
        pkpo_destroy(h);
      }
      if (valid) {
        /* Oracle spot checks: first, middle, last and 5 pseudo-random groups. */
        int64_t groups[8] = {0, G / 2, G - 1, 0, 0, 0, 0, 0};
        uint64_t s = 0xC0FFEEull + (uint64_t)n;
        for (int j = 3; j < 8; ++j) groups[j] = (int64_t)(bench_next_u64(&s) % (uint64_t)G);
        for (int j = 0; j < 8 && valid; ++j) {
          const int64_t g = groups[j];
          const double err =
              bench_check_group(d.estimator, n, k_eff, in + g * n,
                                d.estimator == PKPO_RHO ? NULL : out_ref + g * n, rho_ref[g]);
          if (err < 0.0) {
            snprintf(msg, sizeof(msg), "oracle out of memory");
            valid = 0;
          } else if (!(err <= BENCH_TOL_F32)) {
            snprintf(msg, sizeof(msg), "group %lld: error %.3g vs the float64 oracle > %.1g",
                     (long long)g, err, BENCH_TOL_F32);
            valid = 0;
          }
          max_err = err > max_err ? err : max_err;
        }
      }
      if (valid && check_invariants(&d, in, out_ref, rho_ref, msg, sizeof(msg)) != 0) valid = 0;

      if (!valid) {
        ++failures;
        fprintf(stderr, "bench_cpu: VALIDATION FAILED %s n=%lld: %s -- not timed\n", ename,
                (long long)n, msg);
        for (int ti = 0; ti < o.num_threads; ++ti) {
          fprintf(csv, "%s,cpu,%s,float32,%lld,%lld,%lld,%lld,%d,0,,,,,,FAIL,%.3g,\n", o.machine,
                  ename, (long long)n, (long long)k_eff, (long long)G, (long long)N, o.threads[ti],
                  max_err);
        }
        fflush(csv);
        continue;
      }

      /* ---- timing ---- */
      for (int ti = 0; ti < o.num_threads; ++ti) {
        pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
        ho.num_threads = o.threads[ti];
        pkpo_handle h = NULL;
        size_t ws = 0;
        pkpo_status st = pkpo_create(&h, &ho);
        if (st == PKPO_SUCCESS) st = pkpo_workspace_size(h, &d, &ws);
        if (st == PKPO_SUCCESS) st = pkpo_reserve(h, &d);
        double t = 0.0, tc = 0.0;
        if (st == PKPO_SUCCESS) st = run_once(h, &d, in, out, rho, &t, &tc); /* warm-up */
        double* times = (double*)malloc(2 * (size_t)o.runs * sizeof(double));
        double* cpu_times = times + o.runs;
        for (int r = 0; st == PKPO_SUCCESS && r < o.runs; ++r)
          st = run_once(h, &d, in, out, rho, &times[r], &cpu_times[r]);
        if (st != PKPO_SUCCESS) {
          fprintf(stderr, "bench_cpu: %s n=%lld threads=%d failed: %s (%s)\n", ename, (long long)n,
                  o.threads[ti], pkpo_status_string(st), pkpo_last_error(h));
          ++failures;
          free(times);
          pkpo_destroy(h);
          continue;
        }
        double mn = times[0];
        for (int r = 1; r < o.runs; ++r) mn = times[r] < mn ? times[r] : mn;
        const double med = bench_median(times, o.runs);
        const double cpu_med = bench_median(cpu_times, o.runs);
        /* Bytes moved: read N rewards, write N outputs (rho: write G values instead). */
        const double bytes = d.estimator == PKPO_RHO ? 4.0 * (double)N + 4.0 * (double)G
                                                     : 8.0 * (double)N;
        fprintf(csv,
                "%s,cpu,%s,float32,%lld,%lld,%lld,%lld,%d,%d,%.6f,%.6f,%.3f,%.3f,%zu,ok,%.3g,%.6f\n",
                o.machine, ename, (long long)n, (long long)k_eff, (long long)G, (long long)N,
                o.threads[ti], o.runs, med * 1e3, mn * 1e3, med * 1e9 / (double)N,
                bytes / med * 1e-9, ws, max_err, cpu_med * 1e3);
        fflush(csv);
        fprintf(stderr, "  %-15s n=%-6lld threads=%d  %8.3f ms  %7.2f ns/elem  (cpu %8.3f ms)\n",
                ename, (long long)n, o.threads[ti], med * 1e3, med * 1e9 / (double)N,
                cpu_med * 1e3);
        free(times);
        pkpo_destroy(h);
      }
    }
    free(in);
    free(out_ref);
    free(out);
    free(rho_ref);
    free(rho);
  }
  if (csv != stdout) fclose(csv);
  if (failures) fprintf(stderr, "bench_cpu: %d configuration(s) failed\n", failures);
  return failures ? 1 : 0;
}
