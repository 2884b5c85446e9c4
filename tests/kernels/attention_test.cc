// Attention over transposed key tiles (ScoreKeyTile, AttendKvHead) on every
// compiled target against the scalar twins, for f32 and f16 caches, one
// decoded token and runs of prompt tokens, lengths on and off tile edges.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/ops_scalar.h"
#include "tensor/fp16.h"
#include "test_data.h"

namespace plexus::kernels {
namespace {

using test_data::ExpectAllClose;
using test_data::ExpectNonConstant;
using test_data::RandomFloats;

class AttentionTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(AttentionTest);

TEST_P(AttentionTest, ScoreKeyTileMatchesScalar) {
  for (int64_t dh : {40, 64, 128}) {
    const std::vector<float> kt = RandomFloats(static_cast<size_t>(dh * kKeyTile), 11 + static_cast<uint32_t>(dh));
    for (int64_t n_q : {1, 2, 3, 5, 8, 17}) {
      const std::vector<float> q = RandomFloats(static_cast<size_t>(n_q * dh), 12 + static_cast<uint32_t>(n_q));
      std::vector<float> got(static_cast<size_t>(n_q * kKeyTile)), want(got.size());
      std::vector<const float*> q_rows;
      std::vector<float*> got_rows, want_rows;
      for (int64_t j = 0; j < n_q; ++j) {
        q_rows.push_back(q.data() + j * dh);
        got_rows.push_back(got.data() + j * kKeyTile);
        want_rows.push_back(want.data() + j * kKeyTile);
      }
      ScoreKeyTile(kt.data(), dh, q_rows.data(), n_q, got_rows.data());
      scalar::ScoreKeyTile(kt.data(), dh, q_rows.data(), n_q, want_rows.data());
      ExpectNonConstant(want.data(), want.size());
      ExpectAllClose(got.data(), want.data(), got.size(), 1e-4f, 1e-4f, "ScoreKeyTile");
    }
  }
}

// One KV head's cache of `len` positions in the layout AttendKvHead reads.
struct Cache {
  DType type;
  int64_t dh;
  std::vector<uint8_t> key_tiles, values;

