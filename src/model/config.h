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
  // deepseek2 (DeepSeek-V2/V3, Kimi K2): scores = softmax (V2, gating func 1)
  // or sigmoid (V3, gating func 2) of the logits; experts are chosen on
  // scores + exp_probs_b (selection only), limited to the best
  // `n_expert_groups_used` of `n_expert_groups` groups; the weights are the
  // unbiased scores, renormalised when expert_weights_norm, times
  // expert_weights_scale. See ExpertGroupRoute in moe_ops.h.
  kDeepSeekSoftmax,
  kDeepSeekSigmoid,
};

// Multi-head latent attention (deepseek2). Per head the key is [nope | rope]
// (head_dim = nope + rope) and the value has v_dim; all heads share one
// compressed latent per token: c_kv [kv_lora] and k_pe [rope] (see mla_ops.cc).
struct MlaConfig {
  int64_t q_lora = 0;    // 0: attn_q is a plain [d -> h * head_dim] matrix (V2-Lite)
  int64_t kv_lora = 0;   // c_kv width (512); 0: not an MLA model
  int64_t nope = 0;      // per-head key part without RoPE (128)
  int64_t rope = 0;      // per-head RoPE part, and k_pe's width (64)
  int64_t v_dim = 0;     // per-head value width (128)
  bool enabled() const { return kv_lora > 0; }
  int64_t latent() const { return kv_lora + rope; }  // cached floats per token and layer
};

// YaRN context extension (rope.scaling.type = yarn): per rotary pair, a ramp
// between interpolated (pos / factor) and original frequencies, and an
// attention temperature mscale^2 on the softmax scale.
struct YarnConfig {
  float factor = 0;            // 0: no YaRN
  int64_t original_context = 0;
  float log_multiplier = 0;    // mscale = 1 + log_multiplier * ln(factor)
  float beta_fast = 32, beta_slow = 1;
  bool enabled() const { return factor > 0; }
};

struct ModelConfig {
  std::string arch;          // "llama", "qwen2", "qwen3", "qwen3moe", "deepseek2"
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
  bool expert_weights_norm = false;  // kSoftmaxTopK, kDeepSeek*: renormalise the k weights
  float expert_weights_scale = 1.0f; // kDeepSeek*: routed weights are multiplied by this
  int64_t n_expert_groups = 1;       // kDeepSeek*: experts form this many equal groups
  int64_t n_expert_groups_used = 1;  // ... of which the best this many may be chosen from
  int64_t n_shared_experts = 0;      // experts every token runs (width n_shared * f_e)
  int64_t n_dense_layers = 0;        // leading layers with a dense FFN (n_ff) in an MoE model
  MlaConfig mla;
  YarnConfig yarn;
  int64_t n_rot = 0;         // rotary dims per head (head_dim, or mla.rope)
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
  bool is_moe_layer(int64_t layer) const { return is_moe() && layer >= n_dense_layers; }
  int64_t n_ff_shared() const { return n_shared_experts * n_ff_expert; }
  // Width of one head's attention output (o_proj input): v_dim for MLA.
  int64_t v_head_dim() const { return mla.enabled() ? mla.v_dim : head_dim; }
  // softmax scale of q.k: 1/sqrt(head_dim), times mscale^2 under YaRN.
  float attn_scale() const;
};

// Reads and validates the config. Errors name the GGUF key at fault.
Result<ModelConfig> ReadModelConfig(const GgufFile& file);

// deepseek2's keys (config_deepseek2.cc): MLA dims, shared experts, dense
// leading layers, group-limited routing, YaRN. Called by ReadModelConfig.
Status ReadDeepSeek2(const GgufFile& file, ModelConfig& c);

}  // namespace plexus
