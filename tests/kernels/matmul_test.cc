// Dot, MatVec and MatMul on every compiled target against the scalar twins,
// for every weight type.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/matmul_blas.h"
#include "kernels/ops.h"
#include "kernels/ops_scalar.h"
#include "test_data.h"
#include "tensor/q4_0_repack.h"
#include "tensor/quant.h"

namespace plexus::kernels {
namespace {

using test_data::AllTypes;
using test_data::ExpectNonConstant;
using test_data::RandomFloats;
using test_data::RandomRows;

constexpr float kRelTol = 1e-5f;  // relative to sum |w_i x_i|: float vs double summation

bool IsPlain(DType type) { return BlockSize(type) == 1; }

// sum_i |w_i x_i|: the scale that float rounding in a dot product is relative to.
double AbsDot(DType type, const void* row, const float* x, int64_t n) {
  std::vector<float> w(static_cast<size_t>(n));
  DequantizeRow(type, row, w.data(), n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(w[i]) * x[i]);
  return sum;
}

// Row lengths to test: tails and single blocks as well as long rows.
std::vector<int64_t> DotLengths(DType type) {
  if (IsPlain(type)) return {1, 7, 172, 4099};
  const int64_t bs = BlockSize(type);
  return {bs, 3 * bs, 11 * bs, 4096};  // 11 blocks of 32: whole groups of 8 and a tail
}

class MatMulTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatMulTest);

TEST_P(MatMulTest, DotMatchesScalarForEveryType) {
  uint32_t seed = 1;
  for (DType type : AllTypes()) {
    for (int64_t n : DotLengths(type)) {
      const std::vector<uint8_t> row = RandomRows(type, 1, n, seed++);
      const std::vector<float> x = RandomFloats(static_cast<size_t>(n), seed++);
      std::vector<float> decoded(static_cast<size_t>(n));
      DequantizeRow(type, row.data(), decoded.data(), n);
      if (n >= 16) ExpectNonConstant(decoded.data(), decoded.size());
      // Misaligned copies: rows of packed blocks start at any byte.
      std::vector<uint8_t> row_buf(row.size() + 1);
      std::memcpy(row_buf.data() + 1, row.data(), row.size());
      std::vector<float> x_buf(x.size() + 1);
      std::memcpy(x_buf.data() + 1, x.data(), x.size() * sizeof(float));

      const float got = Dot(type, row_buf.data() + 1, x_buf.data() + 1, n);
      const float want = scalar::Dot(type, row.data(), x.data(), n);
      const double tol = kRelTol * AbsDot(type, row.data(), x.data(), n) + 1e-6;
      EXPECT_NEAR(got, want, tol) << DTypeName(type) << " n=" << n;
    }
  }
}

std::vector<DType> QuantizedActTypes() {
  std::vector<DType> types;
  for (DType type : AllTypes())
    if (UsesQuantizedActs(type)) types.push_back(type);
  return types;
}

TEST(QuantizeActsTest, RoundTripsWithinHalfAStep) {
  const int64_t rows = 3, cols = 256;
  std::vector<float> x = RandomFloats(static_cast<size_t>(rows * cols), 7, 3.0f);
  std::fill_n(x.begin() + 64, kActBlock, 0.0f);  // an all-zero block
  QuantizedActs acts;
  QuantizeActs(x.data(), rows, cols, &acts);
  ASSERT_EQ(acts.q.size(), x.size());
  for (size_t b = 0; b < acts.d.size(); ++b) {
    int sum = 0;
    for (int i = 0; i < kActBlock; ++i) {
      const size_t k = b * kActBlock + i;
      EXPECT_LE(std::abs(acts.q[k]), 127);
      EXPECT_LE(std::fabs(x[k] - acts.d[b] * acts.q[k]), 0.5f * acts.d[b] * 1.0001f + 1e-7f) << k;
      sum += acts.q[k];
    }
    EXPECT_FLOAT_EQ(acts.sum[b], acts.d[b] * static_cast<float>(sum));
  }
  EXPECT_EQ(acts.d[2], 0.0f);
}

// k4_pairs holds each super-block's quants once each, where Q4_KPairOrder
// says; it is only made for rows of whole super-blocks.
TEST(QuantizeActsTest, Q4_KPairsArePermutedQuants) {
  std::vector<bool> seen(256, false);
  for (int64_t i = 0; i < 256; ++i) {
    const int64_t at = Q4_KPairOrder(i);
    ASSERT_GE(at, 0);
    ASSERT_LT(at, 256);
    EXPECT_FALSE(seen[static_cast<size_t>(at)]) << i;
    seen[static_cast<size_t>(at)] = true;
  }
  EXPECT_EQ(Q4_KPairOrder(1), 32);    // odd byte of lane 0: vector 1
  EXPECT_EQ(Q4_KPairOrder(64), 16);   // sub-block 2 (chunk 1, low nibbles): upper lanes of vector 0
  EXPECT_EQ(Q4_KPairOrder(32), 64);   // sub-block 1 (high nibbles): vector 2
  EXPECT_EQ(Q4_KPairOrder(128), 128); // half 1 starts at vector 4
  const int64_t rows = 2, cols = 512;
  const std::vector<float> x = RandomFloats(static_cast<size_t>(rows * cols), 13, 2.0f);
  QuantizedActs acts;
  QuantizeActs(x.data(), rows, cols, &acts);
  ASSERT_EQ(acts.k4_pairs.size(), acts.q.size());
  for (int64_t k = 0; k < rows * cols; ++k) {
    ASSERT_EQ(acts.k4_pairs[static_cast<size_t>(k / 256 * 256 + Q4_KPairOrder(k % 256))], acts.q[static_cast<size_t>(k)]);
  }
  QuantizeActs(x.data(), 1, 96, &acts);
  EXPECT_TRUE(acts.k4_pairs.empty());
}

// Each quant is std::nearbyint of x / d (QuantizeActs rounds inline): random
// blocks, and one whose scaled values land on halves (ties go to even).
TEST(QuantizeActsTest, QuantsAreNearbyintOfTheScaledValues) {
  std::vector<float> x = RandomFloats(64 * kActBlock, 11, 5.0f);
  for (int i = 0; i < kActBlock; ++i) x[i] = 0.5f * static_cast<float>(i - 16);  // max 8: d = 8/127
  x[kActBlock - 1] = 127.0f;  // d = 1, id = 1: the others are exact halves
  QuantizedActs acts;
  QuantizeActs(x.data(), 1, static_cast<int64_t>(x.size()), &acts);
  for (size_t k = 0; k < x.size(); ++k) {
    const float d = acts.d[k / kActBlock];
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    ASSERT_EQ(acts.q[k], static_cast<int16_t>(std::nearbyint(x[k] * id))) << k << ": " << x[k];
  }
  EXPECT_EQ(acts.q[1], -8);  // -7.5 to even
  EXPECT_EQ(acts.q[3], -6);  // -6.5 to even
}

// The integer dot (scalar twin) stays within 1% of sum |w x| of the float dot:
// the activations' rounding error is at most max|x| / 254 per element.
TEST(QuantizeActsTest, QuantizedDotIsCloseToFloatDot) {
  uint32_t seed = 50;
  for (DType type : QuantizedActTypes()) {
    const int64_t n = 4096;
    const std::vector<uint8_t> row = RandomRows(type, 1, n, seed++);
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), seed++);
    QuantizedActs acts;
    QuantizeActs(x.data(), 1, n, &acts);
    const float got = scalar::DotQ8(type, row.data(), acts, 0);
    const float want = DotRowScalar(type, row.data(), x.data(), n);
    EXPECT_NEAR(got, want, 1e-2 * AbsDot(type, row.data(), x.data(), n)) << DTypeName(type);
  }
}

