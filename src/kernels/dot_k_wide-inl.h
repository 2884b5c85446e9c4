// Per-target AVX-512 kernels for the K quant types (Q4_K, Q5_K, Q6_K):
// 512-bit vectors, each super-block's scales made once in a 16-lane vector;
// and GetRowDotQ8, the integer-dot row kernel of each type (Highway -inl
// header, included once per target by foreach_target.h; it builds on
// dot_q8-inl.h).
//
// Why wide: the 256-bit row kernels spent about a third of their time
// making one sub-block scale at a time (scalar converts, broadcasts and
// stores per super-block; for Q6_K also a vpmullw and a broadcast per 16
// elements), and the vector ports were not their limit. Measured on one row
// in L1, one core (~4 GHz), cycles per super-block: Q4_K 35 -> 31-33, Q5_K
// 59-61 -> 43-45, Q6_K 59-60 -> 40 (Q4_K and Q5_K have since moved to
// DotK45Pairs: 24.5 and 35 cycles at 3.7 GHz). Each kernel takes kTok tokens
// (MatVecBatch's tiles, matmul_q8-inl.h): the weight work is shared and each
// token does what one token alone does, so every token of a batched step
// gets the bits of its lone MatVec. Scalar twins: dot_q8_scalar.cc (the same
// integer sums; these round the float scale products differently, well
// inside the kernel tests' tolerance).

#if defined(PLEXUS_KERNELS_DOT_K_WIDE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PLEXUS_KERNELS_DOT_K_WIDE_INL_H_
#undef PLEXUS_KERNELS_DOT_K_WIDE_INL_H_
#else
#define PLEXUS_KERNELS_DOT_K_WIDE_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "kernels/dot_q8-inl.h"
#include "kernels/stream_prefetch.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "tensor/quant_k_scales.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET <= HWY_AVX3
// A Q4_K/Q5_K super-block's 8 scales and 8 mins as one 16-lane vector: lane
// 2k is d * sc_k, lane 2k + 1 dmin * m_k ((sc, m) widened and converted once,
// times (d, dmin) from one broadcast of the block's two halves). Per token
// times the activations' (d, sum) pairs (QuantizedActs::dsum): lane 2k is
// (sc * d) * x_d as in the 256-bit kernel, and the mins m * dmin * x_sum
// (there dmin * (m * x_sum)), summed per lane across super-blocks, over the
// odd lanes at the end. Making them one scale at a time (scalar converts,
// broadcasts and stores per sub-block) was about a third of the first
// 512-bit loop's ~35 cycles per super-block.
template <class BlockK>
HWY_INLINE hn::Vec<hn::Full512<float>> KScaleMinWeights(const BlockK& blk) {
  const hn::Full512<int32_t> d32;
  const hn::Full512<float> df;
  const hn::Full128<uint8_t> d8q;
  const hn::Full128<uint64_t> d64q;
  const hn::Full256<uint32_t> du32h;
  const hn::Full256<hwy::float16_t> dh;
  uint32_t d_dmin;  // the two halves d, dmin
  std::memcpy(&d_dmin, &blk.d, sizeof(d_dmin));
  const auto dd = hn::PromoteTo(df, hn::BitCast(dh, hn::Set(du32h, d_dmin)));
  uint64_t scale_bytes, min_bytes;
  UnpackScaleMinsK(blk.scales, &scale_bytes, &min_bytes);
  const auto sc_m = hn::InterleaveLower(d8q, hn::BitCast(d8q, hn::Set(d64q, scale_bytes)),
                                        hn::BitCast(d8q, hn::Set(d64q, min_bytes)));
  return hn::Mul(hn::ConvertTo(df, hn::PromoteTo(d32, sc_m)), dd);
}

