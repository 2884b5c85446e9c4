#include "placement/model_shape.h"

#include <cmath>
#include <string_view>

#include "model/weights.h"

namespace plexus::placement {
namespace {

// Which part of LayerBytes a block tensor ("blk.7.attn_q.weight" ->
// "attn_q.weight") belongs to. Biases and q/k norms are loaded whole on
// every rank (weight_ranges.cc), so they count as `other`.
double* LayerSlot(LayerBytes& b, std::string_view suffix) {
  if (suffix == "attn_q.weight" || suffix == "attn_output.weight") return &b.qo;
  if (suffix == "attn_k.weight" || suffix == "attn_v.weight") return &b.kv;
  if (suffix == "ffn_gate.weight" || suffix == "ffn_up.weight" || suffix == "ffn_down.weight") return &b.ffn;
  if (suffix.starts_with("ffn_") && suffix.ends_with("_exps.weight")) return &b.experts;
  // Shared experts split by rows like a dense FFN (MakeShard's shexp).
  if (suffix.starts_with("ffn_") && suffix.ends_with("_shexp.weight")) return &b.ffn;
  return &b.other;
}

Status Positive(int64_t v, const char* field) {
  if (v <= 0) return Status::Errorf("placement", "model {} {} must be positive", field, v);
  return Status::Ok();
}

Status NonNegative(double v, const char* field) {
  if (!(v >= 0) || !std::isfinite(v))
    return Status::Errorf("placement", "model {} {} must be a non-negative number", field, v);
  return Status::Ok();
}

}  // namespace

double ModelShape::weight_bytes() const {
  const double head = tied_embeddings ? 0.0 : output_bytes;
  return static_cast<double>(n_layers) * layer_bytes() + embedding_bytes + head + output_extra_bytes;
}

double ModelShape::flops_per_token() const {
  const double d = static_cast<double>(n_embd);
  const double q_dim = static_cast<double>(n_heads * head_dim), kv_dim = static_cast<double>(n_kv_heads * head_dim);
  const double ff = layer.ffn > 0 ? static_cast<double>(n_ff) : 0.0;  // MoE configs may name an unused n_ff
  const double per_layer = 2 * d * q_dim + 2 * d * kv_dim + 3 * d * ff;
  // Experts: the multiply-adds of the routed share, from their bytes and the
  // attention's bytes per weight (attn_q and attn_output: 2 d q_dim weights).
  const double bytes_per_weight = layer.qo > 0 ? layer.qo / (2 * d * q_dim) : 1.0;
  const double expert_macs = layer.experts * active_expert_fraction() / bytes_per_weight;
  return 2 * (static_cast<double>(n_layers) * (per_layer + expert_macs) + d * static_cast<double>(n_vocab));
}

ModelConfig ModelShape::AsConfig() const {
  ModelConfig c;
  c.n_layers = n_layers;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = head_dim;
  c.n_embd = n_embd;
  c.n_ff = n_ff;
  c.n_vocab = n_vocab;
  c.tied_embeddings = tied_embeddings;
  c.n_experts = n_experts;
  c.n_experts_used = n_experts_used;
  return c;
}

Status ValidateShape(const ModelShape& s) {
  PLEXUS_RETURN_IF_ERROR(Positive(s.n_layers, "n_layers"));
  PLEXUS_RETURN_IF_ERROR(Positive(s.n_heads, "n_heads"));
  PLEXUS_RETURN_IF_ERROR(Positive(s.n_kv_heads, "n_kv_heads"));
  PLEXUS_RETURN_IF_ERROR(Positive(s.head_dim, "head_dim"));
  PLEXUS_RETURN_IF_ERROR(Positive(s.n_embd, "n_embd"));
  if (s.n_ff < 0 || (s.n_ff == 0 && !s.is_moe()))
    return Status::Errorf("placement", "model n_ff {} must be positive", s.n_ff);
  if (s.n_experts < 0) return Status::Errorf("placement", "model n_experts {} must be non-negative", s.n_experts);
  if (s.is_moe() && (s.n_experts_used < 1 || s.n_experts_used > s.n_experts))
    return Status::Errorf("placement", "model n_experts_used {} must be in [1, n_experts {}]", s.n_experts_used,
                          s.n_experts);
  if (s.is_moe() && (s.n_moe_layers < 1 || s.n_moe_layers > s.n_layers))
    return Status::Errorf("placement", "model n_moe_layers {} must be in [1, n_layers {}]", s.n_moe_layers,
                          s.n_layers);
  PLEXUS_RETURN_IF_ERROR(Positive(s.n_vocab, "n_vocab"));
  PLEXUS_RETURN_IF_ERROR(Positive(s.ffn_granularity, "ffn_granularity"));
  if (s.n_heads % s.n_kv_heads != 0)
    return Status::Errorf("placement", "model n_heads {} is not a multiple of n_kv_heads {}", s.n_heads, s.n_kv_heads);
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.layer.qo, "layer.qo bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.layer.kv, "layer.kv bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.layer.ffn, "layer.ffn bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.layer.other, "layer.other bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.layer.experts, "layer.experts bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.embedding_bytes, "embedding_bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.output_bytes, "output_bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.output_extra_bytes, "output_extra_bytes"));
  PLEXUS_RETURN_IF_ERROR(NonNegative(s.kv_bytes_per_token_layer, "kv_bytes_per_token_layer"));
  if (!(s.layer_bytes() > 0)) return Status::Errorf("placement", "model layers weigh 0 bytes");
  return Status::Ok();
}

Result<ModelShape> ShapeFromGguf(const GgufFile& file, const ModelConfig& config, DType kv_type) {
  ModelShape s;
  s.n_layers = config.n_layers;
  s.n_heads = config.n_heads;
  s.n_kv_heads = config.n_kv_heads;
  s.head_dim = config.head_dim;
  s.n_embd = config.n_embd;
  s.n_ff = config.n_ff;
  s.n_vocab = config.n_vocab;
  s.tied_embeddings = config.tied_embeddings;
  s.n_experts = config.n_experts;
  s.n_experts_used = config.n_experts_used;
  s.n_moe_layers = config.is_moe() ? config.n_layers - config.n_dense_layers : 0;
  PLEXUS_ASSIGN_OR_RETURN(s.ffn_granularity, FfnGranularity(file));
  LayerBytes all_layers;  // summed over layers, then averaged
  for (const GgufTensorInfo& t : file.tensors()) {
    const auto bytes = static_cast<double>(t.n_bytes);
    std::string_view name = t.name;
    if (name.starts_with("blk.")) {
      const size_t dot = name.find('.', 4);
      if (dot == std::string_view::npos) continue;
      *LayerSlot(all_layers, name.substr(dot + 1)) += bytes;
    } else if (name == "token_embd.weight") {
      s.embedding_bytes = bytes;
    } else if (name == "output.weight") {
      s.output_bytes = bytes;
    } else {
      s.output_extra_bytes += bytes;  // output_norm, rope_freqs: small, kept on the last stage
    }
  }
  if (s.tied_embeddings) s.output_bytes = s.embedding_bytes;
  const auto n = static_cast<double>(std::max<int64_t>(config.n_layers, 1));
  s.layer = {all_layers.qo / n, all_layers.kv / n, all_layers.ffn / n, all_layers.other / n, all_layers.experts / n};
  const double elem = kv_type == DType::kF32 ? 4.0 : 2.0;
  s.kv_bytes_per_token_layer = 2.0 * static_cast<double>(config.kv_dim()) * elem;
  PLEXUS_RETURN_IF_ERROR(ValidateShape(s).WithContext(file.name()));
  return s;
}

ModelShape DenseShape(int64_t n_layers, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t n_embd,
                      int64_t n_ff, int64_t n_vocab, double bytes_per_weight, double kv_elem_bytes) {
  ModelShape s;
  s.n_layers = n_layers;
  s.n_heads = n_heads;
  s.n_kv_heads = n_kv_heads;
  s.head_dim = head_dim;
  s.n_embd = n_embd;
  s.n_ff = n_ff;
  s.n_vocab = n_vocab;
  s.ffn_granularity = 32;
  const auto d = static_cast<double>(n_embd);
  const auto q_dim = static_cast<double>(n_heads * head_dim), kv_dim = static_cast<double>(n_kv_heads * head_dim);
  s.layer.qo = 2 * d * q_dim * bytes_per_weight;
  s.layer.kv = 2 * d * kv_dim * bytes_per_weight;
  s.layer.ffn = 3 * d * static_cast<double>(n_ff) * bytes_per_weight;
  s.layer.other = 2 * d * 4;  // two f32 norms
  s.embedding_bytes = d * static_cast<double>(n_vocab) * bytes_per_weight;
  s.output_bytes = s.embedding_bytes;
  s.output_extra_bytes = d * 4;
  s.kv_bytes_per_token_layer = 2 * kv_dim * kv_elem_bytes;
  return s;
}

}  // namespace plexus::placement

namespace plexus::placement {

ModelShape MoeShape(int64_t n_layers, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t n_embd,
                    int64_t n_experts, int64_t n_used, int64_t n_ff_expert, int64_t n_vocab, double bytes_per_weight) {
  ModelShape s = DenseShape(n_layers, n_heads, n_kv_heads, head_dim, n_embd, n_ff_expert, n_vocab, bytes_per_weight);
  s.layer.ffn = 0;  // n_ff stays (the engine's configs keep an unused one); no dense FFN bytes
  s.n_experts = n_experts;
  s.n_experts_used = n_used;
  s.n_moe_layers = n_layers;
  const auto d = static_cast<double>(n_embd);
  s.layer.experts = 3 * d * static_cast<double>(n_ff_expert * n_experts) * bytes_per_weight;
  s.layer.other += d * static_cast<double>(n_experts) * 4;  // the f32 router
  return s;
}

}  // namespace plexus::placement
