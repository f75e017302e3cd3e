/*
 * messages.c -- errors and warnings of the pkpo tool, one line each on stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

const char* g_cmd = "pkpo"; /* "pkpo" or "pkpo transform" ... for messages */
int g_quiet = 0;

void cli_msg(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "pkpo: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void cli_warn(const char* fmt, ...) {
  if (g_quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "pkpo: warning: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Usage errors: one line, then a pointer to the help. */
int cli_usage_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", g_cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see '%s --help')\n", g_cmd);
  va_end(ap);
  return EXIT_USAGE;
}

/* A short, printable rendering of a group name for messages. */
void printable(char* dst, size_t cap, const char* s, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len && o + 4 < cap; ++i) {
    const unsigned char c = (unsigned char)s[i];
    dst[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (o + 4 >= cap && len > o) {
    dst[o++] = '.';
    dst[o++] = '.';
    dst[o++] = '.';
  }
  dst[o] = '\0';
}
