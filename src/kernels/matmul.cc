// Dot, MatVec (decode: one token), MatVecMany (several MatVecs in one pool
// dispatch), MatVecBatch (a batched decode step: one token of each of several
// sequences, each bit-identical to its MatVec) and MatMul (prefill: many
// tokens) over weight rows of any type. Dispatch happens once per call; the
// per-row work then runs through this target's row kernels (row_ops-inl.h,
// dot_q8-inl.h, matmul_q8-inl.h).
#include <algorithm>
#include <atomic>
#include <span>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/dot_k_wide-inl.h"
#include "kernels/matmul_bf16.h"
#include "kernels/matmul_blas.h"
#include "kernels/matmul_q8-inl.h"
#include "kernels/ops.h"
#include "kernels/row_ops-inl.h"
#include "kernels/stream_prefetch.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float DotImpl(DType type, const void* row, const float* x, int64_t n) {
  return GetRowOps(type).dot(row, x, n);
}

ActsRow ActsRowOf(const QuantizedActs& x, int64_t t) {
  const int64_t nb = x.cols / kActBlock;
  return {x.q.data() + t * x.cols, x.d.data() + t * nb, x.sum.data() + t * nb,
          x.q4_bias.empty() ? nullptr : x.q4_bias.data() + t * nb * kQ4BiasLanes,
          x.q4_hi.empty() ? nullptr : x.q4_hi.data() + t * x.cols / 2,
          x.q4_lo.empty() ? nullptr : x.q4_lo.data() + t * x.cols / 2,
          x.dsum.empty() ? nullptr : x.dsum.data() + t * nb * 2,
          x.sum16.empty() ? nullptr : x.sum16.data() + t * nb * 2,
          x.k4_pairs.empty() ? nullptr : x.k4_pairs.data() + t * x.cols};
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
      PrefetchStreamHead(w.row(static_cast<int64_t>(begin)), (end - begin) * w.row_bytes);
      for (size_t r = begin; r < end; ++r) y[r] = dot_q8(w.row(static_cast<int64_t>(r)), xq, w.cols);
    });
    return;
  }
  const RowDotFn dot = GetRowOps(w.type).dot;
  pool.ParallelFor(static_cast<size_t>(w.rows), MatVecGrain(w), [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) y[r] = dot(w.row(static_cast<int64_t>(r)), x, w.cols);
  });
}

// How MatVecMany dots job j's rows: with the quants of its input (q8, as
// MatVecImpl does for UsesQuantizedActs types) or with its floats (plain).
struct JobDot {
  RowDotQ8Fn q8;
  RowDotFn plain;
  ActsRow acts;
};

// MatVecMany's unit of hand-out: rows [r0, r1) of job `job`.
struct JobChunk {
  size_t job;
  int64_t r0, r1;
};

// dots[j] for every job; each distinct (x, cols) among the quantized-input
// jobs is quantized once into acts[0, ...) (on the calling thread, as MatVec
// does), and the jobs sharing it point at the same quants.
void PrepareJobDots(std::span<const MatVecJob> jobs, std::vector<QuantizedActs>& acts, std::vector<JobDot>& dots) {
  if (acts.size() < jobs.size()) acts.resize(jobs.size());  // kept between calls: no allocation once warm
  dots.resize(jobs.size());
  size_t used = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const TensorView& w = jobs[j].w;
    dots[j] = {GetRowDotQ8(w.type), GetRowOps(w.type).dot, {}};
    if (dots[j].q8 == nullptr) continue;
    size_t same = 0;
    while (same < j && !(dots[same].q8 != nullptr && jobs[same].x == jobs[j].x && jobs[same].w.cols == w.cols)) ++same;
    if (same < j) {
      dots[j].acts = dots[same].acts;
      continue;
    }
    QuantizeActs(jobs[j].x, 1, w.cols, &acts[used]);
    dots[j].acts = ActsRowOf(acts[used++], 0);
  }
}

