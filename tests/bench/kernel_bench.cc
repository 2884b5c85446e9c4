// Micro-benchmarks of the kernels on the dispatched (best) Highway target.
// MatVec, MatVecMany and MatMul report weight bytes/s (bytes_per_second) and multiply-adds/s
// (items_per_second); vector ops report elements/s.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/aligned_vector.h"
#include "base/thread_pool.h"
#include "hwy/targets.h"
#include "kernels/ops.h"
#include "kernels/ops_scalar.h"
#include "tensor/dtype.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"

namespace plexus::kernels {
namespace {

AlignedVector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  AlignedVector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A rows x cols weight matrix of `type`, quantized from random floats.
struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Weights MakeWeights(DType type, int64_t rows, int64_t cols) {
  Weights w;
  const size_t row_bytes = RowBytes(type, cols);
  w.bytes.resize(row_bytes * static_cast<size_t>(rows));
  AlignedVector<float> row = RandomFloats(static_cast<size_t>(cols), 1);
  for (int64_t r = 0; r < rows; ++r) {
    row[static_cast<size_t>(r % cols)] += 0.5f;  // rows differ without regenerating
    QuantizeRow(type, row.data(), w.bytes.data() + static_cast<size_t>(r) * row_bytes, cols);
  }
  w.view = TensorView{type, cols, rows, w.bytes.data(), row_bytes};
  return w;
}

void BM_MatVec(benchmark::State& state, DType type, int64_t rows, int64_t cols, int threads) {
  const Weights w = MakeWeights(type, rows, cols);
  const AlignedVector<float> x = RandomFloats(static_cast<size_t>(cols), 2);
  AlignedVector<float> y(static_cast<size_t>(rows));
  ThreadPool pool(threads);
  for (auto _ : state) {
    MatVec(w.view, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  state.SetItemsProcessed(state.iterations() * rows * cols);
}

void BM_MatVecScalar(benchmark::State& state, DType type, int64_t rows, int64_t cols) {
  const Weights w = MakeWeights(type, rows, cols);
  const AlignedVector<float> x = RandomFloats(static_cast<size_t>(cols), 2);
  AlignedVector<float> y(static_cast<size_t>(rows));
  for (auto _ : state) {
    scalar::MatVec(w.view, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  state.SetItemsProcessed(state.iterations() * rows * cols);
}

void BM_MatMul(benchmark::State& state, DType type, int64_t rows, int64_t cols, int64_t n_tokens, int threads) {
  const Weights w = MakeWeights(type, rows, cols);
  const AlignedVector<float> x = RandomFloats(static_cast<size_t>(n_tokens * cols), 3);
  AlignedVector<float> y(static_cast<size_t>(n_tokens * rows));
  ThreadPool pool(threads);
  for (auto _ : state) {
    MatMul(w.view, x.data(), n_tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  state.SetItemsProcessed(state.iterations() * rows * cols * n_tokens);
}

// A batched decode step's product: MatVecBatch (int8, bit-identical to one
// MatVec per token; batched = true) or MatMul (the float path; n = 1 is
// MatVec), both with what they quantize or decode per call included.
void BM_DecodeStep(benchmark::State& state, bool batched, DType type, int64_t rows, int64_t cols, int64_t n_tokens,
                   int threads) {
  const Weights w = MakeWeights(type, rows, cols);
  const AlignedVector<float> x = RandomFloats(static_cast<size_t>(n_tokens * cols), 3);
  AlignedVector<float> y(static_cast<size_t>(n_tokens * rows));
  ThreadPool pool(threads);
  for (auto _ : state) {
    if (batched) {
      MatVecBatch(w.view, x.data(), n_tokens, y.data(), pool);
    } else {
      MatMul(w.view, x.data(), n_tokens, y.data(), pool);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  state.SetItemsProcessed(state.iterations() * rows * cols * n_tokens);
  state.counters["tokens_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations() * n_tokens), benchmark::Counter::kIsRate);
}

// A MoE decode step's expert matrices: n_jobs rows x cols matrices of one
// token (one shared input), as MatVecMany (fused: one pool dispatch) or as
// n_jobs MatVec calls (one dispatch each), to compare the two.
void BM_MatVecJobs(benchmark::State& state, bool fused, DType type, int n_jobs, int64_t rows, int64_t cols,
                   int threads) {
  std::vector<Weights> w;
  for (int j = 0; j < n_jobs; ++j) w.push_back(MakeWeights(type, rows, cols));
  const AlignedVector<float> x = RandomFloats(static_cast<size_t>(cols), 2);
  AlignedVector<float> y(static_cast<size_t>(n_jobs * rows));
  std::vector<MatVecJob> jobs;
  for (int j = 0; j < n_jobs; ++j) jobs.push_back({w[j].view, x.data(), y.data() + j * rows});
  ThreadPool pool(threads);
  for (auto _ : state) {
    if (fused) {
      MatVecMany(jobs, pool);
    } else {
      for (const MatVecJob& job : jobs) MatVec(job.w, job.x, job.y, pool);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * n_jobs * static_cast<int64_t>(w[0].bytes.size()));
  state.SetItemsProcessed(state.iterations() * n_jobs * rows * cols);
}

void BM_RmsNorm(benchmark::State& state) {
  const int64_t n = state.range(0);
  const AlignedVector<float> x = RandomFloats(static_cast<size_t>(n), 4), weight = RandomFloats(static_cast<size_t>(n), 5);
  AlignedVector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    RmsNorm(x.data(), weight.data(), out.data(), n, 1e-5f);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_Rope(benchmark::State& state, RopeStyle style) {
  const int n_heads = static_cast<int>(state.range(0)), head_dim = static_cast<int>(state.range(1));
  AlignedVector<float> x = RandomFloats(static_cast<size_t>(n_heads * head_dim), 6);
  AlignedVector<float> inv_freq(static_cast<size_t>(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i) inv_freq[i] = std::pow(10000.0f, -2.0f * i / head_dim);
  int64_t pos = 0;
  for (auto _ : state) {
    Rope(x.data(), n_heads, head_dim, ++pos, inv_freq.data(), style);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * n_heads * head_dim);
}

void BM_Softmax(benchmark::State& state) {
  const int64_t n = state.range(0);
  const AlignedVector<float> logits = RandomFloats(static_cast<size_t>(n), 7);
  AlignedVector<float> x(static_cast<size_t>(n));
  for (auto _ : state) {
    x = logits;
    Softmax(x.data(), n);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_SiluMul(benchmark::State& state) {
  const int64_t n = state.range(0);
  const AlignedVector<float> gate = RandomFloats(static_cast<size_t>(n), 8), up = RandomFloats(static_cast<size_t>(n), 9);
  AlignedVector<float> x(static_cast<size_t>(n));
  for (auto _ : state) {
    x = gate;
    SiluMul(x.data(), up.data(), n);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void RegisterMatrixBenchmarks() {
  size_t count;
  const DTypeInfo* file_types = AllDTypes(&count);
  std::vector<DTypeInfo> types(file_types, file_types + count);
  types.push_back(GetDTypeInfo(DType::kQ4_0R));  // Q4_0 as the loader repacks it
  for (const DTypeInfo& info : types) {
    const DType type = info.type;
    const std::string name = info.name;
    // 256 and 1024 rows fit in L2: the kernel's arithmetic speed, apart from
    // memory (1024: the per-call quantizing of x, ~3 us, weighs 4x less).
    for (int64_t rows : {256, 1024, 2048, 8192}) {
      for (int threads : {1, 2}) {
        if (rows <= 1024 && threads == 2) continue;
        benchmark::RegisterBenchmark(("MatVec/" + name + "/" + std::to_string(rows) + "x2048/threads:" +
                                      std::to_string(threads)).c_str(),
                                     BM_MatVec, type, rows, 2048, threads)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
    for (int tokens : {64, 512}) {  // 512: a prefill ubatch
      for (int threads : {1, 2}) {
        benchmark::RegisterBenchmark(("MatMul/" + name + "/2048x2048/tokens:" + std::to_string(tokens) +
                                      "/threads:" + std::to_string(threads)).c_str(),
                                     BM_MatMul, type, 2048, 2048, tokens, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  for (int threads : {1, 2}) {
    for (bool fused : {true, false}) {
      benchmark::RegisterBenchmark(((fused ? "MatVecMany" : "MatVecEach") + std::string("/q4_0/8x768x2048/threads:") +
                                    std::to_string(threads)).c_str(),
                                   BM_MatVecJobs, fused, DType::kQ4_0, 8, 768, 2048, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
  // Batched decode steps: MatVecBatch vs MatMul, side by side per type and n
  // (--benchmark_filter=DecodeStep), for MatVecBatchMaxTokens.
  for (DType type : {DType::kQ4_0, DType::kQ4_0R, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kF16}) {
    for (const int64_t n : {1, 2, 4, 8, 12, 16, 24}) {
      for (bool batched : {true, false}) {
        if (n == 1 && !batched) continue;  // both are MatVec
        benchmark::RegisterBenchmark(("DecodeStep/" + std::string(batched ? "MatVecBatch/" : "MatMul/") +
                                      std::string(DTypeName(type)) + "/2048x2048/tokens:" + std::to_string(n) + "/threads:1")
                                         .c_str(),
                                     BM_DecodeStep, batched, type, 2048, 2048, n, 1)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  // The FFN's shapes of the 1B model, where a tile's activations (4 tokens
  // x 8192 columns of int16) no longer fit in L1 (ffn_down) and the weights
  // no longer fit in L2: one token against the 8-token step.
  for (DType type : {DType::kQ4_0R, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{8192, 2048}, {2048, 8192}}) {
      for (const int64_t n : {1, 8}) {
        benchmark::RegisterBenchmark(("DecodeStep/MatVecBatch/" + std::string(DTypeName(type)) + "/" +
                                      std::to_string(rows) + "x" + std::to_string(cols) + "/tokens:" + std::to_string(n) +
                                      "/threads:1")
                                         .c_str(),
                                     BM_DecodeStep, true, type, rows, cols, n, 1)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  benchmark::RegisterBenchmark("MatVecScalar/q4_0/2048x2048", BM_MatVecScalar, DType::kQ4_0, 2048, 2048)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("MatVecScalar/q4_K/2048x2048", BM_MatVecScalar, DType::kQ4_K, 2048, 2048)
      ->Unit(benchmark::kMicrosecond);
}

// Attention of one KV head's f16 cache for a GQA group of 4 heads of 64:
// args {cached positions, queries} (1 query: a decode step; 16: a prompt
// run). Items: query-key scores.
struct AttentionCase {
  int64_t heads = 4, dh = 64, len, n_queries;
  std::vector<uint16_t> key_tiles, keys, values;  // keys: the same keys as rows [len, dh]
  AlignedVector<float> q, out;

  AttentionCase(int64_t cached, int64_t queries) : len(cached + queries - 1), n_queries(queries) {
    const int64_t tiles = (len + kKeyTile - 1) / kKeyTile;
    const AlignedVector<float> k = RandomFloats(static_cast<size_t>(len * dh), 5), v = RandomFloats(k.size(), 6);
    key_tiles.assign(static_cast<size_t>(tiles * kKeyTile * dh), 0);
    keys.resize(k.size());
    values.resize(v.size());
    for (int64_t t = 0; t < len; ++t)
      for (int64_t i = 0; i < dh; ++i) {
        const size_t at = static_cast<size_t>(t * dh + i);
        keys[at] = F32ToF16(k[at]);
        values[at] = F32ToF16(v[at]);
        key_tiles[static_cast<size_t>(((t / kKeyTile) * dh + i) * kKeyTile + t % kKeyTile)] = keys[at];
      }
    q = RandomFloats(static_cast<size_t>(n_queries * heads * dh), 7);
    out.resize(q.size());
  }
  KvHeadAttention Args() {
    KvHeadAttention a;
    a.key_tiles = reinterpret_cast<const uint8_t*>(key_tiles.data());
    a.values = reinterpret_cast<const uint8_t*>(values.data());
    a.value_row_bytes = static_cast<size_t>(dh) * 2;
    a.dh = dh;
    a.first_len = len - n_queries + 1;
    a.n_queries = n_queries;
    a.heads = heads;
    a.q = q.data();
    a.out = out.data();
    a.q_stride = a.out_stride = heads * dh;
    return a;
  }
};

void BM_Attention(benchmark::State& state) {
  AttentionCase c(state.range(0), state.range(1));
  const KvHeadAttention a = c.Args();
  AlignedVector<float> scratch(AttendScratchFloats(c.heads, c.n_queries, c.len, c.dh));
  for (auto _ : state) {
    AttendKvHead(a, scratch.data());
    benchmark::DoNotOptimize(c.out.data());
  }
  state.SetItemsProcessed(state.iterations() * c.heads * c.n_queries * (a.first_len + (c.n_queries - 1) / 2));
}

// The row-major form attention had before the transposed key tiles, for a
// ratio in one run: per query, each tile of 32 keys decoded to f32 rows,
// DotRows per head, softmax, then the value rows through AxpyRows.
void BM_AttentionRowMajor(benchmark::State& state) {
  AttentionCase c(state.range(0), state.range(1));
  const int64_t dh = c.dh;
  AlignedVector<float> scores(static_cast<size_t>(c.heads * c.len)), rows(static_cast<size_t>(kKeyTile * dh));
  const TensorView keys{DType::kF16, dh, c.len, reinterpret_cast<const uint8_t*>(c.keys.data()),
                        static_cast<size_t>(dh) * 2};
  const TensorView values{DType::kF16, dh, c.len, reinterpret_cast<const uint8_t*>(c.values.data()),
                          static_cast<size_t>(dh) * 2};
  for (auto _ : state) {
    for (int64_t i = 0; i < c.n_queries; ++i) {
      const int64_t n = c.len - c.n_queries + 1 + i;
      for (int64_t t0 = 0; t0 < n; t0 += kKeyTile) {
        const int64_t m = std::min(kKeyTile, n - t0);
        WeightRowsToFloat(keys, t0, t0 + m, rows.data());
        const TensorView tile{DType::kF32, dh, m, reinterpret_cast<const uint8_t*>(rows.data()),
                              static_cast<size_t>(dh) * sizeof(float)};
        for (int64_t j = 0; j < c.heads; ++j)
          DotRows(tile, c.q.data() + (i * c.heads + j) * dh, scores.data() + j * n + t0);
      }
      for (int64_t j = 0; j < c.heads; ++j) Softmax(scores.data() + j * n, n);
      for (int64_t t0 = 0; t0 < n; t0 += kKeyTile) {
        const int64_t m = std::min(kKeyTile, n - t0);
        WeightRowsToFloat(values, t0, t0 + m, rows.data());
        for (int64_t j = 0; j < c.heads; ++j)
          AxpyRows(scores.data() + j * n + t0, m, rows.data(), dh, c.out.data() + (i * c.heads + j) * dh, dh);
      }
    }
    benchmark::DoNotOptimize(c.out.data());
  }
  state.SetItemsProcessed(state.iterations() * c.heads * c.n_queries * (c.len - c.n_queries + 1 + (c.n_queries - 1) / 2));
}

BENCHMARK(BM_RmsNorm)->Arg(2048)->Arg(4096)->Arg(8192);
BENCHMARK_CAPTURE(BM_Rope, adjacent, RopeStyle::kAdjacent)->Args({32, 128})->Args({8, 64});
BENCHMARK_CAPTURE(BM_Rope, halves, RopeStyle::kHalves)->Args({32, 128})->Args({8, 64});
BENCHMARK(BM_Softmax)->Arg(4096)->Arg(32000);
BENCHMARK(BM_SiluMul)->Arg(8192);
BENCHMARK(BM_Attention)->Args({512, 1})->Args({2048, 1})->Args({4096, 1})->Args({2048, 16})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionRowMajor)->Args({512, 1})->Args({2048, 1})->Args({4096, 1})->Args({2048, 16})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace plexus::kernels

int main(int argc, char** argv) {
  // PLEXUS_BENCH_NO_AVX512=1 measures the AVX2 kernels on an AVX-512 machine.
  const char* no_avx512 = std::getenv("PLEXUS_BENCH_NO_AVX512");
  if (no_avx512 != nullptr && no_avx512[0] == '1') hwy::DisableTargets(HWY_AVX3 | HWY_AVX3_DL);
  std::printf("plexus kernels on Highway target %s\n", plexus::kernels::BestTargetName());
  plexus::kernels::RegisterMatrixBenchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
