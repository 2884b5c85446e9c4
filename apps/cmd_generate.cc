// plexus generate: greedy text generation on one machine.
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "engine/engine.h"
#include "server/json_report.h"

namespace plexus::cli {
namespace {

struct GenerateArgs {
  std::string kv_type = "f16";
  std::string model;
  std::string prompt;
  int n_predict = 64;
  int threads = 0;
  int top_logprobs = 0;
  std::string output = "text";
  bool no_bos = false;
  bool ignore_eos = false;
};

int RunGenerate(const GenerateArgs& a) {
  auto engine = Engine::Open(a.model, EngineOptions{.threads = a.threads, .kv_type = *ParseKvType(a.kv_type)});
  if (!engine.ok()) {
    fmt::print(stderr, "plexus generate: {}\n", engine.status().message());
    return 1;
  }
  GenerateOptions options;
  options.max_tokens = a.n_predict;
  options.add_bos = !a.no_bos;
  options.stop_at_eos = !a.ignore_eos;
  options.top_logprobs = a.top_logprobs;
  const bool as_text = a.output == "text";
  auto on_text = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  if (as_text) on_text(a.prompt);
  auto result = (*engine)->Generate(a.prompt, options, as_text ? on_text : std::function<void(std::string_view)>());
  if (!result.ok()) {
    fmt::print(stderr, "\nplexus generate: {}\n", result.status().message());
    return 1;
  }
  if (as_text) {
    const double tps = result->decode_ms > 0 ? result->tokens.size() * 1000.0 / result->decode_ms : 0;
    fmt::print(stderr, "\n[{} prompt tokens in {:.1f} ms, {} generated at {:.1f} tokens/s]\n",
               result->prompt_tokens.size(), result->prefill_ms, result->tokens.size(), tps);
    std::fputc('\n', stdout);
  } else {
    fmt::print("{}\n", GenerateResultToJson(*result));
  }
  return 0;
}

}  // namespace

Runner AddGenerate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate a continuation of a prompt (greedy)");
  cmd->add_option("-m,--model", args->model, "GGUF model file")->required()->envname("PLEXUS_MODEL");
  cmd->add_option("-p,--prompt", args->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", args->n_predict, "Tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--kv-type", args->kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("-t,--threads", args->threads, "Threads (0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--output", args->output, "Output format")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--top-logprobs", args->top_logprobs, "Record the N most likely tokens per step (json)")
      ->check(CLI::Range(0, 100));
  cmd->add_flag("--no-bos", args->no_bos, "Do not prepend the BOS token");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating past the end-of-sequence token");
  return [args] { return RunGenerate(*args); };
}

}  // namespace plexus::cli
