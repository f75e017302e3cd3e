/*
 * progress.c -- the progress bar of the pkpo tool (stderr; by default only for long runs on a
 * terminal).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress* p, int mode) {
  memset(p, 0, sizeof *p);
  p->tty = isatty(STDERR_FILENO);
  p->mode = mode < 0 ? (p->tty ? -1 : 0) : mode;
  p->t0 = now_s();
  p->last = -1.0;
}

/* Shows `stage` at fraction `frac` (0..1). Auto mode stays silent for the first half second, so
 * short runs print nothing; redraws are limited to ten a second. */
void progress_update(progress* p, const char* stage, double frac) {
  if (p->mode == 0) return;
  const double t = now_s();
  const int stage_changed = p->stage != stage;
  if (p->mode < 0 && t - p->t0 < 0.5) return;
  if (!stage_changed && p->last >= 0 && t - p->last < 0.1 && frac < 1.0) return;
  p->stage = stage;
  p->last = t;
  if (frac < 0) frac = 0;
  if (frac > 1) frac = 1;
  enum { WIDTH = 30 };
  char bar[WIDTH + 1];
  const int fill = (int)(frac * WIDTH + 0.5);
  for (int i = 0; i < WIDTH; ++i) bar[i] = i < fill ? '#' : '.';
  bar[WIDTH] = '\0';
  if (p->tty)
    fprintf(stderr, "\r\033[Kpkpo: %-12s [%s] %3d%%  %.1fs", stage, bar, (int)(frac * 100 + 0.5),
            t - p->t0);
  else
    fprintf(stderr, "pkpo: %-12s [%s] %3d%%  %.1fs\n", stage, bar, (int)(frac * 100 + 0.5),
            t - p->t0);
  fflush(stderr);
  p->drawn = 1;
}

void progress_end(progress* p) {
  if (p->drawn && p->tty) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  p->drawn = 0;
}

void parse_progress(void* ctx, double fraction) {
  progress_update((progress*)ctx, "parsing", fraction);
}
