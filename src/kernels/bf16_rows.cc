// WeightRowsToBf16: weight rows decoded straight to bf16, the operands of
// the bf16 matrix products (matmul_bf16.cc). Its scalar twin is in
// ops_scalar.cc.
//
// Why a kernel of its own: decoding a row to f32 and then rounding it with
// FloatToBf16 (ties to even, NaN care) took 40% of a 16-token product (the
// AMX part of which is smaller than either). Here Q4_0 and kQ4_0R blocks go from their
// nibbles to bf16 in registers: (q - 8) d is exact in f32 (at most 14
// significant bits), and rounding is one add on its bits (half away from
// zero: the high half of bits + 0x8000) and one pack of two vectors' high
// halves. Other types decode a row to f32 first (row_ops-inl.h) and round
// the same way. A NaN whose payload lies only in the low 16 bits comes out
// as an infinity, which a weight product turns to NaN or infinity anyway.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/bf16_rows.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <algorithm>
#include <cstring>
#include <vector>

#include "hwy/highway.h"
#include "kernels/ops.h"
#include "kernels/row_ops-inl.h"
#include "tensor/q4_0_repack.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// f32 bits -> bf16 bits, half away from zero in magnitude (the scalar twin's rule).
HWY_INLINE uint16_t RoundBitsToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return static_cast<uint16_t>((bits + 0x8000u) >> 16);
}

#if HWY_TARGET != HWY_SCALAR
// Stores 2 x Lanes(df) bf16: the rounded lanes of lo, then those of hi.
template <class DF>
HWY_INLINE void StoreBf16Pair(DF df, hn::Vec<DF> lo, hn::Vec<DF> hi, uint16_t* out) {
  const hn::RebindToUnsigned<DF> du32;
  const hn::Repartition<uint16_t, DF> du16;
  const auto half = hn::Set(du32, 0x8000u);
  // Little-endian: the high half of u32 lane i is u16 lane 2i + 1.
  const auto lo16 = hn::BitCast(du16, hn::Add(hn::BitCast(du32, lo), half));
  const auto hi16 = hn::BitCast(du16, hn::Add(hn::BitCast(du32, hi), half));
  hn::StoreU(hn::ConcatOdd(du16, hi16, lo16), du16, out);
}

// One Q4_0 block -> 32 bf16 at out: qs its 16 nibble bytes, d and minus_8d
// its scale and -8 times it (read from memory: a broadcast load, no shuffle).
HWY_INLINE void Q4_0BlockToBf16(const float* d, const float* minus_8d, const uint8_t* qs, uint16_t* out) {
  const DQ df;  // at most 16 lanes: 32 / N vectors a block
  const hn::RebindToSigned<DQ> di;
  constexpr size_t kMaxVecs = 32;
  const size_t N = hn::Lanes(df), n_vecs = kQK / N;
  const auto vd = hn::Set(df, *d), vm = hn::Set(df, *minus_8d);
  const auto mask = hn::Set(di, 0xF);
  hn::Vec<DQ> v[kMaxVecs];  // the block's 32 values in order, N a vector
  for (size_t j = 0; j < kQK / 2; j += N) {
    const auto q = LoadBytes(df, qs + j);
    // q d - 8 d: the exact (q - 8) d (14 significant bits at most), so one
    // rounding or two give the same; a zero comes out +0 (the scalar twin's too).
    v[j / N] = hn::MulAdd(hn::ConvertTo(df, hn::And(q, mask)), vd, vm);
    v[(j + kQK / 2) / N] = hn::MulAdd(hn::ConvertTo(df, hn::ShiftRight<4>(q)), vd, vm);
  }
  for (size_t i = 0; i + 1 < n_vecs; i += 2) StoreBf16Pair(df, v[i], v[i + 1], out + i * N);
}

