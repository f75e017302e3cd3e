/*
 * engine.c -- the objectives of docs/math.md on sorted groups. See engine.h for conventions.
 *
 * The rows come from the formulas of src/common/rules.h, one term at a time, added with the
 * term's weight: the outputs' from the top-down table mu of the term's k, rho's from its F_t =
 * C(t,k)/C(m,k) in double-double (built only when rho is wanted: it costs more). The scans are written once, over L groups side by side (v[t*L + l] is rank t+1
 * of group l): every loop over l repeats, for each group, exactly the operations of the one-group
 * computation. The one-group entry points are the L = 1 instance and the block entry points the
 * L = PKPO__LANES instance of the same code, so a group gives bitwise-identical outputs on either
 * road (the inner loops over l are what the compiler vectorises).
 */
#include "engine.h"

#include <string.h>

size_t pkpo__rows_doubles(int64_t m) { return 6 * (size_t)m; }

/* mu_t = C(t-1, k-1) / C(m, k) for t = 1..m (1 <= k <= m), top-down from mu_m = k/m, so no
 * binomial coefficient is ever formed (no overflow, no underflow until the values themselves are
 * negligible). */
static void weights(int64_t m, int64_t k, double* mu) {
  for (int64_t t = 0; t < m; ++t) mu[t] = 0.0;
  double w = (double)k / (double)m; /* mu_m */
  for (int64_t t = m; t >= k; --t) {
    mu[t - 1] = w;
    if (t == k) break;
    w = pkpo__weight_down(w, t, k); /* mu_{t-1} */
    if (w < PKPO__WEIGHT_FLOOR) break;
  }
}

/* Adds w times one term's output rows to r (mu, tail: m doubles of scratch each). */
static void add_output_term(pkpo__rows* r, const pkpo__term* term, double w, double* mu,
                            double* tail) {
  const int64_t m = r->m;
  if (term->formula == PKPO__FORMULA_ZERO) return;
  const pkpo__term_consts c = pkpo__term_consts_of(term->formula, m, term->k);
  r->A += w * c.A;
  r->B += w * c.B;
  r->has_ab |= pkpo__formula_has_ab(term->formula);
  if (m < 2) return;
  r->has_pre |= pkpo__formula_has_pre(term->formula);
  r->has_suf |= pkpo__formula_has_suf(term->formula);
  weights(m, term->k, mu);
  /* T'_t = sum_{j=t+1}^{m-1} mu_j, as sums of non-negative terms from the top */
  double acc = 0.0;
  for (int64_t t = m - 1; t >= 1; --t) {
    tail[t - 1] = acc; /* T'_t */
    acc += mu[t - 1];
  }
  for (int64_t t = 1; t < m; ++t) {
    double pw, qw;
    pkpo__term_weights(term->formula, &c, t, m, mu[t - 1], mu[t], tail[t - 1], &pw, &qw);
    r->P[t - 1] += w * pw;
    r->Q[t - 1] += w * qw;
  }
}

void pkpo__build_rows(const pkpo__objective* o, int64_t m, int want_out, int want_rho,
                      double* storage, pkpo__rows* r) {
  memset(r, 0, sizeof *r);
  r->m = m;
  r->P = storage;
  r->Q = storage + m;
  r->Fhi = storage + 2 * m;
  r->Flo = storage + 3 * m;
  double* s1 = storage + 4 * m; /* one term's F_hi, then its mu */
  double* s2 = storage + 5 * m; /* one term's F_lo, then its tail sums */
  for (int64_t t = 0; t < 4 * m; ++t) storage[t] = 0.0;
  r->clamp_rho = 1;
  r->has_rho = want_rho;
  for (int64_t j = 0; j < o->num_terms; ++j) {
    const double w = o->w ? o->w[j] : 1.0;
    const pkpo__term term = pkpo__term_rule(o->estimator, m, o->k[j]);
    r->clamp_rho &= w >= 0.0;
    if (want_rho) {
      r->W += w;
      if (m > 1) pkpo__rho_weights(m, term.k, s1, s2);
      for (int64_t t = 0; t + 1 < m; ++t) {
        r->Fhi[t] += w * s1[t];
        r->Flo[t] += w * s2[t];
      }
    }
    if (want_out) {
      r->flags |= term.flags;
      add_output_term(r, &term, w, s1, s2);
    }
  }
}

