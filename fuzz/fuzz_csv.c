/*
 * fuzz_csv.c -- libFuzzer target for the CLI's CSV reader (src/cli/csv.c).
 *
 * Besides "no crash, no sanitizer report" it checks the reader's promises on every input it
 * accepts: row spans lie inside the data and in order, ids are dense and in first-appearance
 * order, every group name survives csv_write_field + csv_parse unchanged, and every reward
 * survives cli_format_number + cli_parse_double bit for bit.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"

#define REQUIRE(c)                                                     \
  do {                                                                 \
    if (!(c)) {                                                        \
      fprintf(stderr, "fuzz_csv: %s:%d: %s failed\n", __FILE__, __LINE__, #c); \
      abort();                                                         \
    }                                                                  \
  } while (0)

static void check_name_round_trip(const char* name, size_t len) {
  char* buf = NULL;
  size_t blen = 0;
  FILE* f = open_memstream(&buf, &blen);
  REQUIRE(f);
  fputs("reward,group\n0,", f);
  REQUIRE(csv_write_field(f, name, len) == 0);
  fputs("\n", f);
  fclose(f);
  csv_table t;
  cli_error err;
  const int rc = csv_parse(buf, blen, "group", "reward", &t, &err, NULL, NULL);
  if (rc != 0) fprintf(stderr, "re-parse failed: %s\n", err.msg);
  REQUIRE(rc == 0);
  REQUIRE(t.num_rows == 1 && t.num_groups == 1);
  size_t n;
  const char* s = csv_group_name(&t, 0, &n);
  REQUIRE(n == len && memcmp(s, name, n) == 0);
  csv_free(&t);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  csv_table t;
  cli_error err;
  if (csv_parse((const char*)data, size, "group", "reward", &t, &err, NULL, NULL) != 0) {
    REQUIRE(strlen(err.msg) > 0 && strchr(err.msg, '\n') == NULL);
    REQUIRE(err.line >= 0);
    return 0;
  }
  REQUIRE(t.header_begin <= t.header_end && t.header_end <= size);
  REQUIRE(t.group_col < t.num_cols && t.reward_col < t.num_cols && t.group_col != t.reward_col);
  REQUIRE(t.num_rows >= 0 && (size_t)t.num_rows <= size);
  int64_t next_new = 0;
  size_t prev_end = t.header_end;
  int64_t prev_line = 0;
  for (int64_t r = 0; r < t.num_rows; ++r) {
    REQUIRE(t.row_begin[r] >= prev_end && t.row_begin[r] < t.row_end[r] && t.row_end[r] <= size);
    REQUIRE(t.row_line[r] > prev_line);
    prev_end = t.row_end[r];
    prev_line = t.row_line[r];
    REQUIRE(t.group_id[r] >= 0 && t.group_id[r] <= next_new && t.group_id[r] < t.num_groups);
    if (t.group_id[r] == next_new) ++next_new;
    char num[32];
    const int n = cli_format_number(num, t.reward[r], 0);
    REQUIRE(n > 0 && n < 32);
    double back;
    REQUIRE(cli_parse_double(num, (size_t)n, &back) == 0);
    REQUIRE((isnan(back) && isnan(t.reward[r])) || memcmp(&back, &t.reward[r], sizeof back) == 0 ||
            (back == 0 && t.reward[r] == 0 && signbit(back) == signbit(t.reward[r])));
  }
  REQUIRE(next_new == t.num_groups);
  for (int64_t g = 0; g < t.num_groups && g < 64; ++g) {
    size_t n;
    const char* s = csv_group_name(&t, g, &n);
    check_name_round_trip(s, n);
  }
  csv_free(&t);
  return 0;
}
