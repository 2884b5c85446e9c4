// Seeded random inputs for the kernel tests, and closeness checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "tensor/fp16.h"
#include "tensor/q4_0_repack.h"
#include "tensor/quant.h"

namespace plexus::kernels::test_data {

// Every weight type plexus knows: the file types and the internal kQ4_0R.
inline std::vector<DType> AllTypes() {
  size_t count;
  const DTypeInfo* infos = AllDTypes(&count);
  std::vector<DType> types;
  for (size_t i = 0; i < count; ++i) types.push_back(infos[i].type);
  types.push_back(DType::kQ4_0R);
  return types;
}

inline std::vector<float> RandomFloats(size_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Fails the test when v is (nearly) constant: random inputs that are
// accidentally constant make a comparison test worthless. Looks at the first
// 4096 values; 8 distinct ones is enough (a 4-bit block has at most 16).
inline void ExpectNonConstant(const float* v, size_t n) {
  std::vector<float> head(v, v + std::min<size_t>(n, 4096));
  std::sort(head.begin(), head.end());
  const size_t distinct = static_cast<size_t>(std::unique(head.begin(), head.end()) - head.begin());
  EXPECT_GE(distinct, std::min<size_t>(n, 8)) << "test input is not random";
}

// Byte offsets of the half-precision scale fields of each block type.
struct HalfFields {
  DType type;
  int offsets[2];
  int count;
};
inline const HalfFields* FindHalfFields(DType type) {
  static const HalfFields kFields[] = {
      {DType::kQ4_0, {0, 0}, 1}, {DType::kQ4_1, {0, 2}, 2}, {DType::kQ5_0, {0, 0}, 1},
      {DType::kQ5_1, {0, 2}, 2}, {DType::kQ8_0, {0, 0}, 1}, {DType::kQ4_K, {0, 2}, 2},
      {DType::kQ5_K, {0, 2}, 2}, {DType::kQ6_K, {sizeof(BlockQ6_K) - 2, 0}, 1},
  };
  for (const auto& f : kFields)
    if (f.type == type) return &f;
  return nullptr;
}

// `rows` rows of `cols` elements of `type`. Quant types get random bytes
// (every quant and packed scale pattern, negative mins included) with sane
// random half scales; plain types get quantized normal floats.
inline std::vector<uint8_t> RandomRows(DType type, int64_t rows, int64_t cols, uint32_t seed) {
  const size_t row_bytes = RowBytes(type, cols);
  if (type == DType::kQ4_0R) {  // the Q4_0 rows of this seed, repacked
    std::vector<uint8_t> data = RandomRows(DType::kQ4_0, rows, cols, seed);
    RepackQ4_0RowsInPlace(data.data(), rows, cols, row_bytes);
    return data;
  }
  std::vector<uint8_t> data(row_bytes * static_cast<size_t>(rows));
  const HalfFields* halves = FindHalfFields(type);
  if (halves == nullptr) {
    const std::vector<float> f = RandomFloats(static_cast<size_t>(rows * cols), seed);
    for (int64_t r = 0; r < rows; ++r) QuantizeRow(type, f.data() + r * cols, data.data() + r * row_bytes, cols);
    return data;
  }
  std::mt19937 rng(seed);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  const size_t block_bytes = static_cast<size_t>(GetDTypeInfo(type).block_bytes);
  for (size_t b = 0; b < data.size() / block_bytes; ++b) {
    for (int k = 0; k < halves->count; ++k) {
      const uint16_t h = F32ToF16(scale(rng));
      std::memcpy(data.data() + b * block_bytes + halves->offsets[k], &h, sizeof(h));
    }
  }
  return data;
}

// |got - want| <= rel * scale + abs for each element, reporting the first few misses.
inline void ExpectAllClose(const float* got, const float* want, size_t n, float rel, float abs,
                           const char* what) {
  int misses = 0;
  for (size_t i = 0; i < n; ++i) {
    const float tol = rel * std::fabs(want[i]) + abs;
    if (!(std::fabs(got[i] - want[i]) <= tol) && ++misses <= 5)
      ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", want " << want[i];
  }
  EXPECT_EQ(misses, 0) << what;
}

}  // namespace plexus::kernels::test_data
