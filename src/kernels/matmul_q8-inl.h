// Per-target integer dots of one quantized weight row with a tile of up to
// kMaxTileTokens token rows of QuantizedActs (Highway -inl header, included
// once per target by foreach_target.h): MatVecBatch, the batched decode step
// (one token of each of several sequences).
//
// Exactness: each token's result is bit-identical to the single-token kernel
// of dot_q8-inl.h (what MatVec runs), so a sequence's logits do not depend on
// which other sequences share its decode step. Per token, these kernels do
// the same arithmetic in the same order as the row kernel of that type:
// - the same int32 partial sums per activation block (the same weight quant
//   vectors multiplied with the same activation offsets; integer adds are
//   exact, so only the lane a product lands in matters, and that is the same);
// - the same float scale products ((weight scale * sub-scale) * act scale);
// - the same FMA chains, fed in the same order (legacy types: even blocks
//   chain 0, odd blocks chain 1; K types: as their row kernels);
// - the same final SumOfLanes(chain0 + chain1) and, for Q4_K/Q5_K, minus the
//   same mins vector (AccumulateKMins per super-block), summed the same way.
// Any change to a row kernel's arithmetic in dot_q8-inl.h must be mirrored
// here; tests/kernels/matvec_batch_test.cc compares them bit for bit. On
// AVX-512, Q4_0, kQ4_0R and the K types instead run their row kernels' own
// kTok templates (DotQ4_0Pairs, DotK45Pairs, DotQ6_KWide), so there the
// identity holds by construction; the visitors below serve the rest.
//
// Structure: a row visitor (Q4_0Rows, ...) walks the row's activation blocks
// of 32 in the row kernel's order; for each it unpacks and widens the weight
// quants to int16 ONCE (kV32 vectors) and hands them with the block's scale
// to TokenSink, which multiplies them with every token of the tile
// (ReorderWidenMulAccumulate: pmaddwd on x86) into that token's own chains.
// The unpacking is shared by the tile's tokens; the per-token work is what
// MatVec does. (The wip/matmul-q8 branch also summed 4 tokens' int32 vectors
// into one before the float conversion: 10-25% faster, but it regroups the
// float adds, so a batched token no longer matched MatVec to the bit.)
// Scalar twin: scalar::MatVecBatch (ops_scalar.cc), DotQ8 per token.

#if defined(PLEXUS_KERNELS_MATMUL_Q8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PLEXUS_KERNELS_MATMUL_Q8_INL_H_
#undef PLEXUS_KERNELS_MATMUL_Q8_INL_H_
#else
#define PLEXUS_KERNELS_MATMUL_Q8_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "kernels/decode-inl.h"
#include "kernels/dot_k_wide-inl.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "tensor/quant_k_scales.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// D16/D32/DF32, ActsRow and the byte loaders: dot_q8-inl.h.
// int16 lanes per vector, and vectors per block of 32 quants.
constexpr size_t kL16 = hn::MaxLanes(D16());
constexpr size_t kV32 = 32 / kL16;

// Most tokens per tile: each weight block is unpacked once per tile. 4
// tokens' 8 accumulators stay in the 16 vector registers of AVX2; tiles of 8
// (spilled accumulators) measured no faster on the AVX2 Zen 1 dev machine.
constexpr int kMaxTileTokens = 4;

// Token t of the tile: its quants, block scales and block sums (ActsRow).
struct ActsTile {
  ActsRow tok[kMaxTileTokens];
};

// out[t] = dot(row, token t), t in [0, kTok); n: the row's elements.
using TileDotFn = void (*)(const void* row, const ActsTile& x, int64_t n, float* out);

// The int32 partial sums of one block of 32: w holds the weight quants as
// kV32 int16 vectors (vector v: elements v * kL16 ...), x the block's
// activations. The same lanes as the row kernels' MulAcc/ToFloat.
HWY_INLINE hn::Vec<DF32> BlockDot(const hn::Vec<D16>* w, const int16_t* x) {
  auto s0 = hn::Zero(D32()), s1 = hn::Zero(D32());
  for (size_t v = 0; v < kV32; ++v) MulAcc(w[v], x + v * kL16, s0, s1);
  return ToFloat(s0, s1);
}

// Per token: two FMA chains and (Q4_K/Q5_K) the mins vector.
template <int kTok>
struct TokenSink {
  const ActsTile& x;
  hn::Vec<DF32> acc0[kTok], acc1[kTok], mins[kTok];
  bool has_mins = false;

