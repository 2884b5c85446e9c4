// plexus generate: text generation on one machine, greedy unless --temp > 0.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cluster_args.h"
#include "commands.h"
#include "engine/engine.h"
#include "engine/stop.h"
#include "model_arg.h"
#include "server/json_report.h"

namespace plexus::cli {
namespace {

struct GenerateArgs {
  std::string kv_type = "f16";
  std::string load = "auto";
  std::string model;
  std::string prompt;
  int n_predict = 64;
  int threads = 0;
  int top_logprobs = 0;
  std::string output = "text";
  bool no_bos = false;
  bool ignore_eos = false;
  bool logprobs = false;
  bool describe = false;                // print the executor's ClusterView to stderr after the run
  SamplerParams sampler;                // options bind to its fields directly
  std::vector<std::string> logit_bias;  // "ID=BIAS"
  std::vector<std::string> stop;
  uint64_t seed = 0;
  CLI::Option* seed_option = nullptr;   // set: --seed was given
  ClusterArgs cluster;
};

// "ID=BIAS" items -> id -> bias; BIAS may be "-inf" (ban the token).
Result<std::map<int32_t, float>> ParseLogitBias(const std::vector<std::string>& items) {
  std::map<int32_t, float> bias;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    int32_t id = -1;
    const char* id_end = item.data() + (eq == std::string::npos ? item.size() : eq);
    const auto [ptr, ec] = std::from_chars(item.data(), id_end, id);
    char* bias_end = nullptr;
    const float value = eq == std::string::npos ? 0.0f : std::strtof(item.c_str() + eq + 1, &bias_end);
    if (eq == std::string::npos || ec != std::errc() || ptr != id_end || bias_end == item.c_str() + eq + 1 ||
        *bias_end != '\0')
      return Status::Errorf("cli", "--logit-bias '{}': expected ID=BIAS, e.g. 15043=-inf or 15043=2.5", item);
    bias[id] = value;
  }
  return bias;
}

Result<GenerateOptions> MakeOptions(const GenerateArgs& a) {
  GenerateOptions options;
  options.max_tokens = a.n_predict;
  options.add_bos = !a.no_bos;
  options.stop_at_eos = !a.ignore_eos;
  options.top_logprobs = a.top_logprobs;
  options.sampler = a.sampler;
  options.sampler.logprobs = a.logprobs;
  if (a.seed_option != nullptr && a.seed_option->count() > 0) options.sampler.seed = a.seed;
  PLEXUS_ASSIGN_OR_RETURN(options.sampler.logit_bias, ParseLogitBias(a.logit_bias));
  options.stop = a.stop;
  return options;
}

// One "describe:" line per rank, key=value, for tests and debugging: the
// Executor::Describe view the dashboard shows.
void PrintClusterView(const ClusterView& view) {
  auto range = [](const Range& r) { return fmt::format("{}:{}", r.begin, r.end); };
  fmt::print(stderr, "describe: split={} ranks={}\n", view.split, view.shards.size());
  for (const ShardView& v : view.shards)
    fmt::print(stderr,
               "describe: rank={} name={} role={} host={} layers={} heads={} kv_heads={} ffn={} vocab={} share={:.4f} "
               "weight_bytes={} mem_total={} mem_available={} rss={} cores={} simd={} membw_gbs={:.2f} gflops={:.2f} gpus={} "
               "rtt_us={:.1f} gbps={:.3f}\n",
               v.rank, v.name, v.role, v.hostname, range(v.shard.layers), range(v.shard.heads), range(v.shard.kv_heads),
               range(v.shard.ffn), range(v.shard.vocab), v.share, v.weight_bytes, v.mem_total, v.mem_available, v.rss,
               v.cores, v.simd, v.membw_gbs, v.gflops, v.gpus.size(), v.link_rtt_us, v.link_gbps);
}

int RunGenerate(const GenerateArgs& a) {
  auto options = MakeOptions(a);
  if (!options.ok()) {
    fmt::print(stderr, "plexus generate: {}\n", options.status().message());
    return 1;
  }
  auto cluster = BuildClusterOptions(a.cluster, a.describe);  // only --describe shows rank 0's speed
  if (!cluster.ok()) {
    fmt::print(stderr, "plexus generate: {}\n", cluster.status().message());
    return 1;
  }
  EngineOptions engine_options;
  engine_options.threads = a.threads;
  engine_options.kv_type = *ParseKvType(a.kv_type);
  engine_options.weight_load = *ParseWeightLoad(a.load);  // checked by the option
  engine_options.cluster = std::move(cluster).value();
  auto model_path = ResolveModelPath(a.model);
  if (!model_path.ok()) {
    fmt::print(stderr, "plexus generate: {}\n", model_path.status().message());
    return 1;
  }
  auto engine = Engine::Open(*model_path, engine_options);
  if (!engine.ok()) {
    fmt::print(stderr, "plexus generate: {}\n", engine.status().message());
    return 1;
  }
  // Checked before the prompt is echoed, so an error is not mixed into the text.
  Status valid = ValidateStopStrings(options->stop);
  if (valid.ok()) valid = ValidateSamplerParams(options->sampler, (*engine)->config().n_vocab);
  if (!valid.ok()) {
    fmt::print(stderr, "plexus generate: {}\n", valid.message());
    return 1;
  }
  const bool as_text = a.output == "text";
  auto on_text = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  if (as_text) on_text(a.prompt);
  auto result = (*engine)->Generate(a.prompt, *options, as_text ? on_text : std::function<void(std::string_view)>());
  if (!result.ok()) {
    fmt::print(stderr, "\nplexus generate: {}\n", result.status().message());
    return 1;
  }
  if (as_text) {
    const double tps = result->decode_ms > 0 ? result->tokens.size() * 1000.0 / result->decode_ms : 0;
    fmt::print(stderr, "\n[{} prompt tokens in {:.1f} ms, {} generated at {:.1f} tokens/s, finish: {}]\n",
               result->prompt_tokens.size(), result->prefill_ms, result->tokens.size(), tps, result->finish_reason);
    std::fputc('\n', stdout);
  } else {
    fmt::print("{}\n", GenerateResultToJson(*result));
  }
  if (a.describe) PrintClusterView((*engine)->executor().Describe());
  return 0;
}

// The sampler chain's options (sampling/sampler.h); ranges are checked by the sampler.
void AddSamplerOptions(CLI::App* cmd, GenerateArgs* args) {
  SamplerParams& p = args->sampler;
  cmd->add_option("--temp", p.temperature, "Temperature; 0: greedy (default)");
  cmd->add_option("--top-k", p.top_k, "Keep the K most likely tokens (0: off)");
  cmd->add_option("--top-p", p.top_p, "Keep the most likely tokens up to this total probability (1: off)");
  cmd->add_option("--min-p", p.min_p, "Drop tokens less likely than this times the best one (0: off)");
  cmd->add_option("--repeat-penalty", p.repeat_penalty, "Repetition penalty, CTRL/llama.cpp style (1: off)");
  cmd->add_option("--repeat-last-n", p.repeat_last_n, "Tokens the penalties look back over (0: off, -1: all)");
  cmd->add_option("--frequency-penalty", p.frequency_penalty, "OpenAI frequency penalty (0: off)");
  cmd->add_option("--presence-penalty", p.presence_penalty, "OpenAI presence penalty (0: off)");
  cmd->add_option("--logit-bias", args->logit_bias, "ID=BIAS added to a token's logit; -inf bans it (repeatable)")
      ->allow_extra_args(false);
  args->seed_option = cmd->add_option("--seed", args->seed, "Random seed (default: a random one)");
}

}  // namespace