// The quants of a Q4_K/Q5_K super-block as DotK45Pairs reads them: each
// half h is one 64-byte load seen as 32 16-bit lanes (lane j: bytes 2j and
// 2j + 1 of chunk 2h for j < 16, of chunk 2h + 1 after), and e[4h + k]
// takes one nibble of every lane: k = 0 the low nibble of the even byte, 1
// of the odd byte, 2 and 3 their high nibbles (Q4_KPairOrder).
//
// kHighBits (Q5_K): bit 4 of the quant of element l of chunk c is bit 2c
// (low nibble) or 2c + 1 (high) of qh[l]. Seen as 16 16-bit lanes in both
// 256-bit halves (QH), lane j needs bit b of QH lane j mod 16, b = 4h + (0,
// 8, 1, 9 for k = 0..3) + 2 for the upper 16 lanes; a variable shift per
// half-vector moves it to bit 4 (QH << 4 first where b < 4).
template <class BlockK, bool kHighBits>
HWY_INLINE void KPairNibbles(const BlockK& blk, hn::Vec<hn::Full512<int16_t>>* e) {
  const hn::Full512<int16_t> d16;
  const hn::Full512<uint16_t> du16;
  const auto low4 = hn::Set(du16, 0xF);
  hn::Vec<decltype(du16)> qh, qh4;
  if constexpr (kHighBits) {
    const hn::Full256<uint16_t> du16h;
    const auto half = hn::LoadU(du16h, reinterpret_cast<const uint16_t*>(blk.qh));
    qh = hn::Combine(du16, half, half);
    qh4 = hn::ShiftLeft<4>(qh);
  }
  // Shift counts [lower 16 lanes, upper 16]: b - 4, or b where qh4 is used.
  HWY_ALIGN static constexpr uint16_t kShift[6][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}, {8, 10}, {9, 11}};
  const auto shifts = [&](int i) HWY_ATTR {
    return hn::IfThenElse(hn::FirstN(du16, 16), hn::Set(du16, kShift[i][0]), hn::Set(du16, kShift[i][1]));
  };
  for (int h = 0; h < 2; ++h) {
    auto v = hn::LoadU(du16, reinterpret_cast<const uint16_t*>(blk.qs + 64 * h));
    // One load per half: GCC otherwise reloads it for each nibble (a
    // second cache-line split each time, most super-blocks).
    asm volatile("" : "+v"(v.raw));
    hn::Vec<decltype(du16)> nib[4] = {hn::And(v, low4), hn::And(hn::ShiftRight<8>(v), low4),
                                      hn::And(hn::ShiftRight<4>(v), low4), hn::ShiftRight<12>(v)};
    if constexpr (kHighBits) {
      const auto bit4 = hn::Set(du16, 0x10);
      const auto& lo_src = h == 0 ? qh4 : qh;  // k = 0, 2: b = 4h + {0, 1} (+ 2)
      nib[0] = hn::OrAnd(nib[0], hn::operator>>(lo_src, shifts(0)), bit4);
      nib[2] = hn::OrAnd(nib[2], hn::operator>>(lo_src, shifts(1)), bit4);
      nib[1] = hn::OrAnd(nib[1], hn::operator>>(qh, shifts(h == 0 ? 2 : 4)), bit4);
      nib[3] = hn::OrAnd(nib[3], hn::operator>>(qh, shifts(h == 0 ? 3 : 5)), bit4);
    }
    for (int k = 0; k < 4; ++k) e[4 * h + k] = hn::BitCast(d16, nib[k]);
  }
}

// Q4_K and Q5_K on AVX-512, the quants read two bytes at a time
// (KPairNibbles; QuantizedActs::k4_pairs has the activations in the
// matching order, Q4_KPairOrder). Nothing is widened from bytes, and a
// pmaddwd leaves two sub-blocks side by side (lanes 0-7 and 8-15), so a
// super-block's four int32 vectors (lanes < 4 * 31 * 127 < 2^14) fold into
// one (FoldFour) before one convert, one scale permute and one FMA, where
// the loop before it widened each chunk's bytes, and converted each
// sub-block and broadcast its scale. One row in L1, one core, cycles per
// super-block: Q4_K 28.5 -> 24.5, Q5_K 39 -> 35 (tg128 of a 1B Q5_K_M file
// +2.7-5.4%). The 16-bit view made the loads of 3 of every 4 super-blocks
// straddle cache lines, which cost little once each half is loaded once
// (Q4_K ~28 cycles when loaded per nibble).
//
// Folded lane k holds sub-block s_k (kTreeLanes[0] through the group order
// of sums[]: group 2g is sums[g]'s lanes 0-7, sub-block 4h + p for g = 2h +
// p, and group 2g + 1 is sub-block 4h + 2 + p); its scale is lane
// kScaleLanes[k] = 2 s_k of the (sc, m) vector.
template <class BlockK, bool kHighBits, int kTok>
HWY_INLINE void DotK45Pairs(const BlockK* blocks, const ActsRow* x, int64_t n, float* out) {
  const hn::Full512<int16_t> d16;
  const hn::Full512<int32_t> d32;
  const hn::Full512<float> df;
  HWY_ALIGN static constexpr int32_t kScaleLanes[16] = {0, 2, 8, 10, 0, 2, 8, 10, 4, 6, 12, 14, 4, 6, 12, 14};
  const auto to_folded = hn::SetTableIndices(df, kScaleLanes);
  hn::Vec<decltype(df)> acc[kTok], acc_m[kTok];
  for (int t = 0; t < kTok; ++t) acc[t] = acc_m[t] = hn::Zero(df);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockK& blk = blocks[b];
    PrefetchStream<sizeof(BlockK)>(&blk);
    const auto weight_part = KScaleMinWeights(blk);
    hn::Vec<decltype(d16)> e[8];  // 4h + k: nibble k of half h (KPairNibbles)
    KPairNibbles<BlockK, kHighBits>(blk, e);
    for (int t = 0; t < kTok; ++t) {
      const auto prod = hn::Mul(weight_part, hn::LoadU(df, x[t].dsum + b * 16));
      acc_m[t] = hn::Add(acc_m[t], prod);
      const int16_t* xq = x[t].k4_pairs + b * kQKK;
      hn::Vec<decltype(d32)> sums[4];  // g = 2h + p: vectors 4h + 2p and 4h + 2p + 1
      for (int g = 0; g < 4; ++g) {
        auto unused = hn::Zero(d32);  // pmaddwd leaves nothing there
        sums[g] = hn::ReorderWidenMulAccumulate(d32, e[2 * g], hn::LoadU(d16, xq + 64 * g), hn::Zero(d32), unused);
        sums[g] = hn::ReorderWidenMulAccumulate(d32, e[2 * g + 1], hn::LoadU(d16, xq + 64 * g + 32), sums[g], unused);
      }
      acc[t] = hn::MulAdd(hn::ConvertTo(df, FoldFour(sums)), hn::TableLookupLanes(prod, to_folded), acc[t]);
    }
  }
  for (int t = 0; t < kTok; ++t) {
    out[t] = hn::GetLane(hn::SumOfLanes(df, acc[t])) -
             hn::GetLane(hn::SumOfLanes(df, hn::OddEven(acc_m[t], hn::Zero(df))));
  }
}

