// Scalar (reference) conversion between float rows and every weight type.
// These are the oracles the SIMD kernels are tested against.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace plexus {

// dst[0..n) = the values encoded in `src` (a row of n elements of `type`).
// n must be a multiple of BlockSize(type).
void DequantizeRow(DType type, const void* src, float* dst, int64_t n);

// Encodes n floats into RowBytes(type, n) bytes at dst. The K-type encoders
// pick scales by a simple min/max search; they need not match llama.cpp's
// bit for bit, only its format.
void QuantizeRow(DType type, const float* src, void* dst, int64_t n);

// Scalar reference dot product: sum_i dequant(row)[i] * x[i].
float DotRowScalar(DType type, const void* row, const float* x, int64_t n);

}  // namespace plexus
