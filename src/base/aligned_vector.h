// std::vector storage that starts on a 64-byte cache line.
//
// Kernels load activation arrays 64 bytes at a time at offsets that are
// multiples of 64 from their start (one 512-bit vector per block pair or
// sub-block); from std::vector's 16-byte-aligned storage every such load
// straddled two cache lines. A 4-token Q4_0 tile ran ~16% faster on aligned
// activations (one core, in L1; docs/PERFORMANCE.md).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace plexus {

template <class T, size_t kAlign = 64>
struct AlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, kAlign>;
  };

  AlignedAllocator() = default;
  template <class U>
  explicit AlignedAllocator(const AlignedAllocator<U, kAlign>& /*other*/) {}

  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{kAlign})); }
  void deallocate(T* p, size_t /*n*/) { ::operator delete(p, std::align_val_t{kAlign}); }

  template <class U>
  bool operator==(const AlignedAllocator<U, kAlign>& /*other*/) const {
    return true;
  }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace plexus
