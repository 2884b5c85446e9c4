// plexus synth: write a synthetic GGUF model with seeded random weights.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "hub/progress.h"
#include "model/synth.h"

namespace plexus::cli {
namespace {

struct SynthArgs {
  SynthOptions options;
  std::string out;
};

int RunSynth(const SynthArgs& a) {
  SynthOptions options = a.options;
  // A redrawn bar on a terminal only: logs and tests keep the one "wrote" line.
  hub::ProgressPrinter printer(stderr);
  if (isatty(fileno(stderr))) {
    const std::string name = std::filesystem::path(a.out).filename().string();
    options.progress = [&printer, name](uint64_t done, uint64_t total) {
      printer({name, "write", {done, total, 0, done >= total}});
    };
  }
  Status st = WriteSyntheticModel(options, a.out);
  printer.EndLine();
  if (!st.ok()) {
    fmt::print(stderr, "plexus synth: {}\n", st.message());
    return 1;
  }
  fmt::print(stderr, "wrote {}\n", a.out);
  return 0;
}

}  // namespace

Runner AddSynth(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  SynthOptions& o = args->options;
  o.arch.clear();
  o.preset.clear();
  CLI::App* cmd = app.add_subcommand("synth", "Write a llama.cpp-compatible GGUF with seeded random weights");
  cmd->add_option("--arch", o.arch, "Architecture: llama, qwen2, qwen3 (default: the preset's)");
  cmd->add_option("--preset", o.preset,
                  fmt::format("Model shape: {} (default: the arch's tiny preset)", fmt::join(SynthPresetNames(), ", ")));
  cmd->add_option("--type", o.type, "Weight type: f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k q4_k_m q5_k_m");
  cmd->add_option("--seed", o.seed, "Random seed");
  cmd->add_flag("--sharp", o.sharp, "Large logit margins, so greedy output is stable under rounding");
  cmd->add_option("--vocab", o.vocab, "Vocabulary size (default: the preset's)");
  cmd->add_option("--layers", o.layers, "Number of layers (default: the preset's)");
  cmd->add_option("-t,--threads", o.threads, "Generator threads (0: all cores)");
  cmd->add_option("--distinct-rows", o.distinct_rows,
                  "Generate only N rows per matrix and repeat them (fast multi-GB files whose values do not matter; "
                  "0: every row)");
  cmd->add_option("-o,--out", args->out, "Output GGUF file")->required();
  return [args] {
    if (args->options.arch.empty() && args->options.preset.empty()) args->options.arch = "llama";
    return RunSynth(*args);
  };
}

}  // namespace plexus::cli
