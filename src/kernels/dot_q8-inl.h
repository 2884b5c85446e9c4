// Per-target integer dot products of quantized weight rows with activations
// quantized to 8-bit blocks of 32 (QuantizedActs in ops.h) (Highway -inl
// header, included once per target by foreach_target.h).
//
// Weight quants are widened to int16 and multiplied with the int16-stored
// activation quants by ReorderWidenMulAccumulate (pmaddwd on x86): 16
// multiply-adds per instruction, no float conversion per element. Each
// 32-element activation block leaves one int32 vector that is converted once
// and scaled by (weight scale * activation scale). K-type mins meet the
// activation block sums (QuantizedActs::sum) in a vector of their own.
// Scalar twins: dot_q8_scalar.cc.

#if defined(PLEXUS_KERNELS_DOT_Q8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PLEXUS_KERNELS_DOT_Q8_INL_H_
#undef PLEXUS_KERNELS_DOT_Q8_INL_H_
#else
#define PLEXUS_KERNELS_DOT_Q8_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "kernels/decode-inl.h"
#include "kernels/ops.h"
#include "kernels/stream_prefetch.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "tensor/q4_0_repack.h"
#include "tensor/quant_k_scales.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 int16 lanes: a chunk never crosses a 16-element Q6_K sub-block
// and a legacy block's 16 nibble bytes are whole chunks.
using D16 = hn::CappedTag<int16_t, 16>;
using D32 = hn::Repartition<int32_t, D16>;
using DF32 = hn::Repartition<float, D16>;

// One activation row: quants, and per block of 32 its scale, scale * sum(q)
// and the Q4_0 lane offsets (QuantizedActs::q4_bias; null: not made).
struct ActsRow {
  const int16_t* q;
  const float* d;
  const float* sum;
  const int32_t* q4_bias = nullptr;
  const int16_t* q4_hi = nullptr;
  const int16_t* q4_lo = nullptr;
  const float* dsum = nullptr;  // (d, sum) per block, side by side (QuantizedActs::dsum)
  const float* sum16 = nullptr;  // per 16 elements, the quants' sum (QuantizedActs::sum16)
  const int16_t* k4_pairs = nullptr;  // QuantizedActs::k4_pairs
};

using RowDotQ8Fn = float (*)(const void* row, ActsRow x, int64_t n);

// bytes p[0..Lanes(d16)) zero-extended to int16 (any int16 tag: D16 here,
// 512-bit ones in dot_k_wide-inl.h).
template <class D>
HWY_INLINE hn::Vec<D> LoadU8As16(D d16, const uint8_t* p) {
  const hn::RebindToUnsigned<D> du16;
  return hn::BitCast(d16, hn::PromoteTo(du16, hn::LoadU(hn::Rebind<uint8_t, D>(), p)));
}
HWY_INLINE hn::Vec<D16> LoadI8As16(D16 d16, const int8_t* p) {
  return hn::PromoteTo(d16, hn::LoadU(hn::Rebind<int8_t, D16>(), p));
}

// Integer dot of int16 weights w with activation quants at x, accumulated into (s0, s1).
HWY_INLINE void MulAcc(hn::Vec<D16> w, const int16_t* x, hn::Vec<D32>& s0, hn::Vec<D32>& s1) {
  const D16 d16;
  s0 = hn::ReorderWidenMulAccumulate(D32(), w, hn::LoadU(d16, x), s0, s1);
}

HWY_INLINE hn::Vec<DF32> ToFloat(hn::Vec<D32> s0, hn::Vec<D32> s1) {
  return hn::ConvertTo(DF32(), hn::RearrangeToOddPlusEven(s0, s1));
}