  explicit TokenSink(const ActsTile& tile) : x(tile) {
    for (int t = 0; t < kTok; ++t) acc0[t] = acc1[t] = mins[t] = hn::Zero(DF32());
  }

  // chain kChain += dot(w, block ab of token t) * (scale * d_t[ab]).
  template <int kChain>
  HWY_INLINE void Block(int64_t ab, const hn::Vec<D16>* w, float scale) {
    const DF32 df;
    for (int t = 0; t < kTok; ++t) {
      const ActsRow& a = x.tok[t];
      hn::Vec<DF32>& acc = kChain == 0 ? acc0[t] : acc1[t];
      acc = hn::MulAdd(BlockDot(w, a.q + ab * kQK), hn::Set(df, scale * a.d[ab]), acc);
    }
  }

  // Q4_K/Q5_K super-block b's mins (m: KMinsAsFloat), as DotQ8RowK45.
  HWY_INLINE void Mins(int64_t b, float dmin, const float* m) {
    has_mins = true;
    for (int t = 0; t < kTok; ++t) AccumulateKMins(m, dmin, x.tok[t].sum + b * 8, mins[t]);
  }

  HWY_INLINE void Finish(float* out) {
    const DF32 df;
    for (int t = 0; t < kTok; ++t) {
      out[t] = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0[t], acc1[t])));
      if (has_mins) out[t] -= hn::GetLane(hn::SumOfLanes(df, mins[t]));
    }
  }
};

// --- row visitors: Visit(row, n, sink) feeds sink each block of 32 of a row
// of n elements, in the order and on the chains of the row kernel ---

// Legacy blocks (one scale per 32), as SumBlocks: even blocks chain 0, odd
// blocks chain 1. unpack(b, w) fills w with block b's quants, returns its scale.
template <class Sink, class Unpack>
HWY_INLINE void VisitLegacy(int64_t n, Sink& sink, const Unpack& unpack) {
  const int64_t nb = n / kQK;
  hn::Vec<D16> w[kV32];
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    sink.template Block<0>(b, w, unpack(b, w));
    sink.template Block<1>(b + 1, w, unpack(b + 1, w));
  }
  if (b < nb) sink.template Block<0>(b, w, unpack(b, w));
}

// As DotQ8RowQ4_0: element j in the low nibble of qs[j], j + 16 in the high
// one, minus 8. Blocks: Q4_0Blocks or Q4_0RBlocks (dot_q8-inl.h).
template <class Blocks>
struct Q4_0Rows {
  template <class Sink>
  static HWY_INLINE void Visit(const void* row, int64_t n, Sink& sink) {
    const D16 d16;
    const Blocks blocks(row, n / kQK);
    const auto mask = hn::Set(d16, 0xF), bias = hn::Set(d16, 8);
    VisitLegacy(n, sink, [&](int64_t b, hn::Vec<D16>* w) HWY_ATTR {
      blocks.Prefetch(b);
      const uint8_t* qs = blocks.Quants(b);
      for (size_t j = 0; j < kQK / 2; j += kL16) {
        const auto q = LoadU8As16(d16, qs + j);
        w[j / kL16] = hn::Sub(hn::And(q, mask), bias);
        w[(j + kQK / 2) / kL16] = hn::Sub(hn::ShiftRight<4>(q), bias);
      }
      return HalfBitsToF32(blocks.Scale(b));
    });
  }
};

struct Q8_0Rows {
  template <class Sink>
  static HWY_INLINE void Visit(const void* row, int64_t n, Sink& sink) {
    const D16 d16;
    const auto* blocks = static_cast<const BlockQ8_0*>(row);
    VisitLegacy(n, sink, [&](int64_t b, hn::Vec<D16>* w) HWY_ATTR {
      const BlockQ8_0& blk = blocks[b];
      PrefetchStream<sizeof(BlockQ8_0)>(&blk);
      for (size_t v = 0; v < kV32; ++v) w[v] = LoadI8As16(d16, blk.qs + v * kL16);
      return HalfBitsToF32(&blk.d);
    });
  }
};

