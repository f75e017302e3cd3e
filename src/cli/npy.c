/*
 * npy.c -- NumPy .npy header reader and writer for the pkpo command-line tool.
 *
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 * "\x93NUMPY", major, minor, a little-endian header length (uint16 in 1.0, uint32 in 2.0/3.0), then
 * a Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (N,), } padded with
 * spaces and ended by '\n'. The array data follow. Only float32/float64 arrays of one or two
 * dimensions are accepted: pkpo reads them as rewards (2-D: one group per row).
 */
#include "cli_io.h"

#include <stdarg.h>
#include <string.h>

static int fail(cli_error* err, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int fail(cli_error* err, const char* fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->line = 0;
  }
  return -1;
}

/* Copies at most cap-1 bytes of s for a message, control and non-ASCII bytes shown as '?', so
 * that an error stays one printable line whatever the file holds. */
static const char* printable(char* dst, size_t cap, const char* s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < cap; ++i)
    dst[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  dst[o] = '\0';
  return dst;
}

static const unsigned char k_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int npy_is_npy(const unsigned char* buf, size_t len) {
  return len >= sizeof k_magic && memcmp(buf, k_magic, sizeof k_magic) == 0;
}

/* A cursor over the header's dict literal. */
typedef struct cursor {
  const char* s;
  size_t len, pos;
} cursor;

