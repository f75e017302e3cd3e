/*
 * engine.h -- the per-group math of docs/math.md on groups already sorted ascending: the reference
 * that every backend follows.
 *
 * A group's objective (one estimator, one or more terms (k_j, w_j)) at m finite samples is turned
 * into weight rows once (pkpo__build_rows, from the formulas of src/common/rules.h); every output is
 * then a forward and a backward scan of weighted gaps d_t = v_{t+1} - v_t, and rho one weighted sum
 * of the gaps from the top. Every product w * d_t of a tie (d_t = 0) is exactly zero,
 * so tied samples receive bitwise-identical outputs.
 *
 * Arrays are 0-based: v[0..m-1] sorted rewards (finite); row entry t-1 belongs to gap t (ranks in
 * comments are 1-based, as in docs/math.md).
 *
 * Blocks: the _block calls compute PKPO__LANES groups of the same (m, objective) at once,
 * rank-major (v[t*PKPO__LANES + l] is rank t+1 of group l), with exactly the operations of the
 * one-group calls for each group (engine.c writes each loop once for both), so the outputs are
 * bitwise identical to the one-group calls'.
 */
#ifndef PKPO_ENGINE_H
#define PKPO_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "pkpo.h"
#include "rules.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Groups per block: 8 doubles are one AVX-512 register, two AVX2 or four SSE2 registers. */
#define PKPO__LANES 8

/* What a call optimises: the estimator and its terms (one k is the term (k, 1)). */
typedef struct pkpo__objective {
  pkpo_estimator estimator;
  int64_t num_terms;     /* >= 1 */
  const int64_t* k;      /* the terms' requested ks (>= 1) */
  const double* w;       /* the terms' weights, or NULL: one term of weight 1 */
} pkpo__objective;

/* The weight rows of one objective at m samples:
 *   a(i) = pkpo__rank_output(A, B, PRE_i, SUF_i, v_i, v_1),
 *   PRE_i = sum_{t<i} P_t d_t,  SUF_i = sum_{t>=i} Q_t d_t;
 *   rho = clamp((W v_m - sum_t Fhi_t d_t) - sum_t Flo_t d_t). */
typedef struct pkpo__rows {
  int64_t m;
  double A, B, W;
  double* P;   /* m entries (entry t-1: gap t; the last is unused) */
  double* Q;
  double* Fhi;
  double* Flo;
  int has_pre, has_suf, has_ab; /* which parts of the output the terms use */
  int has_rho;   /* Fhi/Flo were built */
  int clamp_rho; /* every weight >= 0: rho lies in [W v_1, W v_m] */
  uint32_t flags; /* PKPO_FLAG_FALLBACK */
} pkpo__rows;

/* Doubles of storage pkpo__build_rows needs for m samples: the four rows and the table of one
 * term while it is added. */
size_t pkpo__rows_doubles(int64_t m);

/* Builds the rows of objective o at m >= 1 samples in `storage` (pkpo__rows_doubles(m) doubles):
 * the output rows when want_out, rho's when want_rho. Terms with k > m are computed at k = m (the
 * caller applies the k policy first). */
void pkpo__build_rows(const pkpo__objective* o, int64_t m, int want_out, int want_rho,
                      double* storage, pkpo__rows* r);

/* rho of one group (rows built with want_rho). */
double pkpo__rho_rows(const pkpo__rows* r, const double* v);

/* Per-sample outputs a[0..m-1] in sorted order (rows built with want_out). */
void pkpo__transform_rows(const pkpo__rows* r, const double* v, double* a);

/* The same for PKPO__LANES groups of the rows' m (block layout above). */
void pkpo__rho_rows_block(const pkpo__rows* r, const double* restrict v, double* restrict rho);
void pkpo__transform_rows_block(const pkpo__rows* r, const double* restrict v,
                                double* restrict a);

#ifdef __cplusplus
}
#endif

#endif /* PKPO_ENGINE_H */