// Sums per-block float vectors blocks [0, n_blocks) into two accumulators
// (a single chain would wait on the FMA latency every block).
template <class BlockDot>
HWY_INLINE float SumBlocks(int64_t n_blocks, const BlockDot& block_dot) {
  const DF32 df;
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t b = 0;
  for (; b + 2 <= n_blocks; b += 2) {
    acc0 = block_dot(b, acc0);
    acc1 = block_dot(b + 1, acc1);
  }
  if (b < n_blocks) acc0 = block_dot(b, acc0);
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// Compiler barriers that steer code generation (no instructions of their own).
HWY_INLINE void KeepInRegister(uint64_t& v) { asm volatile("" : "+r"(v)); }
HWY_INLINE void MemoryBarrier() { asm volatile("" ::: "memory"); }

// out[i] = d_w * d_x of legacy blocks i < 8 (DF32 has 8 lanes here). Block
// k's half scale sits at byte sizeof(Block) * k, so it is lane k of the 8
// halves loaded from byte (sizeof(Block) - 2) * k: eight 16-byte loads of
// the blocks' own bytes and a tree of seven blends gather them, with no
// scalar work (the earlier scalar packing took ~20 ALU instructions per 8
// blocks, on the ports the integer dot uses: MatVec q4_0 1 thread 10% slower
// measured with it). One vector convert and multiply then replace, per block, a
// one-lane convert, a scalar multiply and a register broadcast. The same
// products as HalfBitsToF32(d) * x_d, so the same bits.
template <class Block>
HWY_INLINE hn::Vec<DF32> LegacyHalves8(const Block* blocks) {
  const DF32 df;
  const hn::Full128<uint16_t> d16;
  const hn::Repartition<uint32_t, decltype(d16)> d32;
  const hn::Repartition<uint64_t, decltype(d16)> d64;
  const hn::Rebind<hwy::float16_t, DF32> dh;
  static_assert(hn::MaxLanes(DF32()) == 8, "8 scales per vector");
  static_assert(offsetof(Block, d) == 0, "a block starts with its half scale");
  const auto* bytes = reinterpret_cast<const uint8_t*>(blocks);
  const auto at = [&](size_t k) HWY_ATTR {
    return hn::LoadU(d16, reinterpret_cast<const uint16_t*>(bytes + (sizeof(Block) - 2) * k));
  };
  // OddEven(a, b): odd lanes from a, even ones from b; then pairs, then quads.
  const auto v01 = hn::OddEven(at(1), at(0)), v23 = hn::OddEven(at(3), at(2));
  const auto v45 = hn::OddEven(at(5), at(4)), v67 = hn::OddEven(at(7), at(6));
  const auto v03 = hn::OddEven(hn::BitCast(d32, v23), hn::BitCast(d32, v01));
  const auto v47 = hn::OddEven(hn::BitCast(d32, v67), hn::BitCast(d32, v45));
  const auto halves = hn::OddEven(hn::BitCast(d64, v47), hn::BitCast(d64, v03));
  return hn::PromoteTo(df, hn::BitCast(dh, halves));
}
template <class Block>
HWY_INLINE void LegacyScales8(const Block* blocks, const float* x_d, float* out) {
  const DF32 df;
  hn::Store(hn::Mul(LegacyHalves8(blocks), hn::LoadU(df, x_d)), df, out);
  // Else GCC keeps the 8 scales in a register and broadcasts each with two
  // lane shuffles; from memory, vbroadcastss is a load.
  MemoryBarrier();
}

// out[k] = d * scale_k * x_d[k] for a Q4_K/Q5_K super-block's 8 sub-blocks
// (scales: their 6-bit scales, byte k for sub-block k, UnpackScaleMinsK):
// (d * scale) * x_d as the scalar form rounds it, one vector each instead of
// a scalar convert, two multiplies and a register broadcast per sub-block.
HWY_INLINE void KScales8(uint64_t scales, float d, const float* x_d, float* out) {
  const DF32 df;
  const hn::Rebind<int32_t, DF32> di;
  const hn::Repartition<uint64_t, DF32> d64;
  KeepInRegister(scales);
  const auto bytes = hn::LowerHalf(hn::LowerHalf(hn::BitCast(hn::Repartition<uint8_t, DF32>(), hn::Set(d64, scales))));
  const auto sc = hn::ConvertTo(df, hn::PromoteTo(di, bytes));
  hn::Store(hn::Mul(hn::Mul(hn::Set(df, d), sc), hn::LoadU(df, x_d)), df, out);
  MemoryBarrier();
}

// As SumBlocks (even blocks on chain 0, odd on chain 1, the same FMAs) for
// legacy blocks, each 8 blocks' scales made by blocks.Scales8 and broadcast
// from memory. block_sum(b): block b's int32 dot, as float lanes.
template <class Blocks, class BlockSum>
HWY_INLINE float SumLegacyBlocks(const Blocks& blocks, const float* x_d, int64_t n_blocks, const BlockSum& block_sum) {
  const DF32 df;
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  HWY_ALIGN float scale[8];
  int64_t b = 0;
  for (; b + 8 <= n_blocks; b += 8) {
    blocks.Prefetch8(b);
    blocks.Scales8(b, x_d + b, scale);
    for (int i = 0; i < 8; i += 2) {
      acc0 = hn::MulAdd(block_sum(b + i), hn::Set(df, scale[i]), acc0);
      acc1 = hn::MulAdd(block_sum(b + i + 1), hn::Set(df, scale[i + 1]), acc1);
    }
  }
  for (; b < n_blocks; ++b) {
    const auto s = hn::Set(df, HalfBitsToF32(blocks.Scale(b)) * x_d[b]);
    if (b % 2 == 0) acc0 = hn::MulAdd(block_sum(b), s, acc0);
    else acc1 = hn::MulAdd(block_sum(b), s, acc1);
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
}
#endif

// Where block b of a legacy-type row keeps its half scale and its quants:
// blocks side by side as in the file (LegacyBlocks), or a kQ4_0R row's scale
// and quant arrays (Q4_0RBlocks, tensor/q4_0_repack.h). The kernels take
// either and do the same arithmetic, so both layouts give the same bits.
template <class Block>
struct LegacyBlocks {
  const Block* blocks;
  LegacyBlocks(const void* row, int64_t /*n_blocks*/) : blocks(static_cast<const Block*>(row)) {}
  const uint16_t* Scale(int64_t b) const { return &blocks[b].d; }
  const auto* Quants(int64_t b) const { return blocks[b].qs; }
  HWY_INLINE void Prefetch(int64_t b) const { PrefetchStream<sizeof(Block)>(blocks + b); }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  // Q8_0 (272 bytes per 8 blocks): every other line, the adjacent-line
  // prefetcher fetching its pair: tg128 +1.4-2.9% against every line.
  // Q4_0 (144 bytes) lost 11% that way, f16 rows 7-10%.
  HWY_INLINE void Prefetch8(int64_t b) const {
    PrefetchStream<8 * sizeof(Block), (8 * sizeof(Block) > 256 ? 128 : 64), kLegacyPrefetchBytes>(blocks + b);
  }
  // out[i] = d_w(b + i) * x_d[i], i < 8.
  HWY_INLINE void Scales8(int64_t b, const float* x_d, float* out) const { LegacyScales8(blocks + b, x_d, out); }
  HWY_INLINE hn::Vec<DF32> Halves8(int64_t b) const { return LegacyHalves8(blocks + b); }
#endif
#if HWY_TARGET <= HWY_AVX3
  // Blocks b and b + 1's quant bytes side by side (Q4_0: 32 nibble bytes).
  HWY_INLINE hn::Vec<hn::Full256<uint8_t>> PairQuants(int64_t b) const {
    const hn::Full128<uint8_t> d8;
    return hn::Combine(hn::Full256<uint8_t>(), hn::LoadU(d8, blocks[b + 1].qs), hn::LoadU(d8, blocks[b].qs));
  }
#endif
};
using Q4_0Blocks = LegacyBlocks<BlockQ4_0>;

struct Q4_0RBlocks {
  const uint16_t* scales;
  const uint8_t* quants;
  Q4_0RBlocks(const void* row, int64_t n_blocks) : scales(Q4_0RScales(row)), quants(Q4_0RQuants(row, n_blocks)) {}
  const uint16_t* Scale(int64_t b) const { return scales + b; }
  const uint8_t* Quants(int64_t b) const { return quants + b * (kQK / 2); }
  // The quant stream only: the row's scales sit just before its quants, and
  // the next row's just after them, so a stream 2 KiB ahead of the quants
  // covers both (a chunk's first row: PrefetchStreamHead).
  HWY_INLINE void Prefetch(int64_t b) const { PrefetchStream<kQK / 2>(Quants(b)); }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  HWY_INLINE void Prefetch8(int64_t b) const { PrefetchStream<8 * (kQK / 2), 64, kLegacyPrefetchBytes>(Quants(b)); }
  // As LegacyScales8 (the same products), from one 16-byte load.
  HWY_INLINE void Scales8(int64_t b, const float* x_d, float* out) const {
    const DF32 df;
    hn::Store(hn::Mul(Halves8(b), hn::LoadU(df, x_d)), df, out);
    MemoryBarrier();
  }
  HWY_INLINE hn::Vec<DF32> Halves8(int64_t b) const {
    const hn::Rebind<hwy::float16_t, DF32> dh;
    return hn::PromoteTo(DF32(), hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(scales + b)));
  }
#endif
#if HWY_TARGET <= HWY_AVX3
  HWY_INLINE hn::Vec<hn::Full256<uint8_t>> PairQuants(int64_t b) const {
    return hn::LoadU(hn::Full256<uint8_t>(), Quants(b));
  }
#endif
};

// m[k] = min k of a Q4_K/Q5_K super-block as float (mins: byte k, from
// UnpackScaleMinsK), k < 8. One vector conversion on x86; exact either way.
HWY_INLINE void KMinsAsFloat(uint64_t mins, float* m) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  const DF32 df;
  const hn::Rebind<int32_t, DF32> di;
  const hn::Repartition<uint64_t, DF32> d64;
  KeepInRegister(mins);
  const auto bytes = hn::LowerHalf(hn::LowerHalf(hn::BitCast(hn::Repartition<uint8_t, DF32>(), hn::Set(d64, mins))));
  hn::Store(hn::ConvertTo(df, hn::PromoteTo(di, bytes)), df, m);
#else
  for (int k = 0; k < 8; ++k) m[k] = static_cast<float>((mins >> (8 * k)) & 0xFF);
#endif
}

