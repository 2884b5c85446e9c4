// The latent-attention kernels (Axpy, AxpyRows, HalfToFloat, RoundToHalf) and
// FloatToBf16 on
// every compiled target against their scalar twins, at lengths with and
// without a vector tail.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/ops_scalar.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "test_data.h"

namespace plexus::kernels {
namespace {

using test_data::ExpectAllClose;
using test_data::ExpectNonConstant;
using test_data::RandomFloats;

const int64_t kLengths[] = {1, 5, 16, 64, 172, 4099};

class LatentOpsTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(LatentOpsTest);

TEST_P(LatentOpsTest, AxpyMatchesScalar) {
  for (int64_t n : kLengths) {
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), 200 + static_cast<uint32_t>(n));
    const std::vector<float> y = RandomFloats(static_cast<size_t>(n), 300 + static_cast<uint32_t>(n));
    if (n > 1) ExpectNonConstant(x.data(), x.size());
    for (float a : {0.37f, -2.5f}) {
      std::vector<float> got = y, want = y;
      Axpy(a, x.data(), got.data(), n);
      scalar::Axpy(a, x.data(), want.data(), n);
      // FMA rounds once where the scalar loop may round twice.
      ExpectAllClose(got.data(), want.data(), got.size(), 1e-6f, 2e-6f, "Axpy");
    }
  }
}

TEST_P(LatentOpsTest, AxpyByZeroAndOneIsExact) {
  const int64_t n = 37;
  const std::vector<float> x = RandomFloats(n, 401), y = RandomFloats(n, 402);
  std::vector<float> zero = y, one = y, sum = y;
  Axpy(0.0f, x.data(), zero.data(), n);
  Axpy(1.0f, x.data(), one.data(), n);
  Add(sum.data(), x.data(), n);
  ExpectAllClose(zero.data(), y.data(), y.size(), 0.0f, 0.0f, "Axpy a=0");
  ExpectAllClose(one.data(), sum.data(), y.size(), 0.0f, 0.0f, "Axpy a=1");
}

// Rows of a strided matrix (x_stride > n), as the latent cache's c_kv part.
TEST_P(LatentOpsTest, AxpyRowsMatchesScalarAndRowByRowAxpy) {
  for (int64_t n : kLengths) {
    for (int64_t k : {1, 3, 17}) {
      const int64_t stride = n + 7;
      const std::vector<float> x = RandomFloats(static_cast<size_t>(k * stride), 500 + static_cast<uint32_t>(n + k));
      const std::vector<float> a = RandomFloats(static_cast<size_t>(k), 600 + static_cast<uint32_t>(k), 0.3f);
      const std::vector<float> y = RandomFloats(static_cast<size_t>(n), 700 + static_cast<uint32_t>(n));
      std::vector<float> got = y, want = y, rows = y;
      AxpyRows(a.data(), k, x.data(), stride, got.data(), n);
      scalar::AxpyRows(a.data(), k, x.data(), stride, want.data(), n);
      for (int64_t r = 0; r < k; ++r) Axpy(a[r], x.data() + r * stride, rows.data(), n);
      ExpectAllClose(got.data(), want.data(), got.size(), 1e-5f, 1e-5f, "AxpyRows");
      ExpectAllClose(got.data(), rows.data(), got.size(), 1e-6f, 1e-6f, "AxpyRows vs Axpy");
    }
  }
}

TEST_P(LatentOpsTest, HalfToFloatIsExact) {
  for (int64_t n : kLengths) {
    const std::vector<float> f = RandomFloats(static_cast<size_t>(n), 800 + static_cast<uint32_t>(n), 100.0f);
    std::vector<uint16_t> h(f.size());
    for (size_t i = 0; i < f.size(); ++i) h[i] = F32ToF16(f[i]);
    std::vector<float> got(f.size()), want(f.size());
    HalfToFloat(h.data(), got.data(), n);
    scalar::HalfToFloat(h.data(), want.data(), n);
    ExpectAllClose(got.data(), want.data(), got.size(), 0.0f, 0.0f, "HalfToFloat");
  }
}

