// QuantizeActs in SIMD: the activation blocks of 32 and every derived array
// of QuantizedActs (ops.h), bit for bit those of the plain-C++ twin
// (scalar::QuantizeActs, dot_q8_scalar.cc). A quant is the float product
// x * id rounded to the nearest integer, ties to even (Round: no add that
// GCC's default -ffp-contract=fast could fuse with the product into one
// FMA and its single rounding), the block maximum is exact in any order, and
// every sum is an integer sum.
// Why: decode quantizes each matvec's input on the calling thread while the
// other threads wait; element by element that was 3.4 ns per element, ~0.8
// ms of a 1B Q4_K_M token (229k elements: 4 inputs per layer, ffn_down's
// 8192 wide), ~3% of decode.
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quantize_acts.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes: a block of 32 is whole vectors on every target.
using DF = hn::CappedTag<float, 16>;
using DI = hn::Rebind<int32_t, DF>;
using D16 = hn::Rebind<int16_t, DF>;

// Where QuantizeBlock writes: out's arrays, as raw pointers (through
// `out` itself GCC reloads every data() after each store).
struct ActsOut {
  int16_t* q;
  float* d;
  float* sum;
  int32_t* q4_bias;
  int16_t* q4_hi;
  int16_t* q4_lo;
  float* dsum;
  float* sum16;
};

// int32 lanes of the quants of x[0, Lanes) (Round: see the top of the file).
HWY_INLINE hn::Vec<DI> QuantsOf(const float* x, hn::Vec<DF> id) {
  return hn::ConvertTo(DI(), hn::Round(hn::Mul(hn::LoadU(DF(), x), id)));  // |q| <= 127: exact
}

// bias[k] = -8 * (v[2k] + v[2k + 1]), k < Lanes / 2 (v: q[j] + q[16 + j]).
HWY_INLINE void StoreQ4Bias(hn::Vec<DI> v, int32_t* HWY_RESTRICT bias) {
  const DI di;
#if HWY_TARGET == HWY_SCALAR
  (void)v, (void)bias, (void)di;  // one lane: QuantizeBlock sums the pairs itself
#else
  const auto pairs = hn::Add(v, hn::Shuffle2301(v));  // lanes 2k and 2k + 1 both hold the pair's sum
  const auto even = hn::ConcatEven(di, pairs, pairs);  // lower half: lanes 0, 2, ...
  hn::StoreU(hn::Mul(hn::LowerHalf(even), hn::Set(hn::Half<DI>(), -8)), hn::Half<DI>(), bias);
#endif
}

// Block b (x: its 32 floats): quants, scale, sums, the Q4_0 lane offsets and
// halves, as scalar::QuantizeActs makes them. The derived arrays are made
// from registers: read back from the quants just stored (as int16 loads of
// a vector store) they stalled on store forwarding, ~12% of this function.
HWY_INLINE void QuantizeBlock(const float* HWY_RESTRICT x, int64_t b, const ActsOut& out) {
  const DF df;
  const DI di;
  const D16 d16;
  const size_t n = hn::Lanes(df);  // divides 16
  auto amax = hn::Zero(df);
  for (size_t i = 0; i < kActBlock; i += n) amax = hn::Max(amax, hn::Abs(hn::LoadU(df, x + i)));
  const float d = hn::GetLane(hn::MaxOfLanes(df, amax)) / 127.0f;
  const float id = d > 0.0f ? 1.0f / d : 0.0f;
  const auto vid = hn::Set(df, id);
  int16_t* HWY_RESTRICT q = out.q + b * kActBlock;
  int16_t* HWY_RESTRICT q4_hi = out.q4_hi + b * kActBlock / 2;
  int16_t* HWY_RESTRICT q4_lo = out.q4_lo + b * kActBlock / 2;
  int32_t* HWY_RESTRICT bias = out.q4_bias + b * kQ4BiasLanes;
  auto sum_lo = hn::Zero(di), sum_hi = hn::Zero(di);  // elements [0, 16), [16, 32)
  for (size_t i = 0; i < kActBlock / 2; i += n) {
    const auto lo = QuantsOf(x + i, vid), hi = QuantsOf(x + 16 + i, vid);
    const auto lo16 = hn::DemoteTo(d16, lo);
    hn::StoreU(lo16, d16, q + i);
    hn::StoreU(hn::DemoteTo(d16, hi), d16, q + 16 + i);
    hn::StoreU(lo16, d16, q4_lo + i);
    hn::StoreU(hn::DemoteTo(d16, hn::Sub(hi, hn::ShiftLeft<4>(lo))), d16, q4_hi + i);
    StoreQ4Bias(hn::Add(lo, hi), bias + i / 2);
    sum_lo = hn::Add(sum_lo, lo);
    sum_hi = hn::Add(sum_hi, hi);
  }
#if HWY_TARGET == HWY_SCALAR
  for (int p = 0; p < kQ4BiasLanes; ++p) bias[p] = -8 * (q[2 * p] + q[2 * p + 1] + q[16 + 2 * p] + q[17 + 2 * p]);
#endif
  const int32_t lo = hn::GetLane(hn::SumOfLanes(di, sum_lo)), hi = hn::GetLane(hn::SumOfLanes(di, sum_hi));
  const float sum = d * static_cast<float>(lo + hi);
  out.d[b] = d;
  out.sum[b] = sum;
  out.dsum[2 * b] = d;
  out.dsum[2 * b + 1] = sum;
  out.sum16[2 * b] = static_cast<float>(lo);
  out.sum16[2 * b + 1] = static_cast<float>(hi);
}

// Super-block s of out->k4_pairs from out->q: Q4_KPairOrder as loops over
// sub-blocks, their even elements to one vector's lanes, the odd ones to
// the next vector's.
HWY_INLINE void ArrangeQ4_KPairs(int64_t s, QuantizedActs* out) {
  const int16_t* q = out->q.data() + s * 256;
  int16_t* pairs = out->k4_pairs.data() + s * 256;
  for (int sub = 0; sub < 8; ++sub) {
    const int h = sub / 4, upper = (sub / 2) % 2, high = sub % 2;
    int16_t* even = pairs + 32 * (4 * h + 2 * high) + 16 * upper;
    int16_t* odd = even + 32;
    for (int j = 0; j < 16; ++j) {
      even[j] = q[32 * sub + 2 * j];
      odd[j] = q[32 * sub + 2 * j + 1];
    }
  }
}

void QuantizeActsImpl(const float* x, int64_t rows, int64_t cols, QuantizedActs* out) {
  ResizeQuantizedActs(rows, cols, out);
  const int64_t n_blocks = rows * cols / kActBlock;
  const ActsOut to{out->q.data(),     out->d.data(),     out->sum.data(),  out->q4_bias.data(),
                   out->q4_hi.data(), out->q4_lo.data(), out->dsum.data(), out->sum16.data()};
  for (int64_t b = 0; b < n_blocks; ++b) QuantizeBlock(x + b * kActBlock, b, to);
  for (int64_t s = 0; s < static_cast<int64_t>(out->k4_pairs.size()) / 256; ++s) ArrangeQ4_KPairs(s, out);
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(QuantizeActsImpl);

void QuantizeActs(const float* x, int64_t rows, int64_t cols, QuantizedActs* out) {
  HWY_DYNAMIC_DISPATCH(QuantizeActsImpl)(x, rows, cols, out);
}

}  // namespace plexus::kernels
#endif  // HWY_ONCE