// The SIMD QuantizeActs makes every array bit for bit as its plain-C++ twin
// does: random rows of several widths, an all-zero block, values that land on
// halves after scaling (ties to even), and a block of tiny values.
TEST_P(MatMulTest, QuantizeActsMatchesScalarTwin) {
  uint32_t seed = 90;
  for (int64_t cols : {32, 96, 256, 2048, 8192}) {
    for (int64_t rows : {1, 3}) {
      std::vector<float> x = RandomFloats(static_cast<size_t>(rows * cols), seed++, 4.0f);
      std::fill_n(x.begin(), kActBlock, 0.0f);
      if (rows * cols >= 3 * kActBlock) {
        for (int i = 0; i < kActBlock; ++i) x[kActBlock + i] = 0.5f * static_cast<float>(i - 16);
        x[2 * kActBlock - 1] = 127.0f;  // d = 1: the others are exact halves
        for (int i = 0; i < kActBlock; ++i) x[2 * kActBlock + i] = 1e-30f * static_cast<float>(i + 1);
      }
      QuantizedActs simd, plain;
      QuantizeActs(x.data(), rows, cols, &simd);
      scalar::QuantizeActs(x.data(), rows, cols, &plain);
      const auto same = [](const auto& a, const auto& b) {
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
      };
      EXPECT_TRUE(same(simd.q, plain.q)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.d, plain.d)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.sum, plain.sum)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.q4_bias, plain.q4_bias)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.q4_hi, plain.q4_hi)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.q4_lo, plain.q4_lo)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.dsum, plain.dsum)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.sum16, plain.sum16)) << rows << "x" << cols;
      EXPECT_TRUE(same(simd.k4_pairs, plain.k4_pairs)) << rows << "x" << cols;
      EXPECT_EQ(simd.k4_pairs.empty(), cols % 256 != 0);
    }
  }
}

