// Scalar IEEE half and bfloat16 conversions (round to nearest even).
#pragma once

#include <cstdint>
#include <cstring>

namespace plexus {

float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

inline float BF16ToF32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
uint16_t F32ToBF16(float f);

}  // namespace plexus
