/*
 * report.c -- failed library calls and flagged groups explained in the user's terms: which group
 * (and CSV line) broke which policy, and warnings about groups computed specially.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

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

/* What --k-policy compares a group's size with: k, or a mixture's largest k. */
static const char* k_name(const options* o) {
  return o->cmd == CMD_TRANSFORM && o->k_weights ? "the mixture's largest k" : "k";
}

double reward_at(const void* r, pkpo_dtype dt, int64_t i) {
  return dt == PKPO_FLOAT32 ? (double)((const float*)r)[i] : ((const double*)r)[i];
}

/* Explains a failed pkpo call in the user's terms: which group (and CSV line) broke which policy.
 * `rewards` are in input order (CSV) or grouped (NPY), restricted to samples [s0, s1) where the
 * failing call started, so that nothing already transformed in place is scanned. */
int report_failure(pkpo_status st, const engine* e, const options* o, const batch_names* b,
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
        cli_msg("%s:%lld: non-finite reward %s in %s (--nan error; use --nan exclude or propagate "
                "to accept it)", b->file, (long long)b->csv->row_line[i], num, label);
      } else {
        group_label(b, i / b->group_size, label, sizeof label);
        cli_msg("%s: non-finite reward %s at element %lld, in %s (--nan error; use --nan exclude or "
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
          cli_msg("%s:%lld: %s has %lld usable sample%s, fewer than %s = %lld (--k-policy "
                  "strict; the default --k-policy clamp uses k = n for it)", b->file,
                  (long long)t->row_line[first[g]], label, (long long)cnt[g],
                  cnt[g] == 1 ? "" : "s", k_name(o), (long long)k_max);
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
        cli_msg("%s: %s has %lld usable sample%s, fewer than %s = %lld (--k-policy strict; the "
                "default --k-policy clamp uses k = n for it)", b->file, label, (long long)c,
                c == 1 ? "" : "s", k_name(o), (long long)k_max);
        return EXIT_DATA;
      }
    }
  }
  const char* detail = pkpo_last_error(engine_handle(e));
  if (st == PKPO_ERROR_UNSUPPORTED) { /* what the chosen backend cannot do: a command-line matter */
    cli_msg("--device cuda: %s (use --device cpu or auto)", *detail ? detail : pkpo_status_string(st));
    return EXIT_USAGE;
  }
  cli_msg("%s: %s%s%s", b->file, pkpo_status_string(st), *detail ? ": " : "", detail);
  return EXIT_DATA;
}

void flags_init(flag_counts* c) {
  for (int i = 0; i < 6; ++i) {
    c->count[i] = 0;
    c->first[i] = -1;
  }
}

void flags_add(flag_counts* c, const uint32_t* flags, int64_t g0, int64_t count) {
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

void flags_warn(const flag_counts* c, const options* o, const batch_names* b,
                       int64_t num_groups, int64_t k) {
  char label[160];
  const char* s;
#define FIRST(bit) (group_label(b, c->first[bit], label, sizeof label), label)
  if (c->count[1]) {
    if (o->cmd == CMD_TRANSFORM && o->k_weights)
      cli_warn("%lld of %lld groups have fewer than the mixture's largest k = %lld usable samples; "
               "their terms with k > n were computed with k = n (first: %s); --k-policy strict "
               "makes this an error",
               (long long)c->count[1], (long long)num_groups, (long long)k, FIRST(1));
    else if (o->cmd == CMD_TRANSFORM)
      cli_warn("%lld of %lld groups have fewer than k = %lld usable samples and were computed with "
               "k = n (first: %s); --k-policy strict makes this an error",
               (long long)c->count[1], (long long)num_groups, (long long)k, FIRST(1));
    else
      cli_warn("%lld of %lld groups have fewer usable samples than some requested k; for those k "
               "their rho is at k = n (first: %s); --k-policy strict makes this an error",
               (long long)c->count[1], (long long)num_groups, FIRST(1));
  }
  if (c->count[2]) {
    s = o->nan == PKPO_NONFINITE_PROPAGATE ? "their outputs are nan"
                                           : "those samples were excluded (output 0)";
    cli_warn("%lld group%s held non-finite rewards; %s (first: %s)", (long long)c->count[2],
             c->count[2] == 1 ? "" : "s", s, FIRST(2));
  }
  if (c->count[4])
    cli_warn("%lld group%s had no finite reward; %s (first: %s)", (long long)c->count[4],
             c->count[4] == 1 ? "" : "s",
             o->cmd == CMD_TRANSFORM ? "their outputs are 0"
                                 : "nothing to estimate (rho nan; no rows with --all-k)",
             FIRST(4));
  if (c->count[0] && o->cmd == CMD_TRANSFORM && o->estimator != PKPO_S)
    cli_warn("%lld group%s had a single usable sample; its output is 0 (first: %s)",
             (long long)c->count[0], c->count[0] == 1 ? "" : "s", FIRST(0));
  if (c->count[3] && o->k_weights)
    cli_warn("%lld group%s had no more samples than some term's k; l2o is undefined there and "
             "sloo_minus_one was used for those terms (first: %s)", (long long)c->count[3],
             c->count[3] == 1 ? "" : "s", FIRST(3));
  else if (c->count[3])
    cli_warn("%lld group%s had exactly k samples; l2o is undefined there and sloo_minus_one was "
             "used (first: %s)", (long long)c->count[3], c->count[3] == 1 ? "" : "s", FIRST(3));
#undef FIRST
}
