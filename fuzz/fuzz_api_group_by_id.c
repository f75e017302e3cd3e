/*
 * fuzz_api_group_by_id.c -- the pkpo_group_by_id part of the API fuzzer: ids of a small alphabet
 * and specials, sizes, NULL pointers; offsets, index and group count re-derived by a quadratic scan.
 */
#include <string.h>

#include "fuzz_api.h"

/* ---- pkpo_group_by_id ------------------------------------------------------------------------- */

void fuzz_group_by_id(src* s) {
  const unsigned sel = u8(s);
  const int64_t N = (int64_t)(u8(s) | (sel & 1) << 8) % (MAX_SAMPLES / 2);
  int64_t* ids = (int64_t*)alloc_guarded((size_t)N * 8);
  const unsigned alphabet = 1 + u8(s) % 16;
  for (int64_t i = 0; i < N; ++i) {
    const unsigned b = u8(s);
    ids[i] = b < 230 ? (int64_t)(b % alphabet) - 3 : special(s);
  }
  int64_t* offsets = (int64_t*)alloc_guarded((size_t)(N + 1) * 8);
  int64_t* index = (int64_t*)alloc_guarded((size_t)N * 8);
  int64_t num_groups = -7, max_group = -7;
  int64_t declared = N;
  const unsigned corrupt = (sel >> 1) % 16;
  pkpo_status want = PKPO_SUCCESS;
  int64_t* p_offsets = offsets;
  int64_t* p_index = index;
  const int64_t* p_ids = ids;
  int64_t* p_groups = &num_groups;
  int64_t* p_max = (sel & 0x80) ? NULL : &max_group;
  if (corrupt == 1) {
    declared = -1 - (int64_t)(u8(s) % 3);
    want = PKPO_ERROR_INVALID_ARGUMENT;
  } else if (corrupt == 2) {
    declared = (u8(s) & 1) ? INT64_MAX : ((int64_t)1 << 58) + (int64_t)u8(s);
    want = PKPO_ERROR_SIZE_OVERFLOW;
  } else if (corrupt == 3) {
    p_offsets = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  } else if (corrupt == 4) {
    p_groups = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  } else if (corrupt == 5 && N > 0) {
    p_ids = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  } else if (corrupt == 6 && N > 0) {
    p_index = NULL;
    want = PKPO_ERROR_NULL_POINTER;
  }
  pkpo_handle h = NULL;
  REQUIRE(pkpo_create(&h, NULL) == PKPO_SUCCESS);
  const pkpo_status st =
      pkpo_group_by_id(h, p_ids, declared, p_offsets, p_index, p_groups, p_max, NULL);
  REQUIRE_STATUS(st, want);
  REQUIRE(all_guard(ids, (size_t)N * 8, (size_t)N * 8 + GUARD * 8));
  REQUIRE(all_guard(offsets, (size_t)(N + 1) * 8, (size_t)(N + 1) * 8 + GUARD * 8));
  REQUIRE(all_guard(index, (size_t)N * 8, (size_t)N * 8 + GUARD * 8));
  if (st != PKPO_SUCCESS) {
    REQUIRE(all_guard(offsets, 0, (size_t)(N + 1) * 8) && all_guard(index, 0, (size_t)N * 8));
    REQUIRE(num_groups == -7 && max_group == -7);
  } else {
    /* Re-derive: group g is the g-th distinct id in order of first appearance, samples of a group
     * keep their input order, offsets are the prefix sums of the group sizes. */
    int64_t groups = 0, largest = 0, pos = 0;
    REQUIRE(offsets[0] == 0);
    for (int64_t i = 0; i < N; ++i) {
      int first = 1;
      for (int64_t j = 0; j < i; ++j) {
        if (ids[j] == ids[i]) {
          first = 0;
          break;
        }
      }
      if (!first) continue;
      REQUIRE(offsets[groups] == pos);
      int64_t count = 0;
      for (int64_t j = i; j < N; ++j) {
        if (ids[j] == ids[i]) {
          REQUIRE(index[pos] == j);
          ++pos;
          ++count;
        }
      }
      largest = count > largest ? count : largest;
      ++groups;
      REQUIRE(offsets[groups] == pos);
    }
    REQUIRE(pos == N && num_groups == groups);
    if (p_max) {
      REQUIRE(max_group == largest);
    } else {
      REQUIRE(max_group == -7);
    }
  }
  pkpo_destroy(h);
  free(ids);
  free(offsets);
  free(index);
}

