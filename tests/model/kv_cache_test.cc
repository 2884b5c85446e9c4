// The KV cache keeps each head's rows head-major and contiguous: what Store
// wrote at a position comes back from Keys/Values of that head, across the
// doublings of its capacity and after a rewind.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "model/kv_cache.h"
#include "tensor/fp16.h"

namespace plexus {
namespace {

// Element i of head h's K row at position p (V: negated), exact in f32 and f16.
float KeyValue(int64_t p, int64_t h, int64_t i) { return static_cast<float>((p * 7 + h * 3 + i) % 61) - 30.0f; }

std::vector<float> Row(int64_t p, int64_t heads, int64_t dh, float sign) {
  std::vector<float> row(static_cast<size_t>(heads * dh));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < dh; ++i) row[static_cast<size_t>(h * dh + i)] = sign * KeyValue(p, h, i);
  return row;
}

void ExpectRows(const KvCache& kv, int32_t seq, int64_t layer, int64_t n, int64_t heads, int64_t dh) {
  for (int64_t h = 0; h < heads; ++h) {
    const auto* k = reinterpret_cast<const float*>(kv.Keys(seq, layer, h));
    const auto* v = reinterpret_cast<const float*>(kv.Values(seq, layer, h));
    for (int64_t p = 0; p < n; ++p)
      for (int64_t i = 0; i < dh; ++i) {
        ASSERT_EQ(k[p * dh + i], KeyValue(p, h, i)) << "K head " << h << " pos " << p << " elem " << i;
        ASSERT_EQ(v[p * dh + i], -KeyValue(p, h, i)) << "V head " << h << " pos " << p << " elem " << i;
      }
  }
}

TEST(KvCache, HeadRowsAreContiguousAcrossGrowthAndRewind) {
  const int64_t layers = 2, heads = 3, dh = 8, n = 200;  // 200 positions: capacity 64 -> 128 -> 256
  KvCache kv(layers, heads * dh, 1024, DType::kF32, -1, heads);
  EXPECT_EQ(kv.head_row_bytes(), static_cast<size_t>(dh) * sizeof(float));
  EXPECT_EQ(kv.row_bytes(), static_cast<size_t>(heads) * kv.head_row_bytes());
  for (int64_t p = 0; p < n; ++p) {
    ASSERT_TRUE(kv.Prepare(5, p).ok());
    const std::vector<float> k = Row(p, heads, dh, 1.0f), v = Row(p, heads, dh, -1.0f);
    for (int64_t l = 0; l < layers; ++l) kv.Store(5, l, p, k.data(), v.data());
  }
  for (int64_t l = 0; l < layers; ++l) ExpectRows(kv, 5, l, n, heads, dh);
  // Rewind to 150 and write that position again: the rows before it stay.
  ASSERT_TRUE(kv.Prepare(5, 150).ok());
  EXPECT_EQ(kv.Length(5), 151);
  const std::vector<float> k = Row(150, heads, dh, 1.0f), v = Row(150, heads, dh, -1.0f);
  kv.Store(5, 1, 150, k.data(), v.data());
  ExpectRows(kv, 5, 1, 151, heads, dh);
}

TEST(KvCache, F16HeadsRoundTripAndSkippingAheadIsAnError) {
  const int64_t heads = 2, dh = 4;
  KvCache kv(1, heads * dh, 16, DType::kF16, -1, heads);
  ASSERT_TRUE(kv.Prepare(0, 0).ok());
  const std::vector<float> k = Row(0, heads, dh, 1.0f), v = Row(0, heads, dh, -1.0f);
  kv.Store(0, 0, 0, k.data(), v.data());
  EXPECT_EQ(kv.head_row_bytes(), static_cast<size_t>(dh) * 2);
  for (int64_t h = 0; h < heads; ++h) {
    // Head blocks hold the capacity: the whole context of 16 here.
    EXPECT_EQ(kv.Keys(0, 0, h) - kv.Keys(0, 0, 0), static_cast<ptrdiff_t>(h * 16 * kv.head_row_bytes()));
    std::vector<uint16_t> want(static_cast<size_t>(dh)), got(static_cast<size_t>(dh));
    for (int64_t i = 0; i < dh; ++i) want[static_cast<size_t>(i)] = F32ToF16(KeyValue(0, h, i));
    std::memcpy(got.data(), kv.Keys(0, 0, h), kv.head_row_bytes());
    EXPECT_EQ(got, want) << "head " << h;
  }
  EXPECT_FALSE(kv.Prepare(0, 2).ok());   // skips position 1
  EXPECT_FALSE(kv.Prepare(0, 16).ok());  // outside the context
}

// Keys kept in transposed tiles (standard attention): position p's element
// i of head h sits at lane p % kKeyTile of row i of tile p / kKeyTile, across
// growth and a rewind; values stay rows.
TEST(KvCache, KeyTilesHoldEachKeyInItsLane) {
  const int64_t layers = 1, heads = 2, dh = 8, n = 150, tile = kernels::kKeyTile;
  KvCache kv(layers, heads * dh, 1000, DType::kF32, -1, heads, /*key_tiles=*/true);
  ASSERT_TRUE(kv.key_tiles());
  for (int64_t p = 0; p < n; ++p) {
    ASSERT_TRUE(kv.Prepare(3, p).ok());
    const std::vector<float> k = Row(p, heads, dh, 1.0f), v = Row(p, heads, dh, -1.0f);
    kv.Store(3, 0, p, k.data(), v.data());
  }
  ASSERT_TRUE(kv.Prepare(3, 100).ok());  // rewind and rewrite one position
  const std::vector<float> k = Row(100, heads, dh, 1.0f), v = Row(100, heads, dh, -1.0f);
  kv.Store(3, 0, 100, k.data(), v.data());
  for (int64_t h = 0; h < heads; ++h) {
    const auto* tiles = reinterpret_cast<const float*>(kv.Keys(3, 0, h));
    const auto* values = reinterpret_cast<const float*>(kv.Values(3, 0, h));
    for (int64_t p = 0; p <= 100; ++p)
      for (int64_t i = 0; i < dh; ++i) {
        ASSERT_EQ(tiles[((p / tile) * dh + i) * tile + p % tile], KeyValue(p, h, i)) << "head " << h << " pos " << p;
        ASSERT_EQ(values[p * dh + i], -KeyValue(p, h, i)) << "head " << h << " pos " << p;
      }
  }
}

TEST(KvCache, KeyTilesRoundTheCapacityUpToWholeTiles) {
  const int64_t heads = 2, dh = 4;
  KvCache kv(1, heads * dh, 40, DType::kF16, -1, heads, /*key_tiles=*/true);  // 40: not a whole number of tiles
  for (int64_t p = 0; p < 40; ++p) ASSERT_TRUE(kv.Prepare(0, p).ok());
  const std::vector<float> k = Row(39, heads, dh, 1.0f), v = Row(39, heads, dh, -1.0f);
  kv.Store(0, 0, 39, k.data(), v.data());  // lane 7 of the second tile
  const ptrdiff_t block = kv.Keys(0, 0, 1) - kv.Keys(0, 0, 0);
  EXPECT_EQ(block, static_cast<ptrdiff_t>(2 * kernels::kKeyTile * kv.head_row_bytes()));
  const auto* tiles = reinterpret_cast<const uint16_t*>(kv.Keys(0, 0, 1));
  for (int64_t i = 0; i < dh; ++i)
    EXPECT_EQ(tiles[(1 * dh + i) * kernels::kKeyTile + 7], F32ToF16(KeyValue(39, 1, i))) << "elem " << i;
  EXPECT_FALSE(kv.Prepare(0, 40).ok());  // still outside the context
}

}  // namespace
}  // namespace plexus