  Cache(DType t, int64_t len, int64_t head_dim, uint32_t seed) : type(t), dh(head_dim) {
    const std::vector<float> k = RandomFloats(static_cast<size_t>(len * dh), seed, 2.0f);
    const std::vector<float> v = RandomFloats(static_cast<size_t>(len * dh), seed + 1);
    const int64_t tiles = (len + kKeyTile - 1) / kKeyTile;
    key_tiles.assign(static_cast<size_t>(tiles * kKeyTile * dh) * elem(), 0);
    values.assign(static_cast<size_t>(len * dh) * elem(), 0);
    for (int64_t t = 0; t < len; ++t)
      for (int64_t i = 0; i < dh; ++i) {
        const int64_t tile = t / kKeyTile, lane = t % kKeyTile;
        Put(key_tiles, (tile * dh + i) * kKeyTile + lane, k[static_cast<size_t>(t * dh + i)]);
        Put(values, t * dh + i, v[static_cast<size_t>(t * dh + i)]);
      }
  }
  size_t elem() const { return type == DType::kF32 ? sizeof(float) : sizeof(uint16_t); }
  void Put(std::vector<uint8_t>& buf, int64_t index, float x) const {
    if (type == DType::kF32) {
      std::memcpy(buf.data() + static_cast<size_t>(index) * sizeof(float), &x, sizeof(float));
    } else {
      const uint16_t h = F32ToF16(x);
      std::memcpy(buf.data() + static_cast<size_t>(index) * sizeof(uint16_t), &h, sizeof(uint16_t));
    }
  }
};

struct Shape {
  int64_t first_len, n_queries, heads, dh;
};

void ExpectAttentionMatchesScalar(DType type, const Shape& s, uint32_t seed) {
  const int64_t len = s.first_len + s.n_queries - 1;
  const Cache cache(type, len, s.dh, seed);
  const int64_t q_stride = (s.heads + 1) * s.dh;  // a row wider than the heads read: strides are honored
  const std::vector<float> q = RandomFloats(static_cast<size_t>(s.n_queries * q_stride), seed + 2);
  std::vector<float> got(q.size(), 7.0f), want(q.size(), 7.0f);
  KvHeadAttention a;
  a.type = type;
  a.key_tiles = cache.key_tiles.data();
  a.values = cache.values.data();
  a.value_row_bytes = static_cast<size_t>(s.dh) * cache.elem();
  a.dh = s.dh;
  a.first_len = s.first_len;
  a.n_queries = s.n_queries;
  a.heads = s.heads;
  a.q = q.data();
  a.q_stride = q_stride;
  a.out = got.data();
  a.out_stride = q_stride;
  std::vector<float> scratch(AttendScratchFloats(s.heads, s.n_queries, len, s.dh), -1.0f);
  AttendKvHead(a, scratch.data());
  a.out = want.data();
  scalar::AttendKvHead(a);
  ExpectNonConstant(want.data(), want.size());
  // Scores differ by FMA rounding; with f16 that can move a weight by one
  // half-ulp (2^-11 relative) when it is rounded to f16.
  const float tol = type == DType::kF32 ? 2e-5f : 2e-3f;
  ExpectAllClose(got.data(), want.data(), got.size(), tol, tol, "AttendKvHead");
  for (int64_t i = 0; i < s.n_queries; ++i)  // the lanes past the heads are untouched
    for (int64_t e = s.heads * s.dh; e < q_stride; ++e) ASSERT_EQ(got[static_cast<size_t>(i * q_stride + e)], 7.0f);
}

TEST_P(AttentionTest, AttendKvHeadMatchesScalar) {
  const Shape shapes[] = {
      {1, 1, 1, 64},    // the first token
      {37, 1, 4, 64},   // decode, off a tile edge
      {64, 1, 4, 64},   // decode, on a tile edge
      {1, 16, 2, 64},   // a prompt from an empty cache
      {100, 9, 3, 128}, // a prompt chunk after earlier ones
      {33, 31, 1, 40},  // a head size that is not a multiple of the vector
  };
  uint32_t seed = 40;
  for (DType type : {DType::kF32, DType::kF16})
    for (const Shape& s : shapes) {
      SCOPED_TRACE(testing::Message() << DTypeName(type) << " first_len " << s.first_len << " queries "
                                      << s.n_queries << " heads " << s.heads << " dh " << s.dh);
      ExpectAttentionMatchesScalar(type, s, seed += 3);
    }
}

// A run of queries gives each query exactly what it gets alone: the runs
// of a prompt chunk and the one-token steps of decode agree bit for bit.
TEST_P(AttentionTest, QueryRunsGiveTheBitsOfSingleQueries) {
  for (DType type : {DType::kF32, DType::kF16}) {
    const int64_t first_len = 21, n_queries = 40, heads = 4, dh = 64, len = first_len + n_queries - 1;
    const Cache cache(type, len, dh, 90);
    const std::vector<float> q = RandomFloats(static_cast<size_t>(n_queries * heads * dh), 91);
    std::vector<float> run(q.size()), single(q.size());
    KvHeadAttention a;
    a.type = type;
    a.key_tiles = cache.key_tiles.data();
    a.values = cache.values.data();
    a.value_row_bytes = static_cast<size_t>(dh) * cache.elem();
    a.dh = dh;
    a.heads = heads;
    a.q_stride = a.out_stride = heads * dh;
    std::vector<float> scratch(AttendScratchFloats(heads, n_queries, len, dh));
    a.first_len = first_len;
    a.n_queries = n_queries;
    a.q = q.data();
    a.out = run.data();
    AttendKvHead(a, scratch.data());
    a.n_queries = 1;
    for (int64_t i = 0; i < n_queries; ++i) {
      a.first_len = first_len + i;
      a.q = q.data() + i * heads * dh;
      a.out = single.data() + i * heads * dh;
      AttendKvHead(a, scratch.data());
    }
    EXPECT_EQ(std::memcmp(run.data(), single.data(), run.size() * sizeof(float)), 0) << DTypeName(type);
  }
}

}  // namespace
}  // namespace plexus::kernels
