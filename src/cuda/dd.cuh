/*
 * dd.cuh -- double-double numbers (hi + lo, about 104 bits) for the weights of rho: the product
 * F_t = C(t,k)/C(m,k) of ratios (t-k)/t, formed by the kernels' product scans with the operations
 * of src/common/rules.h (pkpo__dd_mul, pkpo__dd_ratio), so that rho at k = m and for binary groups
 * is exact to the last ulp on every path. Host and device; the scans shuffle a DD as two doubles
 * (warp_primitives.cuh).
 */
#ifndef PKPO_CUDA_DD_CUH
#define PKPO_CUDA_DD_CUH

#include <stdint.h>

#include "params.h"
#include "rules.h"

namespace pkpo_cuda {

struct DD {
  double hi, lo;
  DD() = default;
  /* T(1) and T(0) of the scans' identities */
  PKPO_HD explicit DD(int v) : hi((double)v), lo(0.0) {}
  PKPO_HD DD(double h, double l) : hi(h), lo(l) {}
};

PKPO_HD DD operator*(DD a, const DD& b) {
  pkpo__dd_mul(&a.hi, &a.lo, b.hi, b.lo);
  return a;
}

/* a / b as a DD (a, b integers below 2^53). */
PKPO_HD DD dd_ratio(int64_t a, int64_t b) {
  DD r;
  pkpo__dd_ratio((double)a, (double)b, &r.hi, &r.lo);
  return r;
}

/* 1 / b as a DD (b an integer below 2^53) with one division: the low part, the residual times the
 * high part, errs by 2^-53 of itself, 2^-106 of the value. */
PKPO_HD DD dd_recip(int64_t b) {
  const double bd = (double)b, q = 1.0 / bd;
  double p, e;
  pkpo__two_prod(q, bd, &p, &e); /* q b = p + e exactly */
  return DD(q, ((1.0 - p) - e) * q);
}

/* A pair of doubles summed together (two totals in one scan or sum). */
struct D2 {
  double a, b;
};
PKPO_HD D2 operator+(const D2& x, const D2& y) {
  D2 r;
  r.a = x.a + y.a;
  r.b = x.b + y.b;
  return r;
}
PKPO_HD D2 make_d2(double a, double b) {
  D2 r;
  r.a = a;
  r.b = b;
  return r;
}

/* hi + lo rounded to a double. */
PKPO_HD double dd_value(const DD& x) { return x.hi + x.lo; }

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_DD_CUH */
