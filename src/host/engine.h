/*
 * engine.h -- the per-group math of docs/math.md, on one group already sorted ascending.
 *
 * This is the reference that every backend follows operation for operation. Arrays are 0-based:
 * v[0..m-1] sorted rewards (finite), mu[t-1] = mu_t for ranks t = 1..m. Ranks in comments are
 * 1-based, as in docs/math.md; d_t = v_{t+1} - v_t = v[t] - v[t-1].
 *
 * Every output is built from the differences d_t with non-negative weights (the stable forms of
 * docs/math.md §4), in float64. Each scan adds w * d_t, so a tie (d_t = 0) adds exactly zero and
 * tied samples receive bitwise-identical outputs.
 *
 * Blocks: the _block calls compute PKPO__LANES groups of the same (m, k) at once, rank-major
 * (v[t*PKPO__LANES + l] is rank t+1 of group l), with exactly the operations of the one-group
 * calls for each group (engine.c writes each estimator once for both), so the outputs are
 * bitwise identical to the one-group calls'.
 */
#ifndef PKPO_ENGINE_H
#define PKPO_ENGINE_H

#include <stdint.h>

#include "pkpo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Weights below this are dropped (docs/math.md §4: they contribute nothing). */
#define PKPO__WEIGHT_FLOOR 1e-300

/* Groups per block: 8 doubles are one AVX-512 register, two AVX2 or four SSE2 registers. */
#define PKPO__LANES 8

/* mu_t = C(t-1, k-1) / C(m, k) for t = 1..m (1 <= k <= m), built top-down from mu_m = k/m with
 * mu_{t-1} = mu_t (t-k)/(t-1), so no binomial coefficient is ever formed (no overflow, no underflow
 * until the values themselves are negligible). */
void pkpo__weights(int64_t m, int64_t k, double* mu);

/* rho = U_k = v_1 + sum_t T_t d_t, T_t = sum_{j>t} mu_j (docs/math.md §2, stable form). m >= 1. */
double pkpo__rho_sorted(int64_t m, const double* v, const double* mu);

/* Per-sample outputs a[0..m-1] (sorted order) of `estimator` (not PKPO_RHO) at 1 <= k <= m, m >= 1,
 * with the boundary rules of docs/math.md §2-3 applied: m = 1 gives 0 except for s; sloo at k = m
 * is s; sloo_minus_one at k = 1 is l2o; l2o at k = m is sloo_minus_one. `work` holds m doubles.
 * Returns the PKPO_FLAG_* bits these rules raise (SINGLETON, FALLBACK). */
uint32_t pkpo__transform_sorted(pkpo_estimator estimator, int64_t m, int64_t k, const double* v,
                                const double* mu, double* a, double* work);

/* rho of PKPO__LANES groups of m >= 1 sorted rewards each (block layout above), into rho[l]. */
void pkpo__rho_block(int64_t m, const double* restrict v, const double* restrict mu,
                     double* restrict rho);

/* pkpo__transform_sorted for PKPO__LANES groups of the same (m, k) (block layout above): a holds
 * m * PKPO__LANES doubles, work m doubles. The returned flags hold for every group of the block. */
uint32_t pkpo__transform_block(pkpo_estimator estimator, int64_t m, int64_t k,
                               const double* restrict v, const double* restrict mu,
                               double* restrict a, double* restrict work);

#ifdef __cplusplus
}
#endif

#endif /* PKPO_ENGINE_H */
