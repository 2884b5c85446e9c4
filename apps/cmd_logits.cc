// plexus logits: raw logits at every position of a token sequence, for the
// reference tests (tests/reference/compare_plexus.py).
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "engine/engine.h"

namespace plexus::cli {
namespace {

struct LogitsArgs {
  std::string kv_type = "f16";
  std::string model;
  std::vector<int32_t> tokens;
  std::string out;
  int threads = 1;
};

int RunLogits(const LogitsArgs& a) {
  EngineOptions engine_options;
  engine_options.threads = a.threads;
  engine_options.kv_type = *ParseKvType(a.kv_type);
  auto engine = Engine::Open(a.model, engine_options);
  if (!engine.ok()) {
    fmt::print(stderr, "plexus logits: {}\n", engine.status().message());
    return 1;
  }
  auto logits = (*engine)->Logits(a.tokens);
  if (!logits.ok()) {
    fmt::print(stderr, "plexus logits: {}\n", logits.status().message());
    return 1;
  }
  std::FILE* f = std::fopen(a.out.c_str(), "wb");
  if (f == nullptr) {
    fmt::print(stderr, "plexus logits: cannot write '{}'\n", a.out);
    return 1;
  }
  // Raw little-endian float32, [n_tokens, n_vocab] row-major.
  const size_t written = std::fwrite(logits->data(), sizeof(float), logits->size(), f);
  const bool ok = std::fclose(f) == 0 && written == logits->size();
  if (!ok) fmt::print(stderr, "plexus logits: short write to '{}'\n", a.out);
  return ok ? 0 : 1;
}

}  // namespace

Runner AddLogits(CLI::App& app) {
  auto args = std::make_shared<LogitsArgs>();
  CLI::App* cmd = app.add_subcommand("logits", "Write the logits at every position of a token sequence (float32)");
  cmd->add_option("-m,--model", args->model, "GGUF model file")->required();
  cmd->add_option("--tokens", args->tokens, "Token ids, comma separated")->required()->delimiter(',');
  cmd->add_option("-o,--out", args->out, "Output file: raw float32 [n_tokens, n_vocab]")->required();
  cmd->add_option("--kv-type", args->kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("-t,--threads", args->threads, "Threads")->check(CLI::Range(0, 1024));
  return [args] { return RunLogits(*args); };
}

}  // namespace plexus::cli