TEST_P(MatMulTest, DotQ8MatchesScalarForQuantizedTypes) {
  uint32_t seed = 300;
  for (DType type : QuantizedActTypes()) {
    for (int64_t n : DotLengths(type)) {
      const std::vector<uint8_t> row = RandomRows(type, 2, n, seed++);
      const std::vector<float> x = RandomFloats(static_cast<size_t>(2 * n), seed++);
      ExpectNonConstant(x.data(), x.size());
      QuantizedActs acts;
      QuantizeActs(x.data(), 2, n, &acts);
      std::vector<uint8_t> row_buf(row.size() + 1);  // rows of packed blocks start at any byte
      std::memcpy(row_buf.data() + 1, row.data(), row.size());
      for (int64_t t = 0; t < 2; ++t) {
        const uint8_t* r = row_buf.data() + 1 + t * RowBytes(type, n);
        const float got = DotQ8(type, r, acts, t);
        const float want = scalar::DotQ8(type, row.data() + t * RowBytes(type, n), acts, t);
        const double tol = kRelTol * AbsDot(type, r, x.data() + t * n, n) + 1e-6;
        EXPECT_NEAR(got, want, tol) << DTypeName(type) << " n=" << n << " row " << t;
      }
    }
  }
}

// The x86 Q4_0 kernel starts each int32 lane at QuantizedActs::q4_bias and
// multiplies the nibbles as stored; without q4_bias it subtracts 8 from every
// nibble. Integer sums either way, so the two must give the same bits. (On
// AVX-512 the pair kernel, which needs q4_lo, takes the -8 as one float term
// per row instead: here q4_lo is dropped to reach the lane-bias loop, and the
// pair kernel's result is held to the usual dot tolerance.)
TEST_P(MatMulTest, Q4_0LaneBiasGivesTheBitsOfSubtractingEight) {
  uint32_t seed = 700;
  for (int64_t n : DotLengths(DType::kQ4_0)) {
    const std::vector<uint8_t> rows = RandomRows(DType::kQ4_0, 3, n, seed++);
    const std::vector<float> x = RandomFloats(static_cast<size_t>(3 * n), seed++);
    QuantizedActs acts;
    QuantizeActs(x.data(), 3, n, &acts);
    ASSERT_EQ(acts.q4_bias.size(), static_cast<size_t>(3 * n / kActBlock * kQ4BiasLanes));
    QuantizedActs lane_bias = acts;
    lane_bias.q4_lo.clear();
    QuantizedActs no_bias = lane_bias;
    no_bias.q4_bias.clear();
    for (int64_t t = 0; t < 3; ++t) {
      const uint8_t* r = rows.data() + t * RowBytes(DType::kQ4_0, n);
      const float folded = DotQ8(DType::kQ4_0, r, lane_bias, t), subtracted = DotQ8(DType::kQ4_0, r, no_bias, t);
      EXPECT_EQ(std::memcmp(&folded, &subtracted, sizeof(float)), 0)
          << "n=" << n << " row " << t << ": " << folded << " vs " << subtracted;
      const float tol = kRelTol * AbsDot(DType::kQ4_0, r, x.data() + t * n, n) + 1e-6f;
      EXPECT_NEAR(DotQ8(DType::kQ4_0, r, acts, t), subtracted, tol) << "n=" << n << " row " << t;
    }
  }
}

