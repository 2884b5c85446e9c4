// Axpy on every compiled target against its scalar twin, at lengths with and
// without a vector tail, and with a = 0 and a = 1 (exact on every target).
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

class AxpyTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(AxpyTest);

TEST_P(AxpyTest, MatchesScalar) {
  for (int64_t n : {1, 5, 16, 64, 172, 4099}) {
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), 200 + static_cast<uint32_t>(n));
    const std::vector<float> y = RandomFloats(static_cast<size_t>(n), 300 + static_cast<uint32_t>(n));
    if (n > 1) ExpectNonConstant(x.data(), x.size());
    for (float a : {0.37f, -2.5f}) {
      std::vector<float> got = y, want = y;
      Axpy(a, x.data(), got.data(), n);
      scalar::Axpy(a, x.data(), want.data(), n);
      // FMA rounds once where the scalar loop rounds twice.
      ExpectAllClose(got.data(), want.data(), got.size(), 1e-6f, 2e-6f, "Axpy");
    }
  }
}

TEST_P(AxpyTest, ZeroAndOneAreExact) {
  const int64_t n = 37;
  const std::vector<float> x = RandomFloats(n, 401), y = RandomFloats(n, 402);
  std::vector<float> zero = y, one = y, sum = y;
  Axpy(0.0f, x.data(), zero.data(), n);
  Axpy(1.0f, x.data(), one.data(), n);
  Add(sum.data(), x.data(), n);
  ExpectAllClose(zero.data(), y.data(), y.size(), 0.0f, 0.0f, "Axpy a=0");
  ExpectAllClose(one.data(), sum.data(), y.size(), 0.0f, 0.0f, "Axpy a=1");
}

}  // namespace
}  // namespace plexus::kernels