// acc += dmin * (m[k] * x_sum[k]) for a super-block's 8 sub-blocks, lane k
// mod Lanes: the K types' mins term, in vectors (subtracted after the
// row's dot), where a scalar per sub-block cost as much as the dot's own
// vector work. m: KMinsAsFloat, HWY_ALIGN.
HWY_INLINE void AccumulateKMins(const float* m, float dmin, const float* x_sum, hn::Vec<DF32>& acc) {
  const DF32 df;
  const auto vdmin = hn::Set(df, dmin);
  for (size_t k = 0; k < 8; k += hn::Lanes(df))
    acc = hn::MulAdd(vdmin, hn::Mul(hn::Load(df, m + k), hn::LoadU(df, x_sum + k)), acc);
}

#if HWY_TARGET <= HWY_AVX3
// Two int32 vectors as one: their lanes as int16 side by side (vpackssdw
// interleaves them by 128-bit lane, 4 lanes of each), then neighbours
// summed (pmaddwd with ones). Exact while every input lane is below 2^15 in
// magnitude (FoldFour: below 2^14). Two rounds fold 4 vectors whose lanes
// 0-7 belong to group 2p and 8-15 to group 2p + 1 (p: the vector) into one
// whose lane k belongs to group kTreeLanes[0][k]; kTreeLanes[1] is the same
// for groups 8-15.
HWY_INLINE hn::Vec<hn::Full512<int32_t>> HalveSums(hn::Vec<hn::Full512<int32_t>> a, hn::Vec<hn::Full512<int32_t>> b) {
  const hn::Full512<int16_t> d16;
  const hn::Full512<int32_t> d32;
  auto unused = hn::Zero(d32);  // pmaddwd leaves nothing there
  return hn::ReorderWidenMulAccumulate(d32, hn::ReorderDemote2To(d16, a, b), hn::Set(d16, 1), hn::Zero(d32), unused);
}
HWY_ALIGN static constexpr int32_t kTreeLanes[2][16] = {{0, 2, 4, 6, 0, 2, 4, 6, 1, 3, 5, 7, 1, 3, 5, 7},
                                                        {8, 10, 12, 14, 8, 10, 12, 14, 9, 11, 13, 15, 9, 11, 13, 15}};
