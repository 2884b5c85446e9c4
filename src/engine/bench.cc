#include "engine/bench.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "base/collective.h"
#include "cluster/coordinator.h"
#include "format/gguf.h"
#include "kernels/matmul_bf16.h"
#include "kernels/matmul_blas.h"
#include "kernels/ops.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/executor.h"
#include "model/model.h"
#include "model/shard.h"
#include "tensor/quant.h"
#include "tensor/tensor_view.h"

namespace plexus {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct MeanSd {
  double mean = 0, sd = 0;
};

MeanSd Stats(const std::vector<double>& v) {
  MeanSd s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double sq = 0;
    for (double x : v) sq += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(sq / static_cast<double>(v.size() - 1));
  }
  return s;
}

class Runner {
 public:
  Runner(Executor& executor, int32_t n_vocab) : model_(executor), rng_(42), vocab_(0, n_vocab - 1) {}

  // Fills the context with `depth` tokens (untimed): the timed runs then
  // start at position `depth`, rewriting the positions after it each time.
  Status Fill(int depth, int chunk) {
    depth_ = 0;
    PLEXUS_RETURN_IF_ERROR(Prompt(depth, chunk).status());
    depth_ = depth;
    return Status::Ok();
  }

  // One prompt of n tokens in chunks after the depth; logits of the last. Seconds.
  Result<double> Prompt(int n, int chunk) {
    if (depth_ == 0) model_.DropSequence(0);
    const auto t0 = Clock::now();
    std::vector<BatchEntry> batch;
    for (int begin = 0; begin < n; begin += chunk) {
      batch.clear();
      for (int i = begin; i < std::min(n, begin + chunk); ++i)
        batch.push_back({0, depth_ + i, vocab_(rng_), i + 1 == n});
      PLEXUS_RETURN_IF_ERROR(model_.Forward(batch, &logits_));
    }
    return SecondsSince(t0);
  }

  // n one-token decode steps after the depth. Seconds.
  Result<double> Generate(int n) {
    if (depth_ == 0) model_.DropSequence(0);
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      const BatchEntry e{0, depth_ + i, vocab_(rng_), true};
      PLEXUS_RETURN_IF_ERROR(model_.Forward({&e, 1}, &logits_));
    }
    return SecondsSince(t0);
  }

 private:
  Executor& model_;  // the local model, or a cluster's coordinator
  std::mt19937 rng_;
  std::uniform_int_distribution<int32_t> vocab_;
  std::vector<float> logits_;
  int depth_ = 0;  // positions [0, depth_) hold the filled context
};

// Bytes one decode step at context length `ctx` reads: every matrix (of an
// MoE layer the router and k of the E experts), one embedding row, and K and
// V of all positions.
double DecodeBytes(const Model& model, double ctx) {
  const ModelWeights& w = model.weights();
  double bytes = static_cast<double>(w.token_embd.row_bytes);
  bytes += static_cast<double>(w.ActiveMatrixBytes(model.config().n_experts_used));
  const KvCache& kv = model.kv_cache();
  bytes += static_cast<double>(w.layers.size()) * static_cast<double>(kv.row_bytes() + kv.v_row_bytes()) * ctx;
  return bytes;
}

// The fraction of a tensor one decoded token reads: k/E of an MoE layer's
// expert tensors (3-D ffn_*_exps stacks, or older files' per-expert
// ffn_*.E.weight), all of others (shared experts, deepseek2's dense layers).
double ActiveFraction(const GgufTensorInfo& t, const ModelConfig& c) {
  if (!c.is_moe()) return 1.0;
  bool expert = t.name.find("_exps.") != std::string::npos;
  for (const char* kind : {".ffn_gate.", ".ffn_up.", ".ffn_down."}) {
    const size_t at = t.name.find(kind);
    const size_t next = at + std::string_view(kind).size();
    expert = expert || (at != std::string::npos && next < t.name.size() && std::isdigit(t.name[next]));
  }
  return expert ? static_cast<double>(c.n_experts_used) / static_cast<double>(c.n_experts) : 1.0;
}

}  // namespace

double MeasureReadBandwidth(ThreadPool& pool, size_t mib) {
  const size_t n = mib * 1024 * 1024 / sizeof(float);
  std::unique_ptr<float[]> a(new float[n]);
  const int threads = pool.size();
  const auto share = [&](int t, size_t* begin, size_t* end) {
    *begin = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
    *end = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
  };
  // Each thread touches its own share first, so its pages are local to it.
  pool.RunOnAll([&](int t) {
    size_t begin, end;
    share(t, &begin, &end);
    for (size_t i = begin; i < end; ++i) a[i] = static_cast<float>(i & 1023) * 1e-3f;
  });
  double best = 0;
  std::vector<float> sums(static_cast<size_t>(threads));
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = Clock::now();
    pool.RunOnAll([&](int t) {
      size_t begin, end;
      share(t, &begin, &end);
      sums[static_cast<size_t>(t)] = kernels::Sum(a.get() + begin, static_cast<int64_t>(end - begin));
    });
    best = std::max(best, static_cast<double>(n * sizeof(float)) / SecondsSince(t0) / 1e9);
  }
  volatile float sink = sums[0];  // keeps the sums alive
  (void)sink;
  return best;
}

