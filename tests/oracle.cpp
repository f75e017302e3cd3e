// oracle.cpp -- see oracle.hpp. Test-only; deliberately naive and never calls pkpo.
#include "oracle.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>

namespace oracle {

#define ORACLE_REQUIRE(cond)                                                            \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "oracle precondition failed: %s (%s:%d)\n", #cond, __FILE__, \
                   __LINE__);                                                           \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

const char* est_name(int est) {
  switch (est) {
    case RHO: return "rho";
    case S: return "s";
    case SLOO: return "sloo";
    case SMO: return "sloo_minus_one";
    case L2O: return "l2o";
    default: return "?";
  }
}

// ---- Rational ------------------------------------------------------------------------------------
static __int128 abs128(__int128 v) { return v < 0 ? -v : v; }
static __int128 gcd128(__int128 a, __int128 b) {
  a = abs128(a);
  b = abs128(b);
  while (b != 0) {
    __int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

Rational Rational::make(__int128 n, __int128 d) {
  ORACLE_REQUIRE(d != 0);
  if (d < 0) {
    n = -n;
    d = -d;
  }
  __int128 g = gcd128(n, d);
  if (g == 0) g = 1;
  Rational r;
  r.num = n / g;
  r.den = d / g;
  // The worked examples stay tiny; guard against silent overflow anyway.
  ORACLE_REQUIRE(abs128(r.num) < ((__int128)1 << 100) && r.den < ((__int128)1 << 100));
  return r;
}
Rational::Rational(long long n, long long d) { *this = make(n, d); }

std::string Rational::str() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%lld/%lld", (long long)num, (long long)den);
  return buf;
}
Rational operator+(const Rational& a, const Rational& b) {
  return Rational::make(a.num * b.den + b.num * a.den, a.den * b.den);
}
Rational operator-(const Rational& a, const Rational& b) {
  return Rational::make(a.num * b.den - b.num * a.den, a.den * b.den);
}
Rational operator*(const Rational& a, const Rational& b) {
  return Rational::make(a.num * b.num, a.den * b.den);
}
Rational operator/(const Rational& a, const Rational& b) {
  return Rational::make(a.num * b.den, a.den * b.num);
}
bool operator<(const Rational& a, const Rational& b) { return a.num * b.den < b.num * a.den; }
bool operator==(const Rational& a, const Rational& b) { return a.num == b.num && a.den == b.den; }

// ---- Brute force ---------------------------------------------------------------------------------
// Calls f(mask) for every subset of {0..m-1} with r elements (Gosper's hack).
template <class F> static void for_each_subset(int m, int r, F&& f) {
  ORACLE_REQUIRE(m >= 0 && m <= 30 && r >= 0);
  if (r > m) return;
  if (r == 0) {
    f(0u);
    return;
  }
  uint32_t mask = (1u << r) - 1u;
  const uint32_t limit = 1u << m;
  while (mask < limit) {
    f(mask);
    uint32_t c = mask & (0u - mask);
    uint32_t rr = mask + c;
    mask = (((rr ^ mask) >> 2) / c) | rr;
  }
}

static long long binom_ll(int n, int k) {
  if (k < 0 || k > n) return 0;
  long long r = 1;
  for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}

template <class T> static T max_of(const std::vector<T>& g, uint32_t mask) {
  bool first = true;
  T m{};
  for (size_t i = 0; i < g.size(); ++i) {
    if (!(mask >> i & 1u)) continue;
    if (first || m < g[i]) m = g[i];
    first = false;
  }
  ORACLE_REQUIRE(!first);
  return m;
}

template <class T> T brute_rho(const std::vector<T>& g, int k) {
  const int n = (int)g.size();
  ORACLE_REQUIRE(k >= 1 && k <= n && n <= 20);
  T sum = T(0LL);
  for_each_subset(n, k, [&](uint32_t mask) { sum = sum + max_of(g, mask); });
  return sum / T((long long)binom_ll(n, k));
}

template <class T> std::vector<T> brute_s(const std::vector<T>& g, int k) {
  const int n = (int)g.size();
  ORACLE_REQUIRE(k >= 1 && k <= n && n <= 20);
  std::vector<T> s(n, T(0LL));
  for_each_subset(n, k, [&](uint32_t mask) {
    const T m = max_of(g, mask);
    for (int i = 0; i < n; ++i)
      if (mask >> i & 1u) s[i] = s[i] + m;
  });
  const T c = T((long long)binom_ll(n, k));
  for (auto& v : s) v = v / c;
  return s;
}

template <class T> static std::vector<T> without(const std::vector<T>& g, int i) {
  std::vector<T> r;
  for (int j = 0; j < (int)g.size(); ++j)
    if (j != i) r.push_back(g[j]);
  return r;
}

template <class T> std::vector<T> brute_sloo(const std::vector<T>& g, int k) {
  const int n = (int)g.size();
  ORACLE_REQUIRE(k >= 1 && k <= n - 1);
  std::vector<T> s = brute_s(g, k);
  std::vector<T> a(n);
  for (int i = 0; i < n; ++i) {
    // s_j computed on the group without i, summed over j != i.
    std::vector<T> si = brute_s(without(g, i), k);
    T sum = T(0LL);
    for (const T& v : si) sum = sum + v;
    a[i] = s[i] - sum / T((long long)(n - 1));
  }
  return a;
}

template <class T> std::vector<T> brute_smo(const std::vector<T>& g, int k) {
  const int n = (int)g.size();
  ORACLE_REQUIRE(k >= 2 && k <= n && n <= 20);
  std::vector<T> a(n, T(0LL));
  for_each_subset(n, k, [&](uint32_t mask) {
    const T m = max_of(g, mask);
    for (int i = 0; i < n; ++i)
      if (mask >> i & 1u) a[i] = a[i] + (m - max_of(g, mask & ~(1u << i)));
  });
  const T c = T((long long)binom_ll(n, k));
  for (auto& v : a) v = v / c;
  return a;
}

template <class T> std::vector<T> brute_l2o(const std::vector<T>& g, int k) {
  const int n = (int)g.size();
  ORACLE_REQUIRE(k >= 1 && k <= n - 1 && n <= 20);
  std::vector<T> a(n, T(0LL));
  const T count = T((long long)binom_ll(n - 2, k - 1));  // (k-1)-subsets of R_ij
  for (int i = 0; i < n; ++i) {
    T sum = T(0LL);
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      std::vector<T> r;
      for (int l = 0; l < n; ++l)
        if (l != i && l != j) r.push_back(g[l]);
      T fi = T(0LL), fj = T(0LL);  // sum over T of max({y} u T) for y = g_i and y = g_j
      for_each_subset((int)r.size(), k - 1, [&](uint32_t mask) {
        if (mask == 0) {
          fi = fi + g[i];
          fj = fj + g[j];
          return;
        }
        const T mt = max_of(r, mask);
        fi = fi + (mt < g[i] ? g[i] : mt);
        fj = fj + (mt < g[j] ? g[j] : mt);
      });
      sum = sum + (fi / count - fj / count);
    }
    a[i] = T((long long)k) / T((long long)n) * sum / T((long long)(n - 1));
  }
  return a;
}

