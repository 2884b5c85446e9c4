// deepseek2 hyper-parameters (DeepSeek-V2/V2-Lite/V3/R1, Kimi K2), as
// llama.cpp's converter writes them:
//   attention.q_lora_rank (absent or 0: attn_q is a plain matrix), kv_lora_rank,
//   key_length = nope + rope, value_length = v (older files), or, in files
//   with the split attn_k_b / attn_v_b, key_length = kv_lora + rope and
//   value_length = kv_lora with the per-head sizes in key_length_mla /
//   value_length_mla; rope.dimension_count = rope;
//   expert_shared_count, leading_dense_block_count, expert_weights_scale,
//   expert_gating_func (1 softmax, 2 sigmoid), expert_group_count,
//   expert_group_used_count.
#include "model/config.h"

#include <cmath>

namespace plexus {
namespace {

Result<int64_t> Int(const GgufFile& f, const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
  PLEXUS_ASSIGN_OR_RETURN(int64_t v, f.GetInt(key, fallback));
  if (v < lo || v > hi) return Status::Errorf("model", "{}: {} = {} is out of range [{}, {}]", f.name(), key, v, lo, hi);
  return v;
}

// MLA dims; head_dim becomes nope + rope.
Status ReadMla(const GgufFile& f, ModelConfig& c) {
  const std::string a = c.arch + ".attention.";
  constexpr int64_t kMax = int64_t{1} << 20;
  MlaConfig& m = c.mla;
  PLEXUS_ASSIGN_OR_RETURN(m.q_lora, Int(f, a + "q_lora_rank", 0, 0, kMax));
  PLEXUS_ASSIGN_OR_RETURN(m.kv_lora, Int(f, a + "kv_lora_rank", -1, 1, kMax));
  PLEXUS_ASSIGN_OR_RETURN(m.rope, Int(f, c.arch + ".rope.dimension_count", -1, 2, kMax));
  const bool split = f.Find(a + "key_length_mla") != nullptr;
  const std::string k_key = a + (split ? "key_length_mla" : "key_length");
  const std::string v_key = a + (split ? "value_length_mla" : "value_length");
  PLEXUS_ASSIGN_OR_RETURN(c.head_dim, Int(f, k_key, -1, m.rope + 1, kMax));
  PLEXUS_ASSIGN_OR_RETURN(m.v_dim, Int(f, v_key, -1, 1, kMax));
  m.nope = c.head_dim - m.rope;
  if (m.rope % 2 != 0)
    return Status::Errorf("model", "{}: {}.rope.dimension_count = {} is odd", f.name(), c.arch, m.rope);
  // Every head has its own q and v; the latent is shared, so no GQA grouping.
  c.n_kv_heads = c.n_heads;
  return Status::Ok();
}

// Group-limited routing and the routed-weight scale.
Status ReadRouting(const GgufFile& f, ModelConfig& c) {
  const std::string& a = c.arch;
  PLEXUS_ASSIGN_OR_RETURN(int64_t func, Int(f, a + ".expert_gating_func", 1, 1, 2));
  c.gating = func == 2 ? ExpertGating::kDeepSeekSigmoid : ExpertGating::kDeepSeekSoftmax;
  PLEXUS_ASSIGN_OR_RETURN(double scale, f.GetFloat(a + ".expert_weights_scale", 1.0));
  if (!(scale > 0.0) || !std::isfinite(scale))
    return Status::Errorf("model", "{}: {}.expert_weights_scale = {} is invalid", f.name(), a, scale);
  c.expert_weights_scale = static_cast<float>(scale);
  PLEXUS_ASSIGN_OR_RETURN(c.n_expert_groups, Int(f, a + ".expert_group_count", 1, 1, c.n_experts));
  if (c.n_experts % c.n_expert_groups != 0)
    return Status::Errorf("model", "{}: {}.expert_group_count = {} does not divide expert_count = {}", f.name(), a,
                          c.n_expert_groups, c.n_experts);
  PLEXUS_ASSIGN_OR_RETURN(c.n_expert_groups_used,
                          Int(f, a + ".expert_group_used_count", c.n_expert_groups, 1, c.n_expert_groups));
  if (c.n_expert_groups_used * (c.n_experts / c.n_expert_groups) < c.n_experts_used)
    return Status::Errorf("model", "{}: {}.expert_group_used_count = {} groups of {} hold fewer than expert_used_count = {}",
                          f.name(), a, c.n_expert_groups_used, c.n_experts / c.n_expert_groups, c.n_experts_used);
  return Status::Ok();
}

}  // namespace

Status ReadDeepSeek2(const GgufFile& f, ModelConfig& c) {
  const std::string& a = c.arch;
  PLEXUS_RETURN_IF_ERROR(ReadMla(f, c));
  if (!c.is_moe()) return Status::Ok();
  PLEXUS_RETURN_IF_ERROR(ReadRouting(f, c));
  PLEXUS_ASSIGN_OR_RETURN(c.n_shared_experts, Int(f, a + ".expert_shared_count", 0, 0, 64));
  PLEXUS_ASSIGN_OR_RETURN(c.n_dense_layers, Int(f, a + ".leading_dense_block_count", 0, 0, c.n_layers));
  if (c.n_dense_layers > 0 && f.Find(a + ".feed_forward_length") == nullptr)
    return Status::Errorf("model", "{}: {}.feed_forward_length is missing; the {} leading dense layers need it",
                          f.name(), a, c.n_dense_layers);
  return Status::Ok();
}

}  // namespace plexus
