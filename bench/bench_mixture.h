/*
 * bench_mixture.h -- `bench_cpu --mixtures`: what a mixture over k costs per reward against one k
 * on the CPU backend (the target: at most 10% more for up to 16 terms once its weight rows are
 * built). Part of bench_cpu.c (included once, after process_cpu_s).
 *
 * For each estimator and n: a uniform float32 batch of N ~ 2^22 rewards, transformed on one thread
 * with one k and with harmonic(16) (k = 1..16, w_k = 1/k). Each objective is validated before it is
 * timed: 8 groups (first, middle, last, 5 pseudo-random) against the float64 oracle of
 * bench_common.h -- the mixture as sum_j w_j oracle(k_j), within 4e-6 of the scale summed over the
 * terms (sum_j w_j scale_j), rho within 4e-6 of sum_j w_j max|g| -- and every output finite.
 * Timing: one warm-up call each, then `runs` rounds of one call per objective, interleaved (one k,
 * mixture, one k, ...) so that a change of machine load hits both alike; process CPU time and wall
 * time per call, medians (and the minimum CPU time).
 *
 * A uniform batch builds its rows once per call, so these per-reward numbers are the cost once the
 * rows are built. A second layout, "alternating", holds groups of n and n - 1 samples in turn
 * (ragged offsets): the rows are cached for one size at a time, so they are rebuilt for every group
 * on the one-group road (n > 256) and for every block of 8 groups on the block road; its rows show
 * what building rows costs, which the target leaves out.
 */

#define MIX_TERMS 16

typedef struct mix_objective {
  const char* name;
  int64_t num_terms; /* 0: one k */
  int64_t k;
  int64_t ks[MIX_TERMS];
  double ws[MIX_TERMS];
} mix_objective;

static void mix_apply(const mix_objective* ob, pkpo_desc* d) {
  d->k = ob->k;
  d->num_k_terms = ob->num_terms;
  d->k_terms = ob->num_terms ? ob->ks : NULL;
  d->k_weights = ob->num_terms ? ob->ws : NULL;
}

/* Group g's first sample and size in the layout of d. */
static int64_t mix_begin(const pkpo_desc* d, int64_t g) {
  return d->offsets ? d->offsets[g] : g * d->group_size;
}
static int64_t mix_size(const pkpo_desc* d, int64_t g) {
  return d->offsets ? d->offsets[g + 1] - d->offsets[g] : d->group_size;
}

/* The docs/math.md error of 8 groups against sum_j w_j oracle(k_j); -1 when the oracle could not
 * run, INFINITY for a non-finite output anywhere. */
static double mix_validate(const pkpo_desc* d, const mix_objective* ob, const float* in,
                           const float* out, const float* rho, int64_t N) {
  for (int64_t i = 0; i < N; ++i)
    if (!isfinite(out[i])) return INFINITY;
  const int64_t G = d->num_groups;
  int64_t groups[8] = {0, G / 2, G - 1, 0, 0, 0, 0, 0};
  uint64_t s = 0xC0FFEEull + (uint64_t)G;
  for (int j = 3; j < 8; ++j) groups[j] = (int64_t)(bench_next_u64(&s) % (uint64_t)G);
  const int64_t T = ob->num_terms ? ob->num_terms : 1;
  double worst = 0.0;
  for (int j = 0; j < 8; ++j) {
    const int64_t g = groups[j], n = mix_size(d, g);
    const float* x = in + mix_begin(d, g);
    const float* a = out + mix_begin(d, g);
    double* exact = (double*)calloc((size_t)n, sizeof(double));
    double* term = (double*)malloc((size_t)n * sizeof(double));
    if (!exact || !term) {
      free(exact);
      free(term);
      return -1.0;
    }
    double exact_rho = 0.0, scale = 0.0, wsum = 0.0;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t kt = ob->num_terms ? ob->ks[t] : ob->k;
      const double w = ob->num_terms ? ob->ws[t] : 1.0;
      const int64_t ke = kt < n ? kt : n;
      double r = 0.0;
      if (bench_oracle_group(d->estimator, n, ke, x, term, &r) != 0) {
        free(exact);
        free(term);
        return -1.0;
      }
      for (int64_t i = 0; i < n; ++i) exact[i] += w * term[i];
      exact_rho += w * r;
      scale += fabs(w) * bench_scale(d->estimator, n, ke, x);
      wsum += fabs(w);
    }
    double err = 0.0;
    for (int64_t i = 0; i < n; ++i) err = fmax(err, fabs((double)a[i] - exact[i]));
    err = scale > 0 ? err / scale : (err == 0 ? 0 : INFINITY);
    const double rho_scale = wsum * bench_scale(PKPO_RHO, n, n, x);
    if (rho_scale > 0) err = fmax(err, fabs((double)rho[g] - exact_rho) / rho_scale);
    worst = fmax(worst, err);
    free(exact);
    free(term);
  }
  return worst;
}

