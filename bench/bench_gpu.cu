/*
 * bench_gpu.cu -- GPU benchmarks of pkpo's CUDA backend, all measured in one run on one device:
 *
 *  1. copy:    cudaMemcpyAsync device-to-device on a 1 GiB buffer; GB/s = 2 * bytes / time (read +
 *              write). This is the roof the transform is compared with.
 *  2. sweep:   pkpo_transform per estimator, float32, uniform groups, n in {4, ..., 2^20}, G chosen
 *              so N = G*n >= 2^26 (256 MiB in + 256 MiB out, several times any L2: cold cache by
 *              size). GB/s = bytes / time with bytes = 8*N (4 read + 4 written per sample; rho
 *              writes 4 bytes per group instead: 4*N + 4*G). ratio = GB/s / copy GB/s.
 *  3. cub:     a peer pipeline for sloo_minus_one written with CUB, the way a CUDA programmer would
 *              without pkpo: iota -> cub::DeviceSegmentedSort::SortPairs (keys = rewards, values =
 *              sample index) -> weights mu_{r+2} * (g(r+1) - g(r)) -> cub::DeviceScan::
 *              ExclusiveSumByKey (key = group) -> scatter back to input order. Same sizes and timing.
 *  4. latency: pkpo_transform (sloo_minus_one) at RL scale (--latency; by default G in {256, 1024,
 *              4096} x n in {8, 16, 64}), four ways: plain launch + stream sync (host wall clock),
 *              plain launches back to back (events around R calls / R), CUDA-graph replay + sync,
 *              graph replays back to back.
 *
 * Every configuration is validated before it is timed: the GPU output of a subset of groups (the
 * first groups up to 2^20 samples, and the last group) is compared with pkpo's CPU backend on the
 * same inputs, and the first and last groups with the float64 oracle of bench_common.h. pkpo must be
 * within docs/math.md's float32 target of both (|gpu - cpu| <= 2 * 4e-6 * scale, |gpu - exact| <= 4e-6 *
 * scale); the CUB peer accumulates in float32 and gets 1e-4 * scale. A failing row is printed with
 * the reason and written with valid=FAIL and no timing; the exit status is then 1.
 * Timing: 3 untimed warm-up calls, then `runs` (>= 20) calls each between two cudaEvents on a
 * non-blocking stream; the median is reported (and the minimum).
 *
 * Usage: bench_gpu --out DIR [--device-slug SLUG] [--quick] [--k K] [--runs R] [--min-N ELEMS]
 *                  [--estimators rho,s,sloo,sloo_minus_one,l2o] [--n 4,8,...] [--no-cub]
 *                  [--latency G:n,G:n,...]   (default: G in {256, 1024, 4096} x n in {8, 16, 64})
 * Writes DIR/gpu_copy.csv, DIR/gpu_sweep.csv (pkpo and cub rows), DIR/gpu_latency.csv.
 */
#include <cuda_runtime.h>

#include <cub/device/device_scan.cuh>
#include <cub/device/device_segmented_sort.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"
#include "pkpo.h"

