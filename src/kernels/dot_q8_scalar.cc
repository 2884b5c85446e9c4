// ResizeQuantizedActs; scalar::QuantizeActs, the twin of the SIMD
// QuantizeActs (quantize_acts.cc); and the scalar twins of dot_q8-inl.h's
// integer dots: the same integer sums per activation block, in plain loops.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "base/status.h"
#include "kernels/ops.h"
#include "kernels/ops_scalar.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/q4_0_repack.h"
#include "tensor/quant_k_scales.h"

namespace plexus::kernels {

void ResizeQuantizedActs(int64_t rows, int64_t cols, QuantizedActs* out) {
  PLEXUS_CHECK(cols % kActBlock == 0, "[kernels] activation row of {} is not whole blocks of {}", cols, kActBlock);
  const int64_t n_blocks = rows * cols / kActBlock;
  out->rows = rows;
  out->cols = cols;
  out->q.resize(static_cast<size_t>(rows * cols));
  out->d.resize(static_cast<size_t>(n_blocks));
  out->sum.resize(static_cast<size_t>(n_blocks));
  out->q4_bias.resize(static_cast<size_t>(n_blocks * kQ4BiasLanes));
  out->q4_hi.resize(static_cast<size_t>(n_blocks * kActBlock / 2));
  out->q4_lo.resize(static_cast<size_t>(n_blocks * kActBlock / 2));
  out->dsum.resize(static_cast<size_t>(n_blocks * 2));
  out->sum16.resize(static_cast<size_t>(n_blocks * 2));
  out->k4_pairs.resize(cols % 256 == 0 ? static_cast<size_t>(rows * cols) : 0);
}

namespace scalar {

void QuantizeActs(const float* x, int64_t rows, int64_t cols, QuantizedActs* out) {
  ResizeQuantizedActs(rows, cols, out);
  const int64_t n_blocks = rows * cols / kActBlock;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* xb = x + b * kActBlock;
    int16_t* qb = out->q.data() + b * kActBlock;
    float amax = 0.0f;
    for (int i = 0; i < kActBlock; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int i = 0; i < kActBlock; ++i) {
      // Nearest, ties to even, of the rounded product: std::nearbyint, not
      // RoundSmall's add and subtract, which -ffp-contract=fast may fuse
      // with the product where the target has FMA (the SIMD QuantizeActs
      // rounds the same product with Round).
      qb[i] = static_cast<int16_t>(std::nearbyint(xb[i] * id));
      sum += qb[i];
    }
    out->d[b] = d;
    out->sum[b] = d * static_cast<float>(sum);
    out->dsum[2 * b] = out->d[b];
    out->dsum[2 * b + 1] = out->sum[b];
    for (int half = 0; half < 2; ++half) {
      int half_sum = 0;
      for (int i = 0; i < kActBlock / 2; ++i) half_sum += qb[half * kActBlock / 2 + i];
      out->sum16[2 * b + half] = static_cast<float>(half_sum);
    }
    int32_t* bias = out->q4_bias.data() + b * kQ4BiasLanes;
    for (int p = 0; p < kQ4BiasLanes; ++p) bias[p] = -8 * (qb[2 * p] + qb[2 * p + 1] + qb[16 + 2 * p] + qb[17 + 2 * p]);
    int16_t* hi = out->q4_hi.data() + b * kActBlock / 2;
    for (int j = 0; j < kActBlock / 2; ++j) hi[j] = static_cast<int16_t>(qb[16 + j] - 16 * qb[j]);
    std::copy(qb, qb + kActBlock / 2, out->q4_lo.data() + b * kActBlock / 2);
  }
  for (int64_t s = 0; s < static_cast<int64_t>(out->k4_pairs.size()) / 256; ++s) {
    for (int64_t i = 0; i < 256; ++i) out->k4_pairs[s * 256 + Q4_KPairOrder(i)] = out->q[s * 256 + i];
  }
}

}  // namespace scalar

