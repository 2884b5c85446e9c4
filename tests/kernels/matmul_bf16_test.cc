// The bf16 prefill products (kernels/matmul_bf16.h), where built with oneDNN
// on a CPU with AMX or AVX-512 BF16: Y is bf16(X) bf16(W)^T summed in f32
// (X ties to even, W half away from zero), for few tokens and many, and
// MatMul takes that path exactly where it should.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/matmul_bf16.h"
#include "kernels/ops.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "test_data.h"

namespace plexus::kernels {
namespace {

using test_data::RandomFloats;
using test_data::RandomRows;

float Bf16Round(float v) { return BF16ToF32(F32ToBF16(v)); }

// WeightRowsToBf16's rounding: half away from zero.
float Bf16RoundWeight(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return BF16ToF32(static_cast<uint16_t>((bits + 0x8000u) >> 16));
}

TEST(MatMulBf16Test, MultipliesTheBf16RoundedInputsInF32) {
  if (!Bf16MatMulAvailable()) GTEST_SKIP() << "built without oneDNN, no bf16 hardware, or PLEXUS_BF16=0";
  ThreadPool pool(2);
  uint32_t seed = 1700;
  // Few tokens of a tall matrix (its rows as oneDNN's source), few of a
  // short one and many (the tokens as its source); row counts that leave a
  // short last panel.
  struct Shape {
    int64_t n_tokens, rows;
  };
  for (const Shape shape : {Shape{kBf16MinTokens + 3, kBf16FewMinRows + 8}, Shape{kBf16MinTokens, 520},
                            Shape{kBf16ManyTokens + 7, 520}})
  for (DType type : {DType::kQ4_0, DType::kQ4_0R, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kBF16}) {
    SCOPED_TRACE(::testing::Message() << shape.n_tokens << " tokens, " << shape.rows << " rows");
    const int64_t rows = shape.rows, cols = 256, n_tokens = shape.n_tokens;
    const std::vector<uint8_t> data = RandomRows(type, rows, cols, seed++);
    const TensorView w{type, cols, rows, data.data(), RowBytes(type, cols)};
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n_tokens * cols), seed++);
    std::vector<float> y(static_cast<size_t>(n_tokens * rows), NAN), y_matmul(y.size(), NAN);
    ASSERT_TRUE(MatMulBf16(w, x.data(), n_tokens, y.data(), pool)) << DTypeName(type);
    MatMul(w, x.data(), n_tokens, y_matmul.data(), pool);
    EXPECT_EQ(std::memcmp(y.data(), y_matmul.data(), y.size() * sizeof(float)), 0) << "MatMul took another path";
    std::vector<float> row(static_cast<size_t>(cols));
    int misses = 0;
    double rounding_seen = 0;
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(type, w.row(r), row.data(), cols);
      for (int64_t t = 0; t < n_tokens; ++t) {
        double want = 0, exact = 0, magnitude = 0;
        for (int64_t k = 0; k < cols; ++k) {
          const float xv = x[static_cast<size_t>(t * cols + k)];
          want += static_cast<double>(Bf16Round(xv)) * Bf16RoundWeight(row[k]);
          exact += static_cast<double>(xv) * row[k];
          magnitude += std::fabs(static_cast<double>(xv) * row[k]);
        }
        const float got = y[static_cast<size_t>(t * rows + r)];
        rounding_seen = std::max(rounding_seen, std::fabs(want - exact) / magnitude);
        if (!(std::fabs(got - want) <= 1e-5 * magnitude + 1e-6) && ++misses <= 3)
          ADD_FAILURE() << DTypeName(type) << " token " << t << " row " << r << ": got " << got << ", want " << want;
      }
    }
    EXPECT_EQ(misses, 0) << DTypeName(type);
    if (type != DType::kBF16) {
      EXPECT_GT(rounding_seen, 1e-5) << "the inputs were not rounded to bf16";
    }
  }
}

TEST(MatMulBf16Test, LeavesFloatWeightsShortBatchesAndShortMatricesAlone) {
  if (Bf16MatMulAvailable()) {  // and can be switched off
    SetBf16MatMulEnabled(false);
    EXPECT_FALSE(Bf16MatMulAvailable());
    SetBf16MatMulEnabled(true);
    EXPECT_TRUE(Bf16MatMulAvailable());
  }
  EXPECT_FALSE(UsesBf16Products(DType::kF32));
  EXPECT_FALSE(UsesBf16Products(DType::kF16));
  EXPECT_TRUE(UsesBf16Products(DType::kQ4_0));
  EXPECT_TRUE(UsesBf16Products(DType::kBF16));
  ThreadPool pool(2);
  const int64_t cols = 256;
  const std::vector<float> x = RandomFloats(static_cast<size_t>(kBf16MinTokens * cols), 1800);
  for (DType type : {DType::kF32, DType::kF16, DType::kQ4_0}) {
    const int64_t rows = 512;
    const std::vector<uint8_t> data = RandomRows(type, rows, cols, 1801);
    const TensorView w{type, cols, rows, data.data(), RowBytes(type, cols)};
    std::vector<float> y(static_cast<size_t>(kBf16MinTokens * rows), NAN);
    const bool wanted = type == DType::kQ4_0 && Bf16MatMulAvailable();
    EXPECT_EQ(MatMulBf16(w, x.data(), kBf16MinTokens, y.data(), pool), wanted) << DTypeName(type);
    EXPECT_FALSE(MatMulBf16(w, x.data(), kBf16MinTokens - 1, y.data(), pool)) << DTypeName(type);
    const TensorView short_w{type, cols, 63, data.data(), RowBytes(type, cols)};
    EXPECT_FALSE(MatMulBf16(short_w, x.data(), kBf16MinTokens, y.data(), pool)) << DTypeName(type);
  }
}

}  // namespace
}  // namespace plexus::kernels
