/*
 * csv.c -- the CSV reader and the number/field writers of the pkpo command-line tool.
 *
 * The reader keeps the whole input in memory (the caller's buffer) and records, per data row, the
 * raw byte span of the record, so that `transform` writes every other column back byte for byte.
 * Only the group and reward fields are decoded. Group names are interned in a small open-addressing
 * hash table and numbered in order of first appearance, which is also the group order that
 * pkpo_group_by_id produces for such ids.
 */
#include "cli_io.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---------------------------------------------------------------------------- */

static int fail(cli_error* err, int64_t line, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(cli_error* err, int64_t line, const char* fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->line = line;
  }
  return -1;
}

/* Quotes at most `max` bytes of s for a message, replacing control bytes, so that one error stays
 * on one line whatever the input holds. */
static void quote_for_msg(char* dst, size_t cap, const char* s, size_t len) {
  const size_t max = cap > 8 ? cap - 8 : 0;
  size_t o = 0;
  dst[o++] = '\'';
  for (size_t i = 0; i < len && o < max; ++i) {
    const unsigned char c = (unsigned char)s[i];
    dst[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (len > 0 && o >= max) {
    dst[o++] = '.';
    dst[o++] = '.';
    dst[o++] = '.';
  }
  dst[o++] = '\'';
  dst[o] = '\0';
}

/* ---- numbers ---------------------------------------------------------------------------------- */

int cli_parse_double(const char* s, size_t len, double* out) {
  while (len > 0 && (*s == ' ' || *s == '\t')) {
    ++s;
    --len;
  }
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) --len;
  if (len == 0) return -1;

  char small[64];
  char* buf = small;
  if (len >= sizeof small) {
    buf = (char*)malloc(len + 1);
    if (!buf) return -1;
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  char* end = NULL;
  errno = 0;
  const double v = strtod(buf, &end);
  /* ERANGE is accepted: overflow gives +-inf (the --nan policy then applies), underflow gives a
   * subnormal or zero, both the nearest doubles. */
  const int ok = end == buf + len;
  if (buf != small) free(buf);
  if (!ok) return -1;
  *out = v;
  return 0;
}

int cli_format_number(char buf[32], double v, int is_float32) {
  if (isnan(v)) {
    memcpy(buf, "nan", 4);
    return 3;
  }
  if (isinf(v)) {
    if (v > 0) {
      memcpy(buf, "inf", 4);
      return 3;
    }
    memcpy(buf, "-inf", 5);
    return 4;
  }
  /* 17 significant digits round-trip every double, 9 every float. */
  return snprintf(buf, 32, is_float32 ? "%.9g" : "%.17g", v);
}

int csv_write_field(FILE* f, const char* s, size_t len) {
  int need_quotes = len > 0 && (s[0] == ' ' || s[len - 1] == ' ');
  for (size_t i = 0; i < len && !need_quotes; ++i)
    need_quotes = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
  if (!need_quotes) return fwrite(s, 1, len, f) == len ? 0 : -1;
  if (fputc('"', f) == EOF) return -1;
  size_t run = 0;
  for (size_t i = 0; i < len; ++i) {
    if (s[i] == '"') {
      if (fwrite(s + run, 1, i + 1 - run, f) != i + 1 - run) return -1;
      if (fputc('"', f) == EOF) return -1;
      run = i + 1;
    }
  }
  if (fwrite(s + run, 1, len - run, f) != len - run) return -1;
  return fputc('"', f) == EOF ? -1 : 0;
}

/* ---- record scanner --------------------------------------------------------------------------- */

typedef struct field_span {
  size_t begin, end; /* the field's content (inside the quotes when quoted) */
  int quoted;
  int has_escapes; /* quoted and holds doubled quotes: must be unescaped */
} field_span;

typedef struct scanner {
  const char* d;
  size_t len;
  size_t pos;
  int64_t line; /* physical line of d[pos] */
  field_span* fields;
  size_t cap; /* fields[] capacity; fields past it are counted, not stored */
  size_t count;
  size_t rec_begin, rec_end;
  int64_t rec_line;
  int crlf; /* the record ended with CRLF */
} scanner;

/* Scans one record at sc->pos. Returns 1 if a record was read, 0 at the end of input, -1 on a
 * malformed record (err filled). */
static int scan_record(scanner* sc, cli_error* err) {
  const char* d = sc->d;
  const size_t len = sc->len;
  size_t p = sc->pos;
  if (p >= len) return 0;
  sc->rec_begin = p;
  sc->rec_line = sc->line;
  sc->count = 0;
  sc->crlf = 0;
  for (;;) {
    field_span f = {p, p, 0, 0};
    if (p < len && d[p] == '"') {
      const int64_t open_line = sc->line;
      f.quoted = 1;
      f.begin = ++p;
      for (;;) {
        if (p >= len)
          return fail(err, open_line, "unterminated quoted field (the quote opened on line %lld "
                                      "is never closed)", (long long)open_line);
        const char c = d[p];
        if (c == '"') {
          if (p + 1 < len && d[p + 1] == '"') {
            f.has_escapes = 1;
            p += 2;
            continue;
          }
          f.end = p++;
          break;
        }
        if (c == '\n') ++sc->line;
        ++p;
      }
      if (p < len && d[p] != ',' && d[p] != '\n' && !(d[p] == '\r' && p + 1 < len && d[p + 1] == '\n') &&
          !(d[p] == '\r' && p + 1 == len)) {
        const unsigned char c = (unsigned char)d[p];
        if (c >= 0x20 && c < 0x7f)
          return fail(err, sc->line, "unexpected character '%c' after a closing quote (a quote "
                                     "inside a quoted field must be doubled)", (char)c);
        return fail(err, sc->line, "unexpected byte 0x%02x after a closing quote", c);
      }
    } else {
      while (p < len) {
        const char c = d[p];
        if (c == ',' || c == '\n') break;
        if (c == '\r' && (p + 1 == len || d[p + 1] == '\n')) break;
        if (c == '"')
          return fail(err, sc->line, "quote character inside an unquoted field (quote the whole "
                                     "field and double the quote)");
        ++p;
      }
      f.end = p;
    }
    if (sc->count < sc->cap) sc->fields[sc->count] = f;
    ++sc->count;
    if (p >= len) {
      sc->rec_end = p;
      break;
    }
    if (d[p] == ',') {
      ++p;
      continue;
    }
    sc->rec_end = p;
    if (d[p] == '\r') {
      sc->crlf = 1;
      ++p;
    }
    if (p < len) ++p; /* the '\n' */
    ++sc->line;
    break;
  }
  sc->pos = p;
  return 1;
}

/* The unescaped content of a field: a pointer into the data when it has no doubled quotes, else
 * into *scratch (grown as needed). Returns NULL when out of memory. */
static const char* field_value(const scanner* sc, const field_span* f, char** scratch,
                               size_t* scratch_cap, size_t* out_len) {
  const size_t n = f->end - f->begin;
  if (!f->has_escapes) {
    *out_len = n;
    return sc->d + f->begin;
  }
  if (*scratch_cap < n + 1) {
    char* s = (char*)realloc(*scratch, n + 1);
    if (!s) return NULL;
    *scratch = s;
    *scratch_cap = n + 1;
  }
  size_t o = 0;
  for (size_t i = f->begin; i < f->end; ++i) {
    (*scratch)[o++] = sc->d[i];
    if (sc->d[i] == '"') ++i; /* skip the second quote of a pair */
  }
  *out_len = o;
  return *scratch;
}

/* ---- group-name interning --------------------------------------------------------------------- */

typedef struct name_table {
  int64_t* slots; /* group index or -1 */
  uint64_t* hashes;
  size_t mask;
  csv_table* t;
  size_t names_cap;
  size_t begin_cap;
} name_table;

static uint64_t hash_bytes(const char* s, size_t n) {
  uint64_t h = 0x243f6a8885a308d3ull ^ (n * 0x9e3779b97f4a7c15ull);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
  h ^= h >> 31;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 29;
  return h;
}

static int names_grow(name_table* nt) {
  const size_t cap = (nt->mask + 1) * 2;
  int64_t* slots = (int64_t*)malloc(cap * sizeof *slots);
  uint64_t* hashes = (uint64_t*)malloc(cap * sizeof *hashes);
  if (!slots || !hashes) {
    free(slots);
    free(hashes);
    return -1;
  }
  for (size_t i = 0; i < cap; ++i) slots[i] = -1;
  for (size_t i = 0; i <= nt->mask; ++i) {
    if (nt->slots[i] < 0) continue;
    size_t j = nt->hashes[i] & (cap - 1);
    while (slots[j] >= 0) j = (j + 1) & (cap - 1);
    slots[j] = nt->slots[i];
    hashes[j] = nt->hashes[i];
  }
  free(nt->slots);
  free(nt->hashes);
  nt->slots = slots;
  nt->hashes = hashes;
  nt->mask = cap - 1;
  return 0;
}

/* The id of name s (interning it if new), or -1 when out of memory. */
static int64_t names_intern(name_table* nt, const char* s, size_t n) {
  csv_table* t = nt->t;
  const uint64_t h = hash_bytes(s, n);
  size_t j = h & nt->mask;
  while (nt->slots[j] >= 0) {
    const int64_t g = nt->slots[j];
    if (nt->hashes[j] == h) {
      const size_t b = t->name_begin[g], e = t->name_begin[g + 1];
      if (e - b == n && memcmp(t->names + b, s, n) == 0) return g;
    }
    j = (j + 1) & nt->mask;
  }
  const int64_t g = t->num_groups;
  /* room for the name and for name_begin[g + 2] */
  const size_t used = t->name_begin[g];
  if (used + n > nt->names_cap) {
    size_t cap = nt->names_cap;
    while (cap < used + n) cap *= 2;
    char* names = (char*)realloc(t->names, cap);
    if (!names) return -1;
    t->names = names;
    nt->names_cap = cap;
  }
  if ((size_t)g + 2 > nt->begin_cap) {
    const size_t cap = nt->begin_cap * 2;
    size_t* nb = (size_t*)realloc(t->name_begin, cap * sizeof *nb);
    if (!nb) return -1;
    t->name_begin = nb;
    nt->begin_cap = cap;
  }
  if (n) memcpy(t->names + used, s, n);
  t->name_begin[g + 1] = used + n;
  nt->slots[j] = g;
  nt->hashes[j] = h;
  t->num_groups = g + 1;
  if ((size_t)t->num_groups * 2 > nt->mask + 1 && names_grow(nt) != 0) return -1;
  return g;
}

/* ---- the table -------------------------------------------------------------------------------- */

void csv_free(csv_table* t) {
  if (!t) return;
  free(t->row_begin);
  free(t->row_end);
  free(t->row_line);
  free(t->reward);
  free(t->group_id);
  free(t->names);
  free(t->name_begin);
  memset(t, 0, sizeof *t);
}

const char* csv_group_name(const csv_table* t, int64_t g, size_t* len) {
  *len = t->name_begin[g + 1] - t->name_begin[g];
  return t->names ? t->names + t->name_begin[g] : ""; /* no bytes stored when all names are "" */
}

/* Grows the per-row arrays to hold `cap` rows. */
static int rows_reserve(csv_table* t, size_t cap) {
  size_t* rb = (size_t*)realloc(t->row_begin, cap * sizeof *rb);
  if (rb) t->row_begin = rb;
  size_t* re = (size_t*)realloc(t->row_end, cap * sizeof *re);
  if (re) t->row_end = re;
  int64_t* rl = (int64_t*)realloc(t->row_line, cap * sizeof *rl);
  if (rl) t->row_line = rl;
  double* rw = (double*)realloc(t->reward, cap * sizeof *rw);
  if (rw) t->reward = rw;
  int64_t* gi = (int64_t*)realloc(t->group_id, cap * sizeof *gi);
  if (gi) t->group_id = gi;
  return (rb && re && rl && rw && gi) ? 0 : -1;
}

int csv_parse(const char* data, size_t len, const char* group_name, const char* reward_name,
              csv_table* t, cli_error* err, csv_progress_fn progress, void* progress_ctx) {
  memset(t, 0, sizeof *t);
  t->data = data;
  scanner sc;
  memset(&sc, 0, sizeof sc);
  sc.d = data;
  sc.len = len;
  sc.line = 1;
  /* A UTF-8 byte-order mark is written back with the header but is not part of the first name. */
  if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) sc.pos = 3;

  name_table nt;
  memset(&nt, 0, sizeof nt);
  nt.t = t;
  char* scratch = NULL;
  size_t scratch_cap = 0;
  int rc = -1;

  /* ---- header ---- */
  sc.cap = 16;
  sc.fields = (field_span*)malloc(sc.cap * sizeof *sc.fields);
  if (!sc.fields) {
    fail(err, 0, "out of memory");
    goto done;
  }
  int got;
  for (;;) {
    /* grow until the whole header fits, rescanning from the start (headers are short) */
    const size_t start = sc.pos;
    const int64_t start_line = sc.line;
    got = scan_record(&sc, err);
    if (got < 0) goto done;
    if (got == 0) {
      fail(err, 1, "empty input: expected a header row with columns '%s' and '%s'", group_name,
           reward_name);
      goto done;
    }
    if (sc.count <= sc.cap) {
      if (sc.rec_end == sc.rec_begin) continue; /* blank lines before the header */
      break;
    }
    const size_t cap = sc.count;
    field_span* f = (field_span*)realloc(sc.fields, cap * sizeof *f);
    if (!f) {
      fail(err, 0, "out of memory");
      goto done;
    }
    sc.fields = f;
    sc.cap = cap;
    sc.pos = start;
    sc.line = start_line;
  }
  const int64_t header_line = sc.rec_line;
  /* The header is copied from the data's start (keeping a byte-order mark), unless blank lines
   * precede it: those are dropped like blank lines between rows. */
  t->header_begin = header_line == 1 ? 0 : sc.rec_begin;
  t->header_end = sc.rec_end;
  t->crlf = sc.crlf;
  t->num_cols = sc.count;
  size_t gcol = (size_t)-1, rcol = (size_t)-1;
  for (size_t c = 0; c < sc.count; ++c) {
    size_t n;
    const char* v = field_value(&sc, &sc.fields[c], &scratch, &scratch_cap, &n);
    if (!v) {
      fail(err, 0, "out of memory");
      goto done;
    }
    const int is_g = strlen(group_name) == n && memcmp(v, group_name, n) == 0;
    const int is_r = strlen(reward_name) == n && memcmp(v, reward_name, n) == 0;
    if ((is_g && gcol != (size_t)-1) || (is_r && rcol != (size_t)-1)) {
      fail(err, header_line, "the header names column '%s' twice", is_g ? group_name : reward_name);
      goto done;
    }
    if (is_g) gcol = c;
    if (is_r) rcol = c;
  }
  if (gcol == (size_t)-1 || rcol == (size_t)-1) {
    const char* missing = gcol == (size_t)-1 ? group_name : reward_name;
    char have[160];
    size_t o = 0;
    for (size_t c = 0; c < sc.count && o + 8 < sizeof have; ++c) {
      size_t n;
      const char* v = field_value(&sc, &sc.fields[c], &scratch, &scratch_cap, &n);
      if (!v) break;
      char q[48];
      quote_for_msg(q, sizeof q, v, n);
      o += (size_t)snprintf(have + o, sizeof have - o, "%s%s", c ? ", " : "", q);
    }
    if (o >= sizeof have) o = sizeof have - 1;
    have[o] = '\0';
    fail(err, header_line, "no column named '%s' in the header (it has %s)", missing, have);
    goto done;
  }
  t->group_col = gcol;
  t->reward_col = rcol;
  /* rows store at most num_cols fields; scan_record still counts the extra ones */
  sc.cap = t->num_cols;

  nt.mask = 1023;
  nt.slots = (int64_t*)malloc((nt.mask + 1) * sizeof *nt.slots);
  nt.hashes = (uint64_t*)malloc((nt.mask + 1) * sizeof *nt.hashes);
  nt.begin_cap = 1024;
  t->name_begin = (size_t*)malloc(nt.begin_cap * sizeof *t->name_begin);
  nt.names_cap = 4096;
  t->names = (char*)malloc(nt.names_cap);
  if (!nt.slots || !nt.hashes || !t->name_begin || !t->names) {
    fail(err, 0, "out of memory");
    goto done;
  }
  for (size_t i = 0; i <= nt.mask; ++i) nt.slots[i] = -1;
  t->name_begin[0] = 0;

  /* ---- rows ---- */
  size_t row_cap = 0;
  for (;;) {
    got = scan_record(&sc, err);
    if (got < 0) goto done;
    if (got == 0) break;
    if (sc.rec_end == sc.rec_begin) continue; /* blank line */
    if (sc.count != t->num_cols) {
      fail(err, sc.rec_line, "%zu field%s, but the header has %zu", sc.count,
           sc.count == 1 ? "" : "s", t->num_cols);
      goto done;
    }
    if ((size_t)t->num_rows == row_cap) {
      row_cap = row_cap ? row_cap * 2 : 1024;
      if (rows_reserve(t, row_cap) != 0) {
        fail(err, 0, "out of memory");
        goto done;
      }
    }
    const int64_t r = t->num_rows;
    size_t n;
    const char* v = field_value(&sc, &sc.fields[rcol], &scratch, &scratch_cap, &n);
    if (!v) {
      fail(err, 0, "out of memory");
      goto done;
    }
    if (cli_parse_double(v, n, &t->reward[r]) != 0) {
      size_t k = 0;
      while (k < n && (v[k] == ' ' || v[k] == '\t')) ++k;
      if (k == n) {
        fail(err, sc.rec_line, "empty %s", reward_name);
      } else {
        char q[64];
        quote_for_msg(q, sizeof q, v, n);
        fail(err, sc.rec_line, "%s %s is not a number", reward_name, q);
      }
      goto done;
    }
    v = field_value(&sc, &sc.fields[gcol], &scratch, &scratch_cap, &n);
    const int64_t g = v ? names_intern(&nt, v, n) : -1;
    if (g < 0) {
      fail(err, 0, "out of memory");
      goto done;
    }
    t->group_id[r] = g;
    t->row_begin[r] = sc.rec_begin;
    t->row_end[r] = sc.rec_end;
    t->row_line[r] = sc.rec_line;
    t->num_rows = r + 1;
    if (progress && (r & 0xffff) == 0) progress(progress_ctx, (double)sc.pos / (double)len);
  }
  rc = 0;

done:
  free(sc.fields);
  free(scratch);
  free(nt.slots);
  free(nt.hashes);
  if (rc != 0) csv_free(t);
  return rc;
}
