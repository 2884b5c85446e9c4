// Prefill matrix products through OpenBLAS's sgemm (Debian's libopenblas-dev),
// where plexus was built with it.
//
// Measured on AVX2 Zen 1, 1 thread, 2048x2048 weights: at 512 tokens
// OpenBLAS gives 13-19 G multiply-adds/s (panels of 512+ rows), plexus's own
// tiled float MatMul ~12.5; at 128 tokens OpenBLAS is slower (7.5-9). So only
// batches of kBlasMinTokens or more take this path (docs/PERFORMANCE.md),
// and only matrices of 512+ rows. Every weight type goes through it: a panel
// of rows is decoded to float once (plexus's SIMD decoders) and multiplied
// with all tokens; F32 rows are used in place.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "tensor/tensor_view.h"

namespace plexus::kernels {

constexpr int64_t kBlasMinTokens = 256;
// f32/f16/bf16 rows from fewer tokens: short of sgemm they take MatVecBatch's
// plain rows (~55 t/s for 1B f16 at 16-200 tokens on the AVX-512 kind, 2
// threads), which sgemm beats from ~48: pp32 54 vs 51, pp64 57 vs 80, pp128
// 57 vs 101, pp200 55 vs 112.
constexpr int64_t kBlasMinTokensFloat = 48;

// kBlasMinTokensFloat for f32/f16/bf16 rows, kBlasMinTokens for the rest.
int64_t BlasMinTokens(DType type);

// Whether MatMul may use sgemm: built with OpenBLAS and not switched off
// with PLEXUS_BLAS=0 in the environment (read once).
bool BlasAvailable();
// Switches sgemm off (or back on, where available) for the whole process:
// for runs that must not depend on how a batch is cut (overlap.h's tests).
void SetBlasMatMulEnabled(bool enabled);

// Y = X W^T as MatMul (x: [n_tokens, w.cols], y: [n_tokens, w.rows]) when
// BlasAvailable(), n_tokens >= BlasMinTokens(w.type) and w has enough rows for a
// panel per thread; returns false (y untouched) otherwise. Panels of rows are spread over the pool's threads,
// each calling a single-threaded sgemm.
bool MatMulBlas(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

}  // namespace plexus::kernels