#define CUDA_CHECK(call)                                                                        \
  do {                                                                                          \
    const cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) {                                                                    \
      std::fprintf(stderr, "bench_gpu: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,      \
                   cudaGetErrorString(e_));                                                     \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

#define PKPO_CHECK(h, call)                                                                     \
  do {                                                                                          \
    const pkpo_status s_ = (call);                                                              \
    if (s_ != PKPO_SUCCESS) {                                                                   \
      std::fprintf(stderr, "bench_gpu: %s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call, \
                   pkpo_status_string(s_), pkpo_last_error(h));                                 \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

namespace {

/* Warm-up calls before timing: the first call of a size may allocate workspace or load modules. */
constexpr int kWarmup = 3;
/* Peer kernels are plain element-wise loops; 256 threads per block is the usual choice for
 * memory-bound element-wise work and was not tuned (the peer is not the product). */
constexpr int kPeerBlock = 256;
/* Validation compares at most this many samples per configuration with the CPU backend. */
constexpr int64_t kValidateSamples = int64_t(1) << 20;
/* The CUB peer accumulates its scan in float32 (what a straightforward implementation does), so
 * its outputs carry more rounding than pkpo's float64-internal ones. */
constexpr double kPeerTol = 1e-4;

struct Options {
  std::string out_dir;
  std::string device_slug = "gpu";
  bool quick = false;
  int64_t k = 4;
  int runs = 50;
  int64_t min_n = int64_t(1) << 26;
  std::vector<pkpo_estimator> estimators = {PKPO_RHO, PKPO_S, PKPO_SLOO, PKPO_SLOO_MINUS_ONE,
                                            PKPO_L2O};
  std::vector<int64_t> ns = {4, 8, 16, 32, 64, 128, 256, 1024, 2048, 4096, 8192, 65536, int64_t(1) << 20};
  /* latency table: (G, n) pairs */
  std::vector<std::pair<int64_t, int64_t>> latency = {{256, 8},   {256, 16},   {256, 64},  {1024, 8}, {1024, 16},
                                                      {1024, 64}, {4096, 8},   {4096, 16}, {4096, 64}};
  bool cub = true;
};

/* "G:n,G:n,..." */
bool parse_pairs(const char* s, std::vector<std::pair<int64_t, int64_t>>* out) {
  out->clear();
  while (*s) {
    char* end = nullptr;
    const long long g = std::strtoll(s, &end, 10);
    if (end == s || *end != ':') return false;
    s = end + 1;
    const long long n = std::strtoll(s, &end, 10);
    if (end == s || g < 1 || n < 1) return false;
    out->push_back({g, n});
    s = end;
    if (*s == ',') ++s;
    else if (*s) return false;
  }
  return true;
}

bool parse_list(const char* s, std::vector<int64_t>* out) {
  out->clear();
  while (*s) {
    char* end = nullptr;
    const long long v = std::strtoll(s, &end, 10);
    if (end == s) return false;
    out->push_back(v);
    s = end;
    if (*s == ',') ++s;
    else if (*s) return false;
  }
  return !out->empty();
}

bool parse_args(int argc, char** argv, Options* o) {
  bool explicit_runs = false, explicit_n = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o->quick = true;
      continue;
    }
    if (a == "--no-cub") {
      o->cub = false;
      continue;
    }
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (a == "--out") o->out_dir = v;
    else if (a == "--device-slug") o->device_slug = v;
    else if (a == "--k") o->k = std::strtoll(v, nullptr, 10);
    else if (a == "--runs") {
      o->runs = std::atoi(v);
      explicit_runs = true;
    } else if (a == "--min-N") {
      o->min_n = std::strtoll(v, nullptr, 10);
      explicit_n = true;
    } else if (a == "--n") {
      if (!parse_list(v, &o->ns)) return false;
    } else if (a == "--latency") {
      if (!parse_pairs(v, &o->latency)) return false;
    } else if (a == "--estimators") {
      o->estimators.clear();
      std::string list = v;
      size_t pos = 0;
      while (pos <= list.size()) {
        const size_t comma = std::min(list.find(',', pos), list.size());
        pkpo_estimator e;
        if (bench_estimator_parse(list.substr(pos, comma - pos).c_str(), &e) != 0) return false;
        o->estimators.push_back(e);
        pos = comma + 1;
      }
    } else {
      return false;
    }
  }
  if (o->quick) {
    if (!explicit_runs) o->runs = 20;
    if (!explicit_n) o->min_n = int64_t(1) << 24;
  }
  if (o->runs < 20) {
    std::fprintf(stderr, "bench_gpu: --runs must be >= 20 (median of many runs)\n");
    return false;
  }
  return !o->out_dir.empty() && o->k >= 2 && o->min_n >= 1;
}

/* Times `fn` (which queues work on `stream`): kWarmup untimed calls, then `runs` calls each between
 * two events. Returns {median_ms, min_ms}. */
template <class F>
std::pair<double, double> time_events(cudaStream_t stream, int runs, F&& fn) {
  for (int i = 0; i < kWarmup; ++i) fn();
  CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<cudaEvent_t> ev(2 * size_t(runs));
  for (auto& e : ev) CUDA_CHECK(cudaEventCreate(&e));
  for (int r = 0; r < runs; ++r) {
    CUDA_CHECK(cudaEventRecord(ev[2 * r], stream));
    fn();
    CUDA_CHECK(cudaEventRecord(ev[2 * r + 1], stream));
  }
  CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> ms(runs);
  for (int r = 0; r < runs; ++r) {
    float t = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&t, ev[2 * r], ev[2 * r + 1]));
    ms[r] = t;
  }
  for (auto& e : ev) CUDA_CHECK(cudaEventDestroy(e));
  const double mn = *std::min_element(ms.begin(), ms.end());
  return {bench_median(ms.data(), runs), mn};
}

/* ---- CUB peer ---------------------------------------------------------------------------------- */

__global__ void peer_iota(int* __restrict__ v, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    v[i] = int(i);
}

__global__ void peer_offsets(int* __restrict__ off, int64_t groups, int n) {
  for (int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; g <= groups;
       g += int64_t(gridDim.x) * blockDim.x)
    off[g] = int(g * n);
}

/* w[j] = mu_{r+2} (g(r+1) - g(r)) for sorted rank r = j mod n (0-based) < n-1; 0 for the top rank.
 * mu is 1-based (mu[1..n]). The exclusive scan of w within a group is sloo_minus_one in rank order
 * (docs/math.md: a(i) = sum_{t<i} mu_{t+1} d_t). */
__global__ void peer_weights(const float* __restrict__ sorted, const float* __restrict__ mu,
                             float* __restrict__ w, int64_t count, int n) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count;
       j += int64_t(gridDim.x) * blockDim.x) {
    const int r = int(j % n);
    w[j] = (r + 1 < n) ? mu[r + 2] * (sorted[j + 1] - sorted[j]) : 0.0f;
  }
}

