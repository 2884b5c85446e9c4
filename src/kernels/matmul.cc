// Dot, MatVec (decode: one token) and MatMul (prefill: many tokens) over
// weight rows of any type. Dispatch happens once per call; the per-row work
// then runs through this target's row kernels (row_ops-inl.h).
#include <algorithm>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/dot_q8-inl.h"
#include "kernels/ops.h"
#include "kernels/row_ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float DotImpl(DType type, const void* row, const float* x, int64_t n) {
  return GetRowOps(type).dot(row, x, n);
}

ActsRow ActsRowOf(const QuantizedActs& x, int64_t t) {
  const int64_t nb = x.cols / kActBlock;
  return {x.q.data() + t * x.cols, x.d.data() + t * nb, x.sum.data() + t * nb};
}

float DotQ8Impl(DType type, const void* row, const QuantizedActs& x, int64_t x_row) {
  return GetRowDotQ8(type)(row, ActsRowOf(x, x_row), x.cols);
}

// Rows per hand-out: at least ~32 KiB of weights, so the atomic hand-out cost
// stays negligible; ParallelFor hands chunks out dynamically, so a thread
// slowed by a neighbour takes fewer of them and the bytes balance.
size_t MatVecGrain(const TensorView& w) {
  return static_cast<size_t>(std::max<size_t>(1, (32 * 1024) / std::max<size_t>(1, w.row_bytes)));
}

void MatVecImpl(const TensorView& w, const float* x, float* y, ThreadPool& pool) {
  if (const RowDotQ8Fn dot_q8 = GetRowDotQ8(w.type)) {
    // Quantized once on the calling thread (cols values), read by all.
    thread_local QuantizedActs acts;
    QuantizeActs(x, 1, w.cols, &acts);
    const ActsRow xq = ActsRowOf(acts, 0);
    pool.ParallelFor(static_cast<size_t>(w.rows), MatVecGrain(w), [&](size_t begin, size_t end) {
      for (size_t r = begin; r < end; ++r) y[r] = dot_q8(w.row(static_cast<int64_t>(r)), xq, w.cols);
    });
    return;
  }
  const RowDotFn dot = GetRowOps(w.type).dot;
  pool.ParallelFor(static_cast<size_t>(w.rows), MatVecGrain(w), [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) y[r] = dot(w.row(static_cast<int64_t>(r)), x, w.cols);
  });
}

// The micro-kernel of MatMul: dots of 2 weight rows (w0, w1) with 4 tokens
// (x + t * cols), 8 accumulators sharing 6 loads per step.
// out[t * out_stride + k] = dot(w_k, x_t).
void Dot2Rows4Tokens(const float* w0, const float* w1, const float* x, int64_t cols, float* out,
                     int64_t out_stride) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float* x0 = x;
  const float* x1 = x + cols;
  const float* x2 = x + 2 * cols;
  const float* x3 = x + 3 * cols;
  auto a00 = hn::Zero(d), a01 = hn::Zero(d), a02 = hn::Zero(d), a03 = hn::Zero(d);
  auto a10 = hn::Zero(d), a11 = hn::Zero(d), a12 = hn::Zero(d), a13 = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= cols; i += N) {
    const auto v0 = hn::LoadU(d, w0 + i), v1 = hn::LoadU(d, w1 + i);
    const auto y0 = hn::LoadU(d, x0 + i), y1 = hn::LoadU(d, x1 + i);
    const auto y2 = hn::LoadU(d, x2 + i), y3 = hn::LoadU(d, x3 + i);
    a00 = hn::MulAdd(v0, y0, a00);
    a01 = hn::MulAdd(v0, y1, a01);
    a02 = hn::MulAdd(v0, y2, a02);
    a03 = hn::MulAdd(v0, y3, a03);
    a10 = hn::MulAdd(v1, y0, a10);
    a11 = hn::MulAdd(v1, y1, a11);
    a12 = hn::MulAdd(v1, y2, a12);
    a13 = hn::MulAdd(v1, y3, a13);
  }
  float s[2][4] = {{hn::GetLane(hn::SumOfLanes(d, a00)), hn::GetLane(hn::SumOfLanes(d, a01)),
                    hn::GetLane(hn::SumOfLanes(d, a02)), hn::GetLane(hn::SumOfLanes(d, a03))},
                   {hn::GetLane(hn::SumOfLanes(d, a10)), hn::GetLane(hn::SumOfLanes(d, a11)),
                    hn::GetLane(hn::SumOfLanes(d, a12)), hn::GetLane(hn::SumOfLanes(d, a13))}};
  for (; i < cols; ++i) {
    for (int t = 0; t < 4; ++t) {
      s[0][t] += w0[i] * x[t * cols + i];
      s[1][t] += w1[i] * x[t * cols + i];
    }
  }
  for (int t = 0; t < 4; ++t) {
    out[t * out_stride] = s[0][t];
    out[t * out_stride + 1] = s[1][t];
  }
}

// Tiling of MatMul: a tile of decoded weight rows stays in L1/L2 while a
// tile of tokens (their x rows in L2) streams past it.
struct MatMulTiling {
  int64_t rows_per_tile;
  int64_t tokens_per_tile;
};

