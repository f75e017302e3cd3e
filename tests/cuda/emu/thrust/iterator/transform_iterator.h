/* Emulated device: the part of thrust::transform_iterator that src/cuda uses (indexing). */
#ifndef PKPO_EMU_THRUST_TRANSFORM_ITERATOR_H
#define PKPO_EMU_THRUST_TRANSFORM_ITERATOR_H
namespace thrust {
template <typename F, typename It>
class transform_iterator {
  It it_;
  F f_;

 public:
  transform_iterator(It it, F f) : it_(it), f_(f) {}
  auto operator[](long long i) const -> decltype(f_(it_[0])) { return f_(it_[i]); }
  auto operator*() const -> decltype(f_(it_[0])) { return f_(it_[0]); }
};
}  // namespace thrust
#endif