// Chunks of about max(32 KiB, all jobs' bytes / (32 * threads)) of weights,
// whatever each job's row size, and never across jobs. ParallelFor gives
// each thread a contiguous run of them, so a chunk boundary inside a run
// costs only its hand-out: the row kernels' prefetch runs on into the next
// chunk. The stream restarts cold only where a run begins, at a job's start
// or a steal (with 8 chunks per thread handed out in turn, each one started
// cold, and the 1B Q8_0 decode lost ~2% to that against 4 per thread; 24 per
// thread that way lost 6%). Chunks sized by the whole dispatch, not by the
// mean job: an MoE step's 16 expert matrices once made ~260 chunks (the
// 8-layer Qwen3-30B-A3B-shaped model 69-70 t/s against 77.5-79.7); with
// contiguous runs it decodes at 79.2 t/s against 74.8-75.5 for the chunks
// dealt out in turn (docs/PERFORMANCE.md).
void ChunkJobs(std::span<const MatVecJob> jobs, int threads, std::vector<JobChunk>& chunks) {
  size_t total = 0;
  for (const MatVecJob& job : jobs) total += static_cast<size_t>(job.w.rows) * job.w.row_bytes;
  const size_t target = std::max<size_t>(32 * 1024, total / (32 * static_cast<size_t>(std::max(1, threads))));
  chunks.clear();
  for (size_t j = 0; j < jobs.size(); ++j) {
    const TensorView& w = jobs[j].w;
    const auto step = static_cast<int64_t>(std::max<size_t>(1, target / std::max<size_t>(1, w.row_bytes)));
    for (int64_t r0 = 0; r0 < w.rows; r0 += step) chunks.push_back({j, r0, std::min(w.rows, r0 + step)});
  }
}

// One MatVecMany call's state; ParallelFor hands out the chunks.
struct ManyRun {
  std::span<const MatVecJob> jobs;
  const std::vector<JobDot>& dots;
  const std::vector<JobChunk>& chunks;

  void Work(size_t begin, size_t end) const {
    for (size_t c = begin; c < end; ++c) {
      const JobChunk& chunk = chunks[c];
      const MatVecJob& job = jobs[chunk.job];
      const JobDot& dot = dots[chunk.job];
      const TensorView& w = job.w;
      PrefetchStreamHead(w.row(chunk.r0), static_cast<size_t>(chunk.r1 - chunk.r0) * w.row_bytes);
      if (dot.q8 != nullptr) {
        for (int64_t r = chunk.r0; r < chunk.r1; ++r) job.y[r] = dot.q8(w.row(r), dot.acts, w.cols);
      } else {
        for (int64_t r = chunk.r0; r < chunk.r1; ++r) job.y[r] = dot.plain(w.row(r), job.x, w.cols);
      }
    }
  }
};

void MatVecManyImpl(const MatVecJob* jobs, size_t n_jobs, ThreadPool& pool) {
  // Caller-thread buffers, reused. The workers reach them through `run`: a
  // lambda naming a thread_local would see the worker's own (empty) copy.
  thread_local std::vector<QuantizedActs> acts;
  thread_local std::vector<JobDot> dots;
  thread_local std::vector<JobChunk> chunks;
  const ManyRun run{{jobs, n_jobs}, dots, chunks};
  PrepareJobDots(run.jobs, acts, dots);
  ChunkJobs(run.jobs, pool.size(), chunks);
  // One pointer captured: std::function stores it inline.
  pool.ParallelFor(chunks.size(), 1, [&run](size_t begin, size_t end) { run.Work(begin, end); });
}

// Tokens per tile for rows of `cols` elements of `type`. Q4_0's pair
// kernel does little per activation byte it loads, so its tiles hold only
// as many tokens as have their int16 activation quants (2 bytes per
// element, q4_lo and q4_hi) fit in kTileActsBytes, where every row of the
// chunk reads them from L1. The 1B model's ffn_down (8192 columns) with 4
// tokens is 64 KiB; from L2 its 8-token step did not get faster with a
// kernel 16% faster on 2048 columns, and 2-token tiles made it 9-11% faster
// (kernel_bench DecodeStep q4_0r 2048x8192). The K types and Q8_0 do more
// per activation and measured 8-17% slower with 2-token tiles there, so
// they keep 4, as do other targets than AVX-512 (not measured there). Each
// token's arithmetic is the same whatever the tile, so this changes no bits.
int64_t TileTokensFor(DType type, int64_t cols) {
#if HWY_TARGET <= HWY_AVX3
  if (type != DType::kQ4_0 && type != DType::kQ4_0R) return kMaxTileTokens;
  constexpr int64_t kTileActsBytes = 32 * 1024;  // of a 48 KiB L1D; the weights stream through the rest
  return std::clamp<int64_t>(kTileActsBytes / std::max<int64_t>(1, 2 * cols), 1, kMaxTileTokens);
#else
  (void)type;
  (void)cols;
  return kMaxTileTokens;
#endif
}

