/*
 * cub_standin.h -- stand-ins with CUB's API for the CUB primitives src/cuda uses, on the emulated
 * device (cuda_runtime.h). Included through the same header paths as CUB itself
 * (cub/device/...), which exist only on the emulator's include
 * path; production builds use real CUB.
 *
 * What CUB leaves undefined is poisoned here, so that relying on it fails a test:
 * - DoubleBuffer sorts: the result is in the buffer real CUB leaves it in (its single-tile sort,
 *   up to kSingleTileItems keys, writes the alternate buffer; its onesweep sort takes one pass per
 *   8-bit digit and flips the selector per pass, so 32- and 64-bit keys end in the current one),
 *   or in the one a test forces (set_sort_result, PKPO_EMU_SORT_RESULT=current|alternate); the
 *   other buffer's range is poisoned ("both buffers may be altered").
 * - Temporary storage is checked for size (cudaErrorInvalidValue if too small, as CUB) and
 *   poisoned after every use.
 * - The device-wide sorts refuse keys still holding the poison of fresh device memory (never
 *   written), as compute-sanitizer initcheck would report them.
 */
#ifndef PKPO_EMU_CUB_STANDIN_H
#define PKPO_EMU_CUB_STANDIN_H

#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <iterator>
#include <type_traits>
#include <vector>

#include "cuda_runtime.h"

namespace pkpo_emu {
/* Device-wide stand-ins: a key whose every byte is the poison of fresh device memory was never
 * written (compute-sanitizer initcheck's finding on a GPU): the operation fails (sticky
 * cudaErrorLaunchFailure) with a diagnostic. */
void report_uninitialized(const char* what, int64_t position);
template <typename K>
inline bool never_written(const K& k) {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(&k);
  for (size_t i = 0; i < sizeof(K); ++i) {
    if (b[i] != kPoisonByte) return false;
  }
  return true;
}
/* Which buffer a DoubleBuffer sort leaves its result in: where real CUB does (kPassParity, the
 * default), or always the current / the alternate one, so that a caller's handling of both is
 * tested. The environment variable PKPO_EMU_SORT_RESULT=parity|current|alternate sets the default. */
enum class SortResult { kPassParity, kCurrent, kAlternate };
void set_sort_result(SortResult r);
SortResult sort_result();
/* CUB's single-tile radix sort (one block of 256 threads x 19 keys in every tuning policy of CUB
 * 13.0) serves up to this many keys; above it, the onesweep sort of 8-bit digits. */
constexpr int64_t kSingleTileItems = 256 * 19;
constexpr int kOnesweepRadixBits = 8;
inline bool sort_result_flips(int64_t n, int begin_bit, int end_bit) {
  switch (sort_result()) {
    case SortResult::kCurrent: return false;
    case SortResult::kAlternate: return true;
    default: break;
  }
  if (n == 0 || begin_bit == end_bit) return false; /* nothing sorted, nothing moved */
  if (n <= kSingleTileItems) return true;
  return ((end_bit - begin_bit + kOnesweepRadixBits - 1) / kOnesweepRadixBits) % 2 == 1;
}
/* Makes the next CUB size query fail with `e` (fault injection for tests of error mapping). */
void inject_cub_error(cudaError_t e);
cudaError_t take_injected_cub_error();

/* Radix-sort order of a key restricted to bits [begin, end): signed integers with the sign bit
 * flipped, as CUB does. */
template <typename K>
inline uint64_t radix_digits(K k, int begin, int end) {
  static_assert(std::is_integral<K>::value, "stand-in sorts integer keys only");
  typedef typename std::make_unsigned<K>::type U;
  U u;
  memcpy(&u, &k, sizeof u);
  if (std::is_signed<K>::value) u ^= (U)((U)1 << (sizeof(U) * 8 - 1));
  uint64_t x = (uint64_t)u >> begin;
  const int w = end - begin;
  if (w < 64) x &= ((uint64_t)1 << w) - 1;
  return x;
}
template <typename T>
inline void poison(T* p, size_t n) {
  if (p && n) memset((void*)p, kPoisonByte, n * sizeof(T));
}
}  // namespace pkpo_emu

