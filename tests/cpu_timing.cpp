// cpu_timing.cpp -- single-core throughput of the CPU backend: ns per element of pkpo_transform
// with num_threads = 1, float32, uniform groups of n in {16, 256, 4096} (2^22 elements per call),
// median of R timed calls after one warm-up call. Not a test: run by hand.
// Wall time and the calling thread's CPU time are both reported: on a shared machine the CPU time
// (CLOCK_THREAD_CPUTIME_ID; with num_threads = 1 the work runs on the calling thread) is the
// figure less disturbed by other processes.
//
// Usage: cpu_timing [estimator 0-4, default 3 = sloo_minus_one] [repeats, default 15]
// Output: one CSV line per n:
//   n,groups,elements,estimator,median_wall_ns_per_elem,min_wall_ns_per_elem,median_cpu_ns_per_elem
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <time.h>
#include <vector>

#include "pkpo.h"

int main(int argc, char** argv) {
  const int est = argc > 1 ? std::atoi(argv[1]) : (int)PKPO_SLOO_MINUS_ONE;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 15;
  if (est < 0 || est > 4 || repeats < 1) {
    std::fprintf(stderr, "usage: cpu_timing [estimator 0-4] [repeats >= 1]\n");
    return 1;
  }
  pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
  o.num_threads = 1;
  pkpo_handle h = nullptr;
  if (pkpo_create(&h, &o) != PKPO_SUCCESS) return 1;
  const int64_t elements = (int64_t)1 << 22;
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> in((size_t)elements), out((size_t)elements), rho;
  for (float& v : in) v = u(rng);
  std::printf("n,groups,elements,estimator,median_wall_ns_per_elem,min_wall_ns_per_elem,"
              "median_cpu_ns_per_elem\n");
  const auto cpu_ns = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
  };
  for (int64_t n : {16, 256, 4096}) {
    pkpo_desc d = PKPO_DESC_INIT;
    d.estimator = (pkpo_estimator)est;
    d.dtype = PKPO_FLOAT32;
    d.group_size = n;
    d.num_groups = elements / n;
    d.k = n / 4;
    rho.assign((size_t)d.num_groups, 0.0f);
    if (pkpo_reserve(h, &d) != PKPO_SUCCESS) return 1;
    std::vector<double> ns, cpu;
    for (int r = 0; r <= repeats; ++r) {
      const double c0 = cpu_ns();
      const auto t0 = std::chrono::steady_clock::now();
      const pkpo_status st =
          pkpo_transform(h, &d, in.data(), est == PKPO_RHO ? nullptr : out.data(), rho.data(),
                         nullptr, nullptr);
      const auto t1 = std::chrono::steady_clock::now();
      const double c1 = cpu_ns();
      if (st != PKPO_SUCCESS) {
        std::fprintf(stderr, "transform failed: %s\n", pkpo_last_error(h));
        return 1;
      }
      if (r > 0) {
        ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / elements);
        cpu.push_back((c1 - c0) / elements);
      }
    }
    std::sort(ns.begin(), ns.end());
    std::sort(cpu.begin(), cpu.end());
    // Keep the result observable so the work cannot be elided.
    volatile float sink = out[(size_t)(elements / 2)] + rho[0];
    (void)sink;
    std::printf("%lld,%lld,%lld,%d,%.2f,%.2f,%.2f\n", (long long)n, (long long)d.num_groups,
                (long long)elements, est, ns[ns.size() / 2], ns.front(), cpu[cpu.size() / 2]);
  }
  pkpo_destroy(h);
  return 0;
}