// Q6_K on AVX-512. Half h of a super-block (128 elements) is four 32-lane
// int16 vectors q[m], activation block 4h + m each (low nibbles of ql[0,32)
// and ql[32,64), then their high nibbles; bits 4..5 from qh). One pmaddwd
// per activation block leaves sub-block 8h + 2m in int32 lanes 0-7 and
// 8h + 2m + 1 in lanes 8-15, so the int8 sub-block scales go into the float
// scale (d * sc) * x_d, one 16-lane vector per super-block, instead of into
// the int16 quants (vpmullw and a broadcast per 16 elements before). The
// quants' -32 is not subtracted per element either: 32 * sum over
// sub-blocks of scale * (sum of the sub-block's 16 activation quants,
// QuantizedActs::sum16) is taken off once at the end. A half's four int32
// vectors (lanes < 2 * 63 * 127 < 2^14) fold into one (FoldFour,
// dot_q8-inl.h) before one convert, permute and FMA, where each took its
// own: 2048x2048, one core, 8 tokens 1004-1017 -> 840-909 us, 1 token
// 188-196 -> 171-187 us (kernel_bench DecodeStep q6_K).
template <int kTok>
HWY_INLINE void DotQ6_KWide(const BlockQ6_K* blocks, const ActsRow* x, int64_t n, float* out) {
  const hn::Full512<int16_t> d16;
  const hn::Full512<int32_t> d32;
  const hn::Full512<float> df;
  const hn::Full256<float> df8;
  const hn::Full128<int8_t> di8;
  const auto low4 = hn::Set(d16, 0xF), top2 = hn::Set(d16, 0x30);
  // kTwice: lane k gets block k / 2.
  HWY_ALIGN static constexpr int32_t kTwice[16] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7};
  const auto twice = hn::SetTableIndices(df, kTwice);
  const hn::Indices512<float> tree[2] = {hn::SetTableIndices(df, kTreeLanes[0]), hn::SetTableIndices(df, kTreeLanes[1])};
  hn::Vec<decltype(df)> acc[kTok][2], offset[kTok], scale[kTok];
  for (int t = 0; t < kTok; ++t) acc[t][0] = acc[t][1] = offset[t] = hn::Zero(df);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ6_K& blk = blocks[b];
    PrefetchStream<sizeof(BlockQ6_K)>(&blk);
    // (d * sc_k) for the 16 sub-blocks, then per token times x_d of block k / 2.
    const auto sc = hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(di8, blk.scales)));
    const auto d_sc = hn::Mul(hn::Set(df, HalfBitsToF32(&blk.d)), sc);
    for (int t = 0; t < kTok; ++t) {
      const auto x_d = hn::TableLookupLanes(hn::ZeroExtendVector(df, hn::LoadU(df8, x[t].d + b * 8)), twice);
      scale[t] = hn::Mul(d_sc, x_d);
      offset[t] = hn::MulAdd(scale[t], hn::LoadU(df, x[t].sum16 + b * 16), offset[t]);
    }
    for (int half = 0; half < 2; ++half) {
      const auto a = LoadU8As16(d16, blk.ql + 64 * half), c = LoadU8As16(d16, blk.ql + 64 * half + 32);
      const auto h = LoadU8As16(d16, blk.qh + 32 * half);
      const hn::Vec<decltype(d16)> q[4] = {
          hn::Or(hn::And(a, low4), hn::And(hn::ShiftLeft<4>(h), top2)),
          hn::Or(hn::And(c, low4), hn::And(hn::ShiftLeft<2>(h), top2)),
          hn::Or(hn::ShiftRight<4>(a), hn::And(h, top2)),
          hn::Or(hn::ShiftRight<4>(c), hn::And(hn::ShiftRight<2>(h), top2))};
      for (int t = 0; t < kTok; ++t) {
        hn::Vec<decltype(d32)> sums[4];  // lanes 0-7: sub-block 8 half + 2m, 8-15: the next; each < 2 * 63 * 127
        for (int m = 0; m < 4; ++m) {
          auto unused = hn::Zero(d32);  // pmaddwd leaves nothing there
          sums[m] = hn::ReorderWidenMulAccumulate(d32, q[m], hn::LoadU(d16, x[t].q + (b * 8 + 4 * half + m) * kQK),
                                                  hn::Zero(d32), unused);
        }
        // One vector for the half's 8 sub-blocks (lane k: kTreeLanes[half][k]).
        acc[t][half] = hn::MulAdd(hn::ConvertTo(df, FoldFour(sums)), hn::TableLookupLanes(scale[t], tree[half]),
                                  acc[t][half]);
      }
    }
  }
  for (int t = 0; t < kTok; ++t) {
    out[t] = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc[t][0], acc[t][1]))) -
             32.0f * hn::GetLane(hn::SumOfLanes(df, offset[t]));
  }
}

