// Synthetic models: llama.cpp-compatible GGUF files with seeded random weights.
//
// `plexus synth` uses this to make test models of real shapes (llama3.2-1b,
// llama3.1-8b, qwen3-0.6b, and the mixtures of experts qwen3-30b-a3b,
// mixtral-8x7b and deepseek-v3) or tiny ones, in any weight type plexus reads, with
// an SPM vocabulary so `plexus generate` can run on them. The same options and
// seed always give a byte-identical file, whatever the number of threads.
//
// Layout of this feature:
//   synth.h / synth.cc           the entry point: options -> metadata + tensors
//   synth_presets.{h,cc}         the table of model shapes and of weight types
//   synth_vocab.{h,cc}           the deterministic SPM vocabulary
//   synth_weights.{h,cc}         seeded row generators and llama3 rope factors
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace plexus {

struct SynthOptions {
  // llama | qwen2 | qwen3 | qwen3moe | deepseek2. Must match the preset's architecture. Empty means
  // "the preset's architecture".
  std::string arch = "llama";
  // A name from SynthPresetNames(). Empty means the arch's tiny preset
  // (tiny-llama, tiny-qwen2, tiny-qwen3), so `--arch qwen3` alone works when
  // the CLI leaves the preset empty unless the user gives one.
  std::string preset = "tiny-llama";
  // f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k, or the llama.cpp-like
  // mixes q4_k_m and q5_k_m (see synth_presets.cc for which tensor gets what).
  std::string type = "f32";
  uint64_t seed = 1;
  // Large margins between the top logits (logit std ~20 instead of ~2), so
  // greedy output is stable under rounding differences between kernels.
  bool sharp = false;
  int64_t vocab = 0;  // 0 = the preset's vocab size; otherwise >= 259
  // 0 = the preset's layer count; otherwise that many layers of the preset's
  // shape (e.g. a few-GB file with a full-size MoE layer for memory tests).
  int64_t layers = 0;
  int threads = 0;    // generator threads; 0 = all hardware threads
  // > 0: each matrix generates only its first N rows; every later row repeats
  // one of them (picked by the row's seed). For multi-GB files whose values do
  // not matter (memory, loading and transfer tests): ~N rows of work per
  // matrix instead of all. The first N rows equal those of a full file.
  int64_t distinct_rows = 0;
  // Called after each tensor is made, with the tensor bytes made so far and
  // in all (for a progress display; null: none).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Preset names in table order.
std::vector<std::string> SynthPresetNames();

// Generates the model and writes it to `path`. Errors start with "[synth]" and
// name the bad option value (unknown preset/arch/type, a shape that is not
// whole blocks of the type, a vocab size out of range).
// Memory: each tensor is generated as the file is written, so the peak is
// about the largest tensor (plus its write buffer), not the file.
// Time: ~60 s of CPU for llama3.1-8b q4_0 (rows are generated in parallel);
// distinct_rows cuts that to the write.
Status WriteSyntheticModel(const SynthOptions& opts, const std::string& path);

}  // namespace plexus
