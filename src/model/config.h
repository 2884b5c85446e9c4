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

// How router logits become the weights of the k chosen experts. Both pick
// the k largest logits (ties: the lower expert index wins).
enum class ExpertGating {
  kNone,             // a dense model
  kSoftmaxTopK,      // qwen3moe: softmax over all E logits, take the top k, then
                     // (expert_weights_norm) renormalise the k weights to sum 1
  kTopKSoftmax,      // Mixtral: softmax over the k chosen logits only
};

struct ModelConfig {
  std::string arch;          // "llama", "qwen2", "qwen3", "qwen3moe"
  const ArchTraits* traits = nullptr;
  int64_t n_embd = 0;        // d: model width
  int64_t n_layers = 0;      // L
  int64_t n_heads = 0;       // h: query heads
  int64_t n_kv_heads = 0;    // h_kv
  int64_t head_dim = 0;      // dh
  int64_t n_ff = 0;          // f: FFN width (dense layers)
  int64_t n_experts = 0;     // E: experts per MoE layer (0: dense model)
  int64_t n_experts_used = 0;  // k: experts each token is routed to
  int64_t n_ff_expert = 0;   // f_e: FFN width of one expert
  ExpertGating gating = ExpertGating::kNone;
  bool expert_weights_norm = false;  // kSoftmaxTopK: renormalise the k weights
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
  bool is_moe() const { return n_experts > 0; }
};

// Reads and validates the config. Errors name the GGUF key at fault.
Result<ModelConfig> ReadModelConfig(const GgufFile& file);

}  // namespace plexus