// The loader repacks copied Q4_0 matrices into kQ4_0R (tensor/q4_0_repack.h)
// and leaves mapped ones as they are, so a cluster may mix both: every kernel
// must give the same bits on either layout. 11 blocks: the 8-block groups
// and a tail; 4 tokens: a whole batched tile.
TEST_P(MatMulTest, RepackedQ4_0GivesTheBitsOfQ4_0) {
  uint32_t seed = 1300;
  ThreadPool pool(2);
  for (int64_t n : DotLengths(DType::kQ4_0)) {
    const int64_t rows = 5, tokens = 4;
    const std::vector<uint8_t> q4 = RandomRows(DType::kQ4_0, rows, n, seed++);
    std::vector<uint8_t> q4r = q4;
    const size_t row_bytes = RowBytes(DType::kQ4_0, n);
    RepackQ4_0RowsInPlace(q4r.data(), rows, n, row_bytes);
    if (n > kQK) {
      ASSERT_NE(q4r, q4);  // one block: the same bytes either way
    }
    const std::vector<float> x = RandomFloats(static_cast<size_t>(tokens * n), seed++);
    QuantizedActs acts;
    QuantizeActs(x.data(), tokens, n, &acts);
    std::vector<float> dec(static_cast<size_t>(rows * n)), dec_r(dec.size());
    const TensorView w{DType::kQ4_0, n, rows, q4.data(), row_bytes}, w_r{DType::kQ4_0R, n, rows, q4r.data(), row_bytes};
    WeightRowsToFloat(w, 0, rows, dec.data());
    WeightRowsToFloat(w_r, 0, rows, dec_r.data());
    EXPECT_EQ(dec, dec_r) << "n=" << n;
    std::vector<float> batch(static_cast<size_t>(tokens * rows)), batch_r(batch.size());
    MatVecBatch(w, x.data(), tokens, batch.data(), pool);
    MatVecBatch(w_r, x.data(), tokens, batch_r.data(), pool);
    EXPECT_EQ(batch, batch_r) << "n=" << n;
    for (int64_t r = 0; r < rows; ++r) {
      const float q8 = DotQ8(DType::kQ4_0, w.row(r), acts, r % tokens);
      const float q8_r = DotQ8(DType::kQ4_0R, w_r.row(r), acts, r % tokens);
      const float plain = Dot(DType::kQ4_0, w.row(r), x.data(), n);
      const float plain_r = Dot(DType::kQ4_0R, w_r.row(r), x.data(), n);
      EXPECT_EQ(std::memcmp(&q8, &q8_r, sizeof(float)), 0) << "n=" << n << " row " << r << ": " << q8 << " vs " << q8_r;
      EXPECT_EQ(std::memcmp(&plain, &plain_r, sizeof(float)), 0) << "n=" << n << " row " << r;
    }
  }
}

// DotRows walks a strided table (rows further apart than their bytes, as
// cached keys are) with exactly the bits of one Dot per row, and matches the
// scalar twin.
TEST_P(MatMulTest, DotRowsGivesTheBitsOfDotPerRow) {
  uint32_t seed = 900;
  for (DType type : {DType::kF16, DType::kF32, DType::kBF16, DType::kQ8_0}) {
    const int64_t n = IsPlain(type) ? 64 : 128, rows = 37;
    const size_t row_bytes = RowBytes(type, n), stride = 3 * row_bytes + 5;
    const std::vector<uint8_t> packed = RandomRows(type, rows, n, seed++);
    std::vector<uint8_t> table(stride * rows);
    for (int64_t r = 0; r < rows; ++r) std::memcpy(table.data() + r * stride, packed.data() + r * row_bytes, row_bytes);
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), seed++);
    const TensorView w{type, n, rows, table.data(), stride};
    std::vector<float> got(rows), twin(rows);
    DotRows(w, x.data(), got.data());
    scalar::DotRows(w, x.data(), twin.data());
    for (int64_t r = 0; r < rows; ++r) {
      const float want = Dot(type, w.row(r), x.data(), n);
      EXPECT_EQ(std::memcmp(&got[r], &want, sizeof(float)), 0) << DTypeName(type) << " row " << r;
      EXPECT_NEAR(got[r], twin[r], kRelTol * AbsDot(type, w.row(r), x.data(), n) + 1e-6) << DTypeName(type);
    }
  }
}

struct Shape {
  int64_t rows, cols;
};

// A tall matrix with rows not a multiple of the row tile, and a wide one
// whose rows are big enough to shrink the tiles.
std::vector<Shape> MatrixShapes(DType type) {
  if (IsPlain(type)) return {{37, 172}, {5, 8192}};
  return {{37, 512}, {5, 8192}};
}

