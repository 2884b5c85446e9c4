// MatVecMany on every compiled target: each job's output must be bit-identical
// to MatVec of that job alone, for every weight type, mixed types and shapes
// in one call, inputs shared between jobs, and pools of 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "test_data.h"
#include "tensor/quant.h"

namespace plexus::kernels {
namespace {

using test_data::AllTypes;
using test_data::RandomFloats;
using test_data::RandomRows;

struct OwnedJob {
  std::vector<uint8_t> bytes;
  TensorView w;
  const float* x;
  std::vector<float> y;
};

// Columns that are whole blocks of `type`: `plain` for f32/f16/bf16 (any length).
int64_t Cols(DType type, int64_t plain, int64_t blocks256) {
  return BlockSize(type) == 1 ? plain : blocks256 * 256;
}

class MatVecManyTest : public hwy::TestWithParamTarget {
 protected:
  // Jobs of `type` (and one q4_0 job beside them) over three inputs: x1
  // shared by four jobs (one of them reading only its first half), x2 and
  // x3 by one each. Odd row counts; the 301-row and 129-row jobs span
  // several hand-out chunks.
  std::vector<OwnedJob> MakeJobs(DType type, uint32_t seed) {
    const int64_t c1 = Cols(type, 172, 2), c2 = Cols(type, 4099, 8), c3 = Cols(type, 2048, 8);
    x1_ = RandomFloats(static_cast<size_t>(c1), seed++);
    x2_ = RandomFloats(static_cast<size_t>(c2), seed++);
    x3_ = RandomFloats(static_cast<size_t>(c3), seed++, 3.0f);
    struct Spec {
      DType type;
      int64_t rows, cols;
      const float* x;
    };
    const Spec specs[] = {{type, 37, c1, x1_.data()},      {type, 5, c1, x1_.data()},
                          {type, 1, c2, x2_.data()},       {type, 129, c1, x1_.data()},
                          {type, 301, c3, x3_.data()},     {type, 3, c1 / 2, x1_.data()},
                          {DType::kQ4_0, 33, 512, x3_.data()}, {type, 0, c1, x1_.data()}};
    std::vector<OwnedJob> jobs;
    for (const Spec& s : specs) {
      OwnedJob& j = jobs.emplace_back();
      j.bytes = RandomRows(s.type, s.rows, s.cols, seed++);
      j.w = TensorView{s.type, s.cols, s.rows, j.bytes.data(), RowBytes(s.type, s.cols)};
      j.x = s.x;
      j.y.assign(static_cast<size_t>(s.rows), NAN);
    }
    return jobs;
  }

  std::vector<float> x1_, x2_, x3_;
};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MatVecManyTest);

TEST_P(MatVecManyTest, EachJobIsBitIdenticalToMatVec) {
  ThreadPool one(1), two(2), three(3);
  uint32_t seed = 500;
  for (DType type : AllTypes()) {
    for (ThreadPool* pool : {&one, &two, &three}) {
      std::vector<OwnedJob> jobs = MakeJobs(type, seed);
      seed += 20;
      std::vector<MatVecJob> many;
      for (OwnedJob& j : jobs) many.push_back({j.w, j.x, j.y.data()});
      MatVecMany(many, *pool);
      for (size_t i = 0; i < jobs.size(); ++i) {
        const OwnedJob& j = jobs[i];
        std::vector<float> want(j.y.size(), NAN);
        if (j.w.rows > 0) MatVec(j.w, j.x, want.data(), one);
        for (size_t r = 0; r < want.size(); ++r) {
          ASSERT_EQ(std::memcmp(&j.y[r], &want[r], sizeof(float)), 0)
              << DTypeName(j.w.type) << " job " << i << " (" << j.w.rows << "x" << j.w.cols << ") row " << r
              << " threads " << pool->size() << ": got " << j.y[r] << ", MatVec gives " << want[r];
        }
      }
    }
  }
}

// A second call with fewer jobs and different inputs reuses the buffers of
// the first: nothing of the earlier call may leak into it.
TEST_P(MatVecManyTest, RepeatedCallsDoNotReuseStaleQuants) {
  ThreadPool pool(2);
  for (DType type : {DType::kQ4_0, DType::kQ6_K, DType::kF16}) {
    std::vector<OwnedJob> first = MakeJobs(type, 900);
    std::vector<MatVecJob> many;
    for (OwnedJob& j : first) many.push_back({j.w, j.x, j.y.data()});
    MatVecMany(many, pool);
    const std::vector<float> fresh = RandomFloats(x1_.size(), 901, 5.0f);
    std::copy(fresh.begin(), fresh.end(), x1_.begin());  // same address, new values
    OwnedJob& again = first[1];
    again.y.assign(again.y.size(), NAN);
    const MatVecJob one_job[] = {{again.w, x1_.data(), again.y.data()}};
    MatVecMany(one_job, pool);
    std::vector<float> want(again.y.size());
    MatVec(again.w, x1_.data(), want.data(), pool);
    EXPECT_EQ(std::memcmp(again.y.data(), want.data(), want.size() * sizeof(float)), 0) << DTypeName(type);
  }
}

TEST(MatVecManyEdgeTest, NoJobsIsANoOp) {
  ThreadPool pool(2);
  MatVecMany({}, pool);
}

}  // namespace
}  // namespace plexus::kernels
