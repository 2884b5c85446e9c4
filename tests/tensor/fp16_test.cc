// Half and bfloat16 conversions: exhaustive round trips, the compiler's own
// _Float16 as an independent oracle, and hand-picked rounding cases.
#include "tensor/fp16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

namespace plexus {
namespace {

uint32_t BitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

bool IsHalfNaN(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0; }

TEST(Fp16Test, EveryHalfRoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = F16ToF32(h);
    if (IsHalfNaN(h)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << i;
      EXPECT_TRUE(IsHalfNaN(F32ToF16(f))) << std::hex << i;
    } else {
      EXPECT_EQ(F32ToF16(f), h) << std::hex << i;
    }
  }
}

TEST(Fp16Test, HandPickedValues) {
  EXPECT_EQ(F16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16ToF32(0xC000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToF32(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(F16ToF32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(BitsOf(F16ToF32(0x8000)), 0x80000000u);  // -0
}

TEST(Fp16Test, RoundsToNearestEven) {
  const float ulp1 = std::ldexp(1.0f, -10);  // spacing of halves in [1, 2)
  EXPECT_EQ(F32ToF16(1.0f + ulp1 / 2), 0x3C00);      // tie: stays on even 1.0
  EXPECT_EQ(F32ToF16(1.0f + 3 * ulp1 / 2), 0x3C02);  // tie: up to even
  EXPECT_EQ(F32ToF16(1.0f + ulp1 / 2 * 1.001f), 0x3C01);  // just past the tie
  EXPECT_EQ(F32ToF16(65519.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);  // tie between max and 2^16: to infinity
  EXPECT_EQ(F32ToF16(1e10f), 0x7C00);
  EXPECT_EQ(F32ToF16(-1e10f), 0xFC00);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);       // tie below the smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(3.0f, -25)), 0x0002);       // tie between subnormals 1 and 2
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(F32ToF16(-std::ldexp(1.0f, -26)), 0x8000);
  EXPECT_EQ(F32ToF16(std::ldexp(2047.0f, -25)), 0x0400);    // rounds up into the normals
  EXPECT_TRUE(IsHalfNaN(F32ToF16(std::numeric_limits<float>::quiet_NaN())));
}

#ifdef __FLT16_MAX__
// GCC's _Float16 conversions round correctly; use them as the oracle.
TEST(Fp16Test, MatchesCompilerFloat16) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    if (IsHalfNaN(h)) continue;
    _Float16 v;
    std::memcpy(&v, &h, sizeof(v));
    EXPECT_EQ(BitsOf(static_cast<float>(v)), BitsOf(F16ToF32(h))) << std::hex << i;
  }
  std::mt19937 rng(1234);
  // Random float bit patterns focused on the half range (exponents -30..20).
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t exp = 97 + rng() % 50;
    const uint32_t bits = (rng() & 0x80000000u) | exp << 23 | (rng() & 0x7FFFFFu);
    const float f = FromBits(bits);
    const _Float16 v = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &v, sizeof(want));
    ASSERT_EQ(F32ToF16(f), want) << f;
  }
}
#endif

TEST(Bf16Test, EveryBf16RoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = BF16ToF32(h);
    EXPECT_EQ(BitsOf(f), i << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(BF16ToF32(F32ToBF16(f)))) << std::hex << i;
    } else {
      EXPECT_EQ(F32ToBF16(f), h) << std::hex << i;
    }
  }
}

TEST(Bf16Test, RoundsToNearestEven) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBF16(FromBits(0x3F808000u)), 0x3F80);  // tie: stays on even
  EXPECT_EQ(F32ToBF16(FromBits(0x3F818000u)), 0x3F82);  // tie: up to even
  EXPECT_EQ(F32ToBF16(FromBits(0x3F808001u)), 0x3F81);  // past the tie
  EXPECT_EQ(F32ToBF16(FromBits(0x7F7FFFFFu)), 0x7F80);  // max float rounds to infinity
  const uint16_t nan = F32ToBF16(FromBits(0x7F800001u));  // signalling NaN with low payload
  EXPECT_TRUE(std::isnan(BF16ToF32(nan)));
}

}  // namespace
}  // namespace plexus