/* Rank r (0-based) of group l in a block of L groups. */
#define AT(x, r, l) (x)[(r) * L + (l)]

/* rho = (W v_m - sum_t Fhi_t d_t) - sum_t Flo_t d_t, from the top (L <= PKPO__LANES). */
static inline void rho_lanes(int64_t L, const pkpo__rows* r, const double* restrict v,
                             double* restrict rho) {
  const int64_t m = r->m;
  const double* restrict Fhi = r->Fhi;
  const double* restrict Flo = r->Flo;
  double hi[PKPO__LANES], lo[PKPO__LANES]; /* registers: no store can alias them */
  for (int64_t l = 0; l < L; ++l) hi[l] = lo[l] = 0.0;
  for (int64_t t = m - 1; t >= 1; --t) {
    const double fh = Fhi[t - 1], fl = Flo[t - 1];
    for (int64_t l = 0; l < L; ++l) {
      const double d = AT(v, t, l) - AT(v, t - 1, l);
      hi[l] += fh * d;
      lo[l] += fl * d;
    }
  }
  for (int64_t l = 0; l < L; ++l) {
    const double top = r->W * AT(v, m - 1, l);
    double x = (top - hi[l]) - lo[l];
    /* The gaps are rounded differences, so the weighted sum could in principle leave rho an ulp
     * outside [W v_1, W v_m]; no case was found in 8 million random groups of extreme values, and
     * the clamp makes the range a guarantee. */
    if (r->clamp_rho) {
      const double bottom = r->W * AT(v, 0, l);
      x = x < bottom ? bottom : x;
      x = x > top ? top : x;
    }
    rho[l] = x;
  }
}

/* a(i) = (PRE_i + SUF_i) + (A (v_i - v_1) + B v_1): the forward scan into a, then the backward
 * scan and the output form, each only where the terms use it (acc: L doubles). */
static inline void transform_lanes(int64_t L, const pkpo__rows* r, const double* v, double* a,
                                   double* acc) {
  const int64_t m = r->m;
  for (int64_t l = 0; l < L; ++l) {
    acc[l] = 0.0;
    AT(a, 0, l) = 0.0;
  }
  if (r->has_pre) {
    for (int64_t t = 1; t < m; ++t) {
      const double pw = r->P[t - 1];
      for (int64_t l = 0; l < L; ++l) {
        acc[l] += pw * (AT(v, t, l) - AT(v, t - 1, l));
        AT(a, t, l) = acc[l];
      }
    }
  } else {
    for (int64_t t = 1; t < m; ++t) {
      for (int64_t l = 0; l < L; ++l) AT(a, t, l) = 0.0;
    }
  }
  if (!r->has_suf && !r->has_ab) return; /* the exclusive scan is the output */
  for (int64_t l = 0; l < L; ++l) {
    acc[l] = 0.0;
    AT(a, m - 1, l) =
        pkpo__rank_output(r->A, r->B, AT(a, m - 1, l), acc[l], AT(v, m - 1, l), AT(v, 0, l));
  }
  for (int64_t t = m - 1; t >= 1; --t) {
    const double qw = r->has_suf ? r->Q[t - 1] : 0.0;
    for (int64_t l = 0; l < L; ++l) {
      acc[l] += qw * (AT(v, t, l) - AT(v, t - 1, l));
      AT(a, t - 1, l) =
          pkpo__rank_output(r->A, r->B, AT(a, t - 1, l), acc[l], AT(v, t - 1, l), AT(v, 0, l));
    }
  }
}

#undef AT

double pkpo__rho_rows(const pkpo__rows* r, const double* v) {
  double rho;
  rho_lanes(1, r, v, &rho);
  return rho;
}

void pkpo__transform_rows(const pkpo__rows* r, const double* v, double* a) {
  double acc[1];
  transform_lanes(1, r, v, a, acc);
}

void pkpo__rho_rows_block(const pkpo__rows* r, const double* restrict v, double* restrict rho) {
  rho_lanes(PKPO__LANES, r, v, rho);
}

void pkpo__transform_rows_block(const pkpo__rows* r, const double* restrict v,
                                double* restrict a) {
  double acc[PKPO__LANES];
  transform_lanes(PKPO__LANES, r, v, a, acc);
}
