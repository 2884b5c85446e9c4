// plexus bench: prompt-processing and generation throughput of a model file,
// and decode's fraction of the memory-bandwidth bound (engine/bench.h).
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster_args.h"
#include "commands.h"
#include "engine/bench.h"

namespace plexus::cli {
namespace {

struct BenchArgs {
  BenchOptions options;
  std::string load = "auto";
  std::string kv_type = "f16";
  bool json = false;
  ClusterArgs cluster;
};

// JSON beside the CLI for now; it holds numbers and two names only.
std::string ToJson(const BenchResult& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  j["target"] = r.target;
  j["prefill_gemm"] = r.prefill_gemm;
  j["weight_load"] = r.weight_load;
  j["threads"] = r.threads;
  j["n_prompt"] = r.n_prompt;
  j["n_gen"] = r.n_gen;
  j["reps"] = r.reps;
  j["n_depth"] = r.depth;
  j["pp_tps"] = r.pp_tps;
  j["pp_tps_sd"] = r.pp_tps_sd;
  j["tg_tps"] = r.tg_tps;
  j["tg_tps_sd"] = r.tg_tps_sd;
  j["weight_bytes"] = r.weight_bytes;
  j["bytes_per_token"] = r.bytes_per_token;
  j["bandwidth_gbs"] = r.bandwidth_gbs;
  j["bandwidth_fraction"] = r.bandwidth_fraction;
  j["load_s"] = r.load_s;
  return j.dump();
}

void PrintTable(const BenchResult& r) {
  fmt::print("model {}  ({:.0f} MiB of matrices, target {}, prefill gemm {}, weights {}, {} threads, load {:.2f} s)\n",
             r.model, r.weight_bytes / (1 << 20), r.target, r.prefill_gemm, r.weight_load, r.threads, r.load_s);
  // llama-bench's names: pp512, tg128, and "@ d4096" after a context of 4096.
  const std::string at = r.depth > 0 ? fmt::format(" @ d{}", r.depth) : "";
  if (r.n_prompt > 0)
    fmt::print("{:<13} {:9.2f} ± {:.2f} tokens/s\n", fmt::format("pp{}{}", r.n_prompt, at), r.pp_tps, r.pp_tps_sd);
  if (r.n_gen > 0)
    fmt::print("{:<13} {:9.2f} ± {:.2f} tokens/s\n", fmt::format("tg{}{}", r.n_gen, at), r.tg_tps, r.tg_tps_sd);
  if (r.bandwidth_gbs > 0) {
    fmt::print("read bandwidth {:.1f} GB/s; {:.1f} MB per generated token; bound {:.1f} tokens/s; reached {:.0f}%\n",
               r.bandwidth_gbs, r.bytes_per_token / 1e6, r.bandwidth_gbs * 1e9 / r.bytes_per_token,
               100 * r.bandwidth_fraction);
  }
}

int RunBenchCommand(BenchArgs& a) {
  a.options.weight_load = *ParseWeightLoad(a.load);  // checked by the option
  a.options.kv_type = *ParseKvType(a.kv_type);
  auto cluster = BuildClusterOptions(a.cluster, false);  // bench measures what it reports itself
  if (!cluster.ok()) {
    fmt::print(stderr, "plexus bench: {}\n", cluster.status().message());
    return 1;
  }
  a.options.cluster = std::move(cluster).value();
  Result<BenchResult> r = RunBench(a.options);
  if (!r.ok()) {
    fmt::print(stderr, "plexus bench: {}\n", r.status().message());
    return 1;
  }
  if (a.json) {
    fmt::print("{}\n", ToJson(*r));
  } else {
    PrintTable(*r);
  }
  return 0;
}

}  // namespace

Runner AddBench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  BenchOptions& o = args->options;
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt (pp) and generation (tg) tokens/s and decode's bandwidth use");
  cmd->add_option("-m,--model", o.model_path, "GGUF model file")->required();
  cmd->add_option("-p,--n-prompt", o.n_prompt, "Prompt tokens per pp run (0: skip)");
  cmd->add_option("-n,--n-gen", o.n_gen, "Generated tokens per tg run (0: skip)");
  cmd->add_option("-t,--threads", o.threads, "Threads (0: all cores)");
  cmd->add_option("-r,--reps", o.reps, "Repetitions");
  cmd->add_option("-d,--depth", o.depth,
                  "Tokens of context already in the cache when pp and tg are timed (filled once, untimed)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--ubatch", o.prefill_chunk, "Prompt tokens per forward batch");
  AddWeightLoadOption(cmd, args->load);
  cmd->add_option("--kv-type", args->kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("--membw-mib", o.membw_mib, "Array size of the bandwidth measurement in MiB (0: skip)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  AddClusterOptions(cmd, args->cluster);
  return [args] { return RunBenchCommand(*args); };
}

}  // namespace plexus::cli
