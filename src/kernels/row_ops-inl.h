// Per-target row kernels for every weight type (Highway -inl header):
// dot(row, x) and decode(row) -> floats, found by type in one table.

#if defined(PLEXUS_KERNELS_ROW_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PLEXUS_KERNELS_ROW_OPS_INL_H_
#undef PLEXUS_KERNELS_ROW_OPS_INL_H_
#else
#define PLEXUS_KERNELS_ROW_OPS_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "base/status.h"
#include "hwy/highway.h"
#include "kernels/decode-inl.h"
#include "kernels/stream_prefetch.h"
#include "tensor/dtype.h"
#include "tensor/fp16.h"
#include "tensor/q4_0_repack.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using RowDotFn = float (*)(const void* row, const float* x, int64_t n);
using RowDecodeFn = void (*)(const void* row, float* out, int64_t n);

struct RowOps {
  DType type;
  RowDotFn dot;
  RowDecodeFn decode;
};

// --- quant blocks: decode-inl.h's decoders with a dot or a store sink ---

template <class DF>
struct DotSink {
  DF df;
  const float* x;  // the current block's slice of x
  hn::Vec<DF> acc0, acc1;

  template <int k>
  HWY_INLINE void Put(size_t i, hn::Vec<DF> w) {
    if constexpr (k == 0) {
      acc0 = hn::MulAdd(w, hn::LoadU(df, x + i), acc0);
    } else {
      acc1 = hn::MulAdd(w, hn::LoadU(df, x + i), acc1);
    }
  }
};

template <class DF>
struct StoreSink {
  DF df;
  float* out;  // the current block's slice of the output

  template <int k>
  HWY_INLINE void Put(size_t i, hn::Vec<DF> w) {
    hn::StoreU(w, df, out + i);
  }
};

// Block b of a row of nb blocks, to a sink: a row of Blocks side by side as
// in the file; RowBlocks<Q4_0RLayout> reads a kQ4_0R row's scale and quant
// arrays with the Q4_0 decoder (the same values, so the same bits as the
// row before its repacking).
struct Q4_0RLayout {};

template <class Block>
struct RowBlocks {
  template <class Sink>
  static HWY_INLINE void Decode(const void* row, int64_t /*nb*/, int64_t b, Sink& sink) {
    DecodeBlock(DQ(), static_cast<const Block*>(row)[b], sink);
  }
};

template <>
struct RowBlocks<Q4_0RLayout> {
  template <class Sink>
  static HWY_INLINE void Decode(const void* row, int64_t nb, int64_t b, Sink& sink) {
    DecodeQ4_0(DQ(), Q4_0RScales(row) + b, Q4_0RQuants(row, nb) + b * (kQK / 2), sink);
  }
};

template <class Block, int kElems>
float DotQuantRow(const void* row, const float* x, int64_t n) {
  const DQ df;
  DotSink<DQ> sink{df, x, hn::Zero(df), hn::Zero(df)};
  for (int64_t b = 0; b < n / kElems; ++b) {
    sink.x = x + b * kElems;
    RowBlocks<Block>::Decode(row, n / kElems, b, sink);
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(sink.acc0, sink.acc1)));
}

template <class Block, int kElems>
void DecodeQuantRow(const void* row, float* out, int64_t n) {
  StoreSink<DQ> sink{DQ(), out};
  for (int64_t b = 0; b < n / kElems; ++b) {
    sink.out = out + b * kElems;
    RowBlocks<Block>::Decode(row, n / kElems, b, sink);
  }
}

// --- plain floats: f32, f16 (PromoteTo) and bf16 ---

template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const float* p) {
  return hn::LoadU(d, p);
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const hwy::float16_t* p) {
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::float16_t, D>(), p));
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF32(D d, const hwy::bfloat16_t* p) {
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::bfloat16_t, D>(), p));
}

// Scalar twins of LoadF32 for the tails.
template <class T>
HWY_INLINE uint16_t Bits16(T v) {
  uint16_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}
HWY_INLINE float ToF32(float v) { return v; }
HWY_INLINE float ToF32(hwy::float16_t v) { return F16ToF32(Bits16(v)); }
HWY_INLINE float ToF32(hwy::bfloat16_t v) { return BF16ToF32(Bits16(v)); }