typedef struct mix_timing {
  double cpu_med, wall_med, cpu_min;
} mix_timing;

/* Interleaved rounds of one call per objective on handle h; t[o] for objective o. */
static pkpo_status mix_time(pkpo_handle h, pkpo_desc* const d[2], const float* in, float* out,
                            float* rho, int runs, mix_timing t[2]) {
  double* v = (double*)malloc(4 * (size_t)runs * sizeof(double));
  if (!v) return PKPO_ERROR_OUT_OF_MEMORY;
  pkpo_status st = PKPO_SUCCESS;
  for (int o = 0; o < 2 && st == PKPO_SUCCESS; ++o) { /* warm-up, and no allocation when timed */
    st = pkpo_reserve(h, d[o]);
    if (st == PKPO_SUCCESS) st = pkpo_transform(h, d[o], in, out, rho, NULL, NULL);
  }
  for (int r = 0; r < runs && st == PKPO_SUCCESS; ++r) {
    for (int o = 0; o < 2 && st == PKPO_SUCCESS; ++o) {
      const double c0 = process_cpu_s(), t0 = bench_now_s();
      st = pkpo_transform(h, d[o], in, out, rho, NULL, NULL);
      v[(2 * o) * runs + r] = process_cpu_s() - c0;
      v[(2 * o + 1) * runs + r] = bench_now_s() - t0;
    }
  }
  for (int o = 0; o < 2 && st == PKPO_SUCCESS; ++o) {
    double* cpu = v + (2 * o) * runs;
    t[o].cpu_med = bench_median(cpu, runs); /* sorts cpu: its first entry is then the minimum */
    t[o].cpu_min = cpu[0];
    t[o].wall_med = bench_median(v + (2 * o + 1) * runs, runs);
  }
  free(v);
  return st;
}

