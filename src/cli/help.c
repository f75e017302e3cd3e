/*
 * help.c -- the --help texts of the pkpo tool, and --version.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>

#include "cli.h"

const char k_main_help[] =
    "pkpo -- Pass@k Policy Optimization reward transforms (Walder & Karkhanis, arXiv 2505.15201)\n"
    "\n"
    "Usage:\n"
    "  pkpo transform -k K [-e ESTIMATOR] [options] [INPUT] [-o OUTPUT]\n"
    "  pkpo transform -k K1,K2,... --k-weights W1,W2,... [options] [INPUT] [-o OUTPUT]\n"
    "  pkpo transform --mixture harmonic:K [options] [INPUT] [-o OUTPUT]\n"
    "  pkpo estimate (-k K1,K2,... | --all-k) [--statistic min] [options] [INPUT] [-o OUTPUT]\n"
    "  pkpo --help | --version\n"
    "\n"
    "Commands:\n"
    "  transform   turn the rewards of groups of samples into pass@k-optimising rewards (or\n"
    "              pass^k-optimising with --statistic min, or for a mixture over k)\n"
    "  estimate    unbiased pass@k (maxg@k) of every group, for one or many k; pass^k with\n"
    "              --statistic min\n"
    "\n"
    "INPUT is a CSV file with a header holding the columns 'group' and 'reward' (other columns are\n"
    "kept), or a float32/float64 .npy array of rewards. '-' or no INPUT reads stdin.\n"
    "Run 'pkpo COMMAND --help' for the options of a command.\n"
    "\n"
    "Exit status: 0 success; 1 data rejected by --nan error or --k-policy strict, or a write\n"
    "failure; 2 bad command line or malformed/unreadable input.\n";

const char k_transform_help[] =
    "Usage: pkpo transform -k K [-e ESTIMATOR] [options] [INPUT] [-o OUTPUT]\n"
    "       pkpo transform -k K1,K2,... --k-weights W1,W2,... [options] [INPUT] [-o OUTPUT]\n"
    "       pkpo transform --mixture harmonic:K|uniform:K [options] [INPUT] [-o OUTPUT]\n"
    "\n"
    "Transforms the reward of every sample so that the policy gradient estimates the gradient of\n"
    "pass@k (binary rewards) or maxg@k (continuous rewards) of its group.\n"
    "With --k-weights the objective is the mixture W1 pass@K1 + W2 pass@K2 + ...: every output is\n"
    "the same weighted sum of the single-k outputs, each term under the rules of its own k.\n"
    "With --statistic min the objective is pass^k (all k attempts succeed; for continuous rewards\n"
    "the expected worst of k): every output is minus the max transform of the negated rewards\n"
    "(so a zero prints as -0).\n"
    "\n"
    "CSV input: a header row with columns 'group' (any string; rows of a group need not be\n"
    "adjacent) and 'reward' (a number; nan, inf, -inf accepted). The output is every input row in\n"
    "the input order, byte for byte, with a new last column 'transformed' (17 significant digits,\n"
    "9 with --precision f32, so values read back exactly).\n"
    "NPY input: a 1-D array with --group-size N (consecutive groups of N), or a 2-D array (one\n"
    "group per row). The output is an .npy of the same dtype and shape.\n"
    "\n"
    "Options:\n"
    "  -k, --k K               samples per pass@k attempt, K >= 1 (required, unless --mixture);\n"
    "                          with --k-weights a list K1,K2,... of the mixture's ks\n"
    "      --k-weights W1,W2,...\n"
    "                          a mixture over k: one finite weight (any sign, 0 allowed) per k of\n"
    "                          -k, e.g. -k 1,4,16 --k-weights 1,0.25,0.0625\n"
    "      --mixture NAME:K    a preset mixture over k = 1..K: harmonic:K (weights 1/k, as MaxRL)\n"
    "                          or uniform:K (weights 1); K from 1 to 1048576\n"
    "      --statistic S       max (default: pass@k / maxg@k, the best of k samples) or min\n"
    "                          (pass^k / the expected worst of k samples)\n"
    "  -e, --estimator NAME    sloo_minus_one (default; the paper's eq. 33), s (eq. 19),\n"
    "                          sloo (eq. 29), l2o (leave-two-out, zero-mean per group)\n"
    "  -o, --output PATH       output file ('-' = stdout, the default)\n"
    "      --precision P       f64 (default) or f32: the type rewards are read into and written\n"
    "                          from (computation is float64 inside). NPY: the file's dtype\n"
    "      --nan POLICY        non-finite rewards: exclude (default; the sample leaves its group\n"
    "                          and gets 0), propagate (the group's outputs become nan), error\n"
    "      --k-policy P        groups with fewer than K samples (a mixture: than its largest k):\n"
    "                          clamp (default; use k = n for them, with a warning) or strict\n"
    "                          (an error)\n"
    "      --device D          auto (default: CUDA when built with it and a GPU is present;\n"
    "                          mixtures and --statistic min run on the CPU), cpu, or cuda\n"
    "      --group-size N      NPY input: samples per group (a 1-D array holds consecutive groups)\n"
    "      --group-column NAME CSV column holding the group (default 'group')\n"
    "      --reward-column NAME\n"
    "                          CSV column holding the reward (default 'reward')\n"
    "  -j, --threads N         CPU worker threads (default: per call, at most OMP_NUM_THREADS and\n"
    "                          one per 64k rewards); results do not depend on it\n"
    "      --progress          always draw a progress bar on stderr\n"
    "      --no-progress       never draw it (default: only for long runs on a terminal)\n"
    "  -q, --quiet             no warnings (clamped k, excluded non-finite rewards, ...)\n"
    "  -h, --help              this help\n"
    "\n"
    "Examples:\n"
    "  pkpo transform -k 4 examples/binary.csv -o binary.pkpo.csv\n"
    "  pkpo transform -k 1,4,16 --k-weights 1,0.25,0.0625 examples/binary.csv\n"
    "  pkpo transform --mixture harmonic:16 --statistic min examples/binary.csv\n";

const char k_estimate_help[] =
    "Usage: pkpo estimate (-k K1,K2,... | --all-k) [--statistic min] [options] [INPUT] [-o OUTPUT]\n"
    "\n"
    "Writes the unbiased pass@k (binary rewards) or maxg@k (continuous rewards) estimate of every\n"
    "group as CSV 'group,n,k,rho': one row per group and k, groups in order of first appearance.\n"
    "n is the number of samples the estimate uses (finite rewards under --nan exclude).\n"
    "With --statistic min, rho is pass^k (the chance that all k attempts succeed; for continuous\n"
    "rewards the expected worst of k): minus the pass@k estimate of the negated rewards (so a\n"
    "zero prints as -0).\n"
    "\n"
    "Options:\n"
    "  -k, --k LIST            comma-separated values of k, each >= 1 (e.g. 1,2,4,8); a k above a\n"
    "                          group's n follows --k-policy (clamp: the estimate at k = n)\n"
    "      --all-k             every k from 1 to n of each group (a pass@k curve; pass^k with\n"
    "                          --statistic min)\n"
    "      --statistic S       max (default: pass@k / maxg@k) or min (pass^k / the expected worst\n"
    "                          of k)\n"
    "  -o, --output PATH       output file ('-' = stdout, the default)\n"
    "      --precision P       f64 (default) or f32 (NPY: the file's dtype)\n"
    "      --nan POLICY        exclude (default), propagate or error\n"
    "      --k-policy P        clamp (default) or strict\n"
    "      --device D          auto (default: cuda when a GPU is usable), cpu or cuda\n"
    "      --group-size N      NPY input: samples per group; groups are named 0, 1, ...\n"
    "      --group-column NAME, --reward-column NAME\n"
    "                          CSV column names (default 'group' and 'reward')\n"
    "  -j, --threads N         CPU worker threads (default: chosen per call)\n"
    "      --progress, --no-progress, -q/--quiet, -h/--help  as for transform\n"
    "\n"
    "Examples:\n"
    "  pkpo estimate --all-k examples/binary.csv\n"
    "  pkpo estimate -k 1,4 --statistic min examples/binary.csv\n";

#define PKPO__STR2(x) #x
#define PKPO__STR(x) PKPO__STR2(x)
#define PKPO_CLI_VERSION \
  PKPO__STR(PKPO_VERSION_MAJOR) "." PKPO__STR(PKPO_VERSION_MINOR) "." PKPO__STR(PKPO_VERSION_PATCH)

/* The version report, line for line what the Python package's pkpo.build_info() holds (both ask
 * the library, so a tool and a package that load different builds would show it):
 *   pkpo 0.1.0 (library 0.1.0)
 *   backends: cpu, cuda
 *   cuda: available | not built | not usable: <why, e.g. the GPU's architecture has no code here> */
int print_version(void) {
  printf("pkpo %s (library %s)\n", PKPO_CLI_VERSION, pkpo_version_string());
  /* Creating a handle says why CUDA is not usable: UNSUPPORTED when the backend was not built,
   * otherwise the library's reason (no device, no driver, or a device whose architecture has no
   * code in this build). */
  pkpo_status st = PKPO_SUCCESS;
  if (!pkpo_backend_available(PKPO_BACKEND_CUDA)) {
    pkpo_handle_options ho = PKPO_HANDLE_OPTIONS_INIT;
    ho.backend = PKPO_BACKEND_CUDA;
    pkpo_handle h = NULL;
    st = pkpo_create(&h, &ho);
    pkpo_destroy(h);
  }
  if (st == PKPO_SUCCESS) {
    printf("backends: cpu, cuda\ncuda: available\n");
  } else if (st == PKPO_ERROR_UNSUPPORTED) {
    printf("backends: cpu\ncuda: not built\n");
  } else {
    printf("backends: cpu, cuda\ncuda: not usable: %s\n", cuda_create_failure(st));
  }
  return fflush(stdout) == 0 ? EXIT_OK : EXIT_DATA;
}