// As DotQ8RowK45 (Q4_K: kHighBits = false; Q5_K): chunk c of 64 elements is
// sub-blocks 2c (low nibbles, chain 0) and 2c+1 (high nibbles, chain 1),
// each one activation block; each super-block's mins first.
template <class BlockK, bool kHighBits>
struct K45Rows {
  template <class Sink>
  static HWY_INLINE void Visit(const void* row, int64_t n, Sink& sink) {
    const D16 d16;
    const auto* blocks = static_cast<const BlockK*>(row);
    const auto mask = hn::Set(d16, 0xF), one = hn::Set(d16, 1);
    for (int64_t b = 0; b < n / kQKK; ++b) {
      const BlockK& blk = blocks[b];
      PrefetchStream<sizeof(BlockK)>(&blk);
      const float d = HalfBitsToF32(&blk.d), dmin = HalfBitsToF32(&blk.dmin);
      uint64_t scale_bytes, min_bytes;
      UnpackScaleMinsK(blk.scales, &scale_bytes, &min_bytes);
      HWY_ALIGN float m[8];
      KMinsAsFloat(min_bytes, m);
      sink.Mins(b, dmin, m);
      for (int c = 0; c < 4; ++c) {
        const int64_t ab = b * 8 + 2 * c;  // activation block of the low sub-block
        const ScaleMin a = GetScaleMinK(blk.scales, 2 * c), h = GetScaleMinK(blk.scales, 2 * c + 1);
        hn::Vec<D16> w[kV32];
        for (size_t v = 0; v < kV32; ++v) {
          w[v] = hn::And(LoadU8As16(d16, blk.qs + 32 * c + v * kL16), mask);
          if constexpr (kHighBits) {  // bit 2c of qh: bit 4 of the low quant
            const auto qh = LoadU8As16(d16, blk.qh + v * kL16);
            w[v] = hn::Or(w[v], hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(qh, 2 * c), one)));
          }
        }
        sink.template Block<0>(ab, w, d * a.scale);
        for (size_t v = 0; v < kV32; ++v) {
          w[v] = hn::ShiftRight<4>(LoadU8As16(d16, blk.qs + 32 * c + v * kL16));
          if constexpr (kHighBits) {  // bit 2c+1: that of the high quant
            const auto qh = LoadU8As16(d16, blk.qh + v * kL16);
            w[v] = hn::Or(w[v], hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(qh, 2 * c + 1), one)));
          }
        }
        sink.template Block<1>(ab + 1, w, d * h.scale);
      }
    }
  }
};

// As DotQ8RowQ6_K: 16 sub-blocks of 16 with int8 scales multiplied into the
// int16 quants. Half h of a super-block holds activation blocks 4h + k, k =
// 0..3, and activation block k feeds chain k & 1: k = p (low nibbles of
// ql + 32p) and k = p + 2 (high nibbles), bits 4..5 at bits 2k..2k+1 of qh.
// Chain 0 meets k = 0 then 2, chain 1 k = 1 then 3: the row kernel's order.
struct Q6_KRows {
  template <int kP, class Sink>
  static HWY_INLINE void Pass(const BlockQ6_K& blk, int half, float d, int64_t ab, Sink& sink) {
    const D16 d16;
    const auto mask = hn::Set(d16, 0xF), top = hn::Set(d16, 0x30), bias = hn::Set(d16, 32);
    const uint8_t* ql = blk.ql + 64 * half + 32 * kP;
    const uint8_t* qh = blk.qh + 32 * half;
    const int8_t* sc = blk.scales + 8 * half;
    hn::Vec<D16> lo[kV32], hi[kV32];
    for (size_t v = 0; v < kV32; ++v) {
      const auto q = LoadU8As16(d16, ql + v * kL16), h = LoadU8As16(d16, qh + v * kL16);
      const auto h_lo = kP == 0 ? hn::ShiftLeft<4>(h) : hn::ShiftLeft<2>(h);
      const auto h_hi = kP == 0 ? h : hn::ShiftRight<2>(h);
      const size_t is = v * kL16 / 16 + 2 * kP;
      lo[v] = hn::Mul(hn::Sub(hn::Or(hn::And(q, mask), hn::And(h_lo, top)), bias), hn::Set(d16, sc[is]));
      hi[v] = hn::Mul(hn::Sub(hn::Or(hn::ShiftRight<4>(q), hn::And(h_hi, top)), bias), hn::Set(d16, sc[is + 4]));
    }
    sink.template Block<kP>(ab + kP, lo, d);
    sink.template Block<kP>(ab + kP + 2, hi, d);
  }

