// A non-owning view of a 2-D weight matrix: `rows` rows of `cols` elements,
// each row RowBytes(type, cols) bytes, rows back to back.
// GGUF shapes are [ne0 = cols, ne1 = rows]; a 1-D tensor has rows == 1.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace plexus {

struct TensorView {
  DType type = DType::kF32;
  int64_t cols = 0;
  int64_t rows = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
  bool empty() const { return data == nullptr; }
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

}  // namespace plexus