Runner AddGenerate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate a continuation of a prompt (greedy unless --temp > 0)");
  cmd->add_option("-m,--model", args->model, "GGUF model file, or hf:ORG/REPO/FILE.gguf / an https URL (pulled into the cache)")
      ->required()
      ->envname("PLEXUS_MODEL");
  cmd->add_option("-p,--prompt", args->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", args->n_predict, "Tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--kv-type", args->kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}));
  AddWeightLoadOption(cmd, args->load);
  cmd->add_option("-t,--threads", args->threads, "Threads (0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--output", args->output, "Output format")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--top-logprobs", args->top_logprobs, "Record the N most likely tokens per step (json)")
      ->check(CLI::Range(0, 100));
  cmd->add_flag("--no-bos", args->no_bos, "Do not prepend the BOS token");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating past the end-of-sequence token");
  cmd->add_flag("--logprobs", args->logprobs, "Record each generated token's log-probability (json)");
  cmd->add_option("--stop", args->stop, "Stop before this text (repeatable)")->allow_extra_args(false);
  cmd->add_flag("--describe", args->describe, "After the run, print who holds what (ranks, shards, links) to stderr")
      ->group("");  // hidden: for tests and debugging
  AddSamplerOptions(cmd, args.get());
  AddClusterOptions(cmd, args->cluster);
  return [args] { return RunGenerate(*args); };
}

}  // namespace plexus::cli