// Expects y (n_tokens x rows) to match the scalar MatMul of w and x.
void ExpectMatchesScalar(const TensorView& w, const float* x, int64_t n_tokens, const float* y) {
  std::vector<float> want(static_cast<size_t>(n_tokens * w.rows));
  scalar::MatMul(w, x, n_tokens, want.data());
  int misses = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < w.rows; ++r) {
      const size_t i = static_cast<size_t>(t * w.rows + r);
      const double tol = kRelTol * AbsDot(w.type, w.row(r), x + t * w.cols, w.cols) + 1e-6;
      if (!(std::fabs(y[i] - want[i]) <= tol) && ++misses <= 3)
        ADD_FAILURE() << DTypeName(w.type) << " " << w.rows << "x" << w.cols << " token " << t << " row " << r
                      << ": got " << y[i] << ", want " << want[i];
    }
  }
  EXPECT_EQ(misses, 0);
}

TEST_P(MatMulTest, MatVecMatchesScalarForEveryType) {
  ThreadPool pool(3);
  uint32_t seed = 100;
  for (DType type : AllTypes()) {
    for (const Shape& s : MatrixShapes(type)) {
      const std::vector<uint8_t> data = RandomRows(type, s.rows, s.cols, seed++);
      const TensorView w{type, s.cols, s.rows, data.data(), RowBytes(type, s.cols)};
      const std::vector<float> x = RandomFloats(static_cast<size_t>(s.cols), seed++);
      ExpectNonConstant(x.data(), x.size());
      std::vector<float> y(static_cast<size_t>(s.rows), NAN);
      MatVec(w, x.data(), y.data(), pool);
      ExpectMatchesScalar(w, x.data(), 1, y.data());
    }
  }
}

TEST_P(MatMulTest, MatMulMatchesScalarForEveryType) {
  ThreadPool pool(3);
  ThreadPool single(1);
  uint32_t seed = 200;
  for (DType type : AllTypes()) {
    for (const Shape& s : MatrixShapes(type)) {
      const std::vector<uint8_t> data = RandomRows(type, s.rows, s.cols, seed++);
      const TensorView w{type, s.cols, s.rows, data.data(), RowBytes(type, s.cols)};
      for (int64_t n_tokens : {1, 3, 17, 64}) {
        const std::vector<float> x = RandomFloats(static_cast<size_t>(n_tokens * s.cols), seed++);
        ExpectNonConstant(x.data(), x.size());
        std::vector<float> y(static_cast<size_t>(n_tokens * s.rows), NAN);
        MatMul(w, x.data(), n_tokens, y.data(), n_tokens % 2 ? pool : single);
        SCOPED_TRACE(::testing::Message() << "n_tokens=" << n_tokens);
        ExpectMatchesScalar(w, x.data(), n_tokens, y.data());
      }
    }
  }
}

// The sgemm path (where built with OpenBLAS): a prefill-sized batch on a
// matrix tall enough for a panel per thread, for float and quantized types.
TEST(MatMulBlasTest, MatchesScalarWhereAvailable) {
  if (!BlasAvailable()) GTEST_SKIP() << "built without OpenBLAS, or PLEXUS_BLAS=0";
  ThreadPool pool(2);
  uint32_t seed = 900;
  EXPECT_EQ(BlasMinTokens(DType::kF16), kBlasMinTokensFloat);
  EXPECT_EQ(BlasMinTokens(DType::kQ4_0), kBlasMinTokens);
  for (DType type : {DType::kF32, DType::kF16, DType::kQ4_0, DType::kQ4_K}) {
    const int64_t rows = 1024, cols = 256, n_tokens = BlasMinTokens(type) + 3;
    const std::vector<uint8_t> data = RandomRows(type, rows, cols, seed++);
    const TensorView w{type, cols, rows, data.data(), RowBytes(type, cols)};
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n_tokens * cols), seed++);
    std::vector<float> y(static_cast<size_t>(n_tokens * rows), NAN);
    ASSERT_TRUE(MatMulBlas(w, x.data(), n_tokens, y.data(), pool)) << DTypeName(type);
    ExpectMatchesScalar(w, x.data(), n_tokens, y.data());
    EXPECT_FALSE(MatMulBlas(w, x.data(), BlasMinTokens(type) - 1, y.data(), pool)) << "below BlasMinTokens";
  }
}

}  // namespace
}  // namespace plexus::kernels
