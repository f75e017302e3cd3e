/*
 * cpu_sort.c -- the CPU backend's sorts: (value, position) items of one group (insertion, merge or
 * LSD radix sort by size), and the sorting network that sorts a block of PKPO__LANES groups at once.
 */
#include <string.h>

#include "cpu.h"

#if defined(__x86_64__) && defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#define PKPO__X86_SIMD 1
#include <immintrin.h>
#else
#define PKPO__X86_SIMD 0
#endif

/* Sort by group size: insertion sort up to PKPO__INSERTION_MAX, merge sort below PKPO__RADIX_MIN,
 * radix sort from there. Measured 2026-11-21 on a 2-core x86 machine (float32 U(0,1) rewards,
 * merge vs radix interleaved in one process): radix overtakes merge sort between n = 64 (0.87x) and
 * n = 128 (1.26x), and is 2.5x faster at 1024 and 4x at 65536. */
#define PKPO__INSERTION_MAX 24
#define PKPO__RADIX_MIN 128

/* ---- one group's items (stable: ties keep input order; outputs are tie-invariant anyway) ------- */

static void insertion_sort(pkpo__item* x, int64_t n) {
  for (int64_t i = 1; i < n; ++i) {
    const pkpo__item key = x[i];
    int64_t j = i - 1;
    while (j >= 0 && x[j].v > key.v) {
      x[j + 1] = x[j];
      --j;
    }
    x[j + 1] = key;
  }
}

static void merge_sort(pkpo__item* x, pkpo__item* tmp, int64_t n) {
  for (int64_t lo = 0; lo < n; lo += PKPO__INSERTION_MAX) {
    const int64_t len = (n - lo < PKPO__INSERTION_MAX) ? n - lo : PKPO__INSERTION_MAX;
    insertion_sort(x + lo, len);
  }
  pkpo__item* src = x;
  pkpo__item* dst = tmp;
  for (int64_t width = PKPO__INSERTION_MAX; width < n; width *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * width) {
      const int64_t mid = (lo + width < n) ? lo + width : n;
      const int64_t hi = (lo + 2 * width < n) ? lo + 2 * width : n;
      int64_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi) dst[o++] = (src[j].v < src[i].v) ? src[j++] : src[i++];
      while (i < mid) dst[o++] = src[i++];
      while (j < hi) dst[o++] = src[j++];
    }
    pkpo__item* swap = src;
    src = dst;
    dst = swap;
  }
  if (src != x) memcpy(x, src, (size_t)n * sizeof(pkpo__item));
}

/* Unsigned key with the order of the (finite) double: flip all bits of negatives, set the sign bit
 * of the rest. (-0.0 never arrives here: gather_sort makes it +0.0.) */
static uint64_t order_key(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return (b & 0x8000000000000000ull) ? ~b : (b | 0x8000000000000000ull);
}

/* LSD radix sort, 8 passes of 8 bits, all histograms from one read; a pass whose byte is the same
 * for every item is skipped (float32 rewards widened to double have 29 zero mantissa bits, and
 * rewards of one sign and magnitude share their top byte). Branch-free, unlike merge sort, whose
 * mispredictions dominated the CPU time of groups above a few dozen samples. */
static void radix_sort(pkpo__item* x, pkpo__item* tmp, int64_t n) {
  enum { PASSES = 8, BUCKETS = 256 };
  int64_t count[PASSES][BUCKETS];
  memset(count, 0, sizeof count);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t key = order_key(x[i].v);
    for (int p = 0; p < PASSES; ++p) ++count[p][(key >> (8 * p)) & 0xFF];
  }
  pkpo__item* src = x;
  pkpo__item* dst = tmp;
  for (int p = 0; p < PASSES; ++p) {
    const uint64_t first = order_key(src[0].v);
    if (count[p][(first >> (8 * p)) & 0xFF] == n) continue; /* this byte is constant */
    int64_t next = 0;
    for (int b = 0; b < BUCKETS; ++b) {
      const int64_t c = count[p][b];
      count[p][b] = next;
      next += c;
    }
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t key = order_key(src[i].v);
      dst[count[p][(key >> (8 * p)) & 0xFF]++] = src[i];
    }
    pkpo__item* swap = src;
    src = dst;
    dst = swap;
  }
  if (src != x) memcpy(x, src, (size_t)n * sizeof(pkpo__item));
}

void pkpo__sort_items(pkpo__item* x, pkpo__item* tmp, int64_t n) {
  if (n <= PKPO__INSERTION_MAX) {
    insertion_sort(x, n);
  } else if (n < PKPO__RADIX_MIN) {
    merge_sort(x, tmp, n);
  } else {
    radix_sort(x, tmp, n);
  }
}