// Bit-exact with F32ToF16 (the cache's conversion): ties to even, f16
// subnormals, overflow to infinity, signed zeros.
TEST_P(LatentOpsTest, RoundToHalfMatchesTheCacheConversion) {
  std::vector<float> x = RandomFloats(4099, 900, 10.0f);
  const float special[] = {0.0f, -0.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 65520.0f, 70000.0f,
                           -1e9f, 3e-5f, 6e-8f, -2e-7f, 1e-10f, 0.1f, 2049.0f, 2051.0f};
  for (size_t i = 0; i < std::size(special); ++i) x[3 * i + 1] = special[i];
  for (int64_t n : kLengths) {
    std::vector<float> got(x.begin(), x.begin() + n), want = got;
    RoundToHalf(got.data(), n);
    scalar::RoundToHalf(want.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(got[i], want[i]) << "x=" << x[i] << " n=" << n;  // inf == inf
      ASSERT_EQ(std::signbit(got[i]), std::signbit(want[i])) << "x=" << x[i] << " n=" << n << " i=" << i;
    }
  }
}

// bf16 rounding (the bf16 prefill products' inputs): to nearest, ties to
// even, infinities kept, NaNs quiet, on every target and in the tails.
TEST_P(LatentOpsTest, FloatToBf16MatchesScalar) {
  std::vector<float> x = RandomFloats(4099, 950, 10.0f);
  const float special[] = {0.0f, -0.0f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 1.0f + 1.0f / 512, 3.4e38f,
                           -3.39e38f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-45f, 0.1f, 257.0f, 259.0f};
  for (size_t i = 0; i < std::size(special); ++i) x[3 * i + 1] = special[i];
  EXPECT_EQ(F32ToBF16(1.0f + 1.0f / 256), 0x3F80);  // a tie: to the even 1.0
  EXPECT_EQ(F32ToBF16(1.0f + 3.0f / 256), 0x3F82);  // a tie: to the even 1 + 4/256
  for (int64_t n : kLengths) {
    std::vector<uint16_t> got(static_cast<size_t>(n)), want(got.size());
    FloatToBf16(x.data(), got.data(), n);
    scalar::FloatToBf16(x.data(), want.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want[i]) << "x=" << x[i] << " n=" << n << " i=" << i;
  }
}

// Weight rows straight to bf16 (the bf16 products' weights), bit for bit
// with the scalar twin, per type and on every target: Q4_0 and kQ4_0R through
// their own decoder (row lengths with and without a whole group of 16
// blocks), the rest through the row decoders. Half away from zero: a value
// halfway between two bf16 goes to the larger magnitude.
TEST_P(LatentOpsTest, WeightRowsToBf16MatchesScalar) {
  uint32_t seed = 960;
  for (DType type : {DType::kQ4_0, DType::kQ4_0R, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kF16, DType::kBF16})
    for (int64_t cols : {256, 32 * 19}) {
      if (cols % BlockSize(type) != 0) continue;
      const int64_t rows = 5;
      const std::vector<uint8_t> data = test_data::RandomRows(type, rows, cols, seed++);
      const TensorView w{type, cols, rows, data.data(), RowBytes(type, cols)};
      std::vector<uint16_t> got(static_cast<size_t>(rows * cols), 0xDEAD), want(got.size());
      WeightRowsToBf16(w, 1, rows, got.data());
      scalar::WeightRowsToBf16(w, 1, rows, want.data());
      for (size_t i = 0; i < want.size() - static_cast<size_t>(cols); ++i)
        ASSERT_EQ(got[i], want[i]) << DTypeName(type) << " cols " << cols << " at " << i;
      EXPECT_EQ(got[want.size() - 1], 0xDEAD) << "wrote past the rows asked for";
      // The scalar twin against the row's values rounded by hand.
      std::vector<float> row(static_cast<size_t>(cols));
      DequantizeRow(type, w.row(1), row.data(), cols);
      int changed = 0;
      for (int64_t i = 0; i < cols; ++i) {
        const float v = row[static_cast<size_t>(i)], back = BF16ToF32(want[static_cast<size_t>(i)]);
        ASSERT_LE(std::fabs(back - v), std::fabs(v) / 256) << DTypeName(type) << " value " << v;
        changed += back != v;
      }
      if (type != DType::kBF16) EXPECT_GT(changed, 0) << DTypeName(type) << ": nothing was rounded";
    }
  const float halfway = 1.0f + 1.0f / 256;  // between 1 and 1 + 2/256
  std::vector<float> f32_row(37, halfway);  // a vector part and a tail
  const TensorView w{DType::kF32, 37, 1, reinterpret_cast<const uint8_t*>(f32_row.data()), 37 * sizeof(float)};
  std::vector<uint16_t> ties(37);
  WeightRowsToBf16(w, 0, 1, ties.data());
  for (uint16_t t : ties) ASSERT_EQ(t, 0x3F81);  // not 0x3F80, as ties to even would give
}

}  // namespace
}  // namespace plexus::kernels