// A Q4_0 row's blocks (scale_bits(b): block b's half scale, quants(b): its
// 16 nibble bytes) -> bf16 [nb * 32]. The scales go to f32 16 at a time.
template <class ScaleBits, class Quants>
HWY_INLINE void Q4_0RowToBf16(int64_t nb, const ScaleBits& scale_bits, const Quants& quants, uint16_t* out) {
  constexpr int64_t kGroup = 16;
  const hn::CappedTag<float, kGroup> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  HWY_ALIGN uint16_t bits[kGroup];
  HWY_ALIGN float d[kGroup], minus_8d[kGroup];
  for (int64_t b0 = 0; b0 < nb; b0 += kGroup) {
    const int64_t m = std::min(kGroup, nb - b0);
    for (int64_t i = 0; i < m; ++i) bits[i] = *scale_bits(b0 + i);
    for (int64_t i = 0; i < m; i += N) {
      const auto v = hn::PromoteTo(df, hn::Load(dh, reinterpret_cast<const hwy::float16_t*>(bits + i)));
      hn::Store(v, df, d + i);
      hn::Store(hn::Mul(v, hn::Set(df, -8.0f)), df, minus_8d + i);
    }
    for (int64_t i = 0; i < m; ++i) Q4_0BlockToBf16(d + i, minus_8d + i, quants(b0 + i), out + (b0 + i) * kQK);
  }
}

// n f32 -> bf16, the same rounding.
HWY_INLINE void FloatsToBf16(const float* x, uint16_t* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) StoreBf16Pair(df, hn::LoadU(df, x + i), hn::LoadU(df, x + i + N), out + i);
  for (; i < n; ++i) out[i] = RoundBitsToBf16(x[i]);
}
#else
template <class ScaleBits, class Quants>
HWY_INLINE void Q4_0RowToBf16(int64_t nb, const ScaleBits& scale_bits, const Quants& quants, uint16_t* out) {
  for (int64_t b = 0; b < nb; ++b, out += kQK) {
    const float d = HalfBitsToF32(scale_bits(b)), minus_8d = -8.0f * d;
    const uint8_t* qs = quants(b);
    for (int j = 0; j < kQK / 2; ++j) {
      out[j] = RoundBitsToBf16(static_cast<float>(qs[j] & 0xF) * d + minus_8d);
      out[j + kQK / 2] = RoundBitsToBf16(static_cast<float>(qs[j] >> 4) * d + minus_8d);
    }
  }
}

HWY_INLINE void FloatsToBf16(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = RoundBitsToBf16(x[i]);
}
#endif

void WeightRowsToBf16Impl(const TensorView& w, int64_t r0, int64_t r1, uint16_t* out) {
  const int64_t cols = w.cols, nb = cols / kQK;
  for (int64_t r = r0; r < r1; ++r, out += cols) {
    const void* row = w.row(r);
    if (w.type == DType::kQ4_0) {
      const auto* blocks = static_cast<const BlockQ4_0*>(row);
      Q4_0RowToBf16(
          nb, [&](int64_t b) { return &blocks[b].d; }, [&](int64_t b) { return blocks[b].qs; }, out);
    } else if (w.type == DType::kQ4_0R) {
      const uint16_t* scales = Q4_0RScales(row);
      const uint8_t* quants = Q4_0RQuants(row, nb);
      Q4_0RowToBf16(
          nb, [&](int64_t b) { return scales + b; }, [&](int64_t b) { return quants + b * (kQK / 2); }, out);
    } else if (w.type == DType::kBF16) {
      std::memcpy(out, row, static_cast<size_t>(cols) * sizeof(uint16_t));
    } else {
      thread_local std::vector<float> decoded;  // [cols]: one row, in L1/L2
      decoded.resize(static_cast<size_t>(cols));
      GetRowOps(w.type).decode(row, decoded.data(), cols);
      FloatsToBf16(decoded.data(), out, cols);
    }
  }
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(WeightRowsToBf16Impl);

void WeightRowsToBf16(const TensorView& w, int64_t r0, int64_t r1, uint16_t* out) {
  PLEXUS_CHECK(r0 >= 0 && r0 <= r1 && r1 <= w.rows, "[kernels] WeightRowsToBf16 [{}, {}) of {} rows", r0, r1,
               w.rows);
  HWY_DYNAMIC_DISPATCH(WeightRowsToBf16Impl)(w, r0, r1, out);
}

}  // namespace plexus::kernels
#endif
