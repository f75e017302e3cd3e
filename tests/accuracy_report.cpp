// accuracy_report.cpp -- prints a markdown table of the docs/math.md §4 error (max over the samples
// of all groups of |a_i - exact_i| / scale) of the CPU backend, per estimator, at n = 12, 1024,
// 65536, for float32 and float64 outputs, uniform U(0,1) and offset 100 + 0.01*U(0,1) rewards, and
// k in {1, 2, n/2, n-1, n}; exact values from the __float128 oracle (tests/oracle.hpp).
// Not a test: build target `accuracy_report`, run by hand; the output is tests/accuracy_report.md.
//
// Usage: accuracy_report [seed]
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "oracle.hpp"
#include "pkpo.h"

namespace {

struct Cell {
  double err = 0;   // max err over outputs (or rho for PKPO_RHO)
  bool ok = true;   // call succeeded
};

Cell measure(pkpo_handle h, pkpo_estimator est, pkpo_dtype dt, const std::vector<double>& r,
             int64_t n, int64_t groups, int64_t k,
             const std::vector<std::vector<long double>>& exact_out,
             const std::vector<long double>& exact_rho, const std::vector<long double>& scale,
             const std::vector<long double>& rho_scale) {
  const size_t N = r.size();
  std::vector<float> in32(r.begin(), r.end()), out32(N), rho32((size_t)groups);
  std::vector<double> out64(N), rho64((size_t)groups);
  pkpo_desc d = PKPO_DESC_INIT;
  d.estimator = est;
  d.dtype = dt;
  d.num_groups = groups;
  d.group_size = n;
  d.k = k;
  const bool f64 = dt == PKPO_FLOAT64;
  const pkpo_status st =
      pkpo_transform(h, &d, f64 ? (const void*)r.data() : (const void*)in32.data(),
                     est == PKPO_RHO ? nullptr : (f64 ? (void*)out64.data() : (void*)out32.data()),
                     f64 ? (void*)rho64.data() : (void*)rho32.data(), nullptr, nullptr);
  Cell c;
  if (st != PKPO_SUCCESS) {
    c.ok = false;
    return c;
  }
  for (int64_t g = 0; g < groups; ++g) {
    if (est == PKPO_RHO) {
      const double got = f64 ? rho64[g] : (double)rho32[g];
      const long double diff = std::fabs((long double)got - exact_rho[g]);
      const double e = rho_scale[g] > 0 ? (double)(diff / rho_scale[g]) : (diff == 0 ? 0 : INFINITY);
      if (e > c.err) c.err = e;
      continue;
    }
    for (int64_t i = 0; i < n; ++i) {
      const double got = f64 ? out64[g * n + i] : (double)out32[g * n + i];
      const long double diff = std::fabs((long double)got - exact_out[g][i]);
      const double e = scale[g] > 0 ? (double)(diff / scale[g]) : (diff == 0 ? 0 : INFINITY);
      if (e > c.err) c.err = e;
    }
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2026;
  pkpo_handle h = nullptr;
  if (pkpo_create(&h, nullptr) != PKPO_SUCCESS) {
    std::fprintf(stderr, "pkpo_create failed\n");
    return 1;
  }
  const pkpo_estimator ests[] = {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE, PKPO_L2O};
  std::printf("pkpo %s CPU backend, docs/math.md §4 error vs the __float128 oracle, seed %" PRIu64
              ".\n\n",
              pkpo_version_string(), seed);
  std::printf("err = max_i |a_i - exact_i| / scale; scale = (k/n)(max g - min g) for "
              "sloo_minus_one and l2o, (k/n) max|g| for s and sloo, max|g| for rho (see report). "
              "Targets: float64 <= 1e-12, float32 <= 4e-6. Rewards are float32-representable, so "
              "both dtypes see the same inputs.\n\n");
  std::printf("| n | groups | rewards | k | dtype | rho | s | sloo | sloo_minus_one | l2o |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  double worst[2] = {0, 0};
  for (int64_t n : {12, 1024, 65536}) {
    const int64_t groups = n == 12 ? 256 : n == 1024 ? 16 : 2;
    for (int offset = 0; offset < 2; ++offset) {
      std::mt19937_64 rng(seed + (uint64_t)n * 7 + (uint64_t)offset);
      std::uniform_real_distribution<double> u(0, 1);
      std::vector<double> r((size_t)(n * groups));
      for (double& v : r) v = (double)(float)(offset ? 100.0 + 0.01 * u(rng) : u(rng));
      std::vector<int64_t> ks;
      for (int64_t k : {(int64_t)1, (int64_t)2, n / 2, n - 1, n}) {
        bool dup = false;
        for (int64_t q : ks) dup |= q == k;
        if (!dup) ks.push_back(k);
      }
      for (int64_t k : ks) {
        // Oracle once per (estimator, k); both dtypes use it.
        std::vector<std::vector<std::vector<long double>>> ex_out(5);
        std::vector<std::vector<long double>> ex_rho(5), sc(5), rsc(5);
        for (int e = 0; e < 5; ++e) {
          for (int64_t g = 0; g < groups; ++g) {
            std::vector<long double> vals(r.begin() + g * n, r.begin() + (g + 1) * n);
            oracle::GroupResult gr = oracle::spec_group(vals, k, e, oracle::LARGE);
            ex_out[e].push_back(gr.out);
            ex_rho[e].push_back(gr.rho);
            sc[e].push_back(oracle::spec_scale(vals, gr.n_eff, gr.k_eff, gr.est_eff));
            rsc[e].push_back(oracle::spec_scale(vals, gr.n_eff, gr.k_eff, oracle::RHO));
          }
        }
        for (pkpo_dtype dt : {PKPO_FLOAT32, PKPO_FLOAT64}) {
          std::printf("| %" PRId64 " | %" PRId64 " | %s | %" PRId64 " | %s |", n, groups,
                      offset ? "100+0.01U" : "U(0,1)", k, dt == PKPO_FLOAT64 ? "f64" : "f32");
          for (int e = 0; e < 5; ++e) {
            const Cell c =
                measure(h, ests[e], dt, r, n, groups, k, ex_out[e], ex_rho[e], sc[e], rsc[e]);
            if (!c.ok) {
              std::printf(" error |");
            } else {
              std::printf(" %.2e |", c.err);
              double& w = worst[dt == PKPO_FLOAT64];
              if (c.err > w) w = c.err;
            }
          }
          std::printf("\n");
        }
        std::fflush(stdout);
      }
    }
  }
  std::printf("\nWorst: float32 %.2e (target 4e-6), float64 %.2e (target 1e-12).\n", worst[0],
              worst[1]);
  pkpo_destroy(h);
  return (worst[0] <= 4e-6 && worst[1] <= 1e-12) ? 0 : 2;
}
