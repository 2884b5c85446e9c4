// Attention of query heads over one KV head's cache (ops.h: ScoreKeyTile,
// AttendKvHead). The keys are kept transposed in tiles of kKeyTile
// positions ([dh][kKeyTile] per tile), so one vector of scores is a chain of
// dh FMAs over lanes that are keys: no horizontal sum per score, and each
// key load serves several query heads. Values stay [len, dh] rows, added
// with AxpyRows.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hwy/highway.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

// kQ queries at once over one tile: kQ * kKeyTile / N accumulators, each a
// chain of dh FMAs in increasing i (the scalar twin's order, one rounding
// per step instead of two).
template <int kQ>
HWY_INLINE void ScoreTileQueries(const float* kt, int64_t dh, const float* const* q, float* const* out) {
  const DF d;
  constexpr int64_t kMaxVecs = kKeyTile / 4;  // ScoreKeyTileImpl takes this path from 4 lanes up
  // The min only tells the compiler the bound; ScoreKeyTileImpl ensures it.
  const int64_t vecs = std::min(kMaxVecs, kKeyTile / static_cast<int64_t>(hn::Lanes(d)));
  hn::Vec<DF> acc[kQ][kMaxVecs];
  for (int j = 0; j < kQ; ++j)
    for (int64_t v = 0; v < vecs; ++v) acc[j][v] = hn::Zero(d);
  for (int64_t i = 0; i < dh; ++i) {
    const float* row = kt + i * kKeyTile;
    for (int64_t v = 0; v < vecs; ++v) {
      const auto k = hn::LoadU(d, row + v * static_cast<int64_t>(hn::Lanes(d)));
      for (int j = 0; j < kQ; ++j) acc[j][v] = hn::MulAdd(hn::Set(d, q[j][i]), k, acc[j][v]);
    }
  }
  for (int j = 0; j < kQ; ++j)
    for (int64_t v = 0; v < vecs; ++v) hn::StoreU(acc[j][v], d, out[j] + v * static_cast<int64_t>(hn::Lanes(d)));
}

void ScoreKeyTileImpl(const float* kt, int64_t dh, const float* const* q, int64_t n_q, float* const* out) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  if (lanes < 4 || lanes > kKeyTile || kKeyTile % lanes != 0) {
    for (int64_t j = 0; j < n_q; ++j)  // no vector that divides a tile: lane by lane, in the same order
      for (int64_t t = 0; t < kKeyTile; ++t) {
        float s = 0.0f;
        for (int64_t i = 0; i < dh; ++i) s = std::fma(q[j][i], kt[i * kKeyTile + t], s);
        out[j][t] = s;
      }
    return;
  }
  // Enough independent chains to cover the FMA latency: 2 queries of 4
  // vectors on 8-lane targets, 4 queries of 2 vectors on 16-lane ones.
  const bool wide = lanes >= 16;
  int64_t j = 0;
  if (wide)
    for (; j + 4 <= n_q; j += 4) ScoreTileQueries<4>(kt, dh, q + j, out + j);
  for (; j + 2 <= n_q; j += 2) ScoreTileQueries<2>(kt, dh, q + j, out + j);
  for (; j < n_q; ++j) ScoreTileQueries<1>(kt, dh, q + j, out + j);
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(ScoreKeyTileImpl);

void ScoreKeyTile(const float* kt, int64_t dh, const float* const* q, int64_t n_q, float* const* out) {
  HWY_DYNAMIC_DISPATCH(ScoreKeyTileImpl)(kt, dh, q, n_q, out);
}

namespace {

}  // namespace

const float* RowsAsFloat(const TensorView& rows, int64_t r0, int64_t m, float* scratch, int64_t* stride) {
  if (rows.type == DType::kF32) {
    *stride = static_cast<int64_t>(rows.row_bytes / sizeof(float));
    return reinterpret_cast<const float*>(rows.row(r0));
  }
  *stride = rows.cols;
  if (rows.type == DType::kF16 && rows.row_bytes == static_cast<size_t>(rows.cols) * sizeof(uint16_t)) {
    HalfToFloat(reinterpret_cast<const uint16_t*>(rows.row(r0)), scratch, m * rows.cols);  // packed: one call
  } else {
    WeightRowsToFloat(rows, r0, r0 + m, scratch);
  }
  return scratch;
}

