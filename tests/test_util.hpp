// test_util.hpp -- shared harness of the CPU suites: run a batch through the public API (with guard
// elements after every output array), compute what docs/math.md says it should give (oracle.hpp), and
// compare with the docs/math.md §4 error measure.
#ifndef PKPO_TESTS_TEST_UTIL_HPP
#define PKPO_TESTS_TEST_UTIL_HPP

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "oracle.hpp"
#include "pkpo.h"

// Test hook of the CPU backend (src/host/internal.h, not public): which road small float32 groups
// take: 0 one by one, 1 blocks with the baseline instruction set (SSE2), 2 blocks with AVX where
// the CPU has it (the default).
extern "C" pkpo_status pkpo__cpu_set_blocks(pkpo_handle h, int mode);

namespace pt {

// docs/math.md §4 targets.
constexpr double kTolF64 = 1e-12;
constexpr double kTolF32 = 4e-6;
inline double tol_for(pkpo_dtype dt) { return dt == PKPO_FLOAT64 ? kTolF64 : kTolF32; }
inline const char* dtype_name(pkpo_dtype dt) { return dt == PKPO_FLOAT64 ? "f64" : "f32"; }

// RAII CPU handle.
class Handle {
 public:
  explicit Handle(int num_threads = 0) {
    pkpo_handle_options o = PKPO_HANDLE_OPTIONS_INIT;
    o.num_threads = num_threads;
    status_ = pkpo_create(&h_, &o);
  }
  ~Handle() { pkpo_destroy(h_); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  pkpo_handle get() const { return h_; }
  operator pkpo_handle() const { return h_; }  // NOLINT
  pkpo_status status() const { return status_; }

 private:
  pkpo_handle h_ = nullptr;
  pkpo_status status_ = PKPO_ERROR_INTERNAL;
};

// A batch described with host vectors. Rewards are doubles; for FLOAT32 they must already be
// float-representable (use round_to_dtype) so that the oracle sees exactly what the library sees.
struct Batch {
  pkpo_estimator est = PKPO_SLOO_MINUS_ONE;
  pkpo_dtype dtype = PKPO_FLOAT64;
  std::vector<double> rewards;
  int64_t num_groups = 0;
  int64_t group_size = 0;          // uniform layout when offsets is empty
  std::vector<int64_t> offsets;    // ragged layout (num_groups + 1 entries) or empty
  std::vector<int64_t> index;      // permutation or empty
  int64_t max_group_size = 0;
  int64_t k = 1;
  std::vector<int64_t> k_per_group;  // or empty
  pkpo_nonfinite_policy nonfinite = PKPO_NONFINITE_EXCLUDE;
  pkpo_k_policy k_policy = PKPO_K_CLAMP;
  pkpo_statistic statistic = PKPO_STATISTIC_MAX;
  std::vector<int64_t> k_terms;    // a mixture (then k and k_per_group are not used) or empty
  std::vector<double> k_weights;   // the mixture's weights

  int64_t num_samples() const { return (int64_t)rewards.size(); }
  int64_t group_begin(int64_t g) const { return offsets.empty() ? g * group_size : offsets[g]; }
  int64_t group_end(int64_t g) const {
    return offsets.empty() ? (g + 1) * group_size : offsets[g + 1];
  }
  int64_t sample_at(int64_t j) const { return index.empty() ? j : index[j]; }
  int64_t k_of(int64_t g) const { return k_per_group.empty() ? k : k_per_group[g]; }
  pkpo_desc desc() const;
};

// Result of a library call, converted to double.
struct LibResult {
  pkpo_status status = PKPO_ERROR_INTERNAL;
  std::vector<double> out;  // num_samples (empty for PKPO_RHO)
  std::vector<double> rho;  // num_groups
  std::vector<uint32_t> flags;
  std::string last_error;
  bool guards_intact = true;  // nothing written past any output array
  bool untouched = true;      // every out/rho/flags element still holds its sentinel
};

// A mixture's terms as (k, weight) pairs; one term of weight 1 for a batch without one (k_of(g)).
std::vector<std::pair<int64_t, double>> terms_of(const Batch& b, int64_t g);

// Runs pkpo_transform with out/rho/flags allocated with guard elements (and poisoned with a
// sentinel). in_place: out aliases a copy of the rewards. want_rho/want_flags: pass NULL if false.
// On a CPU handle it runs the call a second time with the block road off and fails the test unless
// both give bitwise-identical outputs, rho, flags and status.
LibResult run_lib(pkpo_handle h, const Batch& b, bool want_rho = true, bool want_flags = true,
                  bool in_place = false);

// Bitwise sentinel the outputs are poisoned with (a NaN payload no computation produces).
double sentinel_f64();
float sentinel_f32();
bool is_sentinel(pkpo_dtype dt, const void* p);

struct Expected {
  std::vector<long double> out;  // per sample, input positions
  std::vector<long double> rho;
  std::vector<uint32_t> flags;
  std::vector<long double> scale;      // per group, docs/math.md §4 scale for the outputs
  std::vector<long double> rho_scale;  // per group, scale for rho
  std::vector<int64_t> group_of;       // per sample position, its group
};
Expected expected_for(const Batch& b, oracle::Method m);

// Compares; returns failure with a description of the worst offender. tol defaults to docs/math.md
// target of the batch's dtype. Outputs: err <= tol; exact where the scale is 0; NaN where expected
// NaN. rho likewise (with its own scale). Flags exactly, except bits docs/math.md leaves open (see
// test_util.cpp).
::testing::AssertionResult matches(const Batch& b, const LibResult& lib, const Expected& e,
                                   double tol = -1.0, double* max_err_out = nullptr,
                                   double* max_rho_err_out = nullptr);

// Rounds to the batch dtype (float32: through float).
double round_to(pkpo_dtype dt, double v);
void round_rewards(Batch* b);

// Random reward generators; every kind is a group of n values.
enum class Kind { Uniform, Ties, Negative, Binary, Constant, Extreme, DenormalMix, Offset, Kinds };
const char* kind_name(Kind k);
std::vector<double> gen_group(Kind kind, int64_t n, std::mt19937_64& rng);

// Random ragged offsets for the given sizes, and a random permutation.
std::vector<int64_t> offsets_from_sizes(const std::vector<int64_t>& sizes);
std::vector<int64_t> random_permutation(int64_t n, std::mt19937_64& rng);

// Bit pattern comparison of two double vectors (NaN-aware, -0 vs +0 distinguished).
bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace pt

#endif  // PKPO_TESTS_TEST_UTIL_HPP
