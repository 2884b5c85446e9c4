// Qwen 3 (dense): no Q/K/V biases, but an RMSNorm over each head of Q and K
// before RoPE. Its head size is set explicitly (attention.key_length), so
// h * dh may differ from the model width.
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
  return r.SwiGluFfn();
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

}  // namespace plexus
