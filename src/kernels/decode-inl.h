// Per-target SIMD decoders of weight blocks (Highway -inl header: included
// once per target by foreach_target.h from the kernels that use it).
//
// Each DecodeBlock turns one quant block into float vectors of at most 16
// lanes and hands them to a sink: sink.Put<k>(offset_in_block, vector). A
// dot-product sink FMAs them with x (k picks one of two accumulators, to
// break the dependency chain); a store sink writes them to a buffer. The
// values are those of quant.cc's scalar decoders (llama.cpp's block
// semantics), up to one rounding where SIMD fuses a multiply-add.

#if defined(PLEXUS_KERNELS_DECODE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PLEXUS_KERNELS_DECODE_INL_H_
#undef PLEXUS_KERNELS_DECODE_INL_H_
#else
#define PLEXUS_KERNELS_DECODE_INL_H_
#endif

#include <cstring>

#include "hwy/highway.h"
#include "tensor/blocks.h"
#include "tensor/quant_k_scales.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 float lanes, so a chunk of lanes never crosses a 16-element
// (Q6_K) sub-block and a legacy block's 16 nibble bytes are whole chunks.
using DQ = hn::CappedTag<float, 16>;

// One half-precision scale to float, through the target's conversion.
HWY_INLINE float HalfBitsToF32(const uint16_t* bits) {
  const hn::CappedTag<float, 1> d1;
  const hn::Rebind<hwy::float16_t, decltype(d1)> dh;
  return hn::GetLane(hn::PromoteTo(d1, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(bits))));
}

// Bytes p[0..Lanes(df)) widened to int32 lanes.
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToSigned<DF>> LoadBytes(DF df, const uint8_t* p) {
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint8_t, DF> du8;
  return hn::PromoteTo(di, hn::LoadU(du8, p));
}

// A Q4_0 block from its half scale and its 16 nibble bytes, wherever they
// are (a BlockQ4_0, or a kQ4_0R row's scale and quant arrays).
template <class DF, class Sink>
HWY_INLINE void DecodeQ4_0(DF df, const uint16_t* d_bits, const uint8_t* qs, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  const auto d = hn::Set(df, HalfBitsToF32(d_bits));
  const auto mask = hn::Set(di, 0xF), bias = hn::Set(di, 8);
  for (size_t j = 0; j < kQK / 2; j += hn::Lanes(df)) {
    const auto q = LoadBytes(df, qs + j);
    sink.template Put<0>(j, hn::Mul(hn::ConvertTo(df, hn::Sub(hn::And(q, mask), bias)), d));
    sink.template Put<1>(j + kQK / 2, hn::Mul(hn::ConvertTo(df, hn::Sub(hn::ShiftRight<4>(q), bias)), d));
  }
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ4_0& b, Sink& sink) {
  DecodeQ4_0(df, &b.d, b.qs, sink);
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ4_1& b, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  const auto d = hn::Set(df, HalfBitsToF32(&b.d));
  const auto m = hn::Set(df, HalfBitsToF32(&b.m));
  const auto mask = hn::Set(di, 0xF);
  for (size_t j = 0; j < kQK / 2; j += hn::Lanes(df)) {
    const auto q = LoadBytes(df, b.qs + j);
    sink.template Put<0>(j, hn::MulAdd(hn::ConvertTo(df, hn::And(q, mask)), d, m));
    sink.template Put<1>(j + kQK / 2, hn::MulAdd(hn::ConvertTo(df, hn::ShiftRight<4>(q)), d, m));
  }
}

