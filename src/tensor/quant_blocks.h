// Scalar codecs of single quant blocks, one overload per block type. Used by
// quant.cc to build its per-type table; tests may call them directly.
//
// Decode: y[0..block elements) = the block's values, exactly as llama.cpp
// dequantizes them. Encode: the reverse by a simple min/max scale search, with
// every element rounded against the scales as they will be decoded (after
// rounding them to half), so the error stays within the format's step.
#pragma once

#include <algorithm>
#include <cmath>

#include "tensor/blocks.h"

namespace plexus::quant {

void DecodeBlock(const BlockQ4_0& b, float* y);
void DecodeBlock(const BlockQ4_1& b, float* y);
void DecodeBlock(const BlockQ5_0& b, float* y);
void DecodeBlock(const BlockQ5_1& b, float* y);
void DecodeBlock(const BlockQ8_0& b, float* y);
void DecodeBlock(const BlockQ4_K& b, float* y);
void DecodeBlock(const BlockQ5_K& b, float* y);
void DecodeBlock(const BlockQ6_K& b, float* y);

void EncodeBlock(const float* x, BlockQ4_0* b);
void EncodeBlock(const float* x, BlockQ4_1* b);
void EncodeBlock(const float* x, BlockQ5_0* b);
void EncodeBlock(const float* x, BlockQ5_1* b);
void EncodeBlock(const float* x, BlockQ8_0* b);
void EncodeBlock(const float* x, BlockQ4_K* b);
void EncodeBlock(const float* x, BlockQ5_K* b);
void EncodeBlock(const float* x, BlockQ6_K* b);

// Half bits of the smallest half >= v (v >= 0, finite): a scale rounded up
// so that max / scale never exceeds the largest quant.
uint16_t F16RoundUp(float v);
// nearbyint(v) for |v| < 2^22, inline and branch-free (loops over it
// vectorize; baseline x86-64 has no rounding instruction, so nearbyint and
// lrintf are libm calls): adding and subtracting 1.5 * 2^23 rounds to nearest
// even in the default rounding mode (the sum lies in [2^23, 2^24), where
// floats are the integers, and 1.5 * 2^23 is even).
inline float RoundSmall(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// Nearest integer to v (lrintf: ties to even), clamped to [lo, hi]. Inline,
// as encoders call it per element; larger values and NaN take lrintf.
inline int RoundClamp(float v, int lo, int hi) {
  if (std::fabs(v) < 4194304.0f) return std::clamp(static_cast<int>(RoundSmall(v)), lo, hi);
  return static_cast<int>(std::clamp<long>(std::lrintf(v), lo, hi));
}

}  // namespace plexus::quant