template <class T>
std::vector<T> brute_regular(const std::vector<T>& g, int k, int est, T* rho) {
  *rho = brute_rho(g, k);
  switch (est) {
    case RHO: return {};
    case S: return brute_s(g, k);
    case SLOO: return brute_sloo(g, k);
    case SMO: return brute_smo(g, k);
    case L2O: return brute_l2o(g, k);
  }
  ORACLE_REQUIRE(false);
  return {};
}

#define ORACLE_INSTANTIATE(T)                                                         \
  template T brute_rho<T>(const std::vector<T>&, int);                                \
  template std::vector<T> brute_s<T>(const std::vector<T>&, int);                     \
  template std::vector<T> brute_sloo<T>(const std::vector<T>&, int);                  \
  template std::vector<T> brute_smo<T>(const std::vector<T>&, int);                   \
  template std::vector<T> brute_l2o<T>(const std::vector<T>&, int);                   \
  template std::vector<T> brute_regular<T>(const std::vector<T>&, int, int, T*);
ORACLE_INSTANTIATE(long double)
ORACLE_INSTANTIATE(Rational)
#undef ORACLE_INSTANTIATE

// ---- Large-n route in __float128 -----------------------------------------------------------------
#if defined(__SIZEOF_FLOAT128__)
typedef __float128 Q;
#else
typedef long double Q;  // not as strong; only x86-64 is tested here
#endif

