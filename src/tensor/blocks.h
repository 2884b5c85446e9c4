// Quantized block layouts, byte for byte as in GGUF files written by llama.cpp.
// Every scale is an IEEE half (uint16_t bits) unless noted.
#pragma once

#include <cstdint>

namespace plexus {

constexpr int kQK = 32;    // elements per block of the legacy types
constexpr int kQKK = 256;  // elements per super-block of the K types
constexpr int kKScaleBytes = 12;

struct BlockQ4_0 {  // x = (q - 8) * d
  uint16_t d;
  uint8_t qs[kQK / 2];  // element j in low nibble of qs[j], j+16 in high nibble
};
struct BlockQ4_1 {  // x = q * d + m
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {  // x = (q - 16) * d, q = nibble | (bit from qh) << 4
  uint16_t d;
  uint8_t qh[4];  // bit j: 5th bit of element j (j < 32)
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {  // x = q * d + m
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {  // x = q * d
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ4_K {  // 8 sub-blocks of 32, 6-bit scales and mins packed in `scales`
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQKK / 2];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {  // 16 sub-blocks of 16, int8 scales
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

}  // namespace plexus
