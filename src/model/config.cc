#include "model/config.h"

#include <cmath>

#include "model/arch.h"

namespace plexus {
namespace {

// Reads `{arch}.{suffix}` as a positive integer.
Result<int64_t> PositiveInt(const GgufFile& f, const std::string& arch, const char* suffix) {
  std::string key = arch + "." + suffix;
  PLEXUS_ASSIGN_OR_RETURN(int64_t v, f.GetInt(key));
  if (v <= 0 || v > (int64_t{1} << 31))
    return Status::Errorf("model", "{}: {} = {} is out of range", f.name(), key, v);
  return v;
}

Status CheckShape(const GgufFile& f, const ModelConfig& c) {
  if (c.n_heads % c.n_kv_heads != 0)
    return Status::Errorf("model", "{}: {}.attention.head_count ({}) is not a multiple of head_count_kv ({})",
                          f.name(), c.arch, c.n_heads, c.n_kv_heads);
  if (c.head_dim % 2 != 0)
    return Status::Errorf("model", "{}: head size {} is odd; RoPE needs pairs", f.name(), c.head_dim);
  return Status::Ok();
}

// The vocabulary size: the explicit key, else the token list, else the embedding.
Result<int64_t> VocabSize(const GgufFile& f, const std::string& arch) {
  if (f.Find(arch + ".vocab_size")) return PositiveInt(f, arch, "vocab_size");
  if (const GgufValue* tokens = f.Find("tokenizer.ggml.tokens")) return static_cast<int64_t>(tokens->array_size());
  if (const GgufTensorInfo* emb = f.FindTensor("token_embd.weight"); emb && emb->shape.size() == 2)
    return emb->shape[1];
  return Status::Errorf("model", "{}: no vocabulary size ({}.vocab_size, tokenizer.ggml.tokens or token_embd.weight)",
                        f.name(), arch);
}

// YaRN (deepseek2): rope.scaling.{factor, original_context_length, yarn_log_multiplier}.
Status ReadYarn(const GgufFile& f, ModelConfig& c) {
  const std::string& a = c.arch;
  if (a != "deepseek2")
    return Status::Errorf("model", "{}: {}.rope.scaling.type 'yarn' is supported for deepseek2 only", f.name(), a);
  PLEXUS_ASSIGN_OR_RETURN(double factor, f.GetFloat(a + ".rope.scaling.factor"));
  if (!(factor >= 1.0) || !std::isfinite(factor))
    return Status::Errorf("model", "{}: {}.rope.scaling.factor = {} is invalid (YaRN needs >= 1)", f.name(), a, factor);
  PLEXUS_ASSIGN_OR_RETURN(c.yarn.original_context, PositiveInt(f, a, "rope.scaling.original_context_length"));
  PLEXUS_ASSIGN_OR_RETURN(double log_mul, f.GetFloat(a + ".rope.scaling.yarn_log_multiplier", 0.0));
  if (!(log_mul >= 0.0) || !std::isfinite(log_mul))
    return Status::Errorf("model", "{}: {}.rope.scaling.yarn_log_multiplier = {} is invalid", f.name(), a, log_mul);
  c.yarn.factor = static_cast<float>(factor);
  c.yarn.log_multiplier = static_cast<float>(log_mul);
  return Status::Ok();
}

Status ReadRope(const GgufFile& f, ModelConfig& c) {
  const std::string& a = c.arch;
  PLEXUS_ASSIGN_OR_RETURN(double base, f.GetFloat(a + ".rope.freq_base", 10000.0));
  if (!(base > 1.0) || !std::isfinite(base))
    return Status::Errorf("model", "{}: {}.rope.freq_base = {} is invalid", f.name(), a, base);
  c.rope_base = static_cast<float>(base);
  // MLA rotates only the rope part of each head (and k_pe); others the whole head.
  const int64_t want_rot = c.mla.enabled() ? c.mla.rope : c.head_dim;
  PLEXUS_ASSIGN_OR_RETURN(int64_t n_rot, f.GetInt(a + ".rope.dimension_count", want_rot));
  if (n_rot != want_rot)
    return Status::Errorf("model", "{}: {}.rope.dimension_count = {} but the rotated width is {}; partial RoPE is not supported",
                          f.name(), a, n_rot, want_rot);
  if (n_rot % 2 != 0) return Status::Errorf("model", "{}: {}.rope.dimension_count = {} is odd", f.name(), a, n_rot);
  c.n_rot = n_rot;
  PLEXUS_ASSIGN_OR_RETURN(std::string scaling, f.GetString(a + ".rope.scaling.type", "none"));
  if (scaling == "linear") {
    PLEXUS_ASSIGN_OR_RETURN(double factor, f.GetFloat(a + ".rope.scaling.factor", 1.0));
    if (!(factor > 0.0)) return Status::Errorf("model", "{}: {}.rope.scaling.factor = {} is invalid", f.name(), a, factor);
    c.rope_linear_scale = static_cast<float>(1.0 / factor);
  } else if (scaling == "yarn") {
    return ReadYarn(f, c);
  } else if (scaling != "none" && scaling != "llama3") {
    // llama3 scaling is carried by the rope_freqs.weight tensor.
    return Status::Errorf("model", "{}: {}.rope.scaling.type '{}' is not supported", f.name(), a, scaling);
  }
  return Status::Ok();
}

// The mixture-of-experts keys: expert_count (absent or 0: dense),
// expert_used_count, expert_feed_forward_length (qwen3moe; Mixtral's experts
// have feed_forward_length). Reads n_ff too, which an MoE file may omit.
Status ReadExperts(const GgufFile& f, ModelConfig& c) {
  const std::string& a = c.arch;
  PLEXUS_ASSIGN_OR_RETURN(int64_t n_experts, f.GetInt(a + ".expert_count", 0));
  if (n_experts == 0) {
    if (c.traits->requires_experts)
      return Status::Errorf("model", "{}: {}.expert_count is missing; a {} model has experts", f.name(), a, a);
    PLEXUS_ASSIGN_OR_RETURN(c.n_ff, PositiveInt(f, a, "feed_forward_length"));
    return Status::Ok();
  }
  if (c.traits->gating == ExpertGating::kNone)
    return Status::Errorf("model", "{}: {}.expert_count = {} but plexus runs {} models dense only", f.name(), a, n_experts, a);
  PLEXUS_ASSIGN_OR_RETURN(c.n_experts, PositiveInt(f, a, "expert_count"));
  PLEXUS_ASSIGN_OR_RETURN(c.n_experts_used, PositiveInt(f, a, "expert_used_count"));
  if (c.n_experts_used > c.n_experts)
    return Status::Errorf("model", "{}: {}.expert_used_count = {} exceeds expert_count = {}", f.name(), a,
                          c.n_experts_used, c.n_experts);
  const bool deepseek = a == "deepseek2";  // shared experts and gating: ReadDeepSeek2
  PLEXUS_ASSIGN_OR_RETURN(int64_t n_shared, f.GetInt(a + ".expert_shared_count", 0));
  if (n_shared != 0 && !deepseek)
    return Status::Errorf("model", "{}: {}.expert_shared_count = {}: shared experts are not supported", f.name(), a, n_shared);
  PLEXUS_ASSIGN_OR_RETURN(int64_t gating_func, f.GetInt(a + ".expert_gating_func", 1));
  if (gating_func != 1 && !deepseek)  // llama.cpp: 1 softmax, 2 sigmoid
    return Status::Errorf("model", "{}: {}.expert_gating_func = {}: only softmax gating (1) is supported", f.name(), a, gating_func);
  const bool has_expert_ff = f.Find(a + ".expert_feed_forward_length") != nullptr;
  if (has_expert_ff) {
    PLEXUS_ASSIGN_OR_RETURN(c.n_ff_expert, PositiveInt(f, a, "expert_feed_forward_length"));
  } else {
    PLEXUS_ASSIGN_OR_RETURN(c.n_ff_expert, PositiveInt(f, a, "feed_forward_length"));
  }
  c.n_ff = c.n_ff_expert;
  if (f.Find(a + ".feed_forward_length")) {
    PLEXUS_ASSIGN_OR_RETURN(c.n_ff, PositiveInt(f, a, "feed_forward_length"));
  }
  c.gating = c.traits->gating;
  // llama.cpp's default: on for qwen3moe (norm_topk_prob), off for deepseek2 (V2).
  PLEXUS_ASSIGN_OR_RETURN(c.expert_weights_norm, f.GetBool(a + ".expert_weights_norm", !deepseek));
  return Status::Ok();
}

}  // namespace

float ModelConfig::attn_scale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  if (yarn.enabled() && yarn.log_multiplier > 0) {
    // DeepSeek's yarn_get_mscale(factor, mscale_all_dim), squared: q and k each carry one mscale.
    const double mscale = 1.0 + yarn.log_multiplier * std::log(static_cast<double>(yarn.factor));
    scale *= mscale * mscale;
  }
  return static_cast<float>(scale);
}