// mu_i = C(i-1,k-1)/C(n,k), i = 1..n, top-down; for i < k, 0. Values below ~1e-4900 flush to 0.
static std::vector<Q> weights_q(int64_t n, int64_t k) {
  ORACLE_REQUIRE(n >= 1 && k >= 1 && k <= n);
  std::vector<Q> mu((size_t)n + 1, (Q)0);
  mu[n] = (Q)k / (Q)n;
  for (int64_t i = n; i > k; --i) mu[i - 1] = mu[i] * (Q)(i - k) / (Q)(i - 1);
  return mu;
}

std::vector<long double> weights_ld(int64_t n, int64_t k) {
  std::vector<Q> q = weights_q(n, k);
  return std::vector<long double>(q.begin(), q.end());
}

// U_k(g without rank i) for every rank i (1-based), from sorted values gs[1..n] (n >= 2, k <= n-1).
static std::vector<Q> u_without_each(const std::vector<Q>& gs, int64_t n, int64_t k) {
  std::vector<Q> w = weights_q(n - 1, k);  // w[1..n-1]
  std::vector<Q> pre((size_t)n + 2, (Q)0), suf((size_t)n + 2, (Q)0);
  // pre[i] = sum_{j<i} w_j g(j); suf[i] = sum_{j>i} w_{j-1} g(j)
  for (int64_t i = 2; i <= n; ++i) pre[i] = pre[i - 1] + w[i - 1] * gs[i - 1];
  for (int64_t i = n - 1; i >= 1; --i) suf[i] = suf[i + 1] + w[i] * gs[i + 1];
  std::vector<Q> u((size_t)n + 1);
  for (int64_t i = 1; i <= n; ++i) u[i] = pre[i] + suf[i];
  return u;
}

std::vector<long double> large_regular(const std::vector<long double>& g, int k_in, int est,
                                       long double* rho_out) {
  const int64_t n = (int64_t)g.size();
  const int64_t k = k_in;
  ORACLE_REQUIRE(k >= 1 && k <= n);
  std::vector<int64_t> order((size_t)n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return g[a] < g[b]; });
  std::vector<Q> gs((size_t)n + 1);
  for (int64_t r = 1; r <= n; ++r) gs[r] = (Q)g[order[r - 1]];

  std::vector<Q> mu = weights_q(n, k);
  Q rho = 0;
  for (int64_t i = 1; i <= n; ++i) rho += mu[i] * gs[i];
  *rho_out = (long double)rho;
  if (est == RHO) return {};

  // s(i) = mu_i g(i) + sum_{j>i} nu_j g(j), nu_j = mu_j (k-1)/(j-1).
  std::vector<Q> s((size_t)n + 1);
  Q tail = 0;
  for (int64_t i = n; i >= 1; --i) {
    s[i] = mu[i] * gs[i] + tail;
    if (i >= 2) tail += mu[i] * (Q)(k - 1) / (Q)(i - 1) * gs[i];
  }

  std::vector<Q> a((size_t)n + 1);
  switch (est) {
    case S: a = s; break;
    case SLOO: {
      ORACLE_REQUIRE(n >= 2 && k <= n - 1);
      std::vector<Q> u = u_without_each(gs, n, k);
      for (int64_t i = 1; i <= n; ++i) a[i] = s[i] - (Q)k / (Q)(n - 1) * u[i];
      break;
    }
    case SMO: {
      ORACLE_REQUIRE(n >= 2 && k >= 2);
      std::vector<Q> u = u_without_each(gs, n, k - 1);
      for (int64_t i = 1; i <= n; ++i) a[i] = s[i] - (Q)k / (Q)n * u[i];
      break;
    }
    case L2O: {
      ORACLE_REQUIRE(n >= 2 && k <= n - 1);
      for (int64_t i = 1; i <= n; ++i) a[i] = ((Q)n * s[i] - (Q)k * rho) / (Q)(n - k);
      break;
    }
    default: ORACLE_REQUIRE(false);
  }
  std::vector<long double> out((size_t)n);
  for (int64_t r = 1; r <= n; ++r) out[order[r - 1]] = (long double)a[r];
  return out;
}

// ---- Binary closed forms ---------------------------------------------------------------------------
// C(a, r) / C(b, r) for 0 <= a <= b: prod_{j<r} (a-j)/(b-j); 0 when r > a.
static long double binom_ratio(int64_t a, int64_t b, int64_t r) {
  if (r < 0) return 0;
  if (r > a) return 0;
  long double p = 1;
  for (int64_t j = 0; j < r; ++j) p *= (long double)(a - j) / (long double)(b - j);
  return p;
}

