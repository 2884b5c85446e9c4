// DequantizeRow / QuantizeRow / DotRowScalar: one table entry per type,
// built from the per-block codecs in quant_legacy.cc and quant_k.cc.
#include "tensor/quant.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/status.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/q4_0_repack.h"
#include "tensor/quant_blocks.h"

namespace plexus {
namespace {

using DecodeFn = void (*)(const void* src, float* dst, int64_t n);
using EncodeFn = void (*)(const float* src, void* dst, int64_t n);

struct RowCodec {
  DType type;
  DecodeFn decode;
  EncodeFn encode;
};

template <class Block, int kElems>
void DecodeBlocks(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const Block*>(src);
  for (int64_t b = 0; b < n / kElems; ++b) quant::DecodeBlock(blocks[b], dst + b * kElems);
}

template <class Block, int kElems>
void EncodeBlocks(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<Block*>(dst);
  for (int64_t b = 0; b < n / kElems; ++b) quant::EncodeBlock(src + b * kElems, &blocks[b]);
}

void DecodeF32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }
void EncodeF32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

template <float (*kToF32)(uint16_t)>
void DecodeHalves(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = kToF32(h[i]);
}

template <uint16_t (*kFromF32)(float)>
void EncodeHalves(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = kFromF32(src[i]);
}

// kQ4_0R through the Q4_0 codec: the scales are not beside their blocks, so
// only whole rows convert (DotRowScalar unpacks the row before its chunks).
void DecodeQ4_0R(const void* src, float* dst, int64_t n) {
  std::vector<BlockQ4_0> blocks(static_cast<size_t>(n / kQK));
  UnpackQ4_0RRow(src, blocks.data(), n);
  DecodeBlocks<BlockQ4_0, kQK>(blocks.data(), dst, n);
}
void EncodeQ4_0R(const float* src, void* dst, int64_t n) {
  std::vector<BlockQ4_0> blocks(static_cast<size_t>(n / kQK));
  EncodeBlocks<BlockQ4_0, kQK>(src, blocks.data(), n);
  RepackQ4_0Row(blocks.data(), dst, n);
}

constexpr RowCodec kCodecs[] = {
    {DType::kF32, &DecodeF32, &EncodeF32},
    {DType::kF16, &DecodeHalves<F16ToF32>, &EncodeHalves<F32ToF16>},
    {DType::kBF16, &DecodeHalves<BF16ToF32>, &EncodeHalves<F32ToBF16>},
    {DType::kQ4_0, &DecodeBlocks<BlockQ4_0, kQK>, &EncodeBlocks<BlockQ4_0, kQK>},
    {DType::kQ4_1, &DecodeBlocks<BlockQ4_1, kQK>, &EncodeBlocks<BlockQ4_1, kQK>},
    {DType::kQ5_0, &DecodeBlocks<BlockQ5_0, kQK>, &EncodeBlocks<BlockQ5_0, kQK>},
    {DType::kQ5_1, &DecodeBlocks<BlockQ5_1, kQK>, &EncodeBlocks<BlockQ5_1, kQK>},
    {DType::kQ8_0, &DecodeBlocks<BlockQ8_0, kQK>, &EncodeBlocks<BlockQ8_0, kQK>},
    {DType::kQ4_K, &DecodeBlocks<BlockQ4_K, kQKK>, &EncodeBlocks<BlockQ4_K, kQKK>},
    {DType::kQ5_K, &DecodeBlocks<BlockQ5_K, kQKK>, &EncodeBlocks<BlockQ5_K, kQKK>},
    {DType::kQ6_K, &DecodeBlocks<BlockQ6_K, kQKK>, &EncodeBlocks<BlockQ6_K, kQKK>},
    {DType::kQ4_0R, &DecodeQ4_0R, &EncodeQ4_0R},
};

const RowCodec& CodecFor(DType type, int64_t n) {
  PLEXUS_CHECK(n >= 0 && n % BlockSize(type) == 0, "[quant] row of {} {} elements is not whole blocks", n,
               DTypeName(type));
  for (const RowCodec& c : kCodecs)
    if (c.type == type) return c;
  PLEXUS_CHECK(false, "[quant] no codec for dtype {}", static_cast<uint32_t>(type));
  __builtin_unreachable();
}

}  // namespace

void DequantizeRow(DType type, const void* src, float* dst, int64_t n) { CodecFor(type, n).decode(src, dst, n); }

void QuantizeRow(DType type, const float* src, void* dst, int64_t n) { CodecFor(type, n).encode(src, dst, n); }

float DotRowScalar(DType type, const void* row, const float* x, int64_t n) {
  if (type == DType::kQ4_0R) {
    std::vector<BlockQ4_0> blocks(static_cast<size_t>(n / kQK));
    UnpackQ4_0RRow(row, blocks.data(), n);
    return DotRowScalar(DType::kQ4_0, blocks.data(), x, n);
  }
  const RowCodec& codec = CodecFor(type, n);
  // Decode a chunk at a time: 256 is a whole number of blocks of every type.
  constexpr int64_t kChunk = kQKK;
  float buf[kChunk];
  double sum = 0.0;
  const auto* bytes = static_cast<const uint8_t*>(row);
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t len = std::min(kChunk, n - i);
    codec.decode(bytes + RowBytes(type, i), buf, len);
    for (int64_t j = 0; j < len; ++j) sum += static_cast<double>(buf[j]) * static_cast<double>(x[i + j]);
  }
  return static_cast<float>(sum);
}

}  // namespace plexus
