/*
 * main.c -- the `pkpo` command-line tool: command dispatch, defaults, signals, the run of one
 * command. See cli.h for where everything else is.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    fputs(k_main_help, stderr);
    return EXIT_USAGE;
  }
  const char* c = argv[1];
  if (strcmp(c, "-h") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "help") == 0) {
    if (strcmp(c, "help") == 0 && argc > 2) {
      if (strcmp(argv[2], "transform") == 0) return fputs(k_transform_help, stdout), EXIT_OK;
      if (strcmp(argv[2], "estimate") == 0) return fputs(k_estimate_help, stdout), EXIT_OK;
    }
    fputs(k_main_help, stdout);
    return EXIT_OK;
  }
  if (strcmp(c, "-V") == 0 || strcmp(c, "--version") == 0) return print_version();

  options o;
  memset(&o, 0, sizeof o);
  o.estimator = PKPO_SLOO_MINUS_ONE;
  o.dtype = PKPO_FLOAT64;
  o.device = DEVICE_AUTO;
  o.nan = PKPO_NONFINITE_EXCLUDE;
  o.k_policy = PKPO_K_CLAMP;
  o.group_col = "group";
  o.reward_col = "reward";
  o.progress = -1;
  if (strcmp(c, "transform") == 0) {
    o.cmd = CMD_TRANSFORM;
    g_cmd = "pkpo transform";
  } else if (strcmp(c, "estimate") == 0) {
    o.cmd = CMD_ESTIMATE;
    g_cmd = "pkpo estimate";
  } else if (c[0] == '-') {
    return cli_usage_error("unknown option '%s'", c);
  } else {
    return cli_usage_error("unknown command '%s' (commands: transform, estimate)", c);
  }

  int want_help = 0;
  int rc = parse_options(argc - 2, argv + 2, &o, &want_help);
  if (rc) {
    free_options(&o);
    return rc;
  }
  if (want_help) {
    free_options(&o);
    fputs(o.cmd == CMD_TRANSFORM ? k_transform_help : k_estimate_help, stdout);
    return EXIT_OK;
  }
  if (o.cmd == CMD_ESTIMATE && !o.all_k && o.num_ks == 0) {
    free_options(&o);
    return cli_usage_error("give -k K1,K2,... or --all-k");
  }
  if (o.cmd == CMD_ESTIMATE && o.all_k && o.num_ks) {
    free_options(&o);
    return cli_usage_error("-k and --all-k exclude each other");
  }
  if (!o.output) o.output = "-";

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  engine e;
  rc = engine_open(&e, &o);
  if (rc) {
    engine_close(&e);
    free_options(&o);
    return rc;
  }
  progress pg;
  progress_init(&pg, o.progress);
  unsigned char* buf = NULL;
  size_t len = 0;
  const char* file = display_name(o.input);
  rc = read_input(o.input, &buf, &len, &pg);
  if (!rc) {
    const int is_npy = npy_is_npy(buf, len);
    if (!is_npy && o.group_size)
      rc = cli_usage_error("--group-size applies to .npy input only ('%s' is read as CSV)", file);
    else if (o.cmd == CMD_TRANSFORM)
      rc = is_npy ? transform_npy(&o, &e, file, buf, len, &pg)
                  : transform_csv(&o, &e, file, (const char*)buf, len, &pg);
    else
      rc = is_npy ? estimate_npy(&o, &e, file, buf, len, &pg)
                  : estimate_csv(&o, &e, file, (const char*)buf, len, &pg);
  }
  progress_end(&pg);
  free(buf);
  free_options(&o);
  engine_close(&e);
  return rc;
}