MatMulTiling ChooseTiling(int64_t cols) {
  constexpr int64_t kRowTileBytes = 64 * 1024, kTokenTileBytes = 256 * 1024;
  const int64_t row_bytes = std::max<int64_t>(1, cols) * static_cast<int64_t>(sizeof(float));
  // At least a pair of rows: the micro-kernel takes two.
  const int64_t rows = std::clamp<int64_t>(kRowTileBytes / row_bytes, 2, 16);
  const int64_t tokens = std::max<int64_t>(4, (kTokenTileBytes / row_bytes) / 4 * 4);
  return {rows, tokens};
}

// y[:, r0..r1) for all tokens. `scratch` holds the decoded rows (unused for f32).
void MatMulRowTile(const TensorView& w, const RowOps& ops, const float* x, int64_t n_tokens, float* y,
                   int64_t r0, int64_t r1, int64_t tokens_per_tile, std::vector<float>& scratch) {
  const int64_t cols = w.cols;
  const bool decode = w.type != DType::kF32;
  if (decode) {
    scratch.resize(static_cast<size_t>((r1 - r0) * cols));
    for (int64_t r = r0; r < r1; ++r) ops.decode(w.row(r), scratch.data() + (r - r0) * cols, cols);
  }
  const auto row_f32 = [&](int64_t r) {
    return decode ? scratch.data() + (r - r0) * cols : reinterpret_cast<const float*>(w.row(r));
  };
  for (int64_t t0 = 0; t0 < n_tokens; t0 += tokens_per_tile) {
    const int64_t t1 = std::min(n_tokens, t0 + tokens_per_tile);
    for (int64_t r = r0; r < r1; r += 2) {
      const float* w0 = row_f32(r);
      const float* w1 = r + 1 < r1 ? row_f32(r + 1) : nullptr;
      int64_t t = t0;
      for (; w1 != nullptr && t + 4 <= t1; t += 4) {
        Dot2Rows4Tokens(w0, w1, x + t * cols, cols, y + t * w.rows + r, w.rows);
      }
      for (; t < t1; ++t) {
        y[t * w.rows + r] = DotPlainRow<float>(w0, x + t * cols, cols);
        if (w1 != nullptr) y[t * w.rows + r + 1] = DotPlainRow<float>(w1, x + t * cols, cols);
      }
    }
  }
}

void MatMulImpl(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens == 1) return MatVecImpl(w, x, y, pool);
  // Prefill stays on decoded float rows: an integer version that re-unpacks
  // each weight block per token measured 0.55x of this (docs/PERFORMANCE.md).
  const RowOps& ops = GetRowOps(w.type);
  const MatMulTiling tiling = ChooseTiling(w.cols);
  const int64_t n_tiles = (w.rows + tiling.rows_per_tile - 1) / tiling.rows_per_tile;
  pool.ParallelFor(static_cast<size_t>(n_tiles), 1, [&](size_t begin, size_t end) {
    thread_local std::vector<float> scratch;
    for (size_t tile = begin; tile < end; ++tile) {
      const int64_t r0 = static_cast<int64_t>(tile) * tiling.rows_per_tile;
      const int64_t r1 = std::min(w.rows, r0 + tiling.rows_per_tile);
      MatMulRowTile(w, ops, x, n_tokens, y, r0, r1, tiling.tokens_per_tile, scratch);
    }
  });
}

int64_t TargetImpl() { return HWY_TARGET; }

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(DotImpl);
HWY_EXPORT(DotQ8Impl);
HWY_EXPORT(MatVecImpl);
HWY_EXPORT(MatMulImpl);
HWY_EXPORT(TargetImpl);

namespace {

// The row kernels decode whole blocks only.
void CheckWholeBlocks(DType type, int64_t n) {
  PLEXUS_CHECK(n >= 0 && n % BlockSize(type) == 0, "[kernels] row of {} {} elements is not whole blocks", n,
               DTypeName(type));
}

}  // namespace

float Dot(DType type, const void* row, const float* x, int64_t n) {
  CheckWholeBlocks(type, n);
  return HWY_DYNAMIC_DISPATCH(DotImpl)(type, row, x, n);
}

float DotQ8(DType type, const void* row, const QuantizedActs& x, int64_t x_row) {
  PLEXUS_CHECK(UsesQuantizedActs(type) && x_row >= 0 && x_row < x.rows, "[kernels] DotQ8 on {} row {} of {}",
               DTypeName(type), x_row, x.rows);
  CheckWholeBlocks(type, x.cols);
  return HWY_DYNAMIC_DISPATCH(DotQ8Impl)(type, row, x, x_row);
}

void MatVec(const TensorView& w, const float* x, float* y, ThreadPool& pool) {
  CheckWholeBlocks(w.type, w.cols);
  HWY_DYNAMIC_DISPATCH(MatVecImpl)(w, x, y, pool);
}

void MatMul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  CheckWholeBlocks(w.type, w.cols);
  HWY_DYNAMIC_DISPATCH(MatMulImpl)(w, x, n_tokens, y, pool);
}

const char* BestTargetName() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetImpl)()); }

}  // namespace plexus::kernels
#endif  // HWY_ONCE