/* ---- the blocks' network ----------------------------------------------------------------------- */

/* Batcher's odd-even merge sort network for n rows (any n >= 1), as pairs of row offsets into
 * net[]: the network for the next power of two with the comparators that reach beyond row n-1
 * left out, which is exact because those comparators would only meet +infinity padding. Returns
 * the number of comparators (at most PKPO__NETWORK_MAX for n <= PKPO__BLOCK_MAX_N). */
int64_t pkpo__network_build(int64_t n, int32_t* net) {
  int64_t count = 0;
  for (int64_t p = 1; p < n; p += p) {
    for (int64_t k = p; k > 0; k /= 2) {
      for (int64_t j = k % p; j + k < n; j += 2 * k) {
        for (int64_t i = 0; i < k && i + j + k < n; ++i) {
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
            net[2 * count] = (int32_t)((i + j) * PKPO__LANES);
            net[2 * count + 1] = (int32_t)((i + j + k) * PKPO__LANES);
            ++count;
          }
        }
      }
    }
  }
  return count;
}

int64_t pkpo__network_for(int64_t n, const int32_t* full, int64_t count, int32_t* net) {
  const int32_t limit = (int32_t)(n * PKPO__LANES);
  int64_t kept = 0;
  for (int64_t c = 0; c < count; ++c) {
    if (full[2 * c + 1] >= limit) continue; /* the larger row of a comparator is its second */
    net[2 * kept] = full[2 * c];
    net[2 * kept + 1] = full[2 * c + 1];
    ++kept;
  }
  return kept;
}

/* The comparators of a block: rows a and b, a gets the smaller key of each group, b the larger.
 * Keys are distinct, so this is a min and a max; were two equal (only zeros under
 * denormals-are-zero can be), a keeps x and b gets y, so nothing is lost. Instruction selection:
 * measured 2026-11-25 on a 2-core AMD EPYC (AMD EPYC, 2 cores, n = 16..256, float32, k = 4), GCC 12
 * leaves the plain C selects as branches unless the lane loop is in a function of its own with
 * -fno-trapping-math, and its AVX2 clone of that function spills through the stack (6x slower than
 * SSE2), so on x86-64 the min/max are written as SSE2 (baseline) and AVX (dispatched at run time)
 * intrinsics; other targets use the plain C form. */
#if !PKPO__X86_SIMD
static void sort_block_c(double* key, const int32_t* net, int64_t count) {
  for (int64_t c = 0; c < count; ++c) {
    double* a = key + net[2 * c];
    double* b = key + net[2 * c + 1];
    for (int l = 0; l < PKPO__LANES; ++l) {
      const double x = a[l], y = b[l];
      a[l] = y < x ? y : x;
      b[l] = y < x ? x : y;
    }
  }
}
#else
static void sort_block_sse2(double* key, const int32_t* net, int64_t count) {
  for (int64_t c = 0; c < count; ++c) {
    double* a = key + net[2 * c];
    double* b = key + net[2 * c + 1];
    for (int l = 0; l < PKPO__LANES; l += 2) {
      const __m128d x = _mm_loadu_pd(a + l), y = _mm_loadu_pd(b + l);
      _mm_storeu_pd(a + l, _mm_min_pd(y, x)); /* y < x ? y : x */
      _mm_storeu_pd(b + l, _mm_max_pd(x, y)); /* x > y ? x : y */
    }
  }
}

__attribute__((target("avx"))) static void sort_block_avx(double* key, const int32_t* net,
                                                          int64_t count) {
  for (int64_t c = 0; c < count; ++c) {
    double* a = key + net[2 * c];
    double* b = key + net[2 * c + 1];
    for (int l = 0; l < PKPO__LANES; l += 4) {
      const __m256d x = _mm256_loadu_pd(a + l), y = _mm256_loadu_pd(b + l);
      _mm256_storeu_pd(a + l, _mm256_min_pd(y, x));
      _mm256_storeu_pd(b + l, _mm256_max_pd(x, y));
    }
  }
}
#endif

void pkpo__network_sort(double* key, const int32_t* net, int64_t count, int allow_avx) {
#if PKPO__X86_SIMD
  if (allow_avx && pkpo__cpu_has_avx()) {
    sort_block_avx(key, net, count);
  } else {
    sort_block_sse2(key, net, count);
  }
#else
  (void)allow_avx;
  sort_block_c(key, net, count);
#endif
}
