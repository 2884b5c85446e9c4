// Prefill matrix products in bfloat16 through oneDNN's matmul (Debian's
// libdnnl-dev), where plexus was built with it and the CPU multiplies bf16
// natively (AMX or AVX-512 BF16).
//
// Measured on the AVX-512 machine kind (AMX-BF16; docs/PERFORMANCE.md): one
// thread multiplies 512 tokens by a panel of 512 rows of 2048 at 500-660
// G FLOP/s in bf16, against ~150 for OpenBLAS's f32 sgemm. Only quantized
// and bf16 weights take this path: their rows lose nothing to bf16 that
// their quantization has not already cost (a Q4_0 step is 1/16 of the
// block's range, bf16's 1/256 of the value), and the activations' bf16
// rounding is finer than the int8 blocks decode multiplies them with. f32
// and f16 weights keep sgemm's f32.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "tensor/tensor_view.h"

namespace plexus::kernels {

// From kBf16MinTokens tokens on, MatMul multiplies in bf16. Shorter prompts
// keep the f32 MatMul: bf16 would run pp8 1.5x as fast (1B Q4_0, 2
// threads), but the numpy reference tests' short prompts would move from
// ~3e-7 to ~5e-3 relative error (half the bound they allow quantized types),
// and a short prompt's prefill is a small part of its answer's time.
constexpr int64_t kBf16MinTokens = 16;
// Below kBf16ManyTokens tokens, matrices of kBf16FewMinRows rows or more
// swap the roles: panels of decoded rows are the source of oneDNN's
// product and the tokens its weights (matmul_bf16.cc). Measured, 1B Q4_0, 2
// threads: pp16 111 vs 85 t/s, pp32 160 vs 141, pp48 154 vs 183; the
// 8-layer MoE's pp512 (768-row experts, ~32 tokens each) ran 8-12% slower
// with its experts swapped.
constexpr int64_t kBf16ManyTokens = 40;
constexpr int64_t kBf16FewMinRows = 1024;

// Whether MatMul may use bf16 products: built with oneDNN, the CPU has
// AMX-BF16 or AVX-512 BF16, not switched off with PLEXUS_BF16=0 (read once)
// nor by SetBf16MatMulEnabled(false).
bool Bf16MatMulAvailable();
// Switches the bf16 products off (or back on, where available) for the
// whole process: for runs that must not depend on how a batch is cut, such
// as the bit-exactness tests of chunked tensor-parallel prefill (overlap.h).
void SetBf16MatMulEnabled(bool enabled);

// Whether rows of `type` may meet bf16 products (quantized and bf16 types).
bool UsesBf16Products(DType type);

// Y = X W^T as MatMul (x: [n_tokens, w.cols], y: [n_tokens, w.rows]) in bf16
// with f32 sums when Bf16MatMulAvailable(), UsesBf16Products(w.type),
// n_tokens >= kBf16MinTokens and w has 64 rows or more; returns
// false (y untouched) otherwise. Each pool thread decodes panels of rows to
// bf16 (WeightRowsToBf16) and runs one single-threaded oneDNN matmul per
// panel; the activations are rounded to bf16 ties to even (FloatToBf16).
bool MatMulBf16(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

}  // namespace plexus::kernels