HWY_INLINE hn::Vec<hn::Full512<int32_t>> FoldFour(const hn::Vec<hn::Full512<int32_t>>* sums) {
  return HalveSums(HalveSums(sums[0], sums[1]), HalveSums(sums[2], sums[3]));
}

// Q4_0 and kQ4_0R on AVX-512: two blocks per 512-bit vector (Blocks:
// Q4_0Blocks or Q4_0RBlocks; their 32 nibble bytes as one 256-bit vector,
// PairQuants). Lanes 0-7 of every vector belong to the even block, 8-15 to
// the odd one (q4_lo: the low activations of consecutive blocks side by
// side). The quants' -8 is not in the int32 lanes: 8 * sum over blocks of
// d_w * x_sum (QuantizedActs::sum) is taken off once at the end, one FMA per
// 8 blocks instead of an add per block pair (one row in L1, one core: 30 ->
// 26.5 cycles per 8 blocks; 4 tokens: 26.3 -> 22 per token). Both layouts
// run this same code, so a cluster mixing mapped and copied weights gets
// the same bits either way (matmul_test).
//
// A group of 8 blocks is 4 pair vectors of int32 sums (each lane < 4 * 15 *
// 127, so < 2^13). Instead of a convert, a scale permute and an FMA per
// pair, two rounds of pack-to-int16 and pmaddwd with ones halve them into
// one vector (FoldFour, < 2^15), then one convert, permute and FMA per
// group: 26 -> 23 vector ops per token and group. A 2048x2048 matrix, one
// core: 8 tokens 690 -> 600 us, 1 token 120 -> 116 us (kernel_bench
// DecodeStep q4_0r).
//
// kTok tokens at once (MatVecBatch's tiles, matmul_q8-inl.h): each pair's
// nibbles are widened and shifted once, then each token does what one token
// alone does, so every token gets the bits of DotQ8Row (kTok = 1).
template <class Blocks, int kTok>
HWY_INLINE void DotQ4_0Pairs(const Blocks& blocks, const ActsRow* x, int64_t n_blocks, float* out) {
  const hn::Full512<int16_t> d16;
  const hn::Full512<int32_t> d32;
  const hn::Full512<float> df;
  const hn::Full512<uint16_t> du16;
  const hn::Full256<float> df8;
  const auto tree = hn::SetTableIndices(df, kTreeLanes[0]);
  hn::Vec<decltype(df)> acc[kTok];
  hn::Vec<decltype(df8)> offset[kTok];  // sum of d_w * x_sum over the 8-block groups
  for (int t = 0; t < kTok; ++t) {
    acc[t] = hn::Zero(df);
    offset[t] = hn::Zero(df8);
  }
  int64_t b = 0;
  for (; b + 8 <= n_blocks; b += 8) {
    blocks.Prefetch8(b);
    const auto d_w = blocks.Halves8(b);
    hn::Vec<decltype(d16)> q[4], q_hi[4];  // pair p: blocks b + 2p (lanes 0-15), b + 2p + 1
    for (int p = 0; p < 4; ++p) {
      q[p] = hn::BitCast(d16, hn::PromoteTo(du16, blocks.PairQuants(b + 2 * p)));
      q_hi[p] = hn::ShiftRight<4>(q[p]);
    }
    for (int t = 0; t < kTok; ++t) {
      hn::Vec<decltype(d32)> sums[4];  // int32 lanes 0-7: block b + 2p, 8-15: b + 2p + 1; each < 4 * 15 * 127
      for (int p = 0; p < 4; ++p) {
        const int64_t at = (b + 2 * p) * (kQK / 2);
        auto unused = hn::Zero(d32);
        sums[p] = hn::ReorderWidenMulAccumulate(d32, q[p], hn::LoadU(d16, x[t].q4_lo + at), hn::Zero(d32), unused);
        sums[p] = hn::ReorderWidenMulAccumulate(d32, q_hi[p], hn::LoadU(d16, x[t].q4_hi + at), sums[p], unused);
      }
      const auto blocks8 = FoldFour(sums);  // lane k: block b + kTreeLanes[0][k], < 2^15
      const auto scale = hn::ZeroExtendVector(df, hn::Mul(d_w, hn::LoadU(df8, x[t].d + b)));
      acc[t] = hn::MulAdd(hn::ConvertTo(df, blocks8), hn::TableLookupLanes(scale, tree), acc[t]);
      offset[t] = hn::MulAdd(d_w, hn::LoadU(df8, x[t].sum + b), offset[t]);
    }
  }
  // The rest one block at a time on the 256-bit chains, as SumLegacyBlocks.
  for (int t = 0; t < kTok; ++t) {
    auto acc0 = hn::LowerHalf(df8, acc[t]), acc1 = hn::UpperHalf(df8, acc[t]);
    for (int64_t r = b; r < n_blocks; ++r) {
      const D16 d16h;
      const D32 d32h;
      auto s0 = hn::LoadU(d32h, x[t].q4_bias + r * kQ4BiasLanes), s1 = hn::Zero(d32h);
      const auto q = LoadU8As16(d16h, blocks.Quants(r));
      MulAcc(q, x[t].q4_lo + r * (kQK / 2), s0, s1);
      MulAcc(hn::ShiftRight<4>(q), x[t].q4_hi + r * (kQK / 2), s0, s1);
      const auto s = hn::Set(df8, HalfBitsToF32(blocks.Scale(r)) * x[t].d[r]);
      if (r % 2 == 0) acc0 = hn::MulAdd(ToFloat(s0, s1), s, acc0);
      else acc1 = hn::MulAdd(ToFloat(s0, s1), s, acc1);
    }
    out[t] = hn::GetLane(hn::SumOfLanes(df8, hn::Add(acc0, acc1))) - 8.0f * hn::GetLane(hn::SumOfLanes(df8, offset[t]));
  }
}

