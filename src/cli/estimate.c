/*
 * estimate.c -- `pkpo estimate`: CSV 'group,n,k,rho', one row per group and k, from
 * pkpo_rho_curve on chunks of groups in group order.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

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
    cli_msg("out of memory");
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
      cli_msg("out of memory");
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
    d.statistic = o->statistic;
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

int estimate_csv(const options* o, const engine* e, const char* file, const char* data,
                        size_t len, progress* pg) {
  csv_table t;
  int64_t *offsets, *index, num_groups, max_n;
  int rc = parse_and_group(o, e, file, data, len, pg, &t, &offsets, &index, &num_groups, &max_n);
  if (rc) return rc;
  const int64_t n = t.num_rows;
  const size_t elem = o->dtype == PKPO_FLOAT32 ? 4 : 8;
  void* rg = malloc((size_t)n * elem + 8);
  if (!rg) {
    cli_msg("out of memory (%lld rows)", (long long)n);
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

int estimate_npy(const options* o, const engine* e, const char* file, unsigned char* buf,
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
