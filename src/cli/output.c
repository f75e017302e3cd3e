/*
 * output.c -- the output of the pkpo tool: stdout, or a temporary file beside the target renamed
 * into place at the end (removed on failure or on a signal), so no partial output is ever left.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The temporary file being written, for the signal handler (async-signal-safe unlink). */
static char g_tmp_path[PATH_MAX + 32];
static volatile sig_atomic_t g_tmp_active = 0;

void on_signal(int sig) {
  if (g_tmp_active) unlink(g_tmp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

static char g_target[PATH_MAX];

/* Opens the output. A regular file (new or existing, possibly behind a symlink, which is kept) is
 * written as a temporary file beside it and renamed over it at the end. Anything else that exists
 * (/dev/null, a FIFO, a terminal) is written directly: replacing it would be wrong. */
int sink_open(sink* s, const char* path) {
  memset(s, 0, sizeof *s);
  if (!path || strcmp(path, "-") == 0) {
    s->f = stdout;
    s->shown = "<stdout>";
    setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    return EXIT_OK;
  }
  s->shown = path;
  struct stat st;
  const int exists = stat(path, &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) {
    cli_msg("cannot write '%s': it is a directory", path);
    return EXIT_USAGE;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    s->f = fopen(path, "wb");
    if (!s->f) {
      cli_msg("cannot write '%s': %s", path, strerror(errno));
      return EXIT_DATA;
    }
    return EXIT_OK;
  }
  const char* target = path;
  struct stat lst;
  if (exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
    if (!realpath(path, g_target)) {
      cli_msg("cannot resolve '%s': %s", path, strerror(errno));
      return EXIT_DATA;
    }
    target = g_target;
  }
  if (strlen(target) + 12 > PATH_MAX) {
    cli_msg("output path too long: '%s'", path);
    return EXIT_USAGE;
  }
  snprintf(g_tmp_path, sizeof g_tmp_path, "%s.tmp.XXXXXX", target);
  const int fd = mkstemp(g_tmp_path);
  if (fd < 0) {
    cli_msg("cannot create a file beside '%s': %s", path, strerror(errno));
    return EXIT_DATA;
  }
  g_tmp_active = 1;
  /* mkstemp creates the file 0600: keep an existing file's permissions, or give a new one those
   * a plain fopen would. Failure is not fatal (the content is still right). */
  mode_t mode;
  if (exists) {
    mode = st.st_mode & 07777;
  } else {
    const mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  (void)!fchmod(fd, mode);
  s->f = fdopen(fd, "wb");
  if (!s->f) {
    cli_msg("cannot write '%s': %s", g_tmp_path, strerror(errno));
    close(fd);
    unlink(g_tmp_path);
    g_tmp_active = 0;
    return EXIT_DATA;
  }
  setvbuf(s->f, NULL, _IOFBF, 1 << 20);
  s->path = target;
  return EXIT_OK;
}

void sink_abort(sink* s) {
  if (!s->f) return;
  if (s->path) {
    fclose(s->f);
    unlink(g_tmp_path);
    g_tmp_active = 0;
  } else if (s->f == stdout) {
    fflush(stdout);
  } else {
    fclose(s->f);
  }
  s->f = NULL;
}

int sink_commit(sink* s) {
  if (!s->path) { /* stdout or a direct write */
    int bad = fflush(s->f) != 0 || ferror(s->f);
    int saved = errno;
    if (s->f != stdout && fclose(s->f) != 0 && !bad) {
      bad = 1;
      saved = errno;
    }
    s->f = NULL;
    if (bad) {
      cli_msg("error writing to %s: %s", s->shown, strerror(saved));
      return EXIT_DATA;
    }
    return EXIT_OK;
  }
  int bad = fflush(s->f) != 0 || ferror(s->f);
  int saved = errno;
  if (fclose(s->f) != 0 && !bad) {
    bad = 1;
    saved = errno;
  }
  s->f = NULL;
  if (!bad && rename(g_tmp_path, s->path) != 0) {
    bad = 1;
    saved = errno;
  }
  if (bad) {
    unlink(g_tmp_path);
    g_tmp_active = 0;
    cli_msg("error writing '%s': %s", s->shown, strerror(saved));
    return EXIT_DATA;
  }
  g_tmp_active = 0;
  return EXIT_OK;
}
