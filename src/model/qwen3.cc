// Qwen 3: no Q/K/V biases, but an RMSNorm over each head of Q and K before
// RoPE. Its head size is set explicitly (attention.key_length), so h * dh may
// differ from the model width. Qwen 3 MoE (Qwen3-30B-A3B, Qwen3-235B-A22B) is
// the same layer with a mixture of experts in place of the dense FFN: softmax
// over all expert logits, the top k, their weights renormalised to sum 1
// (norm_topk_prob), no shared expert.
#include "model/arch.h"
#include "model/layer_ops.h"

namespace plexus {
namespace {

Status Qwen3Layer(LayerRun& r) {
  r.Norm(r.weights().attn_norm);
  r.ProjectQkv();
  r.NormQkHeads();
  r.ApplyRope();
  r.StoreKv();
  r.Attend();
  PLEXUS_RETURN_IF_ERROR(r.AttentionOutput());
  r.Norm(r.weights().ffn_norm);
  return r.config().is_moe() ? r.MoeFfn() : r.SwiGluFfn();
}

}  // namespace

const ArchTraits& Qwen3Traits() {
  static const ArchTraits traits{
      .name = "qwen3",
      .rope_style = kernels::RopeStyle::kHalves,
      .default_rms_eps = 1e-6f,
      .qkv_bias = false,
      .qk_norm = true,
      .gating = ExpertGating::kNone,
      .requires_experts = false,
      .layer = Qwen3Layer,
  };
  return traits;
}

const ArchTraits& Qwen3MoeTraits() {
  static const ArchTraits traits{
      .name = "qwen3moe",
      .rope_style = kernels::RopeStyle::kHalves,
      .default_rms_eps = 1e-6f,
      .qkv_bias = false,
      .qk_norm = true,
      .gating = ExpertGating::kSoftmaxTopK,
      .requires_experts = true,
      .layer = Qwen3Layer,
  };
  return traits;
}

}  // namespace plexus
