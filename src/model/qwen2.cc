// Qwen 2 and 2.5: Llama's block plus biases on the Q, K and V projections,
// and RoPE over the two halves of each head (ggml "neox" mode).
#include "model/arch.h"
#include "model/layer_ops.h"

namespace plexus {
namespace {

Status Qwen2Layer(LayerRun& r) {
  r.Norm(r.weights().attn_norm);
  r.ProjectQkv();
  r.AddQkvBias();
  r.ApplyRope();
  r.StoreKv();
  r.Attend();
  PLEXUS_RETURN_IF_ERROR(r.AttentionOutput());
  r.Norm(r.weights().ffn_norm);
  return r.SwiGluFfn();
}

}  // namespace

const ArchTraits& Qwen2Traits() {
  static const ArchTraits traits{
      .name = "qwen2",
      .rope_style = kernels::RopeStyle::kHalves,
      .default_rms_eps = 1e-6f,
      .qkv_bias = true,
      .qk_norm = false,
      .gating = ExpertGating::kNone,
      .requires_experts = false,
      .layer = Qwen2Layer,
  };
  return traits;
}

}  // namespace plexus