__global__ void peer_scatter(const float* __restrict__ a_sorted, const int* __restrict__ idx,
                             float* __restrict__ out, int64_t count) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count;
       j += int64_t(gridDim.x) * blockDim.x)
    out[idx[j]] = a_sorted[j];
}

struct SegmentOf {
  int n;
  __host__ __device__ int operator()(int j) const { return j / n; }
};

struct CubPeer {
  int64_t G = 0, N = 0;
  int n = 0;
  int* d_off = nullptr;
  int* d_iota = nullptr;
  int* d_idx = nullptr;
  float* d_sorted = nullptr;
  float* d_w = nullptr;
  float* d_a = nullptr;
  float* d_mu = nullptr;
  void* d_temp = nullptr;
  size_t temp_bytes = 0;
  int grid = 0;

  using KeyIt = thrust::transform_iterator<SegmentOf, thrust::counting_iterator<int>>;
  KeyIt keys() const { return KeyIt(thrust::counting_iterator<int>(0), SegmentOf{n}); }

  void setup(int64_t groups, int group_size, int64_t k, int sm_count) {
    G = groups;
    n = group_size;
    N = G * n;
    CUDA_CHECK(cudaMalloc(&d_off, size_t(G + 1) * sizeof(int)));
    CUDA_CHECK(cudaMalloc(&d_iota, size_t(N) * sizeof(int)));
    CUDA_CHECK(cudaMalloc(&d_idx, size_t(N) * sizeof(int)));
    CUDA_CHECK(cudaMalloc(&d_sorted, size_t(N) * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_w, size_t(N) * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_a, size_t(N) * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_mu, size_t(n + 1) * sizeof(float)));
    std::vector<double> mu(static_cast<size_t>(n) + 1);
    bench_mu_table(n, k, mu.data());
    std::vector<float> muf(mu.begin(), mu.end());
    CUDA_CHECK(cudaMemcpy(d_mu, muf.data(), muf.size() * sizeof(float), cudaMemcpyHostToDevice));
    /* Enough blocks to fill the device several times over; grid-stride loops cover the rest. */
    grid = int(std::min<int64_t>((N + kPeerBlock - 1) / kPeerBlock, int64_t(sm_count) * 32));
    peer_offsets<<<grid, kPeerBlock>>>(d_off, G, n);
    CUDA_CHECK(cudaGetLastError());
    size_t sort_bytes = 0, scan_bytes = 0;
    CUDA_CHECK(cub::DeviceSegmentedSort::SortPairs(nullptr, sort_bytes, (const float*)nullptr,
                                                   (float*)nullptr, (const int*)nullptr,
                                                   (int*)nullptr, N, G, d_off, d_off + 1));
    CUDA_CHECK(cub::DeviceScan::ExclusiveSumByKey(nullptr, scan_bytes, keys(), (const float*)d_w,
                                                  d_a, N));
    temp_bytes = std::max(sort_bytes, scan_bytes);
    CUDA_CHECK(cudaMalloc(&d_temp, temp_bytes));
    CUDA_CHECK(cudaDeviceSynchronize());
  }

  /* The whole peer transform, queued on `stream`. */
  void run(const float* d_in, float* d_out, cudaStream_t stream) {
    size_t bytes = temp_bytes;
    peer_iota<<<grid, kPeerBlock, 0, stream>>>(d_iota, N);
    CUDA_CHECK(cub::DeviceSegmentedSort::SortPairs(d_temp, bytes, d_in, d_sorted, d_iota, d_idx, N,
                                                   G, d_off, d_off + 1, stream));
    peer_weights<<<grid, kPeerBlock, 0, stream>>>(d_sorted, d_mu, d_w, N, n);
    bytes = temp_bytes;
    CUDA_CHECK(cub::DeviceScan::ExclusiveSumByKey(d_temp, bytes, keys(), (const float*)d_w, d_a, N,
                                                  cuda::std::equal_to<>(), stream));
    peer_scatter<<<grid, kPeerBlock, 0, stream>>>(d_a, d_idx, d_out, N);
    CUDA_CHECK(cudaGetLastError());
  }

  void release() {
    cudaFree(d_off);
    cudaFree(d_iota);
    cudaFree(d_idx);
    cudaFree(d_sorted);
    cudaFree(d_w);
    cudaFree(d_a);
    cudaFree(d_mu);
    cudaFree(d_temp);
    *this = CubPeer();
  }
};

/* ---- Validation --------------------------------------------------------------------------------- */

