// What the placement planner needs to know about a model: its dimensions and
// how many bytes each part weighs, grouped by how tensor parallelism splits
// them (see ../shared/DESIGN.md). Pure data; ShapeFromGguf derives it from a
// parsed file's tensor table, so a plan can be made without loading weights.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "format/gguf.h"
#include "model/config.h"
#include "tensor/dtype.h"

namespace plexus::placement {

// Bytes of one transformer layer's weights, by the way TP splits them.
struct LayerBytes {
  double qo = 0;     // attn_q, attn_output (+ q bias, q norm): split by query heads
  double kv = 0;     // attn_k, attn_v (+ biases, k norm): split by KV heads (replicated when a group straddles ranks)
  double ffn = 0;    // ffn_gate, ffn_up, ffn_down: split by FFN rows
  double other = 0;  // attn_norm, ffn_norm, the MoE router: whole on every rank
  // Routed experts (ffn_*_exps), averaged over all layers (dense layers
  // count 0): split whole experts by share under TP, placed whole on ranks
  // under EP. A token reads n_experts_used / n_experts of them.
  double experts = 0;
  double total() const { return qo + kv + ffn + other + experts; }
};

struct ModelShape {
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t n_embd = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_experts = 0;       // routed experts per MoE layer (0: a dense model)
  int64_t n_experts_used = 0;  // experts each token is routed to
  int64_t n_moe_layers = 0;    // layers with routed experts (the rest have a dense FFN)
  int64_t ffn_granularity = 1;          // block size of ffn_down's type: FFN splits fall on multiples of it
  LayerBytes layer;                     // one layer (the mean over layers when types differ)
  double embedding_bytes = 0;           // token_embd: whole on every rank of the first stage
  double output_bytes = 0;              // LM head, read whole per token; split by vocabulary rows
  double output_extra_bytes = 0;        // output_norm, rope_freqs: whole on every rank of the last stage
  bool tied_embeddings = false;         // the LM head is token_embd (no output.weight)
  double kv_bytes_per_token_layer = 0;  // K and V of one position, every KV head, one layer

  double layer_bytes() const { return layer.total(); }
  bool is_moe() const { return n_experts > 0; }
  // Of the expert bytes a rank holds, the part one token reads.
  double active_expert_fraction() const {
    return is_moe() ? static_cast<double>(n_experts_used) / static_cast<double>(n_experts) : 0.0;
  }
  // Every weight once: layers, embedding, LM head (once when tied), extras.
  double weight_bytes() const;
  // Multiply-adds per decoded token, times 2, of the whole model (no attention).
  double flops_per_token() const;
  // The model's config as far as MakeShard needs it (head and FFN splitting).
  ModelConfig AsConfig() const;
};

// Errors name the field ("[placement] model n_heads 0 must be positive").
Status ValidateShape(const ModelShape& shape);

// From the GGUF tensor table and config; kv_type is the KV cache element
// type (f16 by default, as the engine keeps it).
Result<ModelShape> ShapeFromGguf(const GgufFile& file, const ModelConfig& config, DType kv_type = DType::kF16);

// An MoE model: DenseShape's attention, every layer's FFN replaced by
// `n_experts` experts of width `n_ff_expert`, `n_used` of them per token.
ModelShape MoeShape(int64_t n_layers, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t n_embd,
                    int64_t n_experts, int64_t n_used, int64_t n_ff_expert, int64_t n_vocab, double bytes_per_weight);

// A dense Llama-style model whose weights take `bytes_per_weight` each
// (Q4_0: 18/32, Q8_0: 34/32, F16: 2): for tests and examples.
ModelShape DenseShape(int64_t n_layers, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t n_embd,
                      int64_t n_ff, int64_t n_vocab, double bytes_per_weight, double kv_elem_bytes = 2);

}  // namespace plexus::placement
