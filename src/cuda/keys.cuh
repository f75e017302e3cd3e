/*
 * keys.cuh -- rewards as unsigned keys whose order is the order of the values (KeyTraits): the sort
 * key of every kernel path, and its inverse. __host__ __device__ and free of CUDA intrinsics.
 */
#ifndef PKPO_CUDA_KEYS_CUH
#define PKPO_CUDA_KEYS_CUH

#include <stdint.h>
#include <string.h>

#include "params.h"

namespace pkpo_cuda {

/* Rewards are sorted as unsigned integers whose order is the order of the values: positive values
 * get the sign bit set, negative ones are bit-inverted. -0.0 is first made +0.0 so that the two
 * zeros are one key (they are tied values and must get identical outputs). Non-finite values and
 * padding get the all-ones key, which no finite value maps to, so they sort after every finite
 * value of the group. */
template <typename Key, typename V>
struct KeyTraitsOf {
  typedef V Value;
  static constexpr int kBits = (int)sizeof(Key) * 8;
  static constexpr Key kTop = Key(1) << (kBits - 1);
  static constexpr Key kNone = ~Key(0);
  static PKPO_HD Key bits(V x) {
    Key b;
    memcpy(&b, &x, sizeof b);
    return b;
  }
  static PKPO_HD V from_bits(Key b) {
    V x;
    memcpy(&x, &b, sizeof x);
    return x;
  }
  static constexpr Key kExp = sizeof(Key) == 4 ? Key(0x7F800000u) : Key(0x7FF0000000000000ull);
  static PKPO_HD bool finite(Key b) { return (b & kExp) != kExp; } /* exponent all ones: Inf/NaN */
  /* -0.0 becomes +0.0, then a negative value's bits are inverted and a positive value gets its
   * sign bit set (three integer operations) */
  static PKPO_HD Key to_key(V x) {
    Key b = bits(x);
    if ((Key)(b << 1) == 0) b = 0;
    const Key neg = (Key)(0 - (b >> (kBits - 1))); /* all ones for a negative value */
    return b ^ (Key)(neg | kTop);
  }
  /* the inverse of to_key, in the rewards' own type */
  static PKPO_HD V to_value(Key key) {
    return from_bits((key & kTop) ? (Key)(key & ~kTop) : (Key)~key);
  }
  static PKPO_HD double to_double(Key key) { return (double)to_value(key); }
};

template <typename Key>
struct KeyTraits;
template <>
struct KeyTraits<uint32_t> : KeyTraitsOf<uint32_t, float> {};
template <>
struct KeyTraits<uint64_t> : KeyTraitsOf<uint64_t, double> {};

}  // namespace pkpo_cuda

#endif /* PKPO_CUDA_KEYS_CUH */
