// Kernels of attention over a latent cache (mla_ops.cc): the weighted sums
// (Axpy, AxpyRows) and the f16 conversions of an f16 cache (HalfToFloat,
// RoundToHalf); and FloatToBf16, the inputs of the bf16 prefill products
// (matmul_bf16.cc). Their scalar twins are in ops_scalar.cc; the tails past the
// last whole vector run lane by lane.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/latent_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/ops.h"
#include "tensor/fp16.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using DH = hn::Rebind<hwy::float16_t, DF>;

void AxpyImpl(float a, const float* x, float* y, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

// y[i, i + kV * N) += sum_r a[r] * x_r[...], the kV vectors of y kept in
// registers across the k rows.
template <int kV>
HWY_INLINE void AxpyRowsTile(const float* a, int64_t k, const float* x, int64_t x_stride, float* y) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<DF> acc[kV];
  for (int v = 0; v < kV; ++v) acc[v] = hn::LoadU(d, y + v * N);
  for (int64_t r = 0; r < k; ++r) {
    const float* xr = x + r * x_stride;
    const auto va = hn::Set(d, a[r]);
    for (int v = 0; v < kV; ++v) acc[v] = hn::MulAdd(va, hn::LoadU(d, xr + v * N), acc[v]);
  }
  for (int v = 0; v < kV; ++v) hn::StoreU(acc[v], d, y + v * N);
}

// Each y element sums its k terms in row order, as k Axpy calls would; a
// tile of 8 vectors of y (a 64-wide head on AVX2: enough FMA chains to hide
// their latency), then 4, then 1, stays in registers across the rows.
void AxpyRowsImpl(const float* a, int64_t k, const float* x, int64_t x_stride, float* y, int64_t n) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + 8 * N <= n; i += 8 * N) AxpyRowsTile<8>(a, k, x + i, x_stride, y + i);
  for (; i + 4 * N <= n; i += 4 * N) AxpyRowsTile<4>(a, k, x + i, x_stride, y + i);
  for (; i + N <= n; i += N) AxpyRowsTile<1>(a, k, x + i, x_stride, y + i);
  for (; i < n; ++i)
    for (int64_t r = 0; r < k; ++r) y[i] += a[r] * x[r * x_stride + i];
}

void HalfToFloatImpl(const uint16_t* h, float* out, int64_t n) {
  const DF d;
  const DH dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto* hp = reinterpret_cast<const hwy::float16_t*>(h);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, hp + i)), d, out + i);
  for (; i < n; ++i) out[i] = F16ToF32(h[i]);
}

// Highway's DemoteTo to f16 rounds to nearest even only where it is an
// instruction (x86 F16C from AVX2 up, AArch64); its emulation on the other
// targets truncates, so they take the scalar conversion.
#if (HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)) || HWY_ARCH_ARM_A64
constexpr bool kF16Instructions = true;
#else
constexpr bool kF16Instructions = false;
#endif

void RoundToHalfImpl(float* x, int64_t n) {
  const DF d;
  const DH dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  if constexpr (kF16Instructions)
    for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(d, hn::DemoteTo(dh, hn::LoadU(d, x + i))), d, x + i);
  for (; i < n; ++i) x[i] = F16ToF32(F32ToF16(x[i]));
}

// F32ToBF16 in lanes: round to nearest even on the bits (x + 0x7FFF + lsb)
// >> 16, NaNs kept quiet. [n]
void FloatToBf16Impl(const float* x, uint16_t* out, int64_t n) {
  const hn::ScalableTag<uint32_t> du32;
  const hn::Rebind<uint16_t, decltype(du32)> du16;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du32));
  const auto round = hn::Set(du32, 0x7FFFu), one = hn::Set(du32, 1u);
  const auto abs_mask = hn::Set(du32, 0x7FFFFFFFu), inf = hn::Set(du32, 0x7F800000u), quiet = hn::Set(du32, 0x40u);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto bits = hn::LoadU(du32, reinterpret_cast<const uint32_t*>(x + i));
    const auto rounded = hn::ShiftRight<16>(hn::Add(bits, hn::Add(round, hn::And(hn::ShiftRight<16>(bits), one))));
    const auto nan = hn::Or(hn::ShiftRight<16>(bits), quiet);
    const auto is_nan = hn::Gt(hn::And(bits, abs_mask), inf);
    hn::StoreU(hn::DemoteTo(du16, hn::BitCast(hn::RebindToSigned<decltype(du32)>(), hn::IfThenElse(is_nan, nan, rounded))),
               du16, out + i);
  }
  for (; i < n; ++i) out[i] = F32ToBF16(x[i]);
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(AxpyImpl);
HWY_EXPORT(AxpyRowsImpl);
HWY_EXPORT(HalfToFloatImpl);
HWY_EXPORT(RoundToHalfImpl);
HWY_EXPORT(FloatToBf16Impl);

void Axpy(float a, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyImpl)(a, x, y, n); }

void AxpyRows(const float* a, int64_t k, const float* x, int64_t x_stride, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyRowsImpl)(a, k, x, x_stride, y, n);
}

void HalfToFloat(const uint16_t* h, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(HalfToFloatImpl)(h, out, n); }

void RoundToHalf(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(RoundToHalfImpl)(x, n); }

void FloatToBf16(const float* x, uint16_t* out, int64_t n) { HWY_DYNAMIC_DISPATCH(FloatToBf16Impl)(x, out, n); }

}  // namespace plexus::kernels
#endif  // HWY_ONCE