bool UsesQuantizedActs(DType type) {
  switch (type) {
    case DType::kQ4_0:
    case DType::kQ4_0R:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

// Where MatVecBatch stops being faster than MatMul's float path, measured
// with plexus_kernel_bench --benchmark_filter=DecodeStep (2048x2048, one
// thread) on the dev machine's AVX2 Zen 1 (docs/PERFORMANCE.md): the int8
// tiles are 2-2.5x the float path at 2 tokens, 1.3-1.5x at 4, even at 8
// (Q4_K 0.9x), 0.8-0.95x at 12. Their cost per token is flat (MatVec's
// per-token arithmetic, pmaddwd-bound on one pipe of that core) while the
// float path spreads its per-row decode over more tokens. 8 keeps the
// scheduler's default 8 streams on the bit-exact path. f32/f16/bf16 rows
// widen each row vector once per 4 tokens (DotPlainRowTokens): 8 as well
// (AVX-512 kind, f16 2048 x 2048, 8 tokens: 988-1011 us against 2037 through
// MatMul's tiles), and MatMul sends them 2-8 tokens too. The rarer
// float-activation types only share the row read: 2 tokens for big ones, 8
// for matrices of at most 8 MiB, whose cost is a sliver of a step.
int64_t MatVecBatchMaxTokens(const TensorView& w) {
  if (UsesQuantizedActs(w.type)) return 8;
  if (IsPlainFloat(w.type)) return 8;
  return static_cast<uint64_t>(w.rows) * w.row_bytes <= (uint64_t{8} << 20) ? 8 : 2;
}

namespace scalar {
namespace {

// sum_i w[i] * x[i] over n int quants.
int IntDot(const int* w, const int16_t* x, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += w[i] * x[i];
  return s;
}

float DotQ4_0(const BlockQ4_0* blocks, const int16_t* xq, const float* xd, int64_t n) {
  float total = 0.0f;
  int w[kQK];
  for (int64_t b = 0; b < n / kQK; ++b) {
    for (int j = 0; j < kQK / 2; ++j) {
      w[j] = (blocks[b].qs[j] & 0xF) - 8;
      w[j + kQK / 2] = (blocks[b].qs[j] >> 4) - 8;
    }
    total += F16ToF32(blocks[b].d) * xd[b] * static_cast<float>(IntDot(w, xq + b * kQK, kQK));
  }
  return total;
}

float DotQ8_0(const BlockQ8_0* blocks, const int16_t* xq, const float* xd, int64_t n) {
  float total = 0.0f;
  int w[kQK];
  for (int64_t b = 0; b < n / kQK; ++b) {
    for (int j = 0; j < kQK; ++j) w[j] = blocks[b].qs[j];
    total += F16ToF32(blocks[b].d) * xd[b] * static_cast<float>(IntDot(w, xq + b * kQK, kQK));
  }
  return total;
}

// Q4_K and Q5_K: sub-block k of 32 is activation block 8b + k.
template <class Block>
float DotK45(const Block* blocks, const int16_t* xq, const float* xd, const float* xs, int64_t n) {
  float total = 0.0f;
  int w[kQK];
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const Block& blk = blocks[b];
    const float d = F16ToF32(blk.d), dmin = F16ToF32(blk.dmin);
    for (int k = 0; k < 8; ++k) {
      const int c = k / 2, shift = (k % 2) * 4;
      for (int l = 0; l < kQK; ++l) {
        int q = (blk.qs[32 * c + l] >> shift) & 0xF;
        if constexpr (std::is_same_v<Block, BlockQ5_K>) q |= ((blk.qh[l] >> k) & 1) << 4;
        w[l] = q;
      }
      const int64_t ab = 8 * b + k;
      const ScaleMin sm = GetScaleMinK(blk.scales, k);
      total += d * sm.scale * xd[ab] * static_cast<float>(IntDot(w, xq + ab * kQK, kQK));
      total -= dmin * sm.min * xs[ab];
    }
  }
  return total;
}

float DotQ6_K(const BlockQ6_K* blocks, const int16_t* xq, const float* xd, int64_t n) {
  float total = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ6_K& blk = blocks[b];
    int w[kQKK];
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = blk.ql + 64 * half;
      const uint8_t* qh = blk.qh + 32 * half;
      int* wh = w + 128 * half;
      for (int l = 0; l < 32; ++l) {
        wh[l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
        wh[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        wh[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        wh[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      }
    }
    for (int i = 0; i < kQKK; ++i) w[i] *= blk.scales[i / 16];
    const float d = F16ToF32(blk.d);
    for (int k = 0; k < 8; ++k) {
      const int64_t ab = 8 * b + k;
      total += d * xd[ab] * static_cast<float>(IntDot(w + 32 * k, xq + ab * kQK, kQK));
    }
  }
  return total;
}

}  // namespace

float DotQ8(DType type, const void* row, const QuantizedActs& x, int64_t x_row) {
  const int64_t n = x.cols, nb = x.cols / kActBlock;
  const int16_t* q = x.q.data() + x_row * n;
  const float* d = x.d.data() + x_row * nb;
  const float* s = x.sum.data() + x_row * nb;
  switch (type) {
    case DType::kQ4_0: return DotQ4_0(static_cast<const BlockQ4_0*>(row), q, d, n);
    case DType::kQ4_0R: {
      std::vector<BlockQ4_0> blocks(static_cast<size_t>(nb));
      UnpackQ4_0RRow(row, blocks.data(), n);
      return DotQ4_0(blocks.data(), q, d, n);
    }
    case DType::kQ8_0: return DotQ8_0(static_cast<const BlockQ8_0*>(row), q, d, n);
    case DType::kQ4_K: return DotK45(static_cast<const BlockQ4_K*>(row), q, d, s, n);
    case DType::kQ5_K: return DotK45(static_cast<const BlockQ5_K*>(row), q, d, s, n);
    case DType::kQ6_K: return DotQ6_K(static_cast<const BlockQ6_K*>(row), q, d, n);
    default: break;
  }
  PLEXUS_CHECK(false, "[kernels] no integer dot for dtype {}", DTypeName(type));
  __builtin_unreachable();
}

}  // namespace scalar
}  // namespace plexus::kernels
