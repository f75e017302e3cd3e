// spec_examples.hpp -- the worked examples of docs/math.md §2, transcribed as exact fractions.
// Used twice: to check the oracle exactly (test_oracle.cpp) and the library (test_examples.cpp).
#ifndef PKPO_TESTS_SPEC_EXAMPLES_HPP
#define PKPO_TESTS_SPEC_EXAMPLES_HPP

#include <array>
#include <cstdint>

namespace spec {

struct Frac {
  int64_t num, den;
  double value() const { return (double)num / (double)den; }
};

// g = (1/2, 0, 1, 1/4, 3/4), in input order.
constexpr int kN = 5;
constexpr std::array<Frac, kN> kG = {{{1, 2}, {0, 1}, {1, 1}, {1, 4}, {3, 4}}};

struct Row {
  int k;
  Frac rho;
  std::array<Frac, kN> s, sloo, smo, l2o;
  bool l2o_fallback;  // k = n: l2o is computed as sloo_minus_one and flagged
};

// The table of docs/math.md §2. Row k = 5: sloo "= s", l2o "(falls back to sloo_minus_one)".
constexpr std::array<Row, 5> kTable = {{
    {1, {1, 2},
     {{{1, 10}, {0, 1}, {1, 5}, {1, 20}, {3, 20}}},
     {{{-1, 40}, {-5, 32}, {17, 160}, {-29, 320}, {13, 320}}},
     {{{0, 1}, {-1, 8}, {1, 8}, {-1, 16}, {1, 16}}},
     {{{0, 1}, {-1, 8}, {1, 8}, {-1, 16}, {1, 16}}},
     false},
    {2, {3, 4},
     {{{11, 40}, {1, 4}, {2, 5}, {1, 4}, {13, 40}}},
     {{{-29, 240}, {-1, 6}, {13, 120}, {-1, 6}, {-7, 240}}},
     {{{3, 40}, {0, 1}, {1, 4}, {1, 40}, {3, 20}}},
     {{{-1, 24}, {-1, 12}, {1, 6}, {-1, 12}, {1, 24}}},
     false},
    {3, {7, 8},
     {{{1, 2}, {1, 2}, {3, 5}, {1, 2}, {21, 40}}},
     {{{-13, 64}, {-13, 64}, {27, 320}, {-13, 64}, {-21, 160}}},
     {{{1, 40}, {0, 1}, {1, 4}, {0, 1}, {1, 10}}},
     {{{-1, 16}, {-1, 16}, {3, 16}, {-1, 16}, {0, 1}}},
     false},
    {4, {19, 20},
     {{{3, 4}, {3, 4}, {4, 5}, {3, 4}, {3, 4}}},
     {{{-1, 4}, {-1, 4}, {1, 20}, {-1, 4}, {-1, 4}}},
     {{{0, 1}, {0, 1}, {1, 4}, {0, 1}, {1, 20}}},
     {{{-1, 20}, {-1, 20}, {1, 5}, {-1, 20}, {-1, 20}}},
     false},
    {5, {1, 1},
     {{{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}},
     {{{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}},
     {{{0, 1}, {0, 1}, {1, 4}, {0, 1}, {0, 1}}},
     {{{0, 1}, {0, 1}, {1, 4}, {0, 1}, {0, 1}}},
     true},
}};

// Binary, g = (1,0,0,1,0,0,0,1), k = 4.
constexpr int kBinN = 8, kBinK = 4;
constexpr std::array<int, kBinN> kBinG = {{1, 0, 0, 1, 0, 0, 0, 1}};
constexpr Frac kBinRho = {13, 14};
struct BinPair {
  Frac correct, wrong;
};
constexpr BinPair kBinS = {{1, 2}, {31, 70}};
constexpr BinPair kBinSloo = {{1, 98}, {-11, 98}};
constexpr BinPair kBinSmo = {{1, 7}, {0, 1}};
constexpr BinPair kBinL2o = {{1, 14}, {-3, 70}};

}  // namespace spec

#endif  // PKPO_TESTS_SPEC_EXAMPLES_HPP