long double binary_rho(int64_t n, int64_t c, int64_t k) { return 1 - binom_ratio(n - c, n, k); }

long double binary_value(int est, int64_t n, int64_t c, int64_t k, bool correct) {
  const long double kn = (long double)k / (long double)n;
  const long double s_wrong = kn * (1 - binom_ratio(n - 1 - c, n - 1, k - 1));
  const long double s = correct ? kn : s_wrong;
  switch (est) {
    case RHO: return binary_rho(n, c, k);
    case S: return s;
    case SLOO:
      return s - (long double)k / (long double)(n - 1) * binary_rho(n - 1, c - (correct ? 1 : 0), k);
    case SMO:
      // C(n-c, k-1)/C(n, k) = [C(n-c, k-1)/C(n, k-1)] * k/(n-k+1)
      return correct ? binom_ratio(n - c, n, k - 1) * (long double)k / (long double)(n - k + 1) : 0;
    case L2O:
      return (long double)k / (long double)(n - k) * binom_ratio(n - c - 1, n - 1, k - 1) *
             ((correct ? 1.0L : 0.0L) - (long double)c / (long double)n);
  }
  ORACLE_REQUIRE(false);
  return 0;
}

// ---- docs/math.md §3 ------------------------------------------------------------------------------
GroupResult spec_group(const std::vector<long double>& g, int64_t k_requested, int est,
                       Method method, NonFinite nonfinite) {
  ORACLE_REQUIRE(k_requested >= 1);
  GroupResult r;
  r.est_eff = est;
  const size_t n_all = g.size();
  std::vector<long double> fin;
  std::vector<size_t> pos;
  for (size_t i = 0; i < n_all; ++i) {
    if (std::isfinite(g[i])) {
      fin.push_back(g[i]);
      pos.push_back(i);
    } else {
      r.flags |= F_NONFINITE;
    }
  }
  const bool per_sample = est != RHO;
  if ((r.flags & F_NONFINITE) && nonfinite == PROPAGATE) {
    const long double nan = std::numeric_limits<long double>::quiet_NaN();
    if (per_sample) r.out.assign(n_all, nan);
    r.rho = nan;
    r.n_eff = (int64_t)fin.size();
    return r;
  }
  if (per_sample) r.out.assign(n_all, 0.0L);
  const int64_t m = (int64_t)fin.size();
  r.n_eff = m;
  if (m == 0) {
    r.flags |= F_EMPTY;
    r.rho = 0;
    return r;
  }
  int64_t k = k_requested;
  if (k > m) {
    k = m;
    r.flags |= F_K_CLAMPED;
  }
  r.k_eff = k;
  if (m == 1) {
    r.flags |= F_SINGLETON;
    r.rho = fin[0];
    if (est == S) r.out[pos[0]] = fin[0];
    return r;
  }
  int e = est;
  int64_t ke = k;
  if (est == SLOO && k == m) e = S;
  if (est == SMO && k == 1) e = L2O;
  if (est == L2O && k == m) {
    e = SMO;
    r.flags |= F_FALLBACK;
  }
  r.est_eff = e;
  std::vector<long double> a;
  long double rho = 0;
  if (method == BRUTE) {
    a = brute_regular<long double>(fin, (int)ke, e, &rho);
  } else {
    a = large_regular(fin, (int)ke, e, &rho);
    // SMO and L2O outputs are sums of differences of values: exactly 0 when every value is equal.
    // The __float128 route leaves a residual of ~1e-35 there, which docs/math.md measure (scale
    // (k/n)(max - min) = 0) cannot absorb.
    if ((e == SMO || e == L2O) && std::all_of(fin.begin(), fin.end(), [&](long double v) { return v == fin[0]; })) {
      std::fill(a.begin(), a.end(), 0.0L);
    }
  }
  r.rho = rho;
  if (per_sample)
    for (size_t i = 0; i < pos.size(); ++i) r.out[pos[i]] = a[i];
  return r;
}

long double spec_scale(const std::vector<long double>& g, int64_t n, int64_t k, int est) {
  if (g.empty() || n <= 0) return 0;
  long double lo = g[0], hi = g[0], amax = 0;
  for (long double v : g) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    amax = std::max(amax, std::fabs(v));
  }
  const long double kn = (long double)k / (long double)n;
  switch (est) {
    case SMO:
    case L2O: return kn * (hi - lo);
    case S:
    case SLOO: return kn * amax;
    case RHO: return amax;
  }
  return 0;
}

}  // namespace oracle
