// Scalar codecs of single quant blocks, one overload per block type. Used by
// quant.cc to build its per-type table; tests may call them directly.
//
// Decode: y[0..block elements) = the block's values, exactly as llama.cpp
// dequantizes them. Encode: the reverse by a simple min/max scale search, with
// every element rounded against the scales as they will be decoded (after
// rounding them to half), so the error stays within the format's step.
#pragma once

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
// Nearest integer to v, clamped to [lo, hi].
int RoundClamp(float v, int lo, int hi);

}  // namespace plexus::quant
