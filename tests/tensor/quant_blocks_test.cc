// Hand-built blocks of every quant type, decoded through DequantizeRow and
// checked against values worked out by hand from llama.cpp's formulas.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "tensor/q4_0_repack.h"
#include "tensor/quant.h"
#include "tensor/quant_k_scales.h"

namespace plexus {
namespace {

constexpr uint16_t kHalf0_125 = 0x3000, kHalf0_25 = 0x3400, kHalf0_5 = 0x3800, kHalf1 = 0x3C00,
                   kHalf2 = 0x4000, kHalfMinus1 = 0xBC00;

template <class Block>
std::vector<float> Decode(const Block& b, DType type) {
  std::vector<float> y(static_cast<size_t>(BlockSize(type)));
  DequantizeRow(type, &b, y.data(), BlockSize(type));
  return y;
}

// kQ4_0R (the loader's Q4_0 layout): the row's half scales side by side,
// then each block's 16 nibble bytes; the same values, and back to the same bytes.
TEST(QuantBlocksTest, Q4_0RepackedRowKeepsScalesTogether) {
  constexpr int kBlocks = 3;
  BlockQ4_0 blocks[kBlocks];
  std::mt19937 rng(5);
  for (BlockQ4_0& b : blocks)
    for (uint8_t& q : b.qs) q = static_cast<uint8_t>(rng());
  blocks[0].d = kHalf0_5, blocks[1].d = kHalfMinus1, blocks[2].d = kHalf2;
  uint8_t packed[sizeof(blocks)];
  RepackQ4_0Row(blocks, packed, kBlocks * kQK);
  EXPECT_EQ(Q4_0RScales(packed)[1], kHalfMinus1);
  EXPECT_EQ(Q4_0RScales(packed)[2], kHalf2);
  EXPECT_EQ(std::memcmp(Q4_0RQuants(packed, kBlocks) + 2 * 16, blocks[2].qs, 16), 0);
  std::vector<float> want(kBlocks * kQK), got(want.size());
  DequantizeRow(DType::kQ4_0, blocks, want.data(), kBlocks * kQK);
  DequantizeRow(DType::kQ4_0R, packed, got.data(), kBlocks * kQK);
  EXPECT_EQ(got, want);
  EXPECT_EQ(DotRowScalar(DType::kQ4_0R, packed, want.data(), kBlocks * kQK),
            DotRowScalar(DType::kQ4_0, blocks, want.data(), kBlocks * kQK));
  BlockQ4_0 back[kBlocks];
  UnpackQ4_0RRow(packed, back, kBlocks * kQK);
  EXPECT_EQ(std::memcmp(back, blocks, sizeof(blocks)), 0);
  // In place, row by row (two rows here), as the loader does it.
  uint8_t rows[2 * sizeof(blocks)];
  std::memcpy(rows, blocks, sizeof(blocks));
  std::memcpy(rows + sizeof(blocks), blocks, sizeof(blocks));
  RepackQ4_0RowsInPlace(rows, 2, kBlocks * kQK, sizeof(blocks));
  EXPECT_EQ(std::memcmp(rows, packed, sizeof(packed)), 0);
  EXPECT_EQ(std::memcmp(rows + sizeof(blocks), packed, sizeof(packed)), 0);
  // An internal layout: no file may name it.
  EXPECT_EQ(FindDType(static_cast<uint32_t>(DType::kQ4_0R)), nullptr);
  EXPECT_EQ(FindDTypeByName("q4_0r"), nullptr);
  EXPECT_EQ(RowBytes(DType::kQ4_0R, 64), RowBytes(DType::kQ4_0, 64));
}

TEST(QuantBlocksTest, Q4_0) {
  BlockQ4_0 b{};
  b.d = kHalf0_5;
  std::memset(b.qs, 0x88, sizeof(b.qs));  // every quant 8: value 0
  b.qs[0] = 0x1F;
  b.qs[3] = 0x80;
  const auto y = Decode(b, DType::kQ4_0);
  EXPECT_EQ(y[0], 3.5f);    // (15 - 8) * 0.5
  EXPECT_EQ(y[16], -3.5f);  // (1 - 8) * 0.5
  EXPECT_EQ(y[3], -4.0f);   // (0 - 8) * 0.5
  EXPECT_EQ(y[19], 0.0f);
  EXPECT_EQ(y[5], 0.0f);
}

TEST(QuantBlocksTest, Q4_1) {
  BlockQ4_1 b{};
  b.d = kHalf0_25;
  b.m = kHalfMinus1;
  b.qs[2] = 0xA3;
  const auto y = Decode(b, DType::kQ4_1);
  EXPECT_EQ(y[2], -0.25f);  // 3 * 0.25 - 1
  EXPECT_EQ(y[18], 1.5f);   // 10 * 0.25 - 1
  EXPECT_EQ(y[0], -1.0f);
}

TEST(QuantBlocksTest, Q5_0) {
  BlockQ5_0 b{};
  b.d = kHalf1;
  const uint8_t qh[4] = {0x01, 0x00, 0x01, 0x80};  // bits 0, 16 and 31
  std::memcpy(b.qh, qh, 4);
  b.qs[0] = 0x21;
  const auto y = Decode(b, DType::kQ5_0);
  EXPECT_EQ(y[0], 1.0f);     // (1 | 16) - 16
  EXPECT_EQ(y[16], 2.0f);    // (2 | 16) - 16
  EXPECT_EQ(y[15], -16.0f);  // 0 - 16
  EXPECT_EQ(y[31], 0.0f);    // (0 | 16) - 16
  EXPECT_EQ(y[1], -16.0f);
}

TEST(QuantBlocksTest, Q5_1) {
  BlockQ5_1 b{};
  b.d = kHalf0_5;
  b.m = kHalf2;
  b.qh[3] = 0x80;  // bit 31: element 31
  b.qs[15] = 0xF0;
  const auto y = Decode(b, DType::kQ5_1);
  EXPECT_EQ(y[15], 2.0f);   // 0 * 0.5 + 2
  EXPECT_EQ(y[31], 17.5f);  // (15 | 16) * 0.5 + 2
}

TEST(QuantBlocksTest, Q8_0) {
  BlockQ8_0 b{};
  b.d = kHalf0_125;
  b.qs[0] = -128;
  b.qs[31] = 127;
  b.qs[7] = -3;
  const auto y = Decode(b, DType::kQ8_0);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[31], 15.875f);
  EXPECT_EQ(y[7], -0.375f);
  EXPECT_EQ(y[8], 0.0f);
}

// Scales of Q4_K/Q5_K sub-blocks 0, 1 and 5, packed by hand:
// 0: sc 3, m 2; 1: sc 5, m 1; 5: sc 42 = 0b10'1010, m 19 = 0b01'0011.
void HandPackedScales(uint8_t* s) {
  std::memset(s, 0, kKScaleBytes);
  s[0] = 3;
  s[1] = 5 | (2 << 6);  // sc1, and the top bits of sc5
  s[4] = 2;
  s[5] = 1 | (1 << 6);  // m1, and the top bits of m5
  s[9] = 0xA | (3 << 4);  // low bits of sc5 and m5
}

// UnpackScaleMinsK reads all 8 sub-blocks as GetScaleMinK reads each one,
// on every value of each of the 12 bytes (the others random).
TEST(QuantBlocksTest, UnpackScaleMinsKMatchesGetScaleMinK) {
  std::mt19937 rng(77);
  for (int byte = 0; byte < kKScaleBytes; ++byte)
    for (int value = 0; value < 256; ++value) {
      uint8_t s[kKScaleBytes];
      for (uint8_t& b : s) b = static_cast<uint8_t>(rng());
      s[byte] = static_cast<uint8_t>(value);
      uint64_t scales = 0, mins = 0;
      UnpackScaleMinsK(s, &scales, &mins);
      for (int k = 0; k < 8; ++k) {
        ASSERT_EQ((scales >> (8 * k)) & 0xFF, GetScaleMinK(s, k).scale) << "byte " << byte << " value " << value;
        ASSERT_EQ((mins >> (8 * k)) & 0xFF, GetScaleMinK(s, k).min) << "byte " << byte << " value " << value;
      }
    }
}

TEST(QuantBlocksTest, KScalePacking) {
  uint8_t s[kKScaleBytes];
  HandPackedScales(s);
  EXPECT_EQ(GetScaleMinK(s, 0).scale, 3);
  EXPECT_EQ(GetScaleMinK(s, 0).min, 2);
  EXPECT_EQ(GetScaleMinK(s, 1).scale, 5);
  EXPECT_EQ(GetScaleMinK(s, 1).min, 1);
  EXPECT_EQ(GetScaleMinK(s, 5).scale, 42);
  EXPECT_EQ(GetScaleMinK(s, 5).min, 19);
  EXPECT_EQ(GetScaleMinK(s, 4).scale, 0);
  // SetScaleMinK packs all 64 x 64 pairs back to the same values.
  for (int k = 0; k < 8; ++k) {
    for (int sc = 0; sc < 64; ++sc) {
      for (int m = 0; m < 64; m += 7) {
        uint8_t p[kKScaleBytes] = {};
        SetScaleMinK(p, k, {static_cast<uint8_t>(sc), static_cast<uint8_t>(m)});
        ASSERT_EQ(GetScaleMinK(p, k).scale, sc);
        ASSERT_EQ(GetScaleMinK(p, k).min, m);
      }
    }
  }
}

TEST(QuantBlocksTest, Q4_K) {
  BlockQ4_K b{};
  b.d = kHalf1;
  b.dmin = kHalf0_5;
  HandPackedScales(b.scales);
  b.qs[0] = 0x7F;
  b.qs[64 + 4] = 0x90;
  const auto y = Decode(b, DType::kQ4_K);
  EXPECT_EQ(y[0], 44.0f);       // sub-block 0: 1 * 3 * 15 - 0.5 * 2
  EXPECT_EQ(y[32], 34.5f);      // sub-block 1: 1 * 5 * 7 - 0.5 * 1
  EXPECT_EQ(y[1], -1.0f);       // sub-block 0, quant 0: -dmin * m
  EXPECT_EQ(y[128 + 4], 0.0f);  // sub-block 4: scale and min 0
  EXPECT_EQ(y[160 + 4], 368.5f);  // sub-block 5: 1 * 42 * 9 - 0.5 * 19
  EXPECT_EQ(y[160 + 5], -9.5f);
}

TEST(QuantBlocksTest, Q5_K) {
  BlockQ5_K b{};
  b.d = kHalf0_5;
  b.dmin = kHalf1;
  b.scales[2] = 4;  // sub-block 2: sc 4, m 3
  b.scales[6] = 3;
  b.scales[3] = 1;  // sub-block 3: sc 1, m 0
  b.qs[32 + 1] = 0x2C;
  b.qh[1] = 0x0C;  // bits 2 and 3: the fifth bits of sub-blocks 2 and 3
  const auto y = Decode(b, DType::kQ5_K);
  EXPECT_EQ(y[64 + 1], 53.0f);  // 0.5 * 4 * (12 + 16) - 1 * 3
  EXPECT_EQ(y[96 + 1], 9.0f);   // 0.5 * 1 * (2 + 16) - 0
  EXPECT_EQ(y[64], -3.0f);      // 0.5 * 4 * 0 - 3
  EXPECT_EQ(y[1], 0.0f);        // sub-block 0 has scale 0 and min 0
}

TEST(QuantBlocksTest, Q6_K) {
  BlockQ6_K b{};
  b.d = kHalf0_25;
  b.scales[0] = 2;
  b.scales[2] = -3;
  b.scales[4] = 4;
  b.scales[6] = -1;
  b.scales[9] = 5;
  b.ql[0] = 0x5A;
  b.ql[32] = 0x3C;
  b.qh[0] = 0xE4;  // 0b11'10'01'00: high bits 0, 1, 2, 3 of q1..q4
  b.ql[64 + 17] = 0x07;
  const auto y = Decode(b, DType::kQ6_K);
  EXPECT_EQ(y[0], -11.0f);   // q1 = 0xA - 32 = -22; 0.25 * 2 * -22
  EXPECT_EQ(y[32], 3.0f);    // q2 = (0xC | 16) - 32 = -4; 0.25 * -3 * -4
  EXPECT_EQ(y[64], 5.0f);    // q3 = (0x5 | 32) - 32 = 5; 0.25 * 4 * 5
  EXPECT_EQ(y[96], -4.75f);  // q4 = (0x3 | 48) - 32 = 19; 0.25 * -1 * 19
  EXPECT_EQ(y[1], -16.0f);   // q1 = -32; 0.25 * 2 * -32
  EXPECT_EQ(y[128 + 17], -31.25f);  // second half, sub-block 9: 0.25 * 5 * (7 - 32)
}

TEST(QuantBlocksTest, PlainFloats) {
  const uint16_t halves[3] = {kHalf1, kHalfMinus1, kHalf0_125};
  float y[3];
  DequantizeRow(DType::kF16, halves, y, 3);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[2], 0.125f);
  const uint16_t bf[2] = {0x3F80, 0xC040};
  DequantizeRow(DType::kBF16, bf, y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -3.0f);
}

}  // namespace
}  // namespace plexus
