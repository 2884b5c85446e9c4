// Vector ops of the forward pass: RmsNorm, Rope, Softmax, SiluMul, Add.
// Each has a scalar twin in ops_scalar.cc; the tails past the last whole
// vector run the same arithmetic lane by lane.
#include <algorithm>
#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/ops.h"
#include "kernels/rope_tables.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

float SumOfSquares(const float* x, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::LoadU(d, x + i), b = hn::LoadU(d, x + i + N);
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  for (; i + N <= n; i += N) {
    const auto a = hn::LoadU(d, x + i);
    acc0 = hn::MulAdd(a, a, acc0);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += x[i] * x[i];
  return sum;
}

void RmsNormImpl(const float* x, const float* weight, float* out, int64_t n, float eps) {
  const float scale = 1.0f / std::sqrt(SumOfSquares(x, n) / static_cast<float>(n) + eps);
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vscale = hn::Set(d, scale);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vscale), hn::LoadU(d, weight + i)), d, out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

// Rotates pairs (x[i], x[i + half]) of every head.
void RopeHalves(float* x, int n_heads, int head_dim, const float* cos_t, const float* sin_t) {
  const DF d;
  const int N = static_cast<int>(hn::Lanes(d));
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* x0 = x + h * head_dim;
    float* x1 = x0 + half;
    int i = 0;
    for (; i + N <= half; i += N) {
      const auto a = hn::LoadU(d, x0 + i), b = hn::LoadU(d, x1 + i);
      const auto c = hn::LoadU(d, cos_t + i), s = hn::LoadU(d, sin_t + i);
      hn::StoreU(hn::NegMulAdd(b, s, hn::Mul(a, c)), d, x0 + i);  // a*c - b*s
      hn::StoreU(hn::MulAdd(a, s, hn::Mul(b, c)), d, x1 + i);     // a*s + b*c
    }
    for (; i < half; ++i) RotatePair(&x0[i], &x1[i], cos_t[i], sin_t[i]);
  }
}

// Rotates pairs (x[2i], x[2i+1]): out = x * cos + swap_pairs(x) * (-sin, +sin).
void RopeAdjacent(float* x, int n_heads, int head_dim, const float* cos_t, const float* sin_t) {
  const DF d;
  const int N = static_cast<int>(hn::Lanes(d));
  HWY_ALIGN float cos_full[kMaxHeadDim], sin_signed[kMaxHeadDim];
  ExpandAdjacentTables(head_dim, cos_t, sin_t, cos_full, sin_signed);
  for (int h = 0; h < n_heads; ++h) {
    float* xh = x + h * head_dim;
    int i = 0;
    for (; N >= 2 && i + N <= head_dim; i += N) {  // HWY_SCALAR (1 lane) has no pairs to swap
      const auto v = hn::LoadU(d, xh + i);
      const auto rotated = hn::Mul(v, hn::Load(d, cos_full + i));
      hn::StoreU(hn::MulAdd(hn::Reverse2(d, v), hn::Load(d, sin_signed + i), rotated), d, xh + i);
    }
    for (; i < head_dim; i += 2) RotatePair(&xh[i], &xh[i + 1], cos_t[i / 2], sin_t[i / 2]);
  }
}

void RopeImpl(float* x, int n_heads, int head_dim, int64_t pos, const float* inv_freq, RopeStyle style) {
  float cos_t[kMaxHeadDim / 2], sin_t[kMaxHeadDim / 2];
  RopeTables(head_dim, pos, inv_freq, cos_t, sin_t);
  if (style == RopeStyle::kHalves) {
    RopeHalves(x, n_heads, head_dim, cos_t, sin_t);
  } else {
    RopeAdjacent(x, n_heads, head_dim, cos_t, sin_t);
  }
}

void SoftmaxImpl(float* x, int64_t n) {
  if (n <= 0) return;
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  float max = x[0];
  int64_t i = 0;
  if (n >= N) {
    auto vmax = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
    max = hn::GetLane(hn::MaxOfLanes(d, vmax));
  }
  for (; i < n; ++i) max = std::max(max, x[i]);
  const auto vmax = hn::Set(d, max);
  auto vsum = hn::Zero(d);
  for (i = 0; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmax));
    vsum = hn::Add(vsum, e);
    hn::StoreU(e, d, x + i);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const auto inv = hn::Set(d, 1.0f / sum);
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), inv), d, x + i);
  for (; i < n; ++i) x[i] *= 1.0f / sum;
}

void SiluMulImpl(float* gate, const float* up, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  const auto exp_limit = hn::Set(d, 88.0f);  // Exp's valid range ends at 104; past 88 the result is 0 anyway
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(d, gate + i);
    const auto e = hn::Exp(d, hn::Min(hn::Neg(g), exp_limit));
    hn::StoreU(hn::Mul(hn::Div(g, hn::Add(one, e)), hn::LoadU(d, up + i)), d, gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void AddImpl(float* y, const float* x, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] += x[i];
}

float SumImpl(const float* x, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::LoadU(d, x + i));
    a1 = hn::Add(a1, hn::LoadU(d, x + i + N));
    a2 = hn::Add(a2, hn::LoadU(d, x + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(d, x + i + 3 * N));
  }
  for (; i + N <= n; i += N) a0 = hn::Add(a0, hn::LoadU(d, x + i));
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) sum += x[i];
  return sum;
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(RopeImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(SiluMulImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(SumImpl);

void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, weight, out, n, eps);
}

void Rope(float* x, int n_heads, int head_dim, int64_t pos, const float* inv_freq, RopeStyle style) {
  HWY_DYNAMIC_DISPATCH(RopeImpl)(x, n_heads, head_dim, pos, inv_freq, style);
}

void Softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, n); }

void SiluMul(float* gate, const float* up, int64_t n) { HWY_DYNAMIC_DISPATCH(SiluMulImpl)(gate, up, n); }

void Add(float* y, const float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(AddImpl)(y, x, n); }

float Sum(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumImpl)(x, n); }

}  // namespace plexus::kernels
#endif  // HWY_ONCE