struct Check {
  bool ok = true;
  double max_err = 0.0; /* vs the oracle (docs/math.md measure) */
  std::string msg;
};

/*
 * Compares the GPU outputs of groups [0, Gv) and the last group with pkpo's CPU backend and the
 * first/last group with the oracle. h_in holds the whole batch; d_out / d_rho the GPU results (d_out
 * may be null for rho; d_rho may be null when only per-sample outputs are checked).
 */
Check validate(pkpo_handle cpu, pkpo_estimator est, int64_t n, int64_t k, int64_t G,
               const float* h_in, const float* d_out, const float* d_rho, double tol_vs_cpu,
               double tol_vs_exact) {
  Check c;
  const int64_t Gv = std::max<int64_t>(1, std::min<int64_t>(G, kValidateSamples / n));
  std::vector<int64_t> groups;
  for (int64_t g = 0; g < Gv; ++g) groups.push_back(g);
  if (G - 1 >= Gv) groups.push_back(G - 1);
  const bool has_out = d_out != nullptr;
  std::vector<float> gpu_out(has_out ? static_cast<size_t>(n) : 0),
      cpu_out(static_cast<size_t>(n)), gpu_rho(1), cpu_rho(1);
  pkpo_desc d = PKPO_DESC_INIT;
  d.estimator = est;
  d.dtype = PKPO_FLOAT32;
  d.num_groups = 1;
  d.group_size = n;
  d.num_samples = n;
  d.k = k;
  const int64_t k_eff = std::min(k, n);
  /* One CPU call over the contiguous prefix, then the last group on its own. */
  std::vector<float> cpu_all(static_cast<size_t>(Gv * n)), cpu_rho_all(static_cast<size_t>(Gv)),
      gpu_all(static_cast<size_t>(Gv * n)), gpu_rho_all(static_cast<size_t>(Gv));
  d.num_groups = Gv;
  d.num_samples = Gv * n;
  pkpo_status st = pkpo_transform(cpu, &d, h_in, has_out ? cpu_all.data() : nullptr,
                                  cpu_rho_all.data(), nullptr, nullptr);
  if (st != PKPO_SUCCESS) {
    c.ok = false;
    c.msg = std::string("CPU backend failed: ") + pkpo_status_string(st) + " (" +
            pkpo_last_error(cpu) + ")";
    return c;
  }
  if (has_out)
    CUDA_CHECK(cudaMemcpy(gpu_all.data(), d_out, size_t(Gv * n) * sizeof(float),
                          cudaMemcpyDeviceToHost));
  if (d_rho)
    CUDA_CHECK(cudaMemcpy(gpu_rho_all.data(), d_rho, size_t(Gv) * sizeof(float),
                          cudaMemcpyDeviceToHost));
  d.num_groups = 1;
  d.num_samples = n;
  for (const int64_t g : groups) {
    const float* x = h_in + g * n;
    const float* go;
    const float* co;
    float grho, crho;
    if (g < Gv) {
      go = gpu_all.data() + g * n;
      co = cpu_all.data() + g * n;
      grho = gpu_rho_all[size_t(g)];
      crho = cpu_rho_all[size_t(g)];
    } else {
      st = pkpo_transform(cpu, &d, x, has_out ? cpu_out.data() : nullptr, cpu_rho.data(), nullptr,
                          nullptr);
      if (st != PKPO_SUCCESS) {
        c.ok = false;
        c.msg = std::string("CPU backend failed: ") + pkpo_status_string(st);
        return c;
      }
      if (has_out)
        CUDA_CHECK(cudaMemcpy(gpu_out.data(), d_out + g * n, size_t(n) * sizeof(float),
                              cudaMemcpyDeviceToHost));
      if (d_rho)
        CUDA_CHECK(cudaMemcpy(gpu_rho.data(), d_rho + g, sizeof(float), cudaMemcpyDeviceToHost));
      go = gpu_out.data();
      co = cpu_out.data();
      grho = gpu_rho[0];
      crho = cpu_rho[0];
    }
    const double scale = bench_scale(est, n, k_eff, x);
    const double rho_scale = bench_scale(PKPO_RHO, n, n, x); /* max|g|, see bench_common.h */
    double worst = 0.0;
    int64_t worst_i = -1;
    if (has_out) {
      for (int64_t i = 0; i < n; ++i) {
        const double e = std::fabs(double(go[i]) - double(co[i]));
        if (!(e <= worst)) {
          worst = e;
          worst_i = i;
        }
      }
    }
    double rel = scale > 0.0 ? worst / scale : (worst == 0.0 ? 0.0 : INFINITY);
    if (d_rho && rho_scale > 0.0) rel = std::max(rel, std::fabs(double(grho) - crho) / rho_scale);
    if (!(rel <= tol_vs_cpu)) {
      char buf[256];
      std::snprintf(buf, sizeof(buf),
                    "group %lld: GPU differs from the CPU backend by %.3g * scale (sample %lld: "
                    "gpu %.9g cpu %.9g; rho gpu %.9g cpu %.9g)",
                    (long long)g, rel, (long long)worst_i,
                    worst_i >= 0 ? double(go[worst_i]) : 0.0,
                    worst_i >= 0 ? double(co[worst_i]) : 0.0, double(grho), double(crho));
      c.ok = false;
      c.msg = buf;
      return c;
    }
    if (g == 0 || g == G - 1) {
      /* Oracle check of the GPU values themselves (rho only when the GPU wrote it). */
      double err = 0.0;
      if (d_rho) {
        err = bench_check_group(est, n, k_eff, x, has_out ? go : nullptr, grho);
      } else {
        std::vector<double> exact(static_cast<size_t>(n));
        double exact_rho = 0.0;
        if (bench_oracle_group(est, n, k_eff, x, exact.data(), &exact_rho) != 0) err = -1.0;
        for (int64_t i = 0; err >= 0.0 && i < n; ++i)
          err = std::max(err, std::fabs(double(go[i]) - exact[size_t(i)]));
        if (err >= 0.0) err = scale > 0.0 ? err / scale : (err == 0.0 ? 0.0 : INFINITY);
      }
      if (err < 0.0) {
        c.ok = false;
        c.msg = "oracle out of memory";
        return c;
      }
      c.max_err = std::max(c.max_err, err);
      if (!(err <= tol_vs_exact)) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "group %lld: error %.3g * scale vs the float64 oracle",
                      (long long)g, err);
        c.ok = false;
        c.msg = buf;
        return c;
      }
    }
  }
  return c;
}

