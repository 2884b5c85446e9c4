#include "kernels/ops_scalar.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/rope_tables.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"

namespace plexus::kernels::scalar {

float Dot(DType type, const void* row, const float* x, int64_t n) { return DotRowScalar(type, row, x, n); }

void DotRows(const TensorView& w, const float* x, float* out) {
  for (int64_t r = 0; r < w.rows; ++r) out[r] = DotRowScalar(w.type, w.row(r), x, w.cols);
}

void MatVec(const TensorView& w, const float* x, float* y) { MatMul(w, x, 1, y); }

void MatVecBatch(const TensorView& w, const float* x, int64_t n_tokens, float* y) {
  std::vector<float> row(static_cast<size_t>(w.rows));
  for (int64_t t = 0; t < n_tokens; ++t) {
    MatVec(w, x + t * w.cols, row.data());
    for (int64_t r = 0; r < w.rows; ++r) y[t * w.rows + r] = row[static_cast<size_t>(r)];
  }
}

void MatMul(const TensorView& w, const float* x, int64_t n_tokens, float* y) {
  if (n_tokens == 1 && UsesQuantizedActs(w.type)) {  // decode: as kernels::MatVec
    QuantizedActs acts;
    scalar::QuantizeActs(x, n_tokens, w.cols, &acts);
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t r = 0; r < w.rows; ++r) y[t * w.rows + r] = scalar::DotQ8(w.type, w.row(r), acts, t);
    return;
  }
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < w.rows; ++r) y[t * w.rows + r] = DotRowScalar(w.type, w.row(r), x + t * w.cols, w.cols);
}

void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void Rope(float* x, int n_heads, int head_dim, int64_t pos, const float* inv_freq, RopeStyle style) {
  float cos_t[kMaxHeadDim / 2], sin_t[kMaxHeadDim / 2];
  RopeTables(head_dim, pos, inv_freq, cos_t, sin_t);
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* xh = x + h * head_dim;
    for (int i = 0; i < half; ++i) {
      if (style == RopeStyle::kHalves) {
        RotatePair(&xh[i], &xh[i + half], cos_t[i], sin_t[i]);
      } else {
        RotatePair(&xh[2 * i], &xh[2 * i + 1], cos_t[i], sin_t[i]);
      }
    }
  }
}

void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float max = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SiluMul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void Add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void AxpyRows(const float* a, int64_t k, const float* x, int64_t x_stride, float* y, int64_t n) {
  for (int64_t r = 0; r < k; ++r) Axpy(a[r], x + r * x_stride, y, n);
}

void HalfToFloat(const uint16_t* h, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = F16ToF32(h[i]);
}

void RoundToHalf(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = F16ToF32(F32ToF16(x[i]));
}

void FloatToBf16(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = F32ToBF16(x[i]);
}

// Dequantized as the file's decoders do, then rounded half away from zero.
// Q4_0 as q d - 8 d, the kernel's way: the same values, but +0 where the
// decoder's (q - 8) d gives -0 (a negative scale).
void WeightRowsToBf16(const TensorView& w, int64_t r0, int64_t r1, uint16_t* out) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = r0; r < r1; ++r, out += w.cols) {
    DequantizeRow(w.type, w.row(r), row.data(), w.cols);
    if (w.type == DType::kQ4_0 || w.type == DType::kQ4_0R)
      for (float& v : row)
        if (v == 0.0f) v = 0.0f;  // +0
    for (int64_t i = 0; i < w.cols; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &row[static_cast<size_t>(i)], sizeof(bits));
      out[i] = static_cast<uint16_t>((bits + 0x8000u) >> 16);
    }
  }
}

float Sum(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  return static_cast<float>(sum);
}

void ScoreKeyTile(const float* kt, int64_t dh, const float* const* q, int64_t n_q, float* const* out) {
  for (int64_t j = 0; j < n_q; ++j)
    for (int64_t t = 0; t < kKeyTile; ++t) {
      float s = 0.0f;
      for (int64_t i = 0; i < dh; ++i) s += q[j][i] * kt[i * kKeyTile + t];
      out[j][t] = s;
    }
}

namespace {

float CachedFloat(DType type, const uint8_t* base, size_t index) {
  if (type == DType::kF32) return reinterpret_cast<const float*>(base)[index];
  return F16ToF32(reinterpret_cast<const uint16_t*>(base)[index]);
}

// Position t's key element i in the transposed tiles.
float KeyAt(const KvHeadAttention& a, int64_t t, int64_t i) {
  const size_t tile = static_cast<size_t>(t / kKeyTile), lane = static_cast<size_t>(t % kKeyTile);
  return CachedFloat(a.type, a.key_tiles, (tile * static_cast<size_t>(a.dh) + static_cast<size_t>(i)) * kKeyTile + lane);
}

float ValueAt(const KvHeadAttention& a, int64_t t, int64_t i) {
  return CachedFloat(a.type, a.values + static_cast<size_t>(t) * a.value_row_bytes, static_cast<size_t>(i));
}

}  // namespace

void AttendKvHead(const KvHeadAttention& a) {
  const bool half = a.type == DType::kF16;
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.dh));
  for (int64_t i = 0; i < a.n_queries; ++i)
    for (int64_t j = 0; j < a.heads; ++j) {
      std::vector<float> q(a.q + i * a.q_stride + j * a.dh, a.q + i * a.q_stride + (j + 1) * a.dh);
      if (half) RoundToHalf(q.data(), a.dh);
      const int64_t len = a.first_len + i;
      std::vector<float> p(static_cast<size_t>(len));
      for (int64_t t = 0; t < len; ++t) {
        float s = 0.0f;
        for (int64_t e = 0; e < a.dh; ++e) s += q[static_cast<size_t>(e)] * KeyAt(a, t, e);
        p[static_cast<size_t>(t)] = s * scale;
      }
      Softmax(p.data(), len);
      if (half) RoundToHalf(p.data(), len);
      float* out = a.out + i * a.out_stride + j * a.dh;
      std::fill_n(out, a.dh, 0.0f);
      for (int64_t t = 0; t < len; ++t)
        for (int64_t e = 0; e < a.dh; ++e) out[e] += p[static_cast<size_t>(t)] * ValueAt(a, t, e);
    }
}

}  // namespace plexus::kernels::scalar