// Whether the activations carry what DotQ4_0Pairs reads.
HWY_INLINE bool HasQ4Pairs(const ActsRow& x) {
  return x.q4_bias != nullptr && x.q4_hi != nullptr && x.q4_lo != nullptr;
}
#endif

// Blocks: Q4_0Blocks (kQ4_0) or Q4_0RBlocks (kQ4_0R).
template <class Blocks>
float DotQ8RowQ4_0(const void* row, ActsRow x, int64_t n) {
  const D16 d16;
  const D32 d32;
  const DF32 df;
  const Blocks blocks(row, n / kQK);
  const auto mask = hn::Set(d16, 0xF), bias = hn::Set(d16, 8);
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  // pmaddwd (and VNNI's dpwssd) lane i sums elements 2i, 2i+1 of each
  // 16-element half: start it at -8 times those activations and multiply the
  // nibbles as stored. Integer sums, so the int32 lanes, and the result, are
  // those of the loop below, two vector subtracts cheaper per block.
  static_assert(hn::MaxLanes(D16()) == 2 * kQ4BiasLanes, "one 16-lane vector per half block");
  // The bytes as loaded are lo + 16 hi: times the low half's activations
  // that is lo x_lo + 16 hi x_lo, and hi times (x_hi - 16 x_lo) (q4_hi)
  // completes lo x_lo + hi x_hi, in the same lanes: no mask per block.
#if HWY_TARGET <= HWY_AVX3
  if (HasQ4Pairs(x)) {
    float out;
    DotQ4_0Pairs<Blocks, 1>(blocks, &x, n / kQK, &out);
    return out;
  }
#endif
  if (x.q4_bias != nullptr && x.q4_hi != nullptr) {
    return SumLegacyBlocks(blocks, x.d, n / kQK, [&](int64_t b) HWY_ATTR {
      auto s0 = hn::LoadU(d32, x.q4_bias + b * kQ4BiasLanes), s1 = hn::Zero(d32);
      const auto q = LoadU8As16(d16, blocks.Quants(b));
      MulAcc(q, x.q + b * kQK, s0, s1);
      MulAcc(hn::ShiftRight<4>(q), x.q4_hi + b * (kQK / 2), s0, s1);
      return ToFloat(s0, s1);
    });
  }
#endif
  return SumBlocks(n / kQK, [&](int64_t b, hn::Vec<DF32> acc) HWY_ATTR {
    blocks.Prefetch(b);
    const uint8_t* qs = blocks.Quants(b);
    const int16_t* xq = x.q + b * kQK;
    auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
    for (size_t j = 0; j < kQK / 2; j += hn::Lanes(d16)) {
      const auto q = LoadU8As16(d16, qs + j);
      MulAcc(hn::Sub(hn::And(q, mask), bias), xq + j, s0, s1);
      MulAcc(hn::Sub(hn::ShiftRight<4>(q), bias), xq + kQK / 2 + j, s0, s1);
    }
    return hn::MulAdd(ToFloat(s0, s1), hn::Set(df, HalfBitsToF32(blocks.Scale(b)) * x.d[b]), acc);
  });
}