namespace {

int64_t RoundUpToTile(int64_t n) { return (n + kKeyTile - 1) / kKeyTile * kKeyTile; }

// The scratch of AttendKvHead, carved in order.
struct AttendScratch {
  float* scores;  // [n_queries * heads, stride]: query i, head j at row i * heads + j
  float* tile;    // [kKeyTile * dh]: one decoded K tile ([dh][kKeyTile]) or V tile ([kKeyTile][dh])
  float* q;       // [n_queries * heads, dh]: the queries, rounded to f16 for an f16 cache
  int64_t stride;
};

AttendScratch CarveScratch(const KvHeadAttention& a, float* scratch) {
  const int64_t rows = a.n_queries * a.heads, stride = RoundUpToTile(a.first_len + a.n_queries - 1);
  return {scratch, scratch + rows * stride, scratch + rows * stride + kKeyTile * a.dh, stride};
}

// Rows [t0, t0 + m) of `values` as f32 rows [m, dh], decoded into tile if f16.
const float* ValueRows(const KvHeadAttention& a, int64_t t0, int64_t m, float* tile, int64_t* stride) {
  const TensorView values{a.type, a.dh, t0 + m, a.values, a.value_row_bytes};
  return RowsAsFloat(values, t0, m, tile, stride);
}

// Key tile k as f32 [dh][kKeyTile], decoded into tile if f16.
const float* KeyTile(const KvHeadAttention& a, int64_t k, float* tile) {
  const size_t elems = static_cast<size_t>(kKeyTile * a.dh);
  if (a.type == DType::kF32) return reinterpret_cast<const float*>(a.key_tiles) + k * elems;
  HalfToFloat(reinterpret_cast<const uint16_t*>(a.key_tiles) + k * elems, tile, static_cast<int64_t>(elems));
  return tile;
}

// Scores of every (query, head) row that reaches into each key tile; the
// lanes of a tile past a row's length are computed and never read.
void ScoreAllTiles(const KvHeadAttention& a, const AttendScratch& s) {
  constexpr int64_t kBatch = 16;  // rows per ScoreKeyTile call
  const float* q_rows[kBatch];
  float* out_rows[kBatch];
  const int64_t n_tiles = s.stride / kKeyTile;
  for (int64_t k = 0; k < n_tiles; ++k) {
    const float* kt = KeyTile(a, k, s.tile);
    int64_t n = 0;
    for (int64_t i = 0; i < a.n_queries; ++i) {
      if (a.first_len + i <= k * kKeyTile) continue;  // causal: query i ends before this tile
      for (int64_t j = 0; j < a.heads; ++j) {
        const int64_t row = i * a.heads + j;
        q_rows[n] = s.q + row * a.dh;
        out_rows[n] = s.scores + row * s.stride + k * kKeyTile;
        if (++n == kBatch) {
          ScoreKeyTile(kt, a.dh, q_rows, n, out_rows);
          n = 0;
        }
      }
    }
    if (n > 0) ScoreKeyTile(kt, a.dh, q_rows, n, out_rows);
  }
}

}  // namespace

size_t AttendScratchFloats(int64_t heads, int64_t n_queries, int64_t max_len, int64_t dh) {
  return static_cast<size_t>(n_queries * heads * RoundUpToTile(max_len) + kKeyTile * dh + n_queries * heads * dh);
}

void AttendKvHead(const KvHeadAttention& a, float* scratch) {
  const AttendScratch s = CarveScratch(a, scratch);
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.dh));
  for (int64_t i = 0; i < a.n_queries; ++i)
    for (int64_t j = 0; j < a.heads; ++j) {
      float* q = s.q + (i * a.heads + j) * a.dh;
      std::memcpy(q, a.q + i * a.q_stride + j * a.dh, static_cast<size_t>(a.dh) * sizeof(float));
      // With an f16 cache, q and the attention weights meet K and V in f16
      // too (as llama.cpp's f16 KV path computes), accumulating in f32.
      if (a.type == DType::kF16) RoundToHalf(q, a.dh);
    }
  ScoreAllTiles(a, s);
  for (int64_t i = 0; i < a.n_queries; ++i)
    for (int64_t j = 0; j < a.heads; ++j) {
      const int64_t len = a.first_len + i;
      float* scores = s.scores + (i * a.heads + j) * s.stride;
      for (int64_t t = 0; t < len; ++t) scores[t] *= scale;
      Softmax(scores, len);
      if (a.type == DType::kF16) RoundToHalf(scores, len);
      std::fill_n(a.out + i * a.out_stride + j * a.dh, a.dh, 0.0f);
    }
  const int64_t max_len = a.first_len + a.n_queries - 1;
  for (int64_t t0 = 0; t0 < max_len; t0 += kKeyTile) {
    int64_t stride = 0;
    const float* rows = ValueRows(a, t0, std::min(kKeyTile, max_len - t0), s.tile, &stride);
    for (int64_t i = 0; i < a.n_queries; ++i) {
      const int64_t m = std::min(kKeyTile, a.first_len + i - t0);
      if (m <= 0) continue;
      for (int64_t j = 0; j < a.heads; ++j)
        AxpyRows(s.scores + (i * a.heads + j) * s.stride + t0, m, rows, stride, a.out + i * a.out_stride + j * a.dh,
                 a.dh);
    }
  }
}

}  // namespace plexus::kernels
#endif  // HWY_ONCE
