// test_util.cpp -- see test_util.hpp.
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

namespace pt {

pkpo_desc Batch::desc() const {
  pkpo_desc d = PKPO_DESC_INIT;
  d.estimator = est;
  d.dtype = dtype;
  d.num_groups = num_groups;
  d.group_size = offsets.empty() ? group_size : 0;
  d.num_samples = num_samples();
  d.offsets = offsets.empty() ? nullptr : offsets.data();
  d.index = index.empty() ? nullptr : index.data();
  d.max_group_size = max_group_size;
  d.k = k;
  d.k_per_group = k_per_group.empty() ? nullptr : k_per_group.data();
  d.nonfinite = nonfinite;
  d.k_policy = k_policy;
  d.statistic = statistic;
  d.num_k_terms = (int64_t)k_terms.size();
  d.k_terms = k_terms.empty() ? nullptr : k_terms.data();
  d.k_weights = k_weights.empty() ? nullptr : k_weights.data();
  return d;
}

std::vector<std::pair<int64_t, double>> terms_of(const Batch& b, int64_t g) {
  std::vector<std::pair<int64_t, double>> t;
  if (b.k_terms.empty()) {
    t.emplace_back(b.k_of(g), 1.0);
  } else {
    for (size_t j = 0; j < b.k_terms.size(); ++j) t.emplace_back(b.k_terms[j], b.k_weights[j]);
  }
  return t;
}

double sentinel_f64() {
  const uint64_t bits = 0x7ff4dead5eed1234ull;  // signalling-NaN payload: never a computed value
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
float sentinel_f32() {
  const uint32_t bits = 0x7fa5eed1u;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
bool is_sentinel(pkpo_dtype dt, const void* p) {
  if (dt == PKPO_FLOAT64) {
    uint64_t a;
    std::memcpy(&a, p, 8);
    return a == 0x7ff4dead5eed1234ull;
  }
  uint32_t a;
  std::memcpy(&a, p, 4);
  return a == 0x7fa5eed1u;
}

namespace {
constexpr int64_t kGuard = 16;
constexpr uint32_t kFlagSentinel = 0xfeedbeefu;

// A typed array with kGuard sentinel elements after the payload.
struct TypedBuf {
  pkpo_dtype dt;
  int64_t n;
  std::vector<unsigned char> bytes;
  TypedBuf(pkpo_dtype d, int64_t count) : dt(d), n(count) {
    const size_t es = d == PKPO_FLOAT64 ? 8 : 4;
    bytes.resize((size_t)(count + kGuard) * es + 8);
    for (int64_t i = 0; i < count + kGuard; ++i) set_sentinel(i);
  }
  size_t es() const { return dt == PKPO_FLOAT64 ? 8 : 4; }
  // 8-byte alignment is what a double array needs; vector<unsigned char> gives >= 16 on glibc.
  void* data() { return bytes.data(); }
  void* at(int64_t i) { return bytes.data() + (size_t)i * es(); }
  void set_sentinel(int64_t i) {
    if (dt == PKPO_FLOAT64) {
      double s = sentinel_f64();
      std::memcpy(at(i), &s, 8);
    } else {
      float s = sentinel_f32();
      std::memcpy(at(i), &s, 4);
    }
  }
  void set(int64_t i, double v) {
    if (dt == PKPO_FLOAT64) {
      std::memcpy(at(i), &v, 8);
    } else {
      float f = (float)v;
      std::memcpy(at(i), &f, 4);
    }
  }
  double get(int64_t i) {
    if (dt == PKPO_FLOAT64) {
      double v;
      std::memcpy(&v, at(i), 8);
      return v;
    }
    float f;
    std::memcpy(&f, at(i), 4);
    return (double)f;
  }
  bool guards_ok() {
    for (int64_t i = n; i < n + kGuard; ++i)
      if (!is_sentinel(dt, at(i))) return false;
    return true;
  }
};
}  // namespace

namespace {
LibResult run_lib_once(pkpo_handle h, const Batch& b, bool want_rho, bool want_flags,
                       bool in_place) {
  LibResult r;
  const int64_t N = b.num_samples();
  const int64_t G = b.num_groups;
  TypedBuf in(b.dtype, N);
  for (int64_t i = 0; i < N; ++i) in.set(i, b.rewards[i]);
  TypedBuf out(b.dtype, N);
  if (in_place) {
    for (int64_t i = 0; i < N; ++i) out.set(i, b.rewards[i]);
  }
  TypedBuf rho(b.dtype, G);
  std::vector<uint32_t> flags((size_t)(G + kGuard), kFlagSentinel);
  const bool has_out = b.est != PKPO_RHO;
  pkpo_desc d = b.desc();
  r.status = pkpo_transform(h, &d, in_place ? out.data() : in.data(),
                            has_out ? out.data() : nullptr, want_rho ? rho.data() : nullptr,
                            want_flags ? flags.data() : nullptr, nullptr);
  r.last_error = pkpo_last_error(h);
  if (has_out) {
    r.out.resize(N);
    for (int64_t i = 0; i < N; ++i) r.out[i] = out.get(i);
  }
  if (want_rho) {
    r.rho.resize(G);
    for (int64_t g = 0; g < G; ++g) r.rho[g] = rho.get(g);
  }
  if (want_flags) r.flags.assign(flags.begin(), flags.begin() + G);
  r.guards_intact = out.guards_ok() && rho.guards_ok();
  for (int64_t i = 0; i < N && !in_place; ++i)
    if (!is_sentinel(b.dtype, out.at(i))) r.untouched = false;
  if (in_place) {
    for (int64_t i = 0; i < N; ++i) {
      const double v = out.get(i);
      if (!(std::memcmp(&v, &b.rewards[i], 8) == 0 || (std::isnan(v) && std::isnan(b.rewards[i]))))
        r.untouched = false;
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    if (!is_sentinel(b.dtype, rho.at(g))) r.untouched = false;
    if (flags[g] != kFlagSentinel) r.untouched = false;
  }
  for (int64_t g = G; g < G + kGuard; ++g)
    if (flags[g] != kFlagSentinel) r.guards_intact = false;
  // The input must be untouched (out of place).
  if (!in_place) {
    for (int64_t i = 0; i < N; ++i) {
      const double v = in.get(i);
      if (!(std::memcmp(&v, &b.rewards[i], 8) == 0 || (std::isnan(v) && std::isnan(b.rewards[i]))))
        r.guards_intact = false;
    }
  }
  return r;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
}  // namespace

LibResult run_lib(pkpo_handle h, const Batch& b, bool want_rho, bool want_flags, bool in_place) {
  LibResult r = run_lib_once(h, b, want_rho, want_flags, in_place);
  pkpo_backend backend = PKPO_BACKEND_CUDA;
  if (pkpo_get_backend(h, &backend) != PKPO_SUCCESS || backend != PKPO_BACKEND_CPU) return r;
  // Every CPU call of the suites also runs with the block road of src/host/cpu.c turned off; both
  // roads must give the same bits (and the same status, flags and untouched outputs).
  EXPECT_EQ(pkpo__cpu_set_blocks(h, 0), PKPO_SUCCESS);
  const LibResult one = run_lib_once(h, b, want_rho, want_flags, in_place);
  EXPECT_EQ(pkpo__cpu_set_blocks(h, 2), PKPO_SUCCESS);
  EXPECT_EQ(one.status, r.status);
  EXPECT_EQ(one.flags, r.flags);
  EXPECT_EQ(one.untouched, r.untouched);
  for (size_t i = 0; i < r.out.size() && i < one.out.size(); ++i) {
    if (!same_bits(r.out[i], one.out[i])) {
      ADD_FAILURE() << "block road and one-group road differ at sample " << i << ": " << r.out[i]
                    << " vs " << one.out[i];
      break;
    }
  }
  for (size_t g = 0; g < r.rho.size() && g < one.rho.size(); ++g) {
    if (!same_bits(r.rho[g], one.rho[g])) {
      ADD_FAILURE() << "block road and one-group road differ in rho of group " << g << ": "
                    << r.rho[g] << " vs " << one.rho[g];
      break;
    }
  }
  return r;
}

Expected expected_for(const Batch& b, oracle::Method m) {
  Expected e;
  const int64_t N = b.num_samples(), G = b.num_groups;
  e.out.assign(N, 0.0L);
  e.rho.assign(G, 0.0L);
  e.flags.assign(G, 0);
  e.scale.assign(G, 0.0L);
  e.rho_scale.assign(G, 0.0L);
  e.group_of.assign(N, -1);
  for (int64_t g = 0; g < G; ++g) {
    std::vector<long double> vals;
    std::vector<int64_t> where;
    for (int64_t j = b.group_begin(g); j < b.group_end(g); ++j) {
      const int64_t s = b.sample_at(j);
      vals.push_back((long double)b.rewards[s]);
      where.push_back(s);
      e.group_of[s] = g;
    }
    const oracle::NonFinite nf =
        b.nonfinite == PKPO_NONFINITE_PROPAGATE ? oracle::PROPAGATE : oracle::EXCLUDE;
    // docs/math.md §5: the min statistic is the max statistic of -g, negated; a mixture is the
    // weighted sum of its terms, each under the rules of its own k, and its error scale the
    // weighted sum of theirs.
    const long double sign = b.statistic == PKPO_STATISTIC_MIN ? -1.0L : 1.0L;
    for (long double& v : vals) v = sign * v;
    std::vector<long double> fin;
    for (long double v : vals)
      if (std::isfinite(v)) fin.push_back(v);
    for (const auto& [k, w] : terms_of(b, g)) {
      const oracle::GroupResult gr = oracle::spec_group(vals, k, (int)b.est, m, nf);
      for (size_t i = 0; i < where.size(); ++i)
        if (!gr.out.empty()) e.out[where[i]] += sign * (long double)w * gr.out[i];
      e.rho[g] += sign * (long double)w * gr.rho;
      e.flags[g] |= gr.flags;
      e.scale[g] += std::fabs((long double)w) * oracle::spec_scale(fin, gr.n_eff, gr.k_eff, gr.est_eff);
      e.rho_scale[g] +=
          std::fabs((long double)w) * oracle::spec_scale(fin, gr.n_eff, gr.k_eff, oracle::RHO);
    }
  }
  return e;
}

namespace {
// Flags docs/math.md does not pin down: K_CLAMPED on an empty group (is k > 0 = n a clamp?), FALLBACK
// on a group with < 2 finite samples, and under PROPAGATE anything but NONFINITE.
uint32_t flag_mask(const Batch& b, uint32_t expected) {
  uint32_t mask = ~0u;
  if (expected & oracle::F_EMPTY) mask &= ~(uint32_t)(oracle::F_K_CLAMPED | oracle::F_FALLBACK);
  if (expected & oracle::F_SINGLETON) mask &= ~(uint32_t)oracle::F_FALLBACK;
  if (b.nonfinite == PKPO_NONFINITE_PROPAGATE && (expected & oracle::F_NONFINITE))
    mask = oracle::F_NONFINITE;
  return mask;
}

// err of one value; +inf for any mismatch that is not a finite approximation.
double value_err(double got, long double want, long double scale) {
  if (std::isnan((double)want)) return std::isnan(got) ? 0.0 : INFINITY;
  if (!std::isfinite(got)) return INFINITY;
  const long double diff = std::fabs((long double)got - want);
  if (scale == 0) return diff == 0 ? 0.0 : INFINITY;
  return (double)(diff / scale);
}
}  // namespace

::testing::AssertionResult matches(const Batch& b, const LibResult& lib, const Expected& e,
                                   double tol, double* max_err_out, double* max_rho_err_out) {
  if (tol < 0) tol = tol_for(b.dtype);
  if (lib.status != PKPO_SUCCESS)
    return ::testing::AssertionFailure() << "status " << lib.status << " ("
                                         << pkpo_status_string(lib.status)
                                         << "), last_error: " << lib.last_error;
  if (!lib.guards_intact)
    return ::testing::AssertionFailure() << "wrote past an output array or modified the input";
  double worst = 0, worst_rho = 0;
  int64_t worst_i = -1, worst_g = -1;
  for (size_t i = 0; i < lib.out.size(); ++i) {
    const int64_t g = e.group_of[i];
    const double err = value_err(lib.out[i], e.out[i], e.scale[g]);
    if (err > worst || (std::isinf(err) && worst_i < 0)) {
      worst = err;
      worst_i = (int64_t)i;
    }
  }
  for (size_t g = 0; g < lib.rho.size(); ++g) {
    const double err = value_err(lib.rho[g], e.rho[g], e.rho_scale[g]);
    if (err > worst_rho || (std::isinf(err) && worst_g < 0)) {
      worst_rho = err;
      worst_g = (int64_t)g;
    }
  }
  if (max_err_out) *max_err_out = worst;
  if (max_rho_err_out) *max_rho_err_out = worst_rho;
  std::ostringstream msg;
  msg.precision(17);
  bool ok = true;
  if (worst > tol) {
    ok = false;
    const int64_t g = e.group_of[worst_i];
    msg << "output err " << worst << " > tol " << tol << " at sample " << worst_i << " (group "
        << g << ", n=" << b.group_end(g) - b.group_begin(g) << ", k=" << b.k_of(g)
        << ", est=" << oracle::est_name(b.est) << ", " << dtype_name(b.dtype) << "): got "
        << lib.out[worst_i] << " want " << (double)e.out[worst_i] << " scale "
        << (double)e.scale[g] << " reward " << b.rewards[worst_i] << "\n";
  }
  if (worst_rho > tol) {
    ok = false;
    msg << "rho err " << worst_rho << " > tol " << tol << " at group " << worst_g << ": got "
        << lib.rho[worst_g] << " want " << (double)e.rho[worst_g] << "\n";
  }
  for (size_t g = 0; g < lib.flags.size(); ++g) {
    const uint32_t mask = flag_mask(b, e.flags[g]);
    if ((lib.flags[g] & mask) != (e.flags[g] & mask)) {
      ok = false;
      msg << "flags of group " << g << ": got 0x" << std::hex << lib.flags[g] << " want 0x"
          << e.flags[g] << " (compared bits 0x" << mask << ")" << std::dec << "\n";
      break;
    }
  }
  if (!ok) return ::testing::AssertionFailure() << msg.str();
  return ::testing::AssertionSuccess();
}

double round_to(pkpo_dtype dt, double v) { return dt == PKPO_FLOAT32 ? (double)(float)v : v; }
void round_rewards(Batch* b) {
  for (double& v : b->rewards) v = round_to(b->dtype, v);
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Uniform: return "uniform";
    case Kind::Ties: return "ties";
    case Kind::Negative: return "negative";
    case Kind::Binary: return "binary";
    case Kind::Constant: return "constant";
    case Kind::Extreme: return "extreme";
    case Kind::DenormalMix: return "denormal-mix";
    case Kind::Offset: return "offset";
    default: return "?";
  }
}

std::vector<double> gen_group(Kind kind, int64_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<double> g((size_t)n);
  switch (kind) {
    case Kind::Uniform:
      for (auto& v : g) v = u01(rng);
      break;
    case Kind::Ties: {
      // Few distinct values, so most samples are tied with others.
      std::uniform_int_distribution<int> d(0, 3);
      for (auto& v : g) v = 0.25 * d(rng);
      break;
    }
    case Kind::Negative:
      for (auto& v : g) v = -3.0 + 4.0 * u01(rng);
      break;
    case Kind::Binary: {
      std::bernoulli_distribution bern(0.35);
      for (auto& v : g) v = bern(rng) ? 1.0 : 0.0;
      break;
    }
    case Kind::Constant: {
      const double c = -2.5 + 5.0 * u01(rng);
      for (auto& v : g) v = c;
      break;
    }
    case Kind::Extreme: {
      const double pool[] = {1e30, -1e30, 0.0, 1.0, -1.0, 1e30, 3e29, -7e29};
      std::uniform_int_distribution<int> d(0, 7);
      for (auto& v : g) v = pool[d(rng)];
      break;
    }
    case Kind::DenormalMix: {
      // Denormals (float64) mixed with ordinary values; in float32 the denormals become 0 or
      // float32 denormals after rounding.
      const double pool[] = {4.9e-324, 1e-310, -1e-310, 2.2e-308, 0.0, -0.0, 0.5, -0.25, 1e-40};
      std::uniform_int_distribution<int> d(0, 8);
      for (auto& v : g) v = pool[d(rng)];
      // One ordinary value per group keeps docs/math.md scale O(1): a group of denormals alone has no
      // relative accuracy left after rounding its outputs (float32 denormals carry few bits).
      std::uniform_int_distribution<int64_t> at(0, n - 1);
      if (n > 0) g[(size_t)at(rng)] = 0.5;
      break;
    }
    case Kind::Offset:
      for (auto& v : g) v = 100.0 + 0.01 * u01(rng);
      break;
    default: break;
  }
  return g;
}

std::vector<int64_t> offsets_from_sizes(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> off(sizes.size() + 1, 0);
  for (size_t i = 0; i < sizes.size(); ++i) off[i + 1] = off[i] + sizes[i];
  return off;
}

std::vector<int64_t> random_permutation(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> p((size_t)n);
  std::iota(p.begin(), p.end(), 0);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

}  // namespace pt
