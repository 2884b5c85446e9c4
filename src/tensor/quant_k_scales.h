// The 6-bit scale/min packing shared by Q4_K and Q5_K: 8 sub-blocks, each
// with a 6-bit scale and a 6-bit min, packed into 12 bytes. Sub-blocks 0..3
// keep their low 6 bits in bytes 0..3 (scale) and 4..7 (min); sub-blocks
// 4..7 keep their low 4 bits in bytes 8..11 and their top 2 bits in the top
// bits of bytes 0..7. Scalar code and SIMD kernels both read it through here.
#pragma once

#include <cstdint>
#include <cstring>

#include "tensor/blocks.h"

namespace plexus {

struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};

// Unpacks sub-block k (0..7).
inline ScaleMin GetScaleMinK(const uint8_t* scales, int k) {
  if (k < 4) return {static_cast<uint8_t>(scales[k] & 63), static_cast<uint8_t>(scales[k + 4] & 63)};
  return {static_cast<uint8_t>((scales[k + 4] & 0xF) | ((scales[k - 4] >> 6) << 4)),
          static_cast<uint8_t>((scales[k + 4] >> 4) | ((scales[k] >> 6) << 4))};
}

// All 8 sub-blocks at once: byte k of *scales is GetScaleMinK(scales, k).scale,
// byte k of *mins its min (byte 0 in the lowest bits). Four sub-blocks per
// 32-bit word, no branch per sub-block.
inline void UnpackScaleMinsK(const uint8_t* packed, uint64_t* scales, uint64_t* mins) {
  uint32_t a, b, c;  // bytes 0..3, 4..7, 8..11, little-endian
  std::memcpy(&a, packed, 4);
  std::memcpy(&b, packed + 4, 4);
  std::memcpy(&c, packed + 8, 4);
  const uint32_t sc_lo = a & 0x3F3F3F3Fu, mn_lo = b & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
  *scales = uint64_t{sc_lo} | uint64_t{sc_hi} << 32;
  *mins = uint64_t{mn_lo} | uint64_t{mn_hi} << 32;
}

// Packs sub-block k; `scales` must start zeroed and each k be set once.
inline void SetScaleMinK(uint8_t* scales, int k, ScaleMin sm) {
  if (k < 4) {
    scales[k] |= sm.scale & 63;
    scales[k + 4] |= sm.min & 63;
    return;
  }
  scales[k + 4] = static_cast<uint8_t>((sm.scale & 0xF) | ((sm.min & 0xF) << 4));
  scales[k - 4] |= static_cast<uint8_t>((sm.scale >> 4) << 6);
  scales[k] |= static_cast<uint8_t>((sm.min >> 4) << 6);
}

}  // namespace plexus