// Rows [begin, end) of every token, tile by tile (a chunk's ~32 KiB of
// weights stay in L1/L2 while the tiles pass; each weight block is unpacked
// once per tile of up to kMaxTileTokens tokens).
void MatVecBatchQ8Rows(const TensorView& w, const QuantizedActs& acts, float* y, size_t begin, size_t end) {
  const int64_t n_tokens = acts.rows;
  const int64_t tile_tokens = TileTokensFor(w.type, w.cols);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += tile_tokens) {
    const int n_tok = static_cast<int>(std::min<int64_t>(tile_tokens, n_tokens - t0));
    const TileDotFn dot = GetTileDot(w.type, n_tok);
    ActsTile tile;
    for (int t = 0; t < n_tok; ++t) tile.tok[t] = ActsRowOf(acts, t0 + t);
    float* y_tile = y + t0 * w.rows;
    for (size_t r = begin; r < end; ++r) {
      float out[kMaxTileTokens];
      dot(w.row(static_cast<int64_t>(r)), tile, w.cols, out);
      for (int t = 0; t < n_tok; ++t) y_tile[t * w.rows + static_cast<int64_t>(r)] = out[t];
    }
  }
}

// Rows [begin, end) of f32/f16/bf16 w times n_tokens tokens, 4 at a time:
// token groups outside, so a group's floats (4 x cols) stay in L1 while the
// chunk's rows (~32 KiB, MatVecGrain) pass, as MatVecBatchQ8Rows' tiles.
template <class T>
void PlainRowsTokens(const TensorView& w, const float* x, int64_t n_tokens, float* y, size_t begin, size_t end) {
  for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
    const int64_t n_tok = std::min<int64_t>(4, n_tokens - t0);
    const float* xt = x + t0 * w.cols;
    for (size_t r = begin; r < end; ++r) {
      const void* row = w.row(static_cast<int64_t>(r));
      float out[4];
      switch (n_tok) {
        case 1: DotPlainRowTokens<T, 1>(row, xt, w.cols, w.cols, out); break;
        case 2: DotPlainRowTokens<T, 2>(row, xt, w.cols, w.cols, out); break;
        case 3: DotPlainRowTokens<T, 3>(row, xt, w.cols, w.cols, out); break;
        default: DotPlainRowTokens<T, 4>(row, xt, w.cols, w.cols, out); break;
      }
      for (int64_t t = 0; t < n_tok; ++t) y[(t0 + t) * w.rows + static_cast<int64_t>(r)] = out[t];
    }
  }
}

using PlainRowsFn = void (*)(const TensorView&, const float*, int64_t, float*, size_t, size_t);

PlainRowsFn PlainRowsFor(DType type) {
  switch (type) {
    case DType::kF32: return &PlainRowsTokens<float>;
    case DType::kF16: return &PlainRowsTokens<hwy::float16_t>;
    case DType::kBF16: return &PlainRowsTokens<hwy::bfloat16_t>;
    default: return nullptr;
  }
}