namespace cub {

struct NullType {};

template <typename T>
struct DoubleBuffer {
  T* d_buffers[2];
  int selector;
  DoubleBuffer() : selector(0) { d_buffers[0] = d_buffers[1] = nullptr; }
  DoubleBuffer(T* current, T* alternate) : selector(0) {
    d_buffers[0] = current;
    d_buffers[1] = alternate;
  }
  T* Current() { return d_buffers[selector]; }
  T* Alternate() { return d_buffers[selector ^ 1]; }
};

namespace emu_detail {
constexpr size_t kBaseTemp = 4096;
/* CUB's two-phase temporary storage: with d_temp == NULL the call only reports `need` in `bytes`
 * (or an error injected by a test); otherwise `bytes` must hold `need`. Returns true when the
 * caller must return *result now (a size query, or too little storage). */
inline bool temp_phase(void* d_temp, size_t& bytes, size_t need, cudaError_t* result) {
  if (d_temp == nullptr) {
    pkpo_emu::count_size_query();
    *result = pkpo_emu::take_injected_cub_error();
    bytes = need;
    return true;
  }
  *result = bytes < need ? cudaErrorInvalidValue : cudaSuccess;
  return *result != cudaSuccess;
}
}  // namespace emu_detail

struct DeviceRadixSort {
  template <typename KeyT, typename NumItemsT>
  static cudaError_t SortKeys(void* d_temp, size_t& bytes, DoubleBuffer<KeyT>& keys, NumItemsT num_items,
                              int begin_bit = 0, int end_bit = (int)sizeof(KeyT) * 8, cudaStream_t stream = 0) {
    if (num_items < 0 || begin_bit < 0 || end_bit > (int)sizeof(KeyT) * 8 || begin_bit > end_bit) {
      return cudaErrorInvalidValue;
    }
    const size_t need = emu_detail::kBaseTemp;
    cudaError_t e;
    if (emu_detail::temp_phase(d_temp, bytes, need, &e)) return e;
    const int64_t n = (int64_t)num_items;
    KeyT* in = keys.Current();
    KeyT* other = keys.Alternate();
    /* As CUB, the selector is known on the host when the call returns. */
    const bool flips = pkpo_emu::sort_result_flips(n, begin_bit, end_bit);
    if (flips) keys.selector ^= 1;
    KeyT* out = flips ? other : in;
    KeyT* spare = flips ? in : other;
    return pkpo_emu::submit(
        stream,
        [=]() {
          for (int64_t i = 0; i < n; ++i) {
            if (pkpo_emu::never_written(in[i])) return pkpo_emu::report_uninitialized("cub::DeviceRadixSort::SortKeys", i);
          }
          std::vector<KeyT> v(in, in + n);
          std::stable_sort(v.begin(), v.end(), [=](const KeyT& a, const KeyT& b) {
            return pkpo_emu::radix_digits(a, begin_bit, end_bit) < pkpo_emu::radix_digits(b, begin_bit, end_bit);
          });
          std::copy(v.begin(), v.end(), out);
          pkpo_emu::poison(spare, (size_t)n);
          pkpo_emu::poison(static_cast<char*>(d_temp), need);
        },
        "cub::DeviceRadixSort::SortKeys");
  }

  template <typename KeyT, typename ValueT, typename NumItemsT>
  static cudaError_t SortPairs(void* d_temp, size_t& bytes, const KeyT* keys_in, KeyT* keys_out,
                               const ValueT* values_in, ValueT* values_out, NumItemsT num_items, int begin_bit = 0,
                               int end_bit = (int)sizeof(KeyT) * 8, cudaStream_t stream = 0) {
    if (num_items < 0 || begin_bit < 0 || end_bit > (int)sizeof(KeyT) * 8 || begin_bit > end_bit) {
      return cudaErrorInvalidValue;
    }
    const int64_t n = (int64_t)num_items;
    /* The pairs are staged in the temporary storage, as CUB's internal double buffers are. */
    const size_t need = emu_detail::kBaseTemp + (size_t)n * (sizeof(KeyT) + sizeof(ValueT));
    cudaError_t e;
    if (emu_detail::temp_phase(d_temp, bytes, need, &e)) return e;
    return pkpo_emu::submit(
        stream,
        [=]() {
          KeyT* tk = reinterpret_cast<KeyT*>(static_cast<char*>(d_temp) + emu_detail::kBaseTemp);
          ValueT* tv = reinterpret_cast<ValueT*>(tk + n);
          std::vector<int64_t> order((size_t)n);
          for (int64_t i = 0; i < n; ++i) order[(size_t)i] = i;
          std::copy(keys_in, keys_in + n, tk);
          std::copy(values_in, values_in + n, tv);
          std::stable_sort(order.begin(), order.end(), [=](int64_t a, int64_t b) {
            return pkpo_emu::radix_digits(tk[a], begin_bit, end_bit) < pkpo_emu::radix_digits(tk[b], begin_bit, end_bit);
          });
          for (int64_t i = 0; i < n; ++i) {
            keys_out[i] = tk[order[(size_t)i]];
            values_out[i] = tv[order[(size_t)i]];
          }
          pkpo_emu::poison(static_cast<char*>(d_temp), need);
        },
        "cub::DeviceRadixSort::SortPairs");
  }
};


struct DeviceScan {
  template <typename InputIt, typename OutputIt, typename NumItemsT>
  static cudaError_t ExclusiveSum(void* d_temp, size_t& bytes, InputIt in, OutputIt out, NumItemsT num_items,
                                  cudaStream_t stream = 0) {
    return scan(d_temp, bytes, in, out, (int64_t)num_items, stream, false);
  }
  template <typename InputIt, typename OutputIt, typename NumItemsT>
  static cudaError_t InclusiveSum(void* d_temp, size_t& bytes, InputIt in, OutputIt out, NumItemsT num_items,
                                  cudaStream_t stream = 0) {
    return scan(d_temp, bytes, in, out, (int64_t)num_items, stream, true);
  }

 private:
  template <typename InputIt, typename OutputIt>
  static cudaError_t scan(void* d_temp, size_t& bytes, InputIt in, OutputIt out, int64_t n, cudaStream_t stream,
                          bool inclusive) {
    if (n < 0) return cudaErrorInvalidValue;
    typedef typename std::iterator_traits<InputIt>::value_type T;
    const size_t need = emu_detail::kBaseTemp + (size_t)n * sizeof(T);
    cudaError_t e;
    if (emu_detail::temp_phase(d_temp, bytes, need, &e)) return e;
    return pkpo_emu::submit(
        stream,
        [=]() {
          T* t = reinterpret_cast<T*>(static_cast<char*>(d_temp) + emu_detail::kBaseTemp);
          T run = T();
          for (int64_t i = 0; i < n; ++i) {
            const T x = in[i];
            t[i] = inclusive ? run + x : run;
            run = run + x;
          }
          for (int64_t i = 0; i < n; ++i) out[i] = t[i];
          pkpo_emu::poison(static_cast<char*>(d_temp), need);
        },
        inclusive ? "cub::DeviceScan::InclusiveSum" : "cub::DeviceScan::ExclusiveSum");
  }
};

}  // namespace cub

#endif /* PKPO_EMU_CUB_STANDIN_H */