// Row kernels for GetRowDotQ8: the wide loops when the activations carry
// what they read (QuantizeActs makes it for rows of whole super-blocks;
// HasK45Pairs, HasQ6Wide).
HWY_INLINE bool HasK45Pairs(const ActsRow& x) { return x.dsum != nullptr && x.k4_pairs != nullptr; }
HWY_INLINE bool HasQ6Wide(const ActsRow& x) { return x.sum16 != nullptr; }

template <class BlockK, bool kHighBits>
float DotQ8RowK45Wide(const void* row, ActsRow x, int64_t n) {
  if (!HasK45Pairs(x)) return DotQ8RowK45<BlockK, kHighBits>(row, x, n);
  float out;
  DotK45Pairs<BlockK, kHighBits, 1>(static_cast<const BlockK*>(row), &x, n, &out);
  return out;
}
float DotQ8RowQ6_KWide(const void* row, ActsRow x, int64_t n) {
  if (!HasQ6Wide(x)) return DotQ8RowQ6_K(row, x, n);
  float out;
  DotQ6_KWide<1>(static_cast<const BlockQ6_K*>(row), &x, n, &out);
  return out;
}
#endif  // HWY_TARGET <= HWY_AVX3

// The integer-dot kernel of `type`, or nullptr when rows of that type meet
// float activations (f32, f16, bf16 and the rarer legacy types).
HWY_INLINE RowDotQ8Fn GetRowDotQ8(DType type) {
  switch (type) {
    case DType::kQ4_0: return &DotQ8RowQ4_0<Q4_0Blocks>;
    case DType::kQ4_0R: return &DotQ8RowQ4_0<Q4_0RBlocks>;
    case DType::kQ8_0: return &DotQ8RowQ8_0;
#if HWY_TARGET <= HWY_AVX3
    case DType::kQ4_K: return &DotQ8RowK45Wide<BlockQ4_K, false>;
    case DType::kQ5_K: return &DotQ8RowK45Wide<BlockQ5_K, true>;
    case DType::kQ6_K: return &DotQ8RowQ6_KWide;
#else
    case DType::kQ4_K: return &DotQ8RowK45<BlockQ4_K, false>;
    case DType::kQ5_K: return &DotQ8RowK45<BlockQ5_K, true>;
    case DType::kQ6_K: return &DotQ8RowQ6_K;
#endif
    default: return nullptr;
  }
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PLEXUS_KERNELS_DOT_K_WIDE_INL_H_
