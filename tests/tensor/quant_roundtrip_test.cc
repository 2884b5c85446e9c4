// QuantizeRow -> DequantizeRow on seeded random rows: every element within
// the format's step of its block, and the overall error plausible per type.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quant.h"

namespace plexus {
namespace {

// Rows of normal values whose scale changes from block to block, with a few
// special blocks (all positive, all negative, all zero, constant) mixed in.
std::vector<float> RandomRow(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale_dist(0.01f, 3.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t b = 0; b < n / 32; ++b) {
    const float scale = scale_dist(rng);
    float* blk = x.data() + b * 32;
    for (int j = 0; j < 32; ++j) blk[j] = normal(rng) * scale;
    switch (b % 23) {
      case 5: for (int j = 0; j < 32; ++j) blk[j] = std::fabs(blk[j]) + 0.5f; break;
      case 11: for (int j = 0; j < 32; ++j) blk[j] = -std::fabs(blk[j]); break;
      case 17: std::fill(blk, blk + 32, 0.0f); break;
      case 19: std::fill(blk, blk + 32, 0.75f); break;
      default: break;
    }
  }
  return x;
}

// The largest error allowed for element i of x, from the data in its block:
// half a step of the format (a whole step where the format clamps the top
// quant), with some slack for rounding the scales to half precision.
using BoundFn = float (*)(const float* blk, int i);

void BlockStats(const float* blk, int n, float* lo, float* hi, float* amax) {
  *lo = *std::min_element(blk, blk + n);
  *hi = *std::max_element(blk, blk + n);
  *amax = std::max(std::fabs(*lo), std::fabs(*hi));
}

constexpr float kSlack = 1.002f;  // scales rounded to half, relative

template <int kLevels>
float SymmetricBound(const float* blk, int) {  // Q4_0, Q5_0: a whole step (the top quant clamps)
  float lo, hi, amax;
  BlockStats(blk, 32, &lo, &hi, &amax);
  return amax / static_cast<float>(kLevels) * kSlack + 1e-7f;
}

template <int kLevels>
float MinMaxBound(const float* blk, int) {  // Q4_1, Q5_1: half a step, plus the min's rounding
  float lo, hi, amax;
  BlockStats(blk, 32, &lo, &hi, &amax);
  return 0.5f * (hi - lo) / static_cast<float>(kLevels) * kSlack + std::fabs(lo) * 1e-3f + 1e-7f;
}

float Q8Bound(const float* blk, int) {
  float lo, hi, amax;
  BlockStats(blk, 32, &lo, &hi, &amax);
  return 0.5f * amax / 127.0f * kSlack + 1e-7f;
}

// K types: a sub-block's step is at most (its range + one dmin unit) /
// levels + one unit of d, where d and dmin are at most 1/63 of the largest
// such value in the super-block.
template <int kLevels>
float KBound(const float* blk, int i) {
  float need_max = 0.0f, min_max = 0.0f;
  for (int s = 0; s < 8; ++s) {
    float lo, hi, amax;
    BlockStats(blk + 32 * s, 32, &lo, &hi, &amax);
    min_max = std::max(min_max, -std::min(0.0f, lo));
  }
  const float dmin = min_max / 63.0f * kSlack;
  for (int s = 0; s < 8; ++s) {
    float lo, hi, amax;
    BlockStats(blk + 32 * s, 32, &lo, &hi, &amax);
    need_max = std::max(need_max, (hi - std::min(0.0f, lo) + dmin) / kLevels);
  }
  const float d = need_max / 63.0f * kSlack;
  float lo, hi, amax;
  BlockStats(blk + 32 * (i / 32), 32, &lo, &hi, &amax);
  const float step = (hi - std::min(0.0f, lo) + dmin) / kLevels + d;
  return 0.5f * step * kSlack + 1e-6f;
}

float Q6KBound(const float* blk, int i) {  // a whole step: the top quant (+32) clamps to 31
  float lo, hi, amax_all = 0.0f;
  for (int s = 0; s < 16; ++s) {
    float amax;
    BlockStats(blk + 16 * s, 16, &lo, &hi, &amax);
    amax_all = std::max(amax_all, amax);
  }
  const float d = amax_all / 32.0f / 127.0f * kSlack;
  float amax;
  BlockStats(blk + 16 * (i / 16), 16, &lo, &hi, &amax);
  return (amax / 32.0f + d) * kSlack + 1e-6f;
}

float F16Bound(const float* blk, int i) { return std::fabs(blk[i]) * (1.0f / 2048) + 1e-7f; }
float BF16Bound(const float* blk, int i) { return std::fabs(blk[i]) * (1.0f / 256) + 1e-30f; }
float ExactBound(const float*, int) { return 0.0f; }

struct RoundTripCase {
  DType type;
  BoundFn bound;
  float max_rel_rms;  // error RMS / data RMS over the whole row
};

const RoundTripCase kCases[] = {
    {DType::kF32, &ExactBound, 0.0f},
    {DType::kF16, &F16Bound, 5e-4f},
    {DType::kBF16, &BF16Bound, 4e-3f},
    {DType::kQ4_0, &SymmetricBound<8>, 0.10f},
    {DType::kQ4_1, &MinMaxBound<15>, 0.09f},
    {DType::kQ5_0, &SymmetricBound<16>, 0.05f},
    {DType::kQ5_1, &MinMaxBound<31>, 0.045f},
    {DType::kQ8_0, &Q8Bound, 0.008f},
    {DType::kQ4_K, &KBound<15>, 0.10f},
    {DType::kQ5_K, &KBound<31>, 0.05f},
    {DType::kQ6_K, &Q6KBound, 0.025f},
};

class QuantRoundTripTest : public testing::TestWithParam<RoundTripCase> {};

TEST_P(QuantRoundTripTest, ErrorWithinTheFormatsStep) {
  const RoundTripCase& c = GetParam();
  constexpr int64_t kN = 256 * 64;
  const std::vector<float> x = RandomRow(kN, 42 + static_cast<uint32_t>(c.type));
  ASSERT_GT(std::set<float>(x.begin(), x.end()).size(), 1000u) << "inputs are not random";

  std::vector<uint8_t> q(RowBytes(c.type, kN));
  QuantizeRow(c.type, x.data(), q.data(), kN);
  std::vector<float> y(kN);
  DequantizeRow(c.type, q.data(), y.data(), kN);

  const int block = std::max(BlockSize(c.type), 32);
  double err2 = 0.0, x2 = 0.0;
  int failures = 0;
  for (int64_t i = 0; i < kN; ++i) {
    const float* blk = x.data() + i / block * block;
    const float err = std::fabs(y[i] - x[i]);
    const float bound = c.bound(blk, static_cast<int>(i % block));
    if (!(err <= bound) && ++failures <= 5) ADD_FAILURE() << "element " << i << ": " << x[i] << " -> " << y[i]
                                                          << ", error " << err << " > " << bound;
    err2 += static_cast<double>(err) * err;
    x2 += static_cast<double>(x[i]) * x[i];
  }
  EXPECT_EQ(failures, 0);
  const double rel_rms = std::sqrt(err2 / x2);
  EXPECT_LE(rel_rms, c.max_rel_rms) << DTypeName(c.type);
  std::printf("[ quant    ] %-5s relative RMS error %.5f\n", DTypeName(c.type), rel_rms);
}

TEST_P(QuantRoundTripTest, DotRowScalarIsTheDotOfTheDecodedRow) {
  const RoundTripCase& c = GetParam();
  constexpr int64_t kN = 256 * 5;
  const std::vector<float> w = RandomRow(kN, 7);
  const std::vector<float> x = RandomRow(kN, 8);
  std::vector<uint8_t> q(RowBytes(c.type, kN));
  QuantizeRow(c.type, w.data(), q.data(), kN);
  std::vector<float> y(kN);
  DequantizeRow(c.type, q.data(), y.data(), kN);
  double want = 0.0, scale = 0.0;
  for (int64_t i = 0; i < kN; ++i) {
    want += static_cast<double>(y[i]) * x[i];
    scale += std::fabs(static_cast<double>(y[i]) * x[i]);
  }
  EXPECT_NEAR(DotRowScalar(c.type, q.data(), x.data(), kN), want, scale * 1e-6);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantRoundTripTest, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<RoundTripCase>& info) {
                           return std::string(DTypeName(info.param.type));
                         });

}  // namespace
}  // namespace plexus
