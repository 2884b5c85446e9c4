// Scalar twins of the SIMD kernels in ops.h: plain loops, no threads, the
// oracles the kernel tests compare against. Same contracts as ops.h.
#pragma once

#include <cstdint>

#include "kernels/ops.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace plexus::kernels::scalar {

float Dot(DType type, const void* row, const float* x, int64_t n);
// Like kernels::QuantizeActs, element by element.
void QuantizeActs(const float* x, int64_t rows, int64_t cols, QuantizedActs* out);
float DotQ8(DType type, const void* row, const QuantizedActs& x, int64_t x_row);
void DotRows(const TensorView& w, const float* x, float* out);
// Like kernels::MatVec/MatMul: one token with quantized activations where
// UsesQuantizedActs, several with float activations.
void MatVec(const TensorView& w, const float* x, float* y);
void MatMul(const TensorView& w, const float* x, int64_t n_tokens, float* y);
// Like kernels::MatVecBatch: MatVec per token.
void MatVecBatch(const TensorView& w, const float* x, int64_t n_tokens, float* y);
void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps);
void Rope(float* x, int n_heads, int head_dim, int64_t pos, const float* inv_freq, RopeStyle style);
void Softmax(float* x, int64_t n);
void SiluMul(float* gate, const float* up, int64_t n);
void Add(float* y, const float* x, int64_t n);
void Axpy(float a, const float* x, float* y, int64_t n);
void AxpyRows(const float* a, int64_t k, const float* x, int64_t x_stride, float* y, int64_t n);
void HalfToFloat(const uint16_t* h, float* out, int64_t n);
void RoundToHalf(float* x, int64_t n);
void FloatToBf16(const float* x, uint16_t* out, int64_t n);
void WeightRowsToBf16(const TensorView& w, int64_t r0, int64_t r1, uint16_t* out);
float Sum(const float* x, int64_t n);
void ScoreKeyTile(const float* kt, int64_t dh, const float* const* q, int64_t n_q, float* const* out);
// Like kernels::AttendKvHead, from the definition: plain loops, no tiles of
// work (the cache is still read through its transposed key tiles).
void AttendKvHead(const KvHeadAttention& a);

}  // namespace plexus::kernels::scalar
