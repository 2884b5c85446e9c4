// plexus bench: llama-bench-style throughput of one model file on this
// machine: prompt processing (pp, one batch of n_prompt tokens) and token
// generation (tg, n_gen one-token steps), both from an empty context or after
// `depth` tokens of context, as mean and
// standard deviation over repetitions; and how close decode comes to the
// memory-bandwidth bound, measured in the same run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cluster/coordinator.h"

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/weights.h"
#include "tensor/dtype.h"

namespace plexus {

struct BenchOptions {
  std::string model_path;
  int n_prompt = 512;       // pp tokens (0: skip pp)
  int n_gen = 128;          // tg tokens (0: skip tg)
  int threads = 0;          // 0: all hardware threads
  int reps = 5;
  // Tokens already in the context when pp and tg are timed (llama-bench's
  // -d): filled once, untimed; every timed run starts at this position.
  int depth = 0;
  int prefill_chunk = 512;  // tokens per prompt forward batch (llama-bench's n_ubatch)
  WeightLoad weight_load = WeightLoad::kAuto;
  DType kv_type = DType::kF16;
  size_t membw_mib = 1024;  // array size of the bandwidth measurement (0: skip it)
  // Set: measure a cluster job (this process is rank 0) instead of one process.
  std::optional<cluster::ClusterOptions> cluster;
};

struct BenchResult {
  std::string model;
  std::string target;       // Highway target of the kernels
  // Who multiplies prefill batches: "onednn-bf16+" (quantized weights, kBf16MinTokens+ tokens) where
  // available, then "openblas" or "plexus" (the rest; OpenBLAS from kernels::BlasMinTokens tokens).
  std::string prefill_gemm;
  std::string weight_load;  // "mmap" or "copy" (a cluster run: as asked, "auto" included)
  int threads = 0;
  int n_prompt = 0, n_gen = 0, reps = 0, depth = 0;
  double pp_tps = 0, pp_tps_sd = 0;
  double tg_tps = 0, tg_tps_sd = 0;
  double weight_bytes = 0;      // all matrices of the model (of an MoE model, every expert)
  // What a generated token reads: the matrices it multiplies with (of an MoE
  // layer the router and k of E experts: active parameters), its embedding
  // row, and the mean KV bytes (not in a cluster run).
  double bytes_per_token = 0;
  double bandwidth_gbs = 0;     // measured read bandwidth with `threads` threads
  double bandwidth_fraction = 0;  // tg_tps * bytes_per_token / bandwidth
  double load_s = 0;            // time to open and load the model
};

// Read bandwidth in GB/s: the best of 5 passes of `pool` summing an array of
// `mib` MiB, each thread its own contiguous share (as shared/tools/membw.c).
double MeasureReadBandwidth(ThreadPool& pool, size_t mib);

// GFLOP/s of the decode kernel: `calls` kernels::MatVec of `pool` on a
// synthetic Q4_0 [n, n] matrix (2*n*n flops each, after one warm-up call).
// The default 2048 x 2048 matrix is 2.25 MiB, so this measures compute (and
// cache) speed rather than DRAM bandwidth.
double MeasureDecodeGflops(ThreadPool& pool, int64_t n = 2048, int calls = 20);

// What a node (or a coordinator) measures of itself once at start, and
// reports (cluster::NodeInventory): read bandwidth over kSpeedBandwidthMib
// and decode GFLOP/s, both with `pool`'s threads.
struct MachineSpeed {
  double membw_gbs = 0;
  double gflops = 0;
};
inline constexpr size_t kSpeedBandwidthMib = 128;
MachineSpeed MeasureMachineSpeed(ThreadPool& pool);

Result<BenchResult> RunBench(const BenchOptions& options);

}  // namespace plexus
