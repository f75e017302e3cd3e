/*
 * group_by_id.c -- per-sample group ids in any order -> ragged offsets + index permutation (CPU).
 *
 * One pass numbers the distinct ids in order of first appearance with an open-addressing hash table,
 * counting group sizes; a prefix sum gives the offsets; a second pass places each sample after the
 * earlier samples of its group, so groups keep input order. O(N) expected time. This is a set-up
 * call: it allocates its temporary table (2 slots per sample) and frees it before returning.
 */
#include <stdlib.h>

#include "internal.h"

static uint64_t mix64(uint64_t x) { /* splitmix64 finaliser: spreads consecutive ids */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

pkpo_status pkpo__cpu_group_by_id(pkpo_handle h, const int64_t* ids, int64_t num_samples,
                                  int64_t* offsets, int64_t* index, int64_t* num_groups,
                                  int64_t* max_group_size) {
  offsets[0] = 0;
  if (num_samples == 0) {
    *num_groups = 0;
    if (max_group_size) *max_group_size = 0;
    return PKPO_SUCCESS;
  }
  size_t cap = 16;
  while (cap < (size_t)num_samples * 2) cap *= 2;
  int64_t* slot_id = (int64_t*)malloc(cap * sizeof(int64_t));
  int64_t* slot_group = (int64_t*)malloc(cap * sizeof(int64_t));
  int64_t* group_of = (int64_t*)malloc((size_t)num_samples * sizeof(int64_t));
  if (!slot_id || !slot_group || !group_of) {
    free(slot_id);
    free(slot_group);
    free(group_of);
    return pkpo__error(h, PKPO_ERROR_OUT_OF_MEMORY, "cannot allocate the id table for %lld samples",
                       (long long)num_samples);
  }
  for (size_t s = 0; s < cap; ++s) slot_group[s] = -1;

  /* Pass 1: number groups by first appearance; offsets[g+1] counts group g for now. */
  int64_t groups = 0;
  for (int64_t i = 0; i < num_samples; ++i) {
    size_t s = (size_t)mix64((uint64_t)ids[i]) & (cap - 1);
    while (slot_group[s] >= 0 && slot_id[s] != ids[i]) s = (s + 1) & (cap - 1);
    if (slot_group[s] < 0) {
      slot_id[s] = ids[i];
      slot_group[s] = groups;
      offsets[groups + 1] = 0;
      ++groups;
    }
    group_of[i] = slot_group[s];
    ++offsets[group_of[i] + 1];
  }
  int64_t largest = 0;
  for (int64_t g = 0; g < groups; ++g) {
    if (offsets[g + 1] > largest) largest = offsets[g + 1];
    offsets[g + 1] += offsets[g];
  }
  /* Pass 2: place samples; slot_id is reused as each group's fill cursor. */
  int64_t* cursor = slot_id;
  for (int64_t g = 0; g < groups; ++g) cursor[g] = offsets[g];
  for (int64_t i = 0; i < num_samples; ++i) index[cursor[group_of[i]]++] = i;

  free(slot_id);
  free(slot_group);
  free(group_of);
  *num_groups = groups;
  if (max_group_size) *max_group_size = largest;
  return PKPO_SUCCESS;
}