double MeasureDecodeGflops(ThreadPool& pool, int64_t n, int calls) {
  // A synthetic Q4_0 [n, n] matrix (n*n/32 blocks of 18 bytes) from
  // deterministic pseudo-random floats, and an input row of n floats.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(n)), x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  for (float& v : row) v = dist(rng);
  for (float& v : x) v = dist(rng);
  const size_t row_bytes = RowBytes(DType::kQ4_0, n);
  std::vector<uint8_t> bytes(row_bytes * static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    row[static_cast<size_t>(r)] += 0.5f;  // rows differ without drawing new floats
    QuantizeRow(DType::kQ4_0, row.data(), bytes.data() + static_cast<size_t>(r) * row_bytes, n);
  }
  const TensorView w{DType::kQ4_0, n, n, bytes.data(), row_bytes};
  kernels::MatVec(w, x.data(), y.data(), pool);  // warm: pages, caches, pool threads
  const auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) kernels::MatVec(w, x.data(), y.data(), pool);
  const double seconds = SecondsSince(t0);
  volatile float sink = y[0];  // keeps the products alive
  (void)sink;
  return seconds > 0 ? 2.0 * static_cast<double>(n) * static_cast<double>(n) * calls / seconds / 1e9 : 0;
}

MachineSpeed MeasureMachineSpeed(ThreadPool& pool) {
  return MachineSpeed{MeasureReadBandwidth(pool, kSpeedBandwidthMib), MeasureDecodeGflops(pool)};
}

Result<BenchResult> RunBench(const BenchOptions& o) {
  BenchResult r;
  r.model = o.model_path;
  r.target = kernels::BestTargetName();
  r.prefill_gemm = std::string(kernels::Bf16MatMulAvailable() ? "onednn-bf16+" : "") +
                   (kernels::BlasAvailable() ? "openblas" : "plexus");
  r.weight_load = WeightLoadName(o.weight_load);
  r.n_prompt = o.n_prompt;
  r.n_gen = o.n_gen;
  r.reps = std::max(1, o.reps);
  r.depth = std::max(0, o.depth);
  const auto t_load = Clock::now();
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> opened, GgufFile::Open(o.model_path));
  std::shared_ptr<const GgufFile> file(std::move(opened));
  PLEXUS_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file));
  ModelOptions mo;
  mo.kv_type = o.kv_type;
  mo.weight_load = o.weight_load;
  mo.max_context = r.depth + std::max<int64_t>(o.n_prompt, o.n_gen) + 1;
  std::unique_ptr<Executor> executor;
  if (o.cluster) {
    // A cluster job: rank 0 here, the rest on the peers. The bytes per token
    // are the whole model's, read by all ranks together.
    PLEXUS_ASSIGN_OR_RETURN(executor, cluster::Coordinator::Start(o.model_path, *o.cluster, mo, o.threads));
    for (const GgufTensorInfo& t : file->tensors()) {
      if (t.name == "token_embd.weight" || t.shape.size() < 2) continue;
      r.weight_bytes += static_cast<double>(t.n_bytes);
      r.bytes_per_token += static_cast<double>(t.n_bytes) * ActiveFraction(t, config);
    }
  } else {
    PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(file, FullShard(config), mo));
    r.weight_bytes = static_cast<double>(model->weights().MatrixBytes());
    r.weight_load = WeightLoadName(model->weights().load);  // what kAuto chose
    r.bytes_per_token = DecodeBytes(*model, r.depth + o.n_gen / 2.0);  // mean context of a tg run
    executor = std::make_unique<LocalExecutor>(std::move(model), o.threads);
  }
  r.load_s = SecondsSince(t_load);
  r.threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  Runner run(*executor, static_cast<int32_t>(config.n_vocab));
  // Warm-up, as llama-bench: page in the weights and size the buffers.
  if (r.depth > 0) PLEXUS_RETURN_IF_ERROR(run.Fill(r.depth, std::max(1, o.prefill_chunk)));
  if (o.n_prompt > 0)
    PLEXUS_RETURN_IF_ERROR(run.Prompt(std::min(o.n_prompt, 32), std::max(1, o.prefill_chunk)).status());
  if (o.n_gen > 0) PLEXUS_RETURN_IF_ERROR(run.Generate(2).status());
  std::vector<double> pp, tg;
  for (int rep = 0; rep < r.reps; ++rep) {
    if (o.n_prompt > 0) {
      PLEXUS_ASSIGN_OR_RETURN(double s, run.Prompt(o.n_prompt, std::max(1, o.prefill_chunk)));
      pp.push_back(o.n_prompt / s);
    }
    if (o.n_gen > 0) {
      PLEXUS_ASSIGN_OR_RETURN(double s, run.Generate(o.n_gen));
      tg.push_back(o.n_gen / s);
    }
  }
  const MeanSd pps = Stats(pp), tgs = Stats(tg);
  r.pp_tps = pps.mean;
  r.pp_tps_sd = pps.sd;
  r.tg_tps = tgs.mean;
  r.tg_tps_sd = tgs.sd;
  executor.reset();  // frees the weights (and ends a cluster job) before the bandwidth array is allocated
  // One process's bandwidth bounds one process: a cluster run reports none.
  ThreadPool pool(o.threads);
  if (o.membw_mib > 0 && !o.cluster) r.bandwidth_gbs = MeasureReadBandwidth(pool, o.membw_mib);
  if (r.bandwidth_gbs > 0) r.bandwidth_fraction = r.tg_tps * r.bytes_per_token / (r.bandwidth_gbs * 1e9);
  return r;
}

}  // namespace plexus
