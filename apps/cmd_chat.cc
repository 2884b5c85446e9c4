// plexus chat: an interactive chat in the terminal, streaming tokens as they
// come. Lines starting with '/' are commands: /reset, /exit.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "engine/chat.h"
#include "engine/engine.h"

namespace plexus::cli {
namespace {

struct ChatArgs {
  std::string model;
  std::string system;
  int threads = 0;
  int max_tokens = 512;
  float temperature = 0.7f;
  uint64_t seed = 0;
  std::string fallback_template = "chatml";
  std::string load = "auto";
};

// One assistant turn: render the whole conversation, generate, stream.
Result<std::string> Reply(Engine& engine, const ChatTemplate& chat, const std::vector<ChatMessage>& history,
                          const ChatArgs& a, uint64_t turn) {
  PLEXUS_ASSIGN_OR_RETURN(std::string prompt, chat.Render(history, true));
  GenerateOptions options;
  options.max_tokens = a.max_tokens;
  options.parse_special = true;   // the template writes the model's special tokens as text
  options.reuse_prefix = true;    // earlier turns stay in the KV cache
  options.sampler.temperature = a.temperature;
  if (a.seed != 0) options.sampler.seed = a.seed + turn;
  auto on_text = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  };
  PLEXUS_ASSIGN_OR_RETURN(GenerateResult result, engine.Generate(prompt, options, on_text));
  std::fputc('\n', stdout);
  return result.text;
}

int RunChat(const ChatArgs& a) {
  EngineOptions engine_options;
  engine_options.threads = a.threads;
  engine_options.weight_load = *ParseWeightLoad(a.load);  // checked by the option
  auto engine = Engine::Open(a.model, engine_options);
  if (!engine.ok()) {
    fmt::print(stderr, "plexus chat: {}\n", engine.status().message());
    return 1;
  }
  auto chat = ChatTemplate::ForModel((*engine)->tokenizer(), a.fallback_template);
  if (!chat.ok()) {
    fmt::print(stderr, "plexus chat: {}\n", chat.status().message());
    return 1;
  }
  fmt::print(stderr, "plexus chat: {} (template: {}). /reset starts over, /exit or Ctrl-D quits.\n", a.model,
             chat->source());
  std::vector<ChatMessage> history;
  if (!a.system.empty()) history.push_back({"system", a.system});
  const size_t base = history.size();
  std::string line;
  for (uint64_t turn = 0;; ++turn) {
    fmt::print(stderr, "> ");
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      history.resize(base);
      continue;
    }
    if (line.empty()) continue;
    history.push_back({"user", line});
    auto reply = Reply(**engine, *chat, history, a, turn);
    if (!reply.ok()) {
      fmt::print(stderr, "plexus chat: {}\n", reply.status().message());
      history.pop_back();
      continue;
    }
    history.push_back({"assistant", *reply});
  }
  return 0;
}

}  // namespace

Runner AddChat(CLI::App& app) {
  auto args = std::make_shared<ChatArgs>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model in the terminal, using its chat template");
  cmd->add_option("-m,--model", args->model, "GGUF model file")->required()->envname("PLEXUS_MODEL");
  cmd->add_option("--system", args->system, "System prompt");
  cmd->add_option("-t,--threads", args->threads, "Threads (0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("-n,--max-tokens", args->max_tokens, "Tokens per reply at most")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temp", args->temperature, "Sampling temperature (0: greedy)")->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--seed", args->seed, "Seed (0: random)");
  AddWeightLoadOption(cmd, args->load);
  cmd->add_option("--template", args->fallback_template, "Built-in template when the model has none")
      ->check(CLI::IsMember({"chatml"}));
  return [args] { return RunChat(*args); };
}

}  // namespace plexus::cli