void MatVecBatchImpl(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens == 1) return MatVecImpl(w, x, y, pool);
  if (GetRowDotQ8(w.type) != nullptr) {
    // Quantized once on the calling thread ([n_tokens, cols]; each row's
    // quants are those MatVec makes of it alone), read by all. Workers reach
    // it through `xq`: inside the lambda the name `acts` would be their own.
    thread_local QuantizedActs acts;
    QuantizeActs(x, n_tokens, w.cols, &acts);
    const QuantizedActs& xq = acts;
    pool.ParallelFor(static_cast<size_t>(w.rows), MatVecGrain(w), [&](size_t begin, size_t end) {
      PrefetchStreamHead(w.row(static_cast<int64_t>(begin)), (end - begin) * w.row_bytes);
      MatVecBatchQ8Rows(w, xq, y, begin, end);
    });
    return;
  }
  // Float activations. f32/f16/bf16 rows: each row vector widened once per
  // 4 tokens (DotPlainRowTokens, MatVec's bits); the rarer float-activation
  // types: MatVec's own row dot per token, the row hot in L1.
  const PlainRowsFn plain = PlainRowsFor(w.type);
  const RowDotFn dot = GetRowOps(w.type).dot;
  pool.ParallelFor(static_cast<size_t>(w.rows), MatVecGrain(w), [&](size_t begin, size_t end) {
    if (plain != nullptr) return plain(w, x, n_tokens, y, begin, end);
    for (size_t r = begin; r < end; ++r) {
      const void* row = w.row(static_cast<int64_t>(r));
      for (int64_t t = 0; t < n_tokens; ++t) y[t * w.rows + static_cast<int64_t>(r)] = dot(row, x + t * w.cols, w.cols);
    }
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

// y[:, r0..r1) for all tokens. `scratch` holds the decoded rows. (f32/f16/bf16
// rows never come here: MatMul sends them to MatVecBatch's plain rows or sgemm.)
void MatMulRowTile(const TensorView& w, const RowOps& ops, const float* x, int64_t n_tokens, float* y,
                   int64_t r0, int64_t r1, int64_t tokens_per_tile, std::vector<float>& scratch) {
  const int64_t cols = w.cols;
  scratch.resize(static_cast<size_t>((r1 - r0) * cols));
  for (int64_t r = r0; r < r1; ++r) ops.decode(w.row(r), scratch.data() + (r - r0) * cols, cols);
  const auto row_f32 = [&](int64_t r) { return scratch.data() + (r - r0) * cols; };
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

void WeightRowsToFloatImpl(const TensorView& w, int64_t r0, int64_t r1, float* out) {
  const RowOps& ops = GetRowOps(w.type);
  for (int64_t r = r0; r < r1; ++r) ops.decode(w.row(r), out + (r - r0) * w.cols, w.cols);
}

// One lookup, then the row kernel per row: Dot's bits without its dispatch
// per row (attention scores: thousands of short cached rows per head).
// f16 and f32 (an attention cache) call the row kernel directly, so the
// compiler can inline it and keep x in registers across rows.
void DotRowsImpl(const TensorView& w, const float* x, float* out) {
  if (w.type == DType::kF16) {
    for (int64_t r = 0; r < w.rows; ++r) out[r] = DotPlainRow<hwy::float16_t>(w.row(r), x, w.cols);
  } else if (w.type == DType::kF32) {
    for (int64_t r = 0; r < w.rows; ++r) out[r] = DotPlainRow<float>(w.row(r), x, w.cols);
  } else {
    const RowDotFn dot = GetRowOps(w.type).dot;
    for (int64_t r = 0; r < w.rows; ++r) out[r] = dot(w.row(r), x, w.cols);
  }
}

int64_t TargetImpl() { return HWY_TARGET; }

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(DotImpl);
HWY_EXPORT(DotQ8Impl);
HWY_EXPORT(MatVecImpl);
HWY_EXPORT(MatVecManyImpl);
HWY_EXPORT(MatVecBatchImpl);
HWY_EXPORT(MatMulImpl);
HWY_EXPORT(WeightRowsToFloatImpl);
HWY_EXPORT(DotRowsImpl);
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

void MatVecMany(std::span<const MatVecJob> jobs, ThreadPool& pool) {
  if (jobs.empty()) return;
  for (const MatVecJob& job : jobs) CheckWholeBlocks(job.w.type, job.w.cols);
  HWY_DYNAMIC_DISPATCH(MatVecManyImpl)(jobs.data(), jobs.size(), pool);
}

void MatVecBatch(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens <= 0) return;
  CheckWholeBlocks(w.type, w.cols);
  HWY_DYNAMIC_DISPATCH(MatVecBatchImpl)(w, x, n_tokens, y, pool);
}

void MatMul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  CheckWholeBlocks(w.type, w.cols);
  if (MatMulBf16(w, x, n_tokens, y, pool)) return;
  if (MatMulBlas(w, x, n_tokens, y, pool)) return;
  // f32/f16/bf16 rows short of those: each row vector widened once per 4
  // tokens, a chunk's rows kept in L1/L2 while the token groups pass
  // (MatVecBatch's float path; 1B f16 pp8 26.7 -> 48.5 t/s, pp16 35 -> 54).
  if (IsPlainFloat(w.type) && n_tokens >= 2) return HWY_DYNAMIC_DISPATCH(MatVecBatchImpl)(w, x, n_tokens, y, pool);
  HWY_DYNAMIC_DISPATCH(MatMulImpl)(w, x, n_tokens, y, pool);
}

void WeightRowsToFloat(const TensorView& w, int64_t r0, int64_t r1, float* out) {
  CheckWholeBlocks(w.type, w.cols);
  PLEXUS_CHECK(r0 >= 0 && r0 <= r1 && r1 <= w.rows, "[kernels] WeightRowsToFloat [{}, {}) of {} rows", r0, r1,
               w.rows);
  HWY_DYNAMIC_DISPATCH(WeightRowsToFloatImpl)(w, r0, r1, out);
}

void DotRows(const TensorView& w, const float* x, float* out) {
  CheckWholeBlocks(w.type, w.cols);
  HWY_DYNAMIC_DISPATCH(DotRowsImpl)(w, x, out);
}

const char* BestTargetName() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetImpl)()); }

}  // namespace plexus::kernels
#endif  // HWY_ONCE