// The 5-bit quants of elements j.. (lo) and j+16.. (hi) of a Q5 block.
template <class DF, class VI>
HWY_INLINE void Q5Quants(DF df, const uint8_t* qs, uint32_t qh, size_t j, VI* lo, VI* hi) {
  const hn::RebindToSigned<DF> di;
  const hn::RebindToUnsigned<DF> du;
  const auto q = LoadBytes(df, qs + j);
  const auto h = hn::Set(du, qh);
  const auto one = hn::Set(du, 1u);
  // Bit j of qh is bit 4 of element j.
  const auto h_lo = hn::BitCast(di, hn::And(h >> hn::Iota(du, static_cast<uint32_t>(j)), one));
  const auto h_hi = hn::BitCast(di, hn::And(h >> hn::Iota(du, static_cast<uint32_t>(j + kQK / 2)), one));
  *lo = hn::Or(hn::And(q, hn::Set(di, 0xF)), hn::ShiftLeft<4>(h_lo));
  *hi = hn::Or(hn::ShiftRight<4>(q), hn::ShiftLeft<4>(h_hi));
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ5_0& b, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  uint32_t qh;
  std::memcpy(&qh, b.qh, sizeof(qh));
  const auto d = hn::Set(df, HalfBitsToF32(&b.d));
  const auto bias = hn::Set(di, 16);
  for (size_t j = 0; j < kQK / 2; j += hn::Lanes(df)) {
    hn::Vec<decltype(di)> lo, hi;
    Q5Quants(df, b.qs, qh, j, &lo, &hi);
    sink.template Put<0>(j, hn::Mul(hn::ConvertTo(df, hn::Sub(lo, bias)), d));
    sink.template Put<1>(j + kQK / 2, hn::Mul(hn::ConvertTo(df, hn::Sub(hi, bias)), d));
  }
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ5_1& b, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  uint32_t qh;
  std::memcpy(&qh, b.qh, sizeof(qh));
  const auto d = hn::Set(df, HalfBitsToF32(&b.d));
  const auto m = hn::Set(df, HalfBitsToF32(&b.m));
  for (size_t j = 0; j < kQK / 2; j += hn::Lanes(df)) {
    hn::Vec<decltype(di)> lo, hi;
    Q5Quants(df, b.qs, qh, j, &lo, &hi);
    sink.template Put<0>(j, hn::MulAdd(hn::ConvertTo(df, lo), d, m));
    sink.template Put<1>(j + kQK / 2, hn::MulAdd(hn::ConvertTo(df, hi), d, m));
  }
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ8_0& b, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<int8_t, DF> di8;
  const auto d = hn::Set(df, HalfBitsToF32(&b.d));
  for (size_t j = 0; j < kQK / 2; j += hn::Lanes(df)) {
    const auto q_lo = hn::PromoteTo(di, hn::LoadU(di8, b.qs + j));
    const auto q_hi = hn::PromoteTo(di, hn::LoadU(di8, b.qs + j + kQK / 2));
    sink.template Put<0>(j, hn::Mul(hn::ConvertTo(df, q_lo), d));
    sink.template Put<1>(j + kQK / 2, hn::Mul(hn::ConvertTo(df, q_hi), d));
  }
}

// Q4_K/Q5_K: chunk c of 64 elements holds sub-blocks 2c (low nibbles,
// elements 0..31) and 2c+1 (high nibbles, 32..63); y = d*sc*q - dmin*m.
struct KChunkScales {
  float d1, m1, d2, m2;
};

