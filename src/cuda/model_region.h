/*
 * model_region.h -- the cost model's region markers, PKPO_REGION_BEGIN(name) / PKPO_REGION_END(name):
 * defined in src/common/model_region.h, where src/common/rules.h finds them too.
 */
#ifndef PKPO_CUDA_MODEL_REGION_H
#define PKPO_CUDA_MODEL_REGION_H

#include "../common/model_region.h"

#endif /* PKPO_CUDA_MODEL_REGION_H */