Result<ModelConfig> ReadModelConfig(const GgufFile& f) {
  ModelConfig c;
  PLEXUS_ASSIGN_OR_RETURN(c.arch, f.GetString("general.architecture"));
  c.traits = FindArch(c.arch);
  if (c.traits == nullptr)
    return Status::Errorf("model", "{}: general.architecture '{}' is not supported (llama, qwen2, qwen3, qwen3moe, deepseek2)", f.name(), c.arch);
  const std::string& a = c.arch;
  PLEXUS_ASSIGN_OR_RETURN(c.n_embd, PositiveInt(f, a, "embedding_length"));
  PLEXUS_ASSIGN_OR_RETURN(c.n_layers, PositiveInt(f, a, "block_count"));
  PLEXUS_RETURN_IF_ERROR(ReadExperts(f, c));
  PLEXUS_ASSIGN_OR_RETURN(c.n_heads, PositiveInt(f, a, "attention.head_count"));
  c.n_kv_heads = c.n_heads;
  if (f.Find(a + ".attention.head_count_kv")) {
    PLEXUS_ASSIGN_OR_RETURN(c.n_kv_heads, PositiveInt(f, a, "attention.head_count_kv"));
  }
  c.head_dim = c.n_embd / c.n_heads;
  if (f.Find(a + ".attention.key_length")) {
    PLEXUS_ASSIGN_OR_RETURN(c.head_dim, PositiveInt(f, a, "attention.key_length"));
  }
  if (a == "deepseek2") PLEXUS_RETURN_IF_ERROR(ReadDeepSeek2(f, c));
  PLEXUS_ASSIGN_OR_RETURN(int64_t v_dim, f.GetInt(a + ".attention.value_length", c.head_dim));
  if (v_dim != c.head_dim && !c.mla.enabled())
    return Status::Errorf("model", "{}: {}.attention.value_length {} differs from key_length {}", f.name(), a, v_dim, c.head_dim);
  PLEXUS_ASSIGN_OR_RETURN(c.n_vocab, VocabSize(f, a));
  PLEXUS_ASSIGN_OR_RETURN(c.context_length, f.GetInt(a + ".context_length", 4096));
  if (c.context_length <= 0) c.context_length = 4096;
  PLEXUS_ASSIGN_OR_RETURN(double eps, f.GetFloat(a + ".attention.layer_norm_rms_epsilon", c.traits->default_rms_eps));
  if (!(eps > 0.0) || eps > 1.0)
    return Status::Errorf("model", "{}: {}.attention.layer_norm_rms_epsilon = {} is invalid", f.name(), a, eps);
  c.rms_eps = static_cast<float>(eps);
  c.rope_style = c.traits->rope_style;
  c.tied_embeddings = f.FindTensor("output.weight") == nullptr;
  PLEXUS_RETURN_IF_ERROR(ReadRope(f, c));
  PLEXUS_RETURN_IF_ERROR(CheckShape(f, c));
  return c;
}

}  // namespace plexus