static int bench_mixtures(const char* csv_path, const char* machine, int64_t k, int64_t target_n,
                          int runs, const int64_t* ns, int num_ns, const pkpo_estimator* est,
                          int num_est) {
  FILE* csv = csv_path ? fopen(csv_path, "w") : stdout;
  if (!csv) {
    fprintf(stderr, "bench_cpu: cannot open %s\n", csv_path);
    return 2;
  }
  fprintf(csv, "device,backend,estimator,objective,layout,dtype,n,G,N,threads,runs,cpu_ns_per_elem,"
               "wall_ns_per_elem,min_cpu_ns_per_elem,valid,max_err,cpu_ratio_vs_one_k\n");
  fprintf(stderr, "bench_cpu --mixtures: pkpo %s, harmonic(%d) vs k=%lld, N~%lld, runs=%d, 1 thread\n",
          pkpo_version_string(), MIX_TERMS, (long long)k, (long long)target_n, runs);
  mix_objective obj[2];
  memset(obj, 0, sizeof obj);
  obj[0].name = "k";
  obj[0].k = k;
  obj[1].name = "harmonic16";
  obj[1].k = 1;
  obj[1].num_terms = MIX_TERMS;
  for (int j = 0; j < MIX_TERMS; ++j) {
    obj[1].ks[j] = j + 1;
    obj[1].ws[j] = 1.0 / (double)(j + 1);
  }
  int failures = 0;
  for (int ni = 0; ni < num_ns; ++ni) {
    for (int layout = 0; layout < 2; ++layout) {
      const int64_t n = ns[ni];
      if (layout == 1 && n < 3) continue;
      const int64_t G = (target_n + n - 1) / n;
      int64_t* offsets = (int64_t*)malloc(((size_t)G + 1) * sizeof(int64_t));
      const int64_t N = G * n - (layout ? G / 2 : 0);
      float* in = (float*)malloc((size_t)N * sizeof(float));
      float* out = (float*)malloc((size_t)N * sizeof(float));
      float* rho = (float*)malloc((size_t)G * sizeof(float));
      if (!offsets || !in || !out || !rho) {
        fprintf(stderr, "bench_cpu: out of memory at n=%lld\n", (long long)n);
        return 1;
      }
      offsets[0] = 0;
      for (int64_t g = 0; g < G; ++g) offsets[g + 1] = offsets[g] + n - (layout && (g & 1));
      bench_fill_uniform(in, N, 0x5eed0000ull + (uint64_t)n);
      const char* lname = layout ? "alternating" : "uniform";
      for (int ei = 0; ei < num_est; ++ei) {
        pkpo_desc dd[2];
        pkpo_desc* d[2] = {&dd[0], &dd[1]};
        double err[2] = {0, 0};
        int valid = 1;
        pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
        ho.num_threads = 1;
        pkpo_handle h = NULL;
        pkpo_status st = pkpo_create(&h, &ho);
        for (int o = 0; o < 2; ++o) {
          const pkpo_desc init = PKPO_DESC_INIT;
          dd[o] = init;
          dd[o].estimator = est[ei];
          dd[o].dtype = PKPO_FLOAT32;
          dd[o].num_groups = G;
          if (layout) {
            dd[o].offsets = offsets;
            dd[o].num_samples = N;
            dd[o].max_group_size = n;
          } else {
            dd[o].group_size = n;
          }
          mix_apply(&obj[o], &dd[o]);
          if (st == PKPO_SUCCESS) st = pkpo_transform(h, d[o], in, out, rho, NULL, NULL);
          err[o] = st == PKPO_SUCCESS ? mix_validate(d[o], &obj[o], in, out, rho, N) : INFINITY;
          valid &= err[o] >= 0.0 && err[o] <= BENCH_TOL_F32;
        }
        mix_timing t[2];
        if (valid && st == PKPO_SUCCESS) st = mix_time(h, d, in, out, rho, runs, t);
        const char* ename = bench_estimator_name(est[ei]);
        if (!valid || st != PKPO_SUCCESS) {
          ++failures;
          fprintf(stderr, "bench_cpu: %s %s n=%lld: %s (errors %.3g, %.3g vs the oracle) -- not "
                  "timed\n", ename, lname, (long long)n,
                  st != PKPO_SUCCESS ? pkpo_last_error(h) : "VALIDATION FAILED", err[0], err[1]);
          for (int o = 0; o < 2; ++o)
            fprintf(csv, "%s,cpu,%s,%s,%s,float32,%lld,%lld,%lld,1,0,,,,FAIL,%.3g,\n", machine,
                    ename, obj[o].name, lname, (long long)n, (long long)G, (long long)N, err[o]);
        } else {
          for (int o = 0; o < 2; ++o) {
            char ratio[32] = "";
            if (o == 1) snprintf(ratio, sizeof ratio, "%.4f", t[1].cpu_med / t[0].cpu_med);
            fprintf(csv, "%s,cpu,%s,%s,%s,float32,%lld,%lld,%lld,1,%d,%.3f,%.3f,%.3f,ok,%.3g,%s\n",
                    machine, ename, obj[o].name, lname, (long long)n, (long long)G, (long long)N,
                    runs, t[o].cpu_med * 1e9 / (double)N, t[o].wall_med * 1e9 / (double)N,
                    t[o].cpu_min * 1e9 / (double)N, err[o], ratio);
          }
          fprintf(stderr, "  %-15s %-11s n=%-5lld cpu ns/reward: k=%lld %6.2f, harmonic16 %6.2f "
                  "(x%.3f); wall %6.2f / %6.2f\n", ename, lname, (long long)n, (long long)k,
                  t[0].cpu_med * 1e9 / (double)N, t[1].cpu_med * 1e9 / (double)N,
                  t[1].cpu_med / t[0].cpu_med, t[0].wall_med * 1e9 / (double)N,
                  t[1].wall_med * 1e9 / (double)N);
        }
        fflush(csv);
        pkpo_destroy(h);
      }
      free(offsets);
      free(in);
      free(out);
      free(rho);
    }
  }
  if (csv != stdout) fclose(csv);
  if (failures) fprintf(stderr, "bench_cpu: %d configuration(s) failed\n", failures);
  return failures ? 1 : 0;
}
