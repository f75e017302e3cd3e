/* Emulated device: the part of thrust::counting_iterator that src/cuda uses (indexing). */
#ifndef PKPO_EMU_THRUST_COUNTING_ITERATOR_H
#define PKPO_EMU_THRUST_COUNTING_ITERATOR_H
namespace thrust {
template <typename T>
class counting_iterator {
 public:
  typedef T value_type;
  explicit counting_iterator(T v = T()) : v_(v) {}
  T operator[](long long i) const { return (T)(v_ + i); }
  T operator*() const { return v_; }

 private:
  T v_;
};
}  // namespace thrust
#endif