float DotQ8RowQ8_0(const void* row, ActsRow x, int64_t n) {
  const D16 d16;
  const D32 d32;
  const DF32 df;
  const auto* blocks = static_cast<const BlockQ8_0*>(row);
  const auto block_sum = [&](int64_t b) HWY_ATTR {
    const int16_t* xq = x.q + b * kQK;
    auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
    for (size_t j = 0; j < kQK; j += hn::Lanes(d16)) MulAcc(LoadI8As16(d16, blocks[b].qs + j), xq + j, s0, s1);
    return ToFloat(s0, s1);
  };
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return SumLegacyBlocks(LegacyBlocks<BlockQ8_0>(row, n / kQK), x.d, n / kQK, block_sum);
#else
  return SumBlocks(n / kQK, [&](int64_t b, hn::Vec<DF32> acc) HWY_ATTR {
    PrefetchStream<sizeof(BlockQ8_0)>(blocks + b);
    return hn::MulAdd(block_sum(b), hn::Set(df, HalfBitsToF32(&blocks[b].d) * x.d[b]), acc);
  });
#endif
}

// Q4_K (kHighBits = false) and Q5_K: chunk c of 64 elements is sub-blocks
// 2c (low nibbles) and 2c+1 (high nibbles), each one activation block.
template <class Block, bool kHighBits>
float DotQ8RowK45(const void* row, ActsRow x, int64_t n) {
  const D16 d16;
  const D32 d32;
  const DF32 df;
  const auto* blocks = static_cast<const Block*>(row);
  const auto mask = hn::Set(d16, 0xF), one = hn::Set(d16, 1);
  auto acc = hn::Zero(df), acc_hi = hn::Zero(df);  // two FMA chains
  auto mins = hn::Zero(df);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const Block& blk = blocks[b];
    PrefetchStream<sizeof(Block)>(&blk);
    const float d = HalfBitsToF32(&blk.d), dmin = HalfBitsToF32(&blk.dmin);
    uint64_t scale_bytes, min_bytes;
    UnpackScaleMinsK(blk.scales, &scale_bytes, &min_bytes);
    HWY_ALIGN float m[8];
    KMinsAsFloat(min_bytes, m);
    AccumulateKMins(m, dmin, x.sum + b * 8, mins);
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    HWY_ALIGN float scale[8];  // d * sub-block scale * activation scale, as LegacyScales8
    KScales8(scale_bytes, d, x.d + b * 8, scale);
#endif
    for (int c = 0; c < 4; ++c) {
      const int64_t ab = b * 8 + 2 * c;  // activation block of the low sub-block
      const int16_t* xq = x.q + ab * kQK;
      auto lo0 = hn::Zero(d32), lo1 = hn::Zero(d32), hi0 = hn::Zero(d32), hi1 = hn::Zero(d32);
      for (size_t l = 0; l < 32; l += hn::Lanes(d16)) {
        const auto v = LoadU8As16(d16, blk.qs + 32 * c + l);
        auto q_lo = hn::And(v, mask), q_hi = hn::ShiftRight<4>(v);
        if constexpr (kHighBits) {
          const auto h = LoadU8As16(d16, blk.qh + l);
          q_lo = hn::Or(q_lo, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c), one)));
          q_hi = hn::Or(q_hi, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, 2 * c + 1), one)));
        }
        MulAcc(q_lo, xq + l, lo0, lo1);
        MulAcc(q_hi, xq + 32 + l, hi0, hi1);
      }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
      acc = hn::MulAdd(ToFloat(lo0, lo1), hn::Set(df, scale[2 * c]), acc);
      acc_hi = hn::MulAdd(ToFloat(hi0, hi1), hn::Set(df, scale[2 * c + 1]), acc_hi);
