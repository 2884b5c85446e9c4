// RmsNorm, Rope, Softmax, SiluMul and Add on every compiled target against
// the scalar twins, at lengths with and without a vector tail.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/ops_scalar.h"
#include "test_data.h"

namespace plexus::kernels {
namespace {

using test_data::ExpectAllClose;
using test_data::ExpectNonConstant;
using test_data::RandomFloats;

constexpr float kRel = 1e-5f;
const int64_t kLengths[] = {1, 5, 64, 172, 4099};

class ElementwiseTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(ElementwiseTest);

TEST_P(ElementwiseTest, RmsNormMatchesScalar) {
  for (int64_t n : kLengths) {
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), 10 + static_cast<uint32_t>(n), 3.0f);
    const std::vector<float> weight = RandomFloats(static_cast<size_t>(n), 20 + static_cast<uint32_t>(n));
    if (n > 1) ExpectNonConstant(x.data(), x.size());
    std::vector<float> got(x.size()), want(x.size());
    RmsNorm(x.data(), weight.data(), got.data(), n, 1e-5f);
    scalar::RmsNorm(x.data(), weight.data(), want.data(), n, 1e-5f);
    ExpectAllClose(got.data(), want.data(), got.size(), kRel, 1e-7f, "RmsNorm");
    std::vector<float> in_place = x;  // out may alias x
    RmsNorm(in_place.data(), weight.data(), in_place.data(), n, 1e-5f);
    ExpectAllClose(in_place.data(), want.data(), got.size(), kRel, 1e-7f, "RmsNorm in place");
  }
}

// Llama-style inverse frequencies: theta_base^(-2i / head_dim).
std::vector<float> InvFreq(int head_dim, float theta_base) {
  std::vector<float> f(static_cast<size_t>(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i) f[i] = std::pow(theta_base, -2.0f * i / head_dim);
  return f;
}

TEST_P(ElementwiseTest, RopeMatchesScalarInBothStyles) {
  struct Case {
    int n_heads, head_dim;
    int64_t pos;
  };
  const Case cases[] = {{1, 2, 3}, {4, 64, 17}, {8, 128, 4095}, {3, 80, 100000}, {2, 6, 1}};
  for (RopeStyle style : {RopeStyle::kAdjacent, RopeStyle::kHalves}) {
    for (const Case& c : cases) {
      const size_t n = static_cast<size_t>(c.n_heads * c.head_dim);
      const std::vector<float> x = RandomFloats(n, 30 + static_cast<uint32_t>(n));
      if (n > 2) ExpectNonConstant(x.data(), n);
      const std::vector<float> inv_freq = InvFreq(c.head_dim, 10000.0f);
      std::vector<float> got = x, want = x;
      Rope(got.data(), c.n_heads, c.head_dim, c.pos, inv_freq.data(), style);
      scalar::Rope(want.data(), c.n_heads, c.head_dim, c.pos, inv_freq.data(), style);
      // Rotation mixes two inputs of size ~1: tolerance absolute at that scale.
      ExpectAllClose(got.data(), want.data(), n, kRel, 1e-5f, "Rope");
    }
  }
}

TEST_P(ElementwiseTest, RopeAtPositionZeroIsIdentity) {
  const std::vector<float> x = RandomFloats(4 * 64, 40);
  const std::vector<float> inv_freq = InvFreq(64, 10000.0f);
  for (RopeStyle style : {RopeStyle::kAdjacent, RopeStyle::kHalves}) {
    std::vector<float> got = x;
    Rope(got.data(), 4, 64, 0, inv_freq.data(), style);
    ExpectAllClose(got.data(), x.data(), x.size(), 0.0f, 0.0f, "Rope pos 0");
  }
}

TEST_P(ElementwiseTest, SoftmaxMatchesScalar) {
  for (int64_t n : kLengths) {
    std::vector<float> x = RandomFloats(static_cast<size_t>(n), 50 + static_cast<uint32_t>(n), 4.0f);
    if (n > 1) ExpectNonConstant(x.data(), x.size());
    x[0] = 30.0f;  // a dominant logit
    std::vector<float> got = x, want = x;
    Softmax(got.data(), n);
    scalar::Softmax(want.data(), n);
    ExpectAllClose(got.data(), want.data(), got.size(), kRel, 1e-9f, "Softmax");
  }
  std::vector<float> masked = {1.0f, -INFINITY, 2.0f, -INFINITY, 0.5f, -INFINITY, -INFINITY, 3.0f, 0.0f};
  std::vector<float> want = masked;
  Softmax(masked.data(), static_cast<int64_t>(masked.size()));
  scalar::Softmax(want.data(), static_cast<int64_t>(want.size()));
  ExpectAllClose(masked.data(), want.data(), masked.size(), kRel, 1e-9f, "Softmax masked");
}

TEST_P(ElementwiseTest, SiluMulMatchesScalar) {
  for (int64_t n : kLengths) {
    std::vector<float> gate = RandomFloats(static_cast<size_t>(n), 60 + static_cast<uint32_t>(n), 5.0f);
    const std::vector<float> up = RandomFloats(static_cast<size_t>(n), 70 + static_cast<uint32_t>(n));
    if (n > 1) ExpectNonConstant(gate.data(), gate.size());
    if (n > 4) {  // the far ends of exp's range
      gate[1] = 120.0f;
      gate[2] = -120.0f;
      gate[3] = 88.5f;
    }
    std::vector<float> got = gate, want = gate;
    SiluMul(got.data(), up.data(), n);
    scalar::SiluMul(want.data(), up.data(), n);
    ExpectAllClose(got.data(), want.data(), got.size(), kRel, 1e-7f, "SiluMul");
  }
}

TEST_P(ElementwiseTest, AddMatchesScalar) {
  for (int64_t n : kLengths) {
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), 80 + static_cast<uint32_t>(n));
    std::vector<float> got = RandomFloats(static_cast<size_t>(n), 90 + static_cast<uint32_t>(n));
    if (n > 1) ExpectNonConstant(x.data(), x.size());
    std::vector<float> want = got;
    Add(got.data(), x.data(), n);
    scalar::Add(want.data(), x.data(), n);
    ExpectAllClose(got.data(), want.data(), got.size(), 0.0f, 0.0f, "Add");
  }
}

TEST_P(ElementwiseTest, SumMatchesScalar) {
  for (int64_t n : kLengths) {
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), 120 + static_cast<uint32_t>(n));
    if (n > 1) ExpectNonConstant(x.data(), x.size());
    double abs_sum = 0.0;
    for (float v : x) abs_sum += std::fabs(v);
    EXPECT_NEAR(Sum(x.data(), n), scalar::Sum(x.data(), n), 1e-6 * abs_sum + 1e-6) << "n=" << n;
  }
}

}  // namespace
}  // namespace plexus::kernels