// Dots of one f32/f16/bf16 row with kTok tokens (token t at x + t * x_stride):
// four FMA chains per token, each row vector widened once for all of them.
// A token's sum does not depend on kTok, so MatVecBatch's float rows (kTok up
// to 4) give each token the bits of MatVec's DotPlainRow (kTok = 1).
template <class T, int kTok>
HWY_INLINE void DotPlainRowTokens(const void* row, const float* x, int64_t x_stride, int64_t n, float* out) {
  const hn::ScalableTag<float> d;
  const auto* w = static_cast<const T*>(row);
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<decltype(d)> acc[kTok][4];
  for (int t = 0; t < kTok; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    PrefetchStream<4 * hn::MaxLanes(d) * sizeof(T)>(w + i);
    const auto w0 = LoadF32(d, w + i), w1 = LoadF32(d, w + i + N);
    const auto w2 = LoadF32(d, w + i + 2 * N), w3 = LoadF32(d, w + i + 3 * N);
    for (int t = 0; t < kTok; ++t) {
      const float* xt = x + t * x_stride + i;
      acc[t][0] = hn::MulAdd(w0, hn::LoadU(d, xt), acc[t][0]);
      acc[t][1] = hn::MulAdd(w1, hn::LoadU(d, xt + N), acc[t][1]);
      acc[t][2] = hn::MulAdd(w2, hn::LoadU(d, xt + 2 * N), acc[t][2]);
      acc[t][3] = hn::MulAdd(w3, hn::LoadU(d, xt + 3 * N), acc[t][3]);
    }
  }
  for (; i + N <= n; i += N) {
    const auto wv = LoadF32(d, w + i);
    for (int t = 0; t < kTok; ++t) acc[t][0] = hn::MulAdd(wv, hn::LoadU(d, x + t * x_stride + i), acc[t][0]);
  }
  for (int t = 0; t < kTok; ++t) {
    float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(acc[t][0], acc[t][1]), hn::Add(acc[t][2], acc[t][3]))));
    for (int64_t k = i; k < n; ++k) sum += ToF32(w[k]) * x[t * x_stride + k];
    out[t] = sum;
  }
}

template <class T>
HWY_INLINE float DotPlainRow(const void* row, const float* x, int64_t n) {
  float out;
  DotPlainRowTokens<T, 1>(row, x, n, n, &out);
  return out;
}

template <class T>
void DecodePlainRow(const void* row, float* out, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto* w = static_cast<const T*>(row);
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(LoadF32(d, w + i), d, out + i);
  for (; i < n; ++i) out[i] = ToF32(w[i]);
}

// The row kernels of `type` on this target.
HWY_INLINE const RowOps& GetRowOps(DType type) {
  static constexpr RowOps kOps[] = {
      {DType::kF32, &DotPlainRow<float>, &DecodePlainRow<float>},
      {DType::kF16, &DotPlainRow<hwy::float16_t>, &DecodePlainRow<hwy::float16_t>},
      {DType::kBF16, &DotPlainRow<hwy::bfloat16_t>, &DecodePlainRow<hwy::bfloat16_t>},
      {DType::kQ4_0, &DotQuantRow<BlockQ4_0, kQK>, &DecodeQuantRow<BlockQ4_0, kQK>},
      {DType::kQ4_1, &DotQuantRow<BlockQ4_1, kQK>, &DecodeQuantRow<BlockQ4_1, kQK>},
      {DType::kQ5_0, &DotQuantRow<BlockQ5_0, kQK>, &DecodeQuantRow<BlockQ5_0, kQK>},
      {DType::kQ5_1, &DotQuantRow<BlockQ5_1, kQK>, &DecodeQuantRow<BlockQ5_1, kQK>},
      {DType::kQ8_0, &DotQuantRow<BlockQ8_0, kQK>, &DecodeQuantRow<BlockQ8_0, kQK>},
      {DType::kQ4_K, &DotQuantRow<BlockQ4_K, kQKK>, &DecodeQuantRow<BlockQ4_K, kQKK>},
      {DType::kQ5_K, &DotQuantRow<BlockQ5_K, kQKK>, &DecodeQuantRow<BlockQ5_K, kQKK>},
      {DType::kQ6_K, &DotQuantRow<BlockQ6_K, kQKK>, &DecodeQuantRow<BlockQ6_K, kQKK>},
      {DType::kQ4_0R, &DotQuantRow<Q4_0RLayout, kQK>, &DecodeQuantRow<Q4_0RLayout, kQK>},
  };
  for (const RowOps& ops : kOps)
    if (ops.type == type) return ops;
  PLEXUS_CHECK(false, "[kernels] no row kernels for dtype {}", static_cast<uint32_t>(type));
  __builtin_unreachable();
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PLEXUS_KERNELS_ROW_OPS_INL_H_
