// The hyper-parameters of a model, read from GGUF metadata, and the facts
// about its architecture that the shared forward needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "kernels/ops.h"

namespace plexus {

struct ArchTraits;

struct ModelConfig {
  std::string arch;          // "llama", "qwen2", "qwen3"
  const ArchTraits* traits = nullptr;
  int64_t n_embd = 0;        // d: model width
  int64_t n_layers = 0;      // L
  int64_t n_heads = 0;       // h: query heads
  int64_t n_kv_heads = 0;    // h_kv
  int64_t head_dim = 0;      // dh
  int64_t n_ff = 0;          // f: FFN width
  int64_t n_vocab = 0;       // V
  int64_t context_length = 0;
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_linear_scale = 1.0f;  // positions are multiplied by this
  kernels::RopeStyle rope_style = kernels::RopeStyle::kAdjacent;
  bool tied_embeddings = false;    // no output.weight: the LM head is token_embd

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  int64_t heads_per_kv() const { return n_heads / n_kv_heads; }
};

// Reads and validates the config. Errors name the GGUF key at fault.
Result<ModelConfig> ReadModelConfig(const GgufFile& file);

}  // namespace plexus
