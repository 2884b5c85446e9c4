// MatVecBatch (a batched decode step) on every compiled target: each token's
// output must be bit-identical to MatVec of that token alone, for every weight
// type and tile size, and close to the scalar twin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/ops_scalar.h"
#include "tensor/quant.h"
#include "test_data.h"

namespace plexus::kernels {
namespace {

using test_data::AllTypes;
using test_data::ExpectNonConstant;
using test_data::RandomFloats;
using test_data::RandomRows;

// A rows x cols matrix whose rows start at odd addresses (packed blocks may),
// and n_tokens activation rows with an all-zero block and a loud one.
struct Problem {
  std::vector<uint8_t> bytes;
  TensorView w;
  std::vector<float> x;

  Problem(DType type, int64_t rows, int64_t cols, int64_t n_tokens, uint32_t seed) {
    const std::vector<uint8_t> data = RandomRows(type, rows, cols, seed);
    bytes.assign(data.size() + 1, 0);
    std::memcpy(bytes.data() + 1, data.data(), data.size());
    w = TensorView{type, cols, rows, bytes.data() + 1, RowBytes(type, cols)};
    x = RandomFloats(static_cast<size_t>(n_tokens * cols), seed + 1);
    ExpectNonConstant(x.data(), x.size());
    if (cols >= 64) std::fill_n(x.begin() + 32, 32, 0.0f);
    for (int64_t i = 0; i < std::min<int64_t>(cols, 32); ++i) x[x.size() - 1 - i] *= 40.0f;
  }
};

// Row lengths: f32/f16/bf16 with vector tails; 32-blocks with an odd count
// (the last block on chain 0); K types with one and with eight super-blocks.
// The widest make Q4_0 tiles of 2 tokens (TileTokensFor: their activations would
// not fit in L1 four at a time).
std::vector<int64_t> ColsOf(DType type) {
  switch (BlockSize(type)) {
    case 1: return {172, 4099};
    case 32: return {512, 9 * 32, 193 * 32};
    default: return {256, 2048, 6144};
  }
}

// Token counts: every tile size, whole tiles and tails past them.
constexpr int64_t kTokenCounts[] = {2, 3, 4, 5, 6, 7, 8, 9, 17};

class MatVecBatchTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatVecBatchTest);

TEST_P(MatVecBatchTest, EachTokenIsBitIdenticalToItsMatVec) {
  ThreadPool pool(3);
  uint32_t seed = 500;
  for (DType type : AllTypes()) {
    for (const int64_t cols : ColsOf(type)) {
      for (int64_t n : kTokenCounts) {
        const Problem p(type, 41, cols, n, seed += 2);
        std::vector<float> got(static_cast<size_t>(n * p.w.rows), NAN), want(got.size(), NAN);
        MatVecBatch(p.w, p.x.data(), n, got.data(), pool);
        for (int64_t t = 0; t < n; ++t) MatVec(p.w, p.x.data() + t * cols, want.data() + t * p.w.rows, pool);
        EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
            << DTypeName(type) << " " << p.w.rows << "x" << cols << " tokens " << n;
      }
    }
  }
}

// Against the scalar twin (one scalar MatVec per token): the same int32 block
// sums; float grouping differs, within 1e-5 of sum |w_i x_i|.
TEST_P(MatVecBatchTest, MatchesScalarTwin) {
  ThreadPool pool(2);
  uint32_t seed = 900;
  for (DType type : AllTypes()) {
    const int64_t cols = ColsOf(type)[0], n = 9;
    const Problem p(type, 37, cols, n, seed += 2);
    std::vector<float> got(static_cast<size_t>(n * p.w.rows), NAN), want(got.size(), NAN);
    MatVecBatch(p.w, p.x.data(), n, got.data(), pool);
    scalar::MatVecBatch(p.w, p.x.data(), n, want.data());
    int misses = 0;
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < p.w.rows; ++r) {
        DequantizeRow(type, p.w.row(r), row.data(), cols);
        double abs_dot = 0;
        for (int64_t i = 0; i < cols; ++i) abs_dot += std::fabs(static_cast<double>(row[i]) * p.x[t * cols + i]);
        const size_t i = static_cast<size_t>(t * p.w.rows + r);
        if (!(std::fabs(got[i] - want[i]) <= 1e-5 * abs_dot + 1e-6) && ++misses <= 3)
          ADD_FAILURE() << DTypeName(type) << " token " << t << " row " << r << ": got " << got[i] << ", want "
                        << want[i];
      }
    }
    EXPECT_EQ(misses, 0) << DTypeName(type);
  }
}

// MatMul sends 2-8 tokens of f32/f16/bf16 rows here (a short prompt of a
// float model: each row vector widened once per 4 tokens), and keeps the
// quantized types on its own path.
TEST_P(MatVecBatchTest, MatMulSendsFewTokensOfFloatRowsHere) {
  ThreadPool pool(2);
  uint32_t seed = 1300;
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int64_t n : {2, 5, 8}) {
      const Problem p(type, 29, 100, n, seed += 2);
      std::vector<float> batch(static_cast<size_t>(n * p.w.rows), NAN), matmul(batch.size(), NAN);
      MatVecBatch(p.w, p.x.data(), n, batch.data(), pool);
      MatMul(p.w, p.x.data(), n, matmul.data(), pool);
      EXPECT_EQ(0, std::memcmp(batch.data(), matmul.data(), batch.size() * sizeof(float)))
          << DTypeName(type) << " tokens " << n;
    }
  }
}

TEST_P(MatVecBatchTest, OneTokenIsMatVecAndZeroTokensWriteNothing) {
  ThreadPool pool(2);
  const Problem p(DType::kQ4_K, 7, 512, 1, 77);
  std::vector<float> got(7, NAN), want(7, NAN);
  MatVecBatch(p.w, p.x.data(), 1, got.data(), pool);
  MatVec(p.w, p.x.data(), want.data(), pool);
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
  std::vector<float> untouched(7, 3.0f);
  MatVecBatch(p.w, p.x.data(), 0, untouched.data(), pool);
  EXPECT_EQ(untouched, std::vector<float>(7, 3.0f));
}

// The model layer uses MatVecBatch for decode steps of up to this many
// sequences: at least the scheduler's default 8 streams for the int8 types
// and f32/f16/bf16 rows, 2 for big matrices of the rarer float-activation
// types.
TEST(MatVecBatchMaxTokensTest, CoversEightStreamsOnTheInt8Types) {
  const TensorView q4{DType::kQ4_0, 8192, 8192, nullptr, RowBytes(DType::kQ4_0, 8192)};
  const TensorView router{DType::kF32, 2048, 128, nullptr, RowBytes(DType::kF32, 2048)};
  const TensorView big_f16{DType::kF16, 2048, 8192, nullptr, RowBytes(DType::kF16, 2048)};
  EXPECT_GE(MatVecBatchMaxTokens(q4), 8);
  EXPECT_GE(MatVecBatchMaxTokens(router), 8);
  EXPECT_GE(MatVecBatchMaxTokens(big_f16), 8);
  const TensorView big_q5_1{DType::kQ5_1, 2048, 8192, nullptr, RowBytes(DType::kQ5_1, 2048)};
  if (!UsesQuantizedActs(DType::kQ5_1)) {
    EXPECT_EQ(MatVecBatchMaxTokens(big_q5_1), 2);
  }
}

}  // namespace
}  // namespace plexus::kernels
