/*
 * options.c -- the command line of the pkpo tool -> struct options (cli.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
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

/* The weights of a mixture: `count` finite numbers, one per k of -k. */
static int parse_weight_list(options* o, const char* opt, const char* s, const char* k_opt) {
  int64_t count = 1;
  for (const char* p = s; *p; ++p) count += *p == ',';
  if (count != o->num_ks) {
    return cli_usage_error("%s: %lld weight%s for %lld value%s of %s (one weight per k)", opt,
                           (long long)count, count == 1 ? "" : "s", (long long)o->num_ks,
                           o->num_ks == 1 ? "" : "s", k_opt);
  }
  o->k_weights = (double*)malloc((size_t)count * sizeof *o->k_weights);
  if (!o->k_weights) {
    cli_msg("out of memory");
    return EXIT_DATA;
  }
  const char* p = s;
  for (int64_t i = 0; i < count; ++i) {
    const char* comma = strchr(p, ',');
    const size_t n = comma ? (size_t)(comma - p) : strlen(p);
    char item[64];
    if (n == 0 || n >= sizeof item) return cli_usage_error("%s: bad list of weights '%s'", opt, s);
    memcpy(item, p, n);
    item[n] = '\0';
    char* end = NULL;
    const double w = strtod(item, &end);
    if (end == item || *end != '\0' || !isfinite(w)) {
      return cli_usage_error("%s: weight %lld ('%s', for k = %lld) is not a finite number", opt,
                             (long long)i + 1, item, (long long)o->ks[i]);
    }
    o->k_weights[i] = w;
    p = comma ? comma + 1 : p + n;
  }
  return 0;
}

/* Largest K of --mixture NAME:K (terms 1..K): bounds the term arrays (16 bytes a term). */
#define MIXTURE_MAX_K ((int64_t)1 << 20)

/* --mixture harmonic:K (w_k = 1/k, the weighting of MaxRL) or uniform:K (w_k = 1), k = 1..K. */
static int parse_mixture(options* o, const char* opt, const char* v) {
  static const char* const names[] = {"harmonic", "uniform"};
  const char* colon = strchr(v, ':');
  int which = -1;
  for (int i = 0; i < 2 && colon; ++i)
    if ((size_t)(colon - v) == strlen(names[i]) && strncmp(v, names[i], strlen(names[i])) == 0)
      which = i;
  int64_t K = 0;
  if (which < 0) {
    return cli_usage_error("%s: unknown mixture '%s' (expected harmonic:K or uniform:K, e.g. "
                           "harmonic:16)", opt, v);
  }
  if (parse_int(colon + 1, 1, MIXTURE_MAX_K, &K) != 0) {
    return cli_usage_error("%s: '%s': K must be an integer from 1 to %lld", opt, v,
                           (long long)MIXTURE_MAX_K);
  }
  o->ks = (int64_t*)malloc((size_t)K * sizeof *o->ks);
  o->k_weights = (double*)malloc((size_t)K * sizeof *o->k_weights);
  if (!o->ks || !o->k_weights) {
    cli_msg("out of memory");
    return EXIT_DATA;
  }
  for (int64_t j = 0; j < K; ++j) {
    o->ks[j] = j + 1;
    o->k_weights[j] = which == 0 ? 1.0 / (double)(j + 1) : 1.0;
  }
  o->num_ks = K;
  return 0;
}

/* What -k means for `transform`, once every option is read: one k, or with --k-weights the ks of
 * a mixture; --mixture replaces both. */
typedef struct k_args {
  const char *k, *k_opt;             /* -k / --k and its spelling */
  const char *weights, *weights_opt; /* --k-weights */
  const char *mixture, *mixture_opt; /* --mixture */
} k_args;

static int resolve_transform_k(options* o, const k_args* a) {
  int rc;
  if (a->mixture && (a->k || a->weights)) {
    return cli_usage_error("%s and %s exclude each other (a preset mixture brings its own ks "
                           "and weights)", a->mixture_opt, a->k ? a->k_opt : a->weights_opt);
  }
  if (a->mixture) {
    if ((rc = parse_mixture(o, a->mixture_opt, a->mixture))) return rc;
  } else if (a->weights) {
    if (!a->k) {
      return cli_usage_error("%s needs -k K1,K2,... (the ks of the mixture, one per weight)",
                             a->weights_opt);
    }
    if ((rc = parse_k_list(o, a->k_opt, a->k))) return rc;
    if ((rc = parse_weight_list(o, a->weights_opt, a->weights, a->k_opt))) return rc;
  } else if (!a->k) {
    return cli_usage_error("-k K is required (e.g. -k 4; or a mixture over k: -k 1,4,16 "
                           "--k-weights 1,0.25,0.0625, or --mixture harmonic:16)");
  } else if (strchr(a->k, ',')) { /* without weights a list of k has no meaning here */
    return cli_usage_error("%s: '%s' is a list; a mixture over k also needs --k-weights "
                           "W1,W2,... (one weight per k)", a->k_opt, a->k);
  } else {
    if ((rc = parse_k_value(a->k_opt, a->k, &o->k))) return rc;
    o->k_max = o->k;
    return 0;
  }
  o->k_max = 0;
  for (int64_t j = 0; j < o->num_ks; ++j) o->k_max = o->ks[j] > o->k_max ? o->ks[j] : o->k_max;
  return 0;
}

void free_options(options* o) {
  free(o->ks);
  free(o->k_weights);
  o->ks = NULL;
  o->k_weights = NULL;
}

void set_objective(const options* o, pkpo_desc* d) {
  d->statistic = o->statistic;
  if (o->k_weights) {
    d->num_k_terms = o->num_ks;
    d->k_terms = o->ks;
    d->k_weights = o->k_weights;
  } else {
    d->k = o->k;
  }
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
  k_args ka;
  memset(&ka, 0, sizeof ka);
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
      if (o->cmd == CMD_TRANSFORM) { /* one k or a mixture's ks: known once all is read */
        ka.k = v;
        ka.k_opt = strcmp(name, "-k") == 0 ? "-k" : "--k";
      } else if ((rc = parse_k_list(o, name, v))) {
        return rc;
      }
    } else if (o->cmd == CMD_TRANSFORM && strcmp(name, "--k-weights") == 0) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      ka.weights = v;
      ka.weights_opt = "--k-weights";
    } else if (o->cmd == CMD_TRANSFORM && strcmp(name, "--mixture") == 0) {
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      ka.mixture = v;
      ka.mixture_opt = "--mixture";
    } else if (strcmp(name, "--statistic") == 0) {
      static const char* const names[] = {"max", "min"};
      int c = 0; /* set by parse_choice, which returns non-zero otherwise */
      if (!(v = take_value(argc, argv, &i, attached, name, &rc))) return rc;
      if ((rc = parse_choice("--statistic", v, names, 2, &c))) return rc;
      o->statistic = c == 0 ? PKPO_STATISTIC_MAX : PKPO_STATISTIC_MIN;
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
  if (o->cmd == CMD_TRANSFORM && !*want_help) return resolve_transform_k(o, &ka);
  return 0;
}
