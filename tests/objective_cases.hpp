// objective_cases.hpp -- batches for the objectives beyond one k (mixtures over k, the min
// statistic), shared by the CPU suites and the device suites: every layout the library takes, with
// reward kinds that hold ties, negatives, binary, constant and extreme values.
#ifndef PKPO_TESTS_OBJECTIVE_CASES_HPP
#define PKPO_TESTS_OBJECTIVE_CASES_HPP

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace pt {

// Layouts of objective_batch.
enum class Layout { Uniform, Ragged, RaggedIndex, UniformIndex, Layouts };
inline const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Uniform: return "uniform";
    case Layout::Ragged: return "ragged";
    case Layout::RaggedIndex: return "ragged+index";
    case Layout::UniformIndex: return "uniform+index";
    default: return "?";
  }
}

struct Mixture {
  std::string name;
  std::vector<int64_t> k;
  std::vector<double> w;
};

// harmonic(K): k = 1..K, w = 1/k; uniform(K): w = 1 (docs/math.md §5).
inline Mixture harmonic(int64_t K) {
  Mixture m{"harmonic(" + std::to_string(K) + ")", {}, {}};
  for (int64_t k = 1; k <= K; ++k) {
    m.k.push_back(k);
    m.w.push_back(1.0 / (double)k);
  }
  return m;
}
inline Mixture uniform_mix(int64_t K) {
  Mixture m{"uniform(" + std::to_string(K) + ")", {}, {}};
  for (int64_t k = 1; k <= K; ++k) {
    m.k.push_back(k);
    m.w.push_back(1.0);
  }
  return m;
}

// The mixtures a suite runs for groups of up to max_n samples: the presets, one term of weight 1,
// and random terms (1-5 of them, k up to max_n + 2 so that some clamp, repeated ks, weights of
// every sign and zero).
inline std::vector<Mixture> mixtures_for(int64_t max_n, std::mt19937_64& rng) {
  std::vector<Mixture> out;
  out.push_back(harmonic(max_n));
  out.push_back(uniform_mix(max_n < 4 ? max_n : 4));
  out.push_back({"one term", {max_n > 2 ? 2 : 1}, {1.0}});
  std::uniform_int_distribution<int64_t> kd(1, max_n + 2);
  std::uniform_int_distribution<int> count(1, 5), wsel(0, 4);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  for (int rep = 0; rep < 2; ++rep) {
    Mixture m{"random " + std::to_string(rep), {}, {}};
    const int J = count(rng);
    for (int j = 0; j < J; ++j) {
      m.k.push_back(kd(rng));
      const int s = wsel(rng);
      m.w.push_back(s == 0 ? 0.0 : s == 1 ? 1.0 : u(rng));
    }
    if (m.k.size() > 1) m.k.back() = m.k.front(); /* a repeated k */
    out.push_back(m);
  }
  return out;
}

// A batch of `layout` with groups of up to max_n samples (ragged layouts: an empty and a singleton
// group among them), every reward kind, rounded to dt.
inline Batch objective_batch(Layout layout, pkpo_estimator est, pkpo_dtype dt, int64_t max_n,
                             std::mt19937_64& rng) {
  Batch b;
  b.est = est;
  b.dtype = dt;
  std::uniform_int_distribution<int> kind_d(0, (int)Kind::Kinds - 1);
  std::uniform_int_distribution<int64_t> size_d(0, max_n);
  if (layout == Layout::Uniform || layout == Layout::UniformIndex) {
    b.group_size = max_n;
    b.num_groups = (int64_t)Kind::Kinds;
    for (int kind = 0; kind < (int)Kind::Kinds; ++kind) {
      auto g = gen_group((Kind)kind, max_n, rng);
      b.rewards.insert(b.rewards.end(), g.begin(), g.end());
    }
  } else {
    std::vector<int64_t> sizes;
    const int G = 9;
    for (int g = 0; g < G; ++g) {
      const int64_t n = g == 0 ? 0 : g == 1 ? 1 : g == 2 ? max_n : size_d(rng);
      sizes.push_back(n);
      auto vals = gen_group((Kind)kind_d(rng), n, rng);
      b.rewards.insert(b.rewards.end(), vals.begin(), vals.end());
    }
    b.num_groups = G;
    b.offsets = offsets_from_sizes(sizes);
    b.max_group_size = max_n;
  }
  if (layout == Layout::RaggedIndex || layout == Layout::UniformIndex) {
    b.index = random_permutation(b.num_samples(), rng);
  }
  round_rewards(&b);
  return b;
}

inline void set_mixture(Batch* b, const Mixture& m) {
  b->k_terms = m.k;
  b->k_weights = m.w;
}

}  // namespace pt

#endif  // PKPO_TESTS_OBJECTIVE_CASES_HPP
