// Subcommands of the `plexus` binary. Each Add* registers its options on the
// CLI11 app and the code to run when it is chosen; the run returns the exit code.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "model/weights.h"
#include "tensor/dtype.h"

#include <CLI/CLI.hpp>

namespace plexus::cli {

using Runner = std::function<int()>;

Runner AddGenerate(CLI::App& app);
Runner AddInspect(CLI::App& app);
Runner AddSynth(CLI::App& app);
Runner AddLogits(CLI::App& app);
Runner AddVocab(CLI::App& app);
Runner AddTokenize(CLI::App& app);
Runner AddBench(CLI::App& app);
Runner AddBenchComm(CLI::App& app);
Runner AddNode(CLI::App& app);
Runner AddChat(CLI::App& app);
Runner AddPlan(CLI::App& app);
Runner AddServe(CLI::App& app);
Runner AddPull(CLI::App& app);
Runner AddLs(CLI::App& app);

// "f16" or "f32" (the option's validator guarantees one of them).
inline std::optional<DType> ParseKvType(const std::string& name) {
  if (name == "f32") return DType::kF32;
  if (name == "f16") return DType::kF16;
  return std::nullopt;
}

// "auto", "copy" or "mmap" (the option's validator guarantees one of them).
inline std::optional<WeightLoad> ParseWeightLoad(const std::string& name) {
  if (name == "auto") return WeightLoad::kAuto;
  if (name == "copy") return WeightLoad::kCopy;
  if (name == "mmap") return WeightLoad::kMap;
  return std::nullopt;
}

// --load, for every command that loads a model on this machine.
inline void AddWeightLoadOption(CLI::App* cmd, std::string& load) {
  cmd->add_option("--load", load,
                  "Weights: auto (copy when they fit in free memory, else mmap; default), copy (anonymous memory, "
                  "huge pages) or mmap (the file mapping, zero copy)")
      ->check(CLI::IsMember({"auto", "copy", "mmap"}));
}

}  // namespace plexus::cli