#else
      const ScaleMin a = GetScaleMinK(blk.scales, 2 * c), h = GetScaleMinK(blk.scales, 2 * c + 1);
      acc = hn::MulAdd(ToFloat(lo0, lo1), hn::Set(df, d * a.scale * x.d[ab]), acc);
      acc_hi = hn::MulAdd(ToFloat(hi0, hi1), hn::Set(df, d * h.scale * x.d[ab + 1]), acc_hi);
#endif
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc, acc_hi))) - hn::GetLane(hn::SumOfLanes(df, mins));
}

// Q6_K: 16 sub-blocks of 16 with int8 scales; the scale multiplies the
// int16 quants (|q * sc| <= 32 * 128), so each activation block of 32 still
// leaves one int32 vector.
float DotQ8RowQ6_K(const void* row, ActsRow x, int64_t n) {
  const D16 d16;
  const D32 d32;
  const DF32 df;
  const auto* blocks = static_cast<const BlockQ6_K*>(row);
  const auto mask = hn::Set(d16, 0xF), top = hn::Set(d16, 0x30), bias = hn::Set(d16, 32);
  hn::Vec<DF32> acc[2] = {hn::Zero(df), hn::Zero(df)};  // two FMA chains
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ6_K& blk = blocks[b];
    PrefetchStream<sizeof(BlockQ6_K)>(&blk);
    const float d = HalfBitsToF32(&blk.d);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = blk.ql + 64 * half;
      const uint8_t* qh = blk.qh + 32 * half;
      const int8_t* sc = blk.scales + 8 * half;
      const int64_t ab = b * 8 + 4 * half;  // activation blocks ab..ab+3: elements +0, +32, +64, +96
      const int16_t* xq = x.q + ab * kQK;
      hn::Vec<D32> s[4][2];
      for (auto& pair : s) pair[0] = pair[1] = hn::Zero(d32);
      for (size_t l = 0; l < 32; l += hn::Lanes(d16)) {
        const size_t is = l / 16;
        const auto a = LoadU8As16(d16, ql + l), c = LoadU8As16(d16, ql + l + 32), h = LoadU8As16(d16, qh + l);
        const auto q1 = hn::Sub(hn::Or(hn::And(a, mask), hn::And(hn::ShiftLeft<4>(h), top)), bias);
        const auto q2 = hn::Sub(hn::Or(hn::And(c, mask), hn::And(hn::ShiftLeft<2>(h), top)), bias);
        const auto q3 = hn::Sub(hn::Or(hn::ShiftRight<4>(a), hn::And(h, top)), bias);
        const auto q4 = hn::Sub(hn::Or(hn::ShiftRight<4>(c), hn::And(hn::ShiftRight<2>(h), top)), bias);
        MulAcc(hn::Mul(q1, hn::Set(d16, sc[is])), xq + l, s[0][0], s[0][1]);
        MulAcc(hn::Mul(q2, hn::Set(d16, sc[is + 2])), xq + 32 + l, s[1][0], s[1][1]);
        MulAcc(hn::Mul(q3, hn::Set(d16, sc[is + 4])), xq + 64 + l, s[2][0], s[2][1]);
        MulAcc(hn::Mul(q4, hn::Set(d16, sc[is + 6])), xq + 96 + l, s[3][0], s[3][1]);
      }
      for (int k = 0; k < 4; ++k)
        acc[k & 1] = hn::MulAdd(ToFloat(s[k][0], s[k][1]), hn::Set(df, d * x.d[ab + k]), acc[k & 1]);
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc[0], acc[1])));
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PLEXUS_KERNELS_DOT_Q8_INL_H_
