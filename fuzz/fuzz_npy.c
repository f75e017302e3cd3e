/*
 * fuzz_npy.c -- libFuzzer target for the CLI's NPY header reader (src/cli/npy.c).
 *
 * On every accepted header it checks that the announced data exactly fill the input, that the
 * byte swap is an involution, and that npy_write_header writes a header the reader accepts back
 * with the same dtype and shape.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"

#define REQUIRE(c)                                                     \
  do {                                                                 \
    if (!(c)) {                                                        \
      fprintf(stderr, "fuzz_npy: %s:%d: %s failed\n", __FILE__, __LINE__, #c); \
      abort();                                                         \
    }                                                                  \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  npy_info info;
  cli_error err;
  if (npy_parse_header(data, size, size, &info, &err) != 0) {
    REQUIRE(strlen(err.msg) > 0 && strchr(err.msg, '\n') == NULL);
    return 0;
  }
  REQUIRE(info.elem_size == NPY_FLOAT32 || info.elem_size == NPY_FLOAT64);
  REQUIRE(info.ndim == 1 || info.ndim == 2);
  REQUIRE(info.count >= 0 && info.data_offset <= size);
  REQUIRE(info.data_offset + (uint64_t)info.count * (uint64_t)info.elem_size == size);

  const size_t bytes = size - info.data_offset;
  unsigned char* copy = (unsigned char*)malloc(bytes + 1);
  REQUIRE(copy);
  memcpy(copy, data + info.data_offset, bytes);
  npy_swap_bytes(copy, info.count, info.elem_size);
  npy_swap_bytes(copy, info.count, info.elem_size);
  REQUIRE(memcmp(copy, data + info.data_offset, bytes) == 0);
  free(copy);

  char* buf = NULL;
  size_t blen = 0;
  FILE* f = open_memstream(&buf, &blen);
  REQUIRE(f);
  REQUIRE(npy_write_header(f, info.elem_size, info.ndim, info.shape) == 0);
  fclose(f);
  REQUIRE(blen % 64 == 0);
  npy_info back;
  const size_t file_len = blen + (size_t)info.count * (size_t)info.elem_size;
  REQUIRE(npy_parse_header((const unsigned char*)buf, blen, file_len, &back, &err) == 0);
  REQUIRE(back.elem_size == info.elem_size && back.ndim == info.ndim && back.count == info.count);
  REQUIRE(back.shape[0] == info.shape[0] && back.shape[1] == info.shape[1]);
  REQUIRE(back.big_endian == 0 && back.data_offset == blen);
  free(buf);
  return 0;
}