double bytes_moved(pkpo_estimator est, int64_t N, int64_t G) {
  return est == PKPO_RHO ? 4.0 * double(N) + 4.0 * double(G) : 8.0 * double(N);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: bench_gpu --out DIR [--device-slug SLUG] [--quick] [--k K>=2] "
                 "[--runs R>=20] [--min-N ELEMS] [--estimators a,b] [--n 4,8,...] [--no-cub] "
                 "[--latency G:n,...]\n");
    return 2;
  }
  if (bench_oracle_selftest() != 0) {
    std::fprintf(stderr, "bench_gpu: the oracle disagrees with the docs/math.md worked examples\n");
    return 1;
  }
  if (!pkpo_backend_available(PKPO_BACKEND_CUDA)) {
    std::fprintf(stderr, "bench_gpu: pkpo reports no usable CUDA backend (no GPU or CPU-only build)\n");
    return 1;
  }
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::fprintf(stderr, "bench_gpu: %s, %d SMs, L2 %d MiB, %.1f GiB, pkpo %s, k=%lld, runs=%d\n",
               prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20,
               double(prop.totalGlobalMem) / double(1 << 30), pkpo_version_string(),
               (long long)o.k, o.runs);
  const std::string dev_name = o.device_slug;
  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  pkpo_handle gpu = nullptr, cpu = nullptr;
  pkpo_handle_options go = PKPO_HANDLE_OPTIONS_INIT;
  go.backend = PKPO_BACKEND_CUDA;
  go.cuda_device = dev;
  PKPO_CHECK(gpu, pkpo_create(&gpu, &go));
  pkpo_handle_options co = PKPO_HANDLE_OPTIONS_INIT;
  co.backend = PKPO_BACKEND_CPU;
  PKPO_CHECK(cpu, pkpo_create(&cpu, &co));

  const std::string dir = o.out_dir;
  FILE* f_copy = std::fopen((dir + "/gpu_copy.csv").c_str(), "w");
  FILE* f_sweep = std::fopen((dir + "/gpu_sweep.csv").c_str(), "w");
  FILE* f_lat = std::fopen((dir + "/gpu_latency.csv").c_str(), "w");
  if (!f_copy || !f_sweep || !f_lat) {
    std::fprintf(stderr, "bench_gpu: cannot write CSV files in %s\n", dir.c_str());
    return 2;
  }

  /* ---- 1. copy bandwidth ---- */
  const size_t copy_bytes = size_t(1) << 30;
  double copy_gbps = 0.0;
  {
    void *a = nullptr, *b = nullptr;
    CUDA_CHECK(cudaMalloc(&a, copy_bytes));
    CUDA_CHECK(cudaMalloc(&b, copy_bytes));
    CUDA_CHECK(cudaMemset(a, 0x3c, copy_bytes));
    CUDA_CHECK(cudaDeviceSynchronize()); /* the legacy stream's memset is not ordered with `stream` */
    const auto t = time_events(stream, o.runs, [&] {
      CUDA_CHECK(cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice, stream));
    });
    copy_gbps = 2.0 * double(copy_bytes) / (t.first * 1e-3) * 1e-9;
    std::fprintf(f_copy, "device,bytes,runs,median_ms,min_ms,GBps\n%s,%zu,%d,%.6f,%.6f,%.3f\n",
                 dev_name.c_str(), copy_bytes, o.runs, t.first, t.second, copy_gbps);
    std::fflush(f_copy);
    std::fprintf(stderr, "  copy D2D 1 GiB: %.3f ms, %.1f GB/s (read + write)\n", t.first,
                 copy_gbps);
    CUDA_CHECK(cudaFree(a));
    CUDA_CHECK(cudaFree(b));
  }

  /* ---- inputs ---- */
  /* The latency table uses up to G = 4096, n = 64 from the same buffers. */
  int64_t n_max_elems = 0, g_max = 0;
  for (const auto& gn : o.latency) {
    n_max_elems = std::max(n_max_elems, gn.first * gn.second);
    g_max = std::max(g_max, gn.first);
  }
  for (const int64_t n : o.ns) {
    n_max_elems = std::max(n_max_elems, ((o.min_n + n - 1) / n) * n);
    g_max = std::max(g_max, (o.min_n + n - 1) / n);
  }
  std::vector<float> h_in(static_cast<size_t>(n_max_elems));
  bench_fill_uniform(h_in.data(), n_max_elems, 0x5eed5eedull);
  float *d_in = nullptr, *d_out = nullptr, *d_rho = nullptr;
  CUDA_CHECK(cudaMalloc(&d_in, size_t(n_max_elems) * sizeof(float)));
  CUDA_CHECK(cudaMalloc(&d_out, size_t(n_max_elems) * sizeof(float)));
  CUDA_CHECK(cudaMalloc(&d_rho, size_t(g_max) * sizeof(float)));
  CUDA_CHECK(cudaMemcpy(d_in, h_in.data(), size_t(n_max_elems) * sizeof(float),
                        cudaMemcpyHostToDevice));
  /* From pageable memory the copy may still be under way when cudaMemcpy returns, and `stream`
   * (non-blocking) is not ordered after the legacy stream. */
  CUDA_CHECK(cudaDeviceSynchronize());

  int failures = 0;
  std::fprintf(f_sweep,
               "device,impl,estimator,dtype,n,k,G,N,runs,median_ms,min_ms,GBps,copy_GBps,ratio,"
               "workspace_bytes,valid,max_err\n");
  auto row = [&](const char* impl, pkpo_estimator est, int64_t n, int64_t k, int64_t G, int64_t N,
                 const std::pair<double, double>* t, size_t ws, const Check& c) {
    if (t) {
      const double gbps = bytes_moved(est, N, G) / (t->first * 1e-3) * 1e-9;
      std::fprintf(f_sweep, "%s,%s,%s,float32,%lld,%lld,%lld,%lld,%d,%.6f,%.6f,%.3f,%.3f,%.4f,%zu,ok,%.3g\n",
                   dev_name.c_str(), impl, bench_estimator_name(est), (long long)n, (long long)k,
                   (long long)G, (long long)N, o.runs, t->first, t->second, gbps, copy_gbps,
                   gbps / copy_gbps, ws, c.max_err);
      std::fprintf(stderr, "  %-4s %-15s n=%-8lld G=%-9lld %9.4f ms %8.1f GB/s (%.0f%% of copy)\n",
                   impl, bench_estimator_name(est), (long long)n, (long long)G, t->first, gbps,
                   100.0 * gbps / copy_gbps);
    } else {
      std::fprintf(f_sweep, "%s,%s,%s,float32,%lld,%lld,%lld,%lld,0,,,,%.3f,,%zu,FAIL,%.3g\n",
                   dev_name.c_str(), impl, bench_estimator_name(est), (long long)n, (long long)k,
                   (long long)G, (long long)N, copy_gbps, ws, c.max_err);
      std::fprintf(stderr, "  %-4s %-15s n=%-8lld VALIDATION FAILED: %s -- not timed\n", impl,
                   bench_estimator_name(est), (long long)n, c.msg.c_str());
    }
    std::fflush(f_sweep);
  };

  /* ---- 2. pkpo sweep ---- */
  for (const int64_t n : o.ns) {
    const int64_t G = (o.min_n + n - 1) / n, N = G * n;
    const int64_t k_eff = std::min(o.k, n);
    for (const pkpo_estimator est : o.estimators) {
      pkpo_desc d = PKPO_DESC_INIT;
      d.estimator = est;
      d.dtype = PKPO_FLOAT32;
      d.num_groups = G;
      d.group_size = n;
      d.num_samples = N;
      d.k = o.k;
      size_t ws = 0;
      float* out = est == PKPO_RHO ? nullptr : d_out;
      /* Validation run writes rho too; timed runs write only what the estimator needs. */
      CUDA_CHECK(cudaMemsetAsync(d_out, 0xff, size_t(N) * sizeof(float), stream));
      pkpo_status st = pkpo_workspace_size(gpu, &d, &ws);
      if (st == PKPO_SUCCESS) st = pkpo_reserve(gpu, &d);
      if (st == PKPO_SUCCESS) st = pkpo_transform(gpu, &d, d_in, out, d_rho, nullptr, stream);
      if (st == PKPO_SUCCESS && cudaStreamSynchronize(stream) != cudaSuccess) st = PKPO_ERROR_CUDA;
      Check c;
      if (st != PKPO_SUCCESS) {
        c.ok = false;
        c.msg = std::string("pkpo call failed: ") + pkpo_status_string(st) + " (" +
                pkpo_last_error(gpu) + ")";
      } else {
        c = validate(cpu, est, n, o.k, G, h_in.data(), out, d_rho, 2 * BENCH_TOL_F32,
                     BENCH_TOL_F32);
      }
      if (!c.ok) {
        ++failures;
        row("pkpo", est, n, k_eff, G, N, nullptr, ws, c);
        continue;
      }
      float* rho_out = est == PKPO_RHO ? d_rho : nullptr;
      const auto t = time_events(stream, o.runs, [&] {
        PKPO_CHECK(gpu, pkpo_transform(gpu, &d, d_in, out, rho_out, nullptr, stream));
      });
      row("pkpo", est, n, k_eff, G, N, &t, ws, c);
    }
  }

  /* ---- 3. CUB peer (sloo_minus_one) ---- */
  for (const int64_t n : o.cub ? o.ns : std::vector<int64_t>()) {
    const int64_t G = (o.min_n + n - 1) / n, N = G * n;
    if (N > INT32_MAX) {
      std::fprintf(stderr, "  cub  n=%lld skipped: N exceeds the int32 indices of the peer\n",
                   (long long)n);
      continue;
    }
    CubPeer peer;
    peer.setup(G, int(n), std::min(o.k, n), prop.multiProcessorCount);
    CUDA_CHECK(cudaMemsetAsync(d_out, 0xff, size_t(N) * sizeof(float), stream));
    peer.run(d_in, d_out, stream);
    CUDA_CHECK(cudaStreamSynchronize(stream));
    const Check c = validate(cpu, PKPO_SLOO_MINUS_ONE, n, o.k, G, h_in.data(), d_out, nullptr,
                             kPeerTol, kPeerTol);
    if (!c.ok) {
      ++failures;
      row("cub", PKPO_SLOO_MINUS_ONE, n, std::min(o.k, n), G, N, nullptr, peer.temp_bytes, c);
    } else {
      const auto t = time_events(stream, o.runs, [&] { peer.run(d_in, d_out, stream); });
      row("cub", PKPO_SLOO_MINUS_ONE, n, std::min(o.k, n), G, N, &t, peer.temp_bytes, c);
    }
    peer.release();
  }

  /* ---- 4. latency at RL scale ---- */
  std::fprintf(f_lat,
               "device,estimator,dtype,n,k,G,N,mode,reps,median_us,min_us,valid\n");
  const int reps = o.quick ? 200 : 1000;
  for (const auto& gn : o.latency) {
    const int64_t G = gn.first, n = gn.second;
    const int64_t N = G * n, k_eff = std::min(o.k, n);
    pkpo_desc d = PKPO_DESC_INIT;
    d.estimator = PKPO_SLOO_MINUS_ONE;
    d.dtype = PKPO_FLOAT32;
    d.num_groups = G;
    d.group_size = n;
    d.num_samples = N;
    d.k = o.k;
    pkpo_status st = pkpo_reserve(gpu, &d);
    if (st == PKPO_SUCCESS) st = pkpo_transform(gpu, &d, d_in, d_out, d_rho, nullptr, stream);
    if (st == PKPO_SUCCESS && cudaStreamSynchronize(stream) != cudaSuccess) st = PKPO_ERROR_CUDA;
    Check c;
    if (st != PKPO_SUCCESS) {
      c.ok = false;
      c.msg = std::string("pkpo call failed: ") + pkpo_status_string(st) + " (" +
              pkpo_last_error(gpu) + ")";
    } else {
      c = validate(cpu, d.estimator, n, o.k, G, h_in.data(), d_out, d_rho, 2 * BENCH_TOL_F32,
                   BENCH_TOL_F32);
    }
    auto lat_row = [&](const char* mode, double med_us, double min_us, const char* valid) {
      std::fprintf(f_lat, "%s,sloo_minus_one,float32,%lld,%lld,%lld,%lld,%s,%d,%.3f,%.3f,%s\n",
                   dev_name.c_str(), (long long)n, (long long)k_eff, (long long)G, (long long)N,
                   mode, reps, med_us, min_us, valid);
      std::fflush(f_lat);
      std::fprintf(stderr, "  latency G=%-5lld n=%-3lld %-16s %8.2f us\n", (long long)G,
                   (long long)n, mode, med_us);
    };
    if (!c.ok) {
      ++failures;
      std::fprintf(stderr, "  latency G=%lld n=%lld VALIDATION FAILED: %s\n", (long long)G,
                   (long long)n, c.msg.c_str());
      lat_row("plain_sync", NAN, NAN, "FAIL");
      continue;
    }
    auto launch = [&] {
      PKPO_CHECK(gpu, pkpo_transform(gpu, &d, d_in, d_out, nullptr, nullptr, stream));
    };
    /* (a) one call + stream sync, host wall clock: what a trainer that waits sees. */
    auto sync_times = [&](auto&& fn) {
      for (int i = 0; i < kWarmup; ++i) fn();
      CUDA_CHECK(cudaStreamSynchronize(stream));
      std::vector<double> us(static_cast<size_t>(reps));
      for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        CUDA_CHECK(cudaStreamSynchronize(stream));
        us[size_t(r)] =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
      }
      const double mn = *std::min_element(us.begin(), us.end());
      return std::make_pair(bench_median(us.data(), reps), mn);
    };
    /* (b) back to back: events around `reps` calls, per call; repeated 21 times, median. */
    auto pipelined = [&](auto&& fn) {
      const int outer = 21;
      std::vector<double> us(outer);
      cudaEvent_t e0, e1;
      CUDA_CHECK(cudaEventCreate(&e0));
      CUDA_CHECK(cudaEventCreate(&e1));
      for (int i = 0; i < kWarmup; ++i) fn();
      for (int r = 0; r < outer; ++r) {
        CUDA_CHECK(cudaEventRecord(e0, stream));
        for (int i = 0; i < reps; ++i) fn();
        CUDA_CHECK(cudaEventRecord(e1, stream));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0.0f;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        us[size_t(r)] = 1e3 * double(ms) / reps;
      }
      CUDA_CHECK(cudaEventDestroy(e0));
      CUDA_CHECK(cudaEventDestroy(e1));
      const double mn = *std::min_element(us.begin(), us.end());
      return std::make_pair(bench_median(us.data(), outer), mn);
    };
    auto t = sync_times(launch);
    lat_row("plain_sync", t.first, t.second, "ok");
    t = pipelined(launch);
    lat_row("plain_pipelined", t.first, t.second, "ok");

    /* CUDA graph: capture one call, replay. The graph's output is validated like the plain one. */
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const pkpo_status cap = pkpo_transform(gpu, &d, d_in, d_out, nullptr, nullptr, stream);
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (cap != PKPO_SUCCESS || end != cudaSuccess) {
      ++failures;
      std::fprintf(stderr, "  latency G=%lld n=%lld graph capture failed: %s / %s (%s)\n",
                   (long long)G, (long long)n, pkpo_status_string(cap), cudaGetErrorString(end),
                   pkpo_last_error(gpu));
      if (graph) cudaGraphDestroy(graph);
      lat_row("graph_sync", NAN, NAN, "FAIL");
      continue;
    }
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    CUDA_CHECK(cudaMemsetAsync(d_out, 0xff, size_t(N) * sizeof(float), stream));
    CUDA_CHECK(cudaGraphLaunch(exec, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    const Check cg = validate(cpu, d.estimator, n, o.k, G, h_in.data(), d_out, nullptr,
                              2 * BENCH_TOL_F32, BENCH_TOL_F32);
    if (!cg.ok) {
      ++failures;
      std::fprintf(stderr, "  latency G=%lld n=%lld graph replay VALIDATION FAILED: %s\n",
                   (long long)G, (long long)n, cg.msg.c_str());
      lat_row("graph_sync", NAN, NAN, "FAIL");
    } else {
      auto replay = [&] { CUDA_CHECK(cudaGraphLaunch(exec, stream)); };
      t = sync_times(replay);
      lat_row("graph_sync", t.first, t.second, "ok");
      t = pipelined(replay);
      lat_row("graph_pipelined", t.first, t.second, "ok");
    }
    CUDA_CHECK(cudaGraphExecDestroy(exec));
    CUDA_CHECK(cudaGraphDestroy(graph));
  }

  std::fclose(f_copy);
  std::fclose(f_sweep);
  std::fclose(f_lat);
  CUDA_CHECK(cudaFree(d_in));
  CUDA_CHECK(cudaFree(d_out));
  CUDA_CHECK(cudaFree(d_rho));
  pkpo_destroy(gpu);
  pkpo_destroy(cpu);
  CUDA_CHECK(cudaStreamDestroy(stream));
  if (failures) std::fprintf(stderr, "bench_gpu: %d configuration(s) failed\n", failures);
  return failures ? 1 : 0;
}
