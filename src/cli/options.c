/*
 * options.c -- the command line of the pkpo tool -> struct options (cli.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Parses a whole decimal integer in [lo, hi]. */
static int parse_int(const char* s, int64_t lo, int64_t hi, int64_t* out) {
  if (!s || !*s) return -1;
  char* end = NULL;
  errno = 0;
  const long long v = strtoll(s, &end, 10);
  if (errno || *end != '\0' || end == s || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_k_value(const char* opt, const char* s, int64_t* k) {
  if (parse_int(s, INT64_MIN, INT64_MAX, k) != 0)
    return cli_usage_error("%s: '%s' is not an integer", opt, s);
  if (*k < 1) return cli_usage_error("%s: k must be >= 1 (got %s)", opt, s);
  return 0;
}

static int parse_k_list(options* o, const char* opt, const char* s) {
  int64_t count = 1;
  for (const char* p = s; *p; ++p) count += *p == ',';
  int64_t* ks = (int64_t*)realloc(o->ks, (size_t)count * sizeof *ks);
  if (!ks) {
    cli_msg("out of memory");
    return EXIT_DATA;
  }
  o->ks = ks;
  o->num_ks = 0;
  const char* p = s;
  for (int64_t i = 0; i < count; ++i) {
    const char* comma = strchr(p, ',');
    const size_t n = comma ? (size_t)(comma - p) : strlen(p);
    char item[32];
    if (n == 0 || n >= sizeof item) return cli_usage_error("%s: bad list of k '%s'", opt, s);
    memcpy(item, p, n);
    item[n] = '\0';
    const int rc = parse_k_value(opt, item, &o->ks[o->num_ks]);
    if (rc) return rc;
    ++o->num_ks;
    p = comma ? comma + 1 : p + n;
  }
  return 0;
}

/* The value of option `name`: attached (--opt=V, -kV) or the next argument. */
static const char* take_value(int argc, char** argv, int* i, const char* attached, const char* name,
                              int* rc) {
  if (attached) return attached;
  if (*i + 1 >= argc) {
    *rc = cli_usage_error("option %s needs a value", name);
    return NULL;
  }
  return argv[++*i];
}

static int parse_choice(const char* what, const char* v, const char* const* names, int count,
                        int* out) {
  for (int i = 0; i < count; ++i)
    if (strcmp(v, names[i]) == 0) {
      *out = i;
      return 0;
    }
  char list[128] = "";
  size_t o = 0;
  for (int i = 0; i < count; ++i)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
  return cli_usage_error("unknown %s '%s' (expected one of: %s)", what, v, list);
}

int parse_options(int argc, char** argv, options* o, int* want_help) {
  int positional = 0, rc = 0;
  int only_positional = 0;
  for (int i = 0; i < argc; ++i) {
    const char* a = argv[i];
    if (only_positional || a[0] != '-' || a[1] == '\0') {
      if (positional++) {
        return cli_usage_error("more than one input file ('%s' and '%s')", o->input, a);
      }
      o->input = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_positional = 1;
      continue;
    }
    /* split "--name=value" / "-kVALUE" */
    char name[64];
    const char* attached = NULL;
    if (a[1] == '-') {
      const char* eq = strchr(a, '=');
      const size_t n = eq ? (size_t)(eq - a) : strlen(a);
      if (n >= sizeof name) return cli_usage_error("unknown option '%s'", a);
      memcpy(name, a, n);
      name[n] = '\0';
      if (eq) attached = eq + 1;
    } else {
      name[0] = '-';
      name[1] = a[1];
      name[2] = '\0';
      if (a[2]) attached = a + 2;
    }
#define IS(s, l) (strcmp(name, s) == 0 || strcmp(name, l) == 0)
#define FLAG_ONLY()                                                               \
  do {                                                                            \
    if (attached) return cli_usage_error("option %s takes no value", name);           \
  } while (0)
    const char* v;
    if (IS("-h", "--help")) {
      FLAG_ONLY();
      *want_help = 1;
    } else if (IS("-k", "--k")) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (o->cmd == CMD_TRANSFORM) {
        if ((rc = parse_k_value(name, v, &o->k))) return rc;
      } else if ((rc = parse_k_list(o, name, v))) {
        return rc;
      }
    } else if (o->cmd == CMD_ESTIMATE && strcmp(name, "--all-k") == 0) {
      FLAG_ONLY();
      o->all_k = 1;
    } else if (o->cmd == CMD_TRANSFORM && IS("-e", "--estimator")) {
      static const char* const names[] = {"s", "sloo", "sloo_minus_one", "l2o"};
      static const pkpo_estimator values[] = {PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};
      int c = 0; /* set by parse_choice, which returns non-zero otherwise */
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("estimator", v, names, 4, &c))) return rc;
      o->estimator = values[c];
    } else if (IS("-o", "--output")) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (!*v) return cli_usage_error("%s: empty path", name);
      o->output = v;
    } else if (strcmp(name, "--precision") == 0) {
      static const char* const names[] = {"f64", "f32"};
      int c = 0; /* set by parse_choice, which returns non-zero otherwise */
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("precision", v, names, 2, &c))) return rc;
      o->dtype = c == 0 ? PKPO_FLOAT64 : PKPO_FLOAT32;
      o->precision_given = 1;
    } else if (strcmp(name, "--device") == 0) {
      static const char* const names[] = {"auto", "cpu", "cuda"};
      int c = 0; /* set by parse_choice, which returns non-zero otherwise */
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("device", v, names, 3, &c))) return rc;
      o->device = (device_choice)c;
    } else if (strcmp(name, "--nan") == 0) {
      static const char* const names[] = {"exclude", "propagate", "error"};
      static const pkpo_nonfinite_policy values[] = {
          PKPO_NONFINITE_EXCLUDE, PKPO_NONFINITE_PROPAGATE, PKPO_NONFINITE_ERROR};
      int c = 0; /* set by parse_choice, which returns non-zero otherwise */
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("--nan policy", v, names, 3, &c))) return rc;
      o->nan = values[c];
    } else if (strcmp(name, "--k-policy") == 0) {
      static const char* const names[] = {"clamp", "strict"};
      int c = 0; /* set by parse_choice, which returns non-zero otherwise */
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("--k-policy", v, names, 2, &c))) return rc;
      o->k_policy = c == 0 ? PKPO_K_CLAMP : PKPO_K_STRICT;
    } else if (strcmp(name, "--group-size") == 0) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (parse_int(v, 1, INT64_MAX, &o->group_size) != 0)
        return cli_usage_error("%s: expected an integer >= 1, got '%s'", name, v);
    } else if (strcmp(name, "--group-column") == 0 || strcmp(name, "--reward-column") == 0) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (name[2] == 'g')
        o->group_col = v;
      else
        o->reward_col = v;
    } else if (IS("-j", "--threads")) {
      int64_t t;
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if (parse_int(v, 1, 4096, &t) != 0)
        return cli_usage_error("%s: expected a thread count from 1 to 4096, got '%s'", name, v);
      o->threads = (int)t;
    } else if (strcmp(name, "--progress") == 0) {
      FLAG_ONLY();
      o->progress = 1;
    } else if (strcmp(name, "--no-progress") == 0) {
      FLAG_ONLY();
      o->progress = 0;
    } else if (IS("-q", "--quiet")) {
      FLAG_ONLY();
      g_quiet = 1;
    } else {
      return cli_usage_error("unknown option '%s'", a);
    }
#undef IS
#undef FLAG_ONLY
  }
  return 0;
}