HWY_INLINE KChunkScales ChunkScalesK(const uint8_t* scales, int chunk, float d, float dmin) {
  const ScaleMin a = GetScaleMinK(scales, 2 * chunk);
  const ScaleMin b = GetScaleMinK(scales, 2 * chunk + 1);
  return {d * a.scale, dmin * a.min, d * b.scale, dmin * b.min};
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ4_K& b, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  const float d = HalfBitsToF32(&b.d), dmin = HalfBitsToF32(&b.dmin);
  const auto mask = hn::Set(di, 0xF);
  for (int c = 0; c < 4; ++c) {
    const KChunkScales s = ChunkScalesK(b.scales, c, d, dmin);
    const auto d1 = hn::Set(df, s.d1), m1 = hn::Set(df, s.m1);
    const auto d2 = hn::Set(df, s.d2), m2 = hn::Set(df, s.m2);
    const uint8_t* q = b.qs + 32 * c;
    for (size_t l = 0; l < 32; l += hn::Lanes(df)) {
      const auto v = LoadBytes(df, q + l);
      sink.template Put<0>(64 * c + l, hn::MulSub(d1, hn::ConvertTo(df, hn::And(v, mask)), m1));
      sink.template Put<1>(64 * c + 32 + l, hn::MulSub(d2, hn::ConvertTo(df, hn::ShiftRight<4>(v)), m2));
    }
  }
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ5_K& b, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  const float d = HalfBitsToF32(&b.d), dmin = HalfBitsToF32(&b.dmin);
  const auto mask = hn::Set(di, 0xF), one = hn::Set(di, 1);
  for (int c = 0; c < 4; ++c) {
    const KChunkScales s = ChunkScalesK(b.scales, c, d, dmin);
    const auto d1 = hn::Set(df, s.d1), m1 = hn::Set(df, s.m1);
    const auto d2 = hn::Set(df, s.d2), m2 = hn::Set(df, s.m2);
    const uint8_t* ql = b.qs + 32 * c;
    for (size_t l = 0; l < 32; l += hn::Lanes(df)) {
      const auto v = LoadBytes(df, ql + l);
      const auto h = LoadBytes(df, b.qh + l);
      // Bit 2c of qh is bit 4 of the low quant, bit 2c+1 that of the high.
      const auto h_lo = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c), one));
      const auto h_hi = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c + 1), one));
      const auto q_lo = hn::Or(hn::And(v, mask), h_lo);
      const auto q_hi = hn::Or(hn::ShiftRight<4>(v), h_hi);
      sink.template Put<0>(64 * c + l, hn::MulSub(d1, hn::ConvertTo(df, q_lo), m1));
      sink.template Put<1>(64 * c + 32 + l, hn::MulSub(d2, hn::ConvertTo(df, q_hi), m2));
    }
  }
}

template <class DF, class Sink>
HWY_INLINE void DecodeBlock(DF df, const BlockQ6_K& b, Sink& sink) {
  const hn::RebindToSigned<DF> di;
  const float d = HalfBitsToF32(&b.d);
  const auto mask = hn::Set(di, 0xF), top = hn::Set(di, 0x30), bias = hn::Set(di, 32);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int8_t* sc = b.scales + 8 * half;
    const size_t base = 128 * static_cast<size_t>(half);
    for (size_t l = 0; l < 32; l += hn::Lanes(df)) {
      const size_t is = l / 16;
      const auto a = LoadBytes(df, ql + l);
      const auto c = LoadBytes(df, ql + l + 32);
      const auto h = LoadBytes(df, qh + l);
      // Two bits of qh per quant, moved to bits 4..5.
      const auto q1 = hn::Sub(hn::Or(hn::And(a, mask), hn::And(hn::ShiftLeft<4>(h), top)), bias);
      const auto q2 = hn::Sub(hn::Or(hn::And(c, mask), hn::And(hn::ShiftLeft<2>(h), top)), bias);
      const auto q3 = hn::Sub(hn::Or(hn::ShiftRight<4>(a), hn::And(h, top)), bias);
      const auto q4 = hn::Sub(hn::Or(hn::ShiftRight<4>(c), hn::And(hn::ShiftRight<2>(h), top)), bias);
      sink.template Put<0>(base + l, hn::Mul(hn::Set(df, d * sc[is]), hn::ConvertTo(df, q1)));
      sink.template Put<0>(base + l + 32, hn::Mul(hn::Set(df, d * sc[is + 2]), hn::ConvertTo(df, q2)));
      sink.template Put<1>(base + l + 64, hn::Mul(hn::Set(df, d * sc[is + 4]), hn::ConvertTo(df, q3)));
      sink.template Put<1>(base + l + 96, hn::Mul(hn::Set(df, d * sc[is + 6]), hn::ConvertTo(df, q4)));
    }
  }
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PLEXUS_KERNELS_DECODE_INL_H_
