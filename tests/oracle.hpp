// oracle.hpp -- an independent reference for the pkpo estimators (test-only code; never calls pkpo).
//
// Two routes, both different from the library's stable difference/scan forms (docs/math.md §2):
//
// 1. Brute force (n <= 12 or so): every quantity from its DEFINITION, by enumerating k-subsets.
//    Templated on the number type: long double for the sweeps, an exact rational for checking the
//    docs/math.md's worked examples with zero tolerance.
//      rho  = U_k(g) = mean over k-subsets S of max_S
//      s_i  = (1/C(n,k)) sum_{S containing i} max_S
//      sloo_i = s_i - (1/(n-1)) sum_{j != i} s_j[group without i]
//      sloo_minus_one_i = (1/C(n,k)) sum_{S containing i} [max_S - max_{S \ {i}}]
//      l2o_i = (k/n) (1/(n-1)) sum_{j != i} [F(g_i; R_ij) - F(g_j; R_ij)],
//              F(y; R) = mean over (k-1)-subsets T of R of max({y} u T)
//
// 2. Large n (up to 65536 and beyond): direct weighted sums on ranks in __float128 (113-bit
//    significand), with the weights mu_i = C(i-1,k-1)/C(n,k) built in __float128:
//      rho = sum_i mu_i g(i);  s(i) = mu_i g(i) + sum_{j>i} nu_j g(j);
//      U_k(g without i) from prefix/suffix sums with the (n-1, k) weights;
//      sloo_i = s_i - k/(n-1) U_k(g\i);  sloo_minus_one_i = s_i - (k/n) U_{k-1}(g\i);
//      l2o_i = (n s_i - k rho)/(n - k).
//    These are differences of quantities of the rewards' absolute size -- exactly what the library
//    must NOT do in float64 -- but 113 bits leave ~1e-25 relative error even for 100 + 0.01*U(0,1).
//
// On top of either route, spec_group() applies the boundary rules of docs/math.md §3 (non-finite
// exclusion/propagation, k clamping, n = 1, k = 1 rule of sloo_minus_one, l2o fallback at k = n,
// sloo at k = n, empty groups) and returns the outputs, rho and flags one group should get.
#ifndef PKPO_TESTS_ORACLE_HPP
#define PKPO_TESTS_ORACLE_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace oracle {

// Estimator ids, numerically equal to pkpo_estimator (kept separate so the oracle never includes
// the library header).
enum Est { RHO = 0, S = 1, SLOO = 2, SMO = 3, L2O = 4 };
const char* est_name(int est);

// Flag bits, numerically equal to PKPO_FLAG_*.
enum : uint32_t {
  F_SINGLETON = 1u << 0,
  F_K_CLAMPED = 1u << 1,
  F_NONFINITE = 1u << 2,
  F_FALLBACK = 1u << 3,
  F_EMPTY = 1u << 4,
};

// ---- Exact rationals (for the worked examples) -----------------------------------------------
struct Rational {
  __int128 num = 0, den = 1;  // den > 0, gcd(num, den) == 1
  Rational() = default;
  Rational(long long v) : num(v), den(1) {}  // NOLINT(implicit)
  Rational(long long n, long long d);
  static Rational make(__int128 n, __int128 d);
  long double to_ld() const { return (long double)num / (long double)den; }
  std::string str() const;
};
Rational operator+(const Rational& a, const Rational& b);
Rational operator-(const Rational& a, const Rational& b);
Rational operator*(const Rational& a, const Rational& b);
Rational operator/(const Rational& a, const Rational& b);
bool operator<(const Rational& a, const Rational& b);
bool operator==(const Rational& a, const Rational& b);
inline bool operator!=(const Rational& a, const Rational& b) { return !(a == b); }

// ---- Brute force from the definitions (regular cases only) -----------------------------------
// Preconditions (checked, abort on violation): 1 <= k <= n; n <= 20;
//   sloo: k <= n-1; sloo_minus_one: k >= 2; l2o: k <= n-1.
template <class T> T brute_rho(const std::vector<T>& g, int k);
template <class T> std::vector<T> brute_s(const std::vector<T>& g, int k);
template <class T> std::vector<T> brute_sloo(const std::vector<T>& g, int k);
template <class T> std::vector<T> brute_smo(const std::vector<T>& g, int k);
template <class T> std::vector<T> brute_l2o(const std::vector<T>& g, int k);

// Regular-case dispatch for estimator est (RHO returns an empty vector; *rho always written).
template <class T>
std::vector<T> brute_regular(const std::vector<T>& g, int k, int est, T* rho);

// ---- Large-n route (__float128 weighted sums on ranks), regular cases only -------------------
// Same preconditions as the brute-force functions, without the bound on n.
std::vector<long double> large_regular(const std::vector<long double>& g, int k, int est,
                                       long double* rho);

// mu_i = C(i-1,k-1)/C(n,k) for i = 1..n (index 0 unused), top-down in __float128, returned as
// long double (exposed for the oracle's own self-check).
std::vector<long double> weights_ld(int64_t n, int64_t k);

// ---- docs/math.md §2 binary closed forms (c correct samples out of n) ------------------------
// Valid in the regular ranges of the brute-force functions. Long double, products of ratios.
long double binary_rho(int64_t n, int64_t c, int64_t k);
long double binary_value(int est, int64_t n, int64_t c, int64_t k, bool correct);

// ---- docs/math.md §3 rules --------------------------------------------------------------------
enum Method { BRUTE, LARGE };
enum NonFinite { EXCLUDE = 0, PROPAGATE = 1 };

struct GroupResult {
  std::vector<long double> out;  // per sample, in the group's order (NaN under PROPAGATE)
  long double rho = 0;
  uint32_t flags = 0;
  int64_t n_eff = 0;  // finite samples used
  int64_t k_eff = 0;  // k after clamping (0 for an empty group)
  int est_eff = 0;    // estimator actually computed after the rules (for the error scale)
};

// g may hold NaN/Inf. k_requested >= 1. est is an Est. The K_STRICT policy is an argument error,
// not a per-group rule, so it is not modelled here.
GroupResult spec_group(const std::vector<long double>& g, int64_t k_requested, int est,
                       Method method, NonFinite nonfinite = EXCLUDE);

// docs/math.md §4 error scale of one group for estimator est at (n, k) over finite values g:
// (k/n)(max g - min g) for sloo_minus_one and l2o, (k/n) max|g| for s and sloo, max|g| for rho
// (rounding rho alone costs eps * |rho| ~ eps * max|g|, so a smaller scale could not be met).
long double spec_scale(const std::vector<long double>& finite_g, int64_t n, int64_t k, int est);

}  // namespace oracle

#endif  // PKPO_TESTS_ORACLE_HPP