  template <class Sink>
  static HWY_INLINE void Visit(const void* row, int64_t n, Sink& sink) {
    const auto* blocks = static_cast<const BlockQ6_K*>(row);
    for (int64_t b = 0; b < n / kQKK; ++b) {
      PrefetchStream<sizeof(BlockQ6_K)>(&blocks[b]);
      const float d = HalfBitsToF32(&blocks[b].d);
      for (int half = 0; half < 2; ++half) {
        Pass<0>(blocks[b], half, d, b * 8 + 4 * half, sink);
        Pass<1>(blocks[b], half, d, b * 8 + 4 * half, sink);
      }
    }
  }
};

template <class Rows, int kTok>
void TileDot(const void* row, const ActsTile& x, int64_t n, float* out) {
  TokenSink<kTok> sink(x);
  Rows::Visit(row, n, sink);
  sink.Finish(out);
}

#if HWY_TARGET <= HWY_AVX3
// Whether every token of the tile carries the arrays has(ActsRow) asks for.
template <int kTok, class Has>
HWY_INLINE bool EveryToken(const ActsTile& x, const Has& has) {
  for (int t = 0; t < kTok; ++t)
    if (!has(x.tok[t])) return false;
  return true;
}
#endif

// Q4_0, kQ4_0R: on AVX-512 DotQ8Row's own pair loop over the tile's tokens
// (the bits of DotQ4_0Pairs), where the per-block visitor above costs each token
// more than a lone MatVec does (2048x2048, 1 thread: 8 tokens 1052 us
// against 117 us for one).
template <class Blocks, int kTok>
void TileDotQ4_0(const void* row, const ActsTile& x, int64_t n, float* out) {
#if HWY_TARGET <= HWY_AVX3
  if (EveryToken<kTok>(x, HasQ4Pairs))
    return DotQ4_0Pairs<Blocks, kTok>(Blocks(row, n / kQK), x.tok, n / kQK, out);
#endif
  TileDot<Q4_0Rows<Blocks>, kTok>(row, x, n, out);
}

// kQ4_K, kQ5_K: on AVX-512 the row kernel's own wide loop over the tile's
// tokens (dot_k_wide-inl.h), as TileDotQ4_0.
template <class BlockK, bool kHighBits, int kTok>
void TileDotK45(const void* row, const ActsTile& x, int64_t n, float* out) {
#if HWY_TARGET <= HWY_AVX3
  if (EveryToken<kTok>(x, HasK45Pairs))
    return DotK45Pairs<BlockK, kHighBits, kTok>(static_cast<const BlockK*>(row), x.tok, n, out);
#endif
  TileDot<K45Rows<BlockK, kHighBits>, kTok>(row, x, n, out);
}

// kQ6_K: as TileDotK45, with DotQ6_KWide.
template <int kTok>
void TileDotQ6_K(const void* row, const ActsTile& x, int64_t n, float* out) {
#if HWY_TARGET <= HWY_AVX3
  if (EveryToken<kTok>(x, HasQ6Wide)) return DotQ6_KWide<kTok>(static_cast<const BlockQ6_K*>(row), x.tok, n, out);
#endif
  TileDot<Q6_KRows, kTok>(row, x, n, out);
}

// The tile kernel of `type` for kTok tokens, or nullptr when rows of that
// type meet float activations (GetRowDotQ8 is nullptr).
template <int kTok>
HWY_INLINE TileDotFn GetTileDotFor(DType type) {
  switch (type) {
    case DType::kQ4_0: return &TileDotQ4_0<Q4_0Blocks, kTok>;
    case DType::kQ4_0R: return &TileDotQ4_0<Q4_0RBlocks, kTok>;
    case DType::kQ8_0: return &TileDot<Q8_0Rows, kTok>;
    case DType::kQ4_K: return &TileDotK45<BlockQ4_K, false, kTok>;
    case DType::kQ5_K: return &TileDotK45<BlockQ5_K, true, kTok>;
    case DType::kQ6_K: return &TileDotQ6_K<kTok>;
    default: return nullptr;
  }
}

// n_tok in [1, kMaxTileTokens].
HWY_INLINE TileDotFn GetTileDot(DType type, int n_tok) {
  static_assert(kMaxTileTokens == 4, "one case per tile size");
  switch (n_tok) {
    case 1: return GetTileDotFor<1>(type);
    case 2: return GetTileDotFor<2>(type);
    case 3: return GetTileDotFor<3>(type);
    default: return GetTileDotFor<4>(type);
  }
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PLEXUS_KERNELS_MATMUL_Q8_INL_H_
