// Rotary-embedding helpers shared by the SIMD Rope and its scalar twin, so
// both rotate by exactly the same cos/sin values.
#pragma once

#include <cmath>
#include <cstdint>

#include "base/status.h"

namespace plexus::kernels {

constexpr int kMaxHeadDim = 1024;

// cos_t[i], sin_t[i] of the angle pos * inv_freq[i], i < head_dim / 2.
inline void RopeTables(int head_dim, int64_t pos, const float* inv_freq, float* cos_t, float* sin_t) {
  PLEXUS_CHECK(head_dim > 0 && head_dim % 2 == 0 && head_dim <= kMaxHeadDim, "[kernels] rope head_dim {}",
               head_dim);
  for (int i = 0; i < head_dim / 2; ++i) {
    const float theta = static_cast<float>(pos) * inv_freq[i];
    cos_t[i] = std::cos(theta);
    sin_t[i] = std::sin(theta);
  }
}

// (a, b) <- (a cos - b sin, a sin + b cos).
inline void RotatePair(float* a, float* b, float cos_v, float sin_v) {
  const float a0 = *a, b0 = *b;
  *a = a0 * cos_v - b0 * sin_v;
  *b = a0 * sin_v + b0 * cos_v;
}

// For the adjacent style: per element, the cos of its pair and the signed
// sin that multiplies its partner (-sin for the first of the pair, +sin for
// the second).
inline void ExpandAdjacentTables(int head_dim, const float* cos_t, const float* sin_t, float* cos_full,
                                 float* sin_signed) {
  for (int i = 0; i < head_dim / 2; ++i) {
    cos_full[2 * i] = cos_full[2 * i + 1] = cos_t[i];
    sin_signed[2 * i] = -sin_t[i];
    sin_signed[2 * i + 1] = sin_t[i];
  }
}

}  // namespace plexus::kernels
