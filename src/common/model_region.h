/*
 * model_region.h -- named source ranges for the static cost model (bench/cost_model.py):
 *
 *   PKPO_REGION_BEGIN(name);
 *   ... code ...
 *   PKPO_REGION_END(name);
 *
 * The model attributes each SASS instruction to the regions that any frame of its line-table
 * entry falls in (the instruction's own source line and every inlined-at call site), so a region
 * around a call covers the inlined callee too. A size class of bench/cost_model_plan.py names the
 * regions its modelled call never executes (another estimator's formula, the index permutation,
 * the error report) and gives each loop region its trip count. One name may mark several ranges.
 *
 * The markers compile to nothing (a static assertion on the name, in C11 and C++): the SASS is the
 * same with and without them. The model fails when a marker is unpaired or a name it is given marks
 * nothing. Here, beside rules.h, so that the rules shared by the CPU engine and the kernels can be
 * marked too; src/cuda/model_region.h includes this file.
 */
#ifndef PKPO_MODEL_REGION_H
#define PKPO_MODEL_REGION_H

#ifdef __cplusplus
#define PKPO_REGION_BEGIN(name) static_assert(sizeof(#name) > 1, "a region has a name")
#define PKPO_REGION_END(name) static_assert(sizeof(#name) > 1, "a region has a name")
#else
#define PKPO_REGION_BEGIN(name) _Static_assert(sizeof(#name) > 1, "a region has a name")
#define PKPO_REGION_END(name) _Static_assert(sizeof(#name) > 1, "a region has a name")
#endif

#endif /* PKPO_MODEL_REGION_H */