static void skip_space(cursor* c) {
  while (c->pos < c->len &&
         (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
    ++c->pos;
}

static int accept(cursor* c, char ch) {
  skip_space(c);
  if (c->pos < c->len && c->s[c->pos] == ch) {
    ++c->pos;
    return 1;
  }
  return 0;
}

/* A quoted Python string ('...' or "...", no escapes needed for the keys and dtypes we accept). */
static int read_string(cursor* c, const char** s, size_t* n) {
  skip_space(c);
  if (c->pos >= c->len || (c->s[c->pos] != '\'' && c->s[c->pos] != '"')) return -1;
  const char q = c->s[c->pos++];
  const size_t b = c->pos;
  while (c->pos < c->len && c->s[c->pos] != q) {
    if (c->s[c->pos] == '\\') return -1;
    ++c->pos;
  }
  if (c->pos >= c->len) return -1;
  *s = c->s + b;
  *n = c->pos - b;
  ++c->pos;
  return 0;
}

static int read_word(cursor* c, const char* w) {
  skip_space(c);
  const size_t n = strlen(w);
  if (c->len - c->pos >= n && memcmp(c->s + c->pos, w, n) == 0) {
    c->pos += n;
    return 1;
  }
  return 0;
}

static int read_int(cursor* c, int64_t* v) {
  skip_space(c);
  int64_t x = 0;
  size_t digits = 0;
  while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
    const int d = c->s[c->pos] - '0';
    if (x > (INT64_MAX - d) / 10) return -1;
    x = x * 10 + d;
    ++c->pos;
    ++digits;
  }
  if (c->pos < c->len && c->s[c->pos] == 'L') ++c->pos; /* Python 2 long suffix */
  if (!digits) return -1;
  *v = x;
  return 0;
}

int npy_parse_header(const unsigned char* buf, size_t len, size_t file_len, npy_info* info,
                     cli_error* err) {
  memset(info, 0, sizeof *info);
  if (!npy_is_npy(buf, len)) return fail(err, "not an NPY file (no \\x93NUMPY magic)");
  if (len < 10) return fail(err, "truncated NPY header");
  const int major = buf[6];
  size_t hlen, pre;
  if (major == 1) {
    hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    pre = 10;
  } else if (major == 2 || major == 3) {
    if (len < 12) return fail(err, "truncated NPY header");
    hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    pre = 12;
  } else {
    return fail(err, "unsupported NPY format version %d.%d", major, buf[7]);
  }
  if (hlen > len - pre) return fail(err, "truncated NPY header (%zu header bytes announced)", hlen);

  cursor c = {(const char*)buf + pre, hlen, 0};
  int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
  if (!accept(&c, '{')) return fail(err, "malformed NPY header: expected '{'");
  for (;;) {
    if (accept(&c, '}')) break;
    const char* key;
    size_t kn;
    if (read_string(&c, &key, &kn) != 0 || !accept(&c, ':'))
      return fail(err, "malformed NPY header: expected 'key': value");
    if (kn == 5 && memcmp(key, "descr", 5) == 0) {
      const char* v;
      size_t vn;
      if (read_string(&c, &v, &vn) != 0)
        return fail(err, "NPY dtype is not a simple type (structured arrays are not supported)");
      if (vn != 3 || (v[0] != '<' && v[0] != '>' && v[0] != '=' && v[0] != '|') || v[1] != 'f' ||
          (v[2] != '4' && v[2] != '8'))
      {
        char shown[17];
        return fail(err, "unsupported NPY dtype '%s' (rewards must be float32 '<f4' or float64 "
                         "'<f8')", printable(shown, sizeof shown, v, vn));
      }
      info->elem_size = v[2] == '4' ? NPY_FLOAT32 : NPY_FLOAT64;
      info->big_endian = v[0] == '>';
      have_descr = 1;
    } else if (kn == 13 && memcmp(key, "fortran_order", 13) == 0) {
      if (read_word(&c, "True"))
        fortran = 1;
      else if (read_word(&c, "False"))
        fortran = 0;
      else
        return fail(err, "malformed NPY header: fortran_order must be True or False");
      have_order = 1;
    } else if (kn == 5 && memcmp(key, "shape", 5) == 0) {
      if (!accept(&c, '(')) return fail(err, "malformed NPY header: shape must be a tuple");
      int nd = 0;
      int64_t dims[3];
      while (!accept(&c, ')')) {
        int64_t v;
        if (read_int(&c, &v) != 0) return fail(err, "malformed NPY header: bad shape entry");
        if (nd < 3) dims[nd] = v;
        ++nd;
        if (!accept(&c, ',')) {
          if (!accept(&c, ')')) return fail(err, "malformed NPY header: bad shape tuple");
          break;
        }
      }
      if (nd < 1 || nd > 2)
        return fail(err, "the NPY array has %d dimensions; pkpo reads 1-D rewards (with "
                         "--group-size) or 2-D (groups x samples)", nd);
      info->ndim = nd;
      info->shape[0] = dims[0];
      info->shape[1] = nd == 2 ? dims[1] : 0;
      have_shape = 1;
    } else {
      char shown[33];
      return fail(err, "unexpected key '%s' in the NPY header", printable(shown, sizeof shown, key, kn));
    }
    if (!accept(&c, ',')) {
      if (!accept(&c, '}')) return fail(err, "malformed NPY header: expected ',' or '}'");
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape)
    return fail(err, "NPY header lacks '%s'", !have_descr ? "descr" : !have_order ? "fortran_order"
                                                                                  : "shape");
  if (fortran && info->ndim == 2 && info->shape[0] > 1 && info->shape[1] > 1)
    return fail(err, "Fortran-ordered 2-D NPY arrays are not supported (save with "
                     "np.ascontiguousarray)");

  int64_t count = info->shape[0];
  if (info->ndim == 2) {
    if (info->shape[1] != 0 && count > INT64_MAX / info->shape[1])
      return fail(err, "NPY shape overflows");
    count *= info->shape[1];
  }
  if (count > INT64_MAX / info->elem_size) return fail(err, "NPY shape overflows");
  info->count = count;
  info->data_offset = pre + hlen;
  const uint64_t data_bytes = (uint64_t)count * (uint64_t)info->elem_size;
  const uint64_t have = file_len >= info->data_offset ? file_len - info->data_offset : 0;
  if (data_bytes != have)
    return fail(err, "the NPY data is %llu bytes but its shape needs %llu (truncated or corrupt "
                     "file)", (unsigned long long)have, (unsigned long long)data_bytes);
  return 0;
}

void npy_swap_bytes(void* data, int64_t count, int elem_size) {
  unsigned char* p = (unsigned char*)data;
  for (int64_t i = 0; i < count; ++i, p += elem_size) {
    for (int a = 0, b = elem_size - 1; a < b; ++a, --b) {
      const unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
  }
}

int npy_write_header(FILE* f, int elem_size, int ndim, const int64_t* shape) {
  char dict[160];
  int n;
  if (ndim == 1)
    n = snprintf(dict, sizeof dict, "{'descr': '<f%d', 'fortran_order': False, 'shape': (%lld,), }",
                 elem_size, (long long)shape[0]);
  else
    n = snprintf(dict, sizeof dict,
                 "{'descr': '<f%d', 'fortran_order': False, 'shape': (%lld, %lld), }", elem_size,
                 (long long)shape[0], (long long)shape[1]);
  if (n < 0 || (size_t)n >= sizeof dict) return -1;
  /* pad with spaces so that magic + version + length + dict + '\n' is a multiple of 64 */
  size_t total = 10 + (size_t)n + 1;
  const size_t pad = (64 - total % 64) % 64;
  total += pad;
  const size_t hlen = total - 10;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  if (fwrite(pre, 1, sizeof pre, f) != sizeof pre) return -1;
  if (fwrite(dict, 1, (size_t)n, f) != (size_t)n) return -1;
  for (size_t i = 0; i < pad; ++i)
    if (fputc(' ', f) == EOF) return -1;
  return fputc('\n', f) == EOF ? -1 : 0;
}
