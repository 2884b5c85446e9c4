// DeepSeek-V2/V3/R1 and Kimi K2 (GGUF architecture "deepseek2"):
// multi-head latent attention (mla_ops.cc: a low-rank query, one compressed
// latent per token shared by all heads, RoPE on a 64-wide slice only, adjacent
// pairs as llama.cpp's "normal" rope), then a dense SwiGLU FFN in the first
// leading_dense_block_count layers and, after them, a mixture of experts with
// shared experts and group-limited (V3: sigmoid, bias-corrected) routing.
#include "model/arch.h"
#include "model/layer_ops.h"

namespace plexus {
namespace {

Status DeepSeek2Layer(LayerRun& r) {
  r.Norm(r.weights().attn_norm);
  r.MlaProject();
  r.MlaAttend();
  PLEXUS_RETURN_IF_ERROR(r.AttentionOutput());
  r.Norm(r.weights().ffn_norm);
  // Leading dense layers have no router (the loader leaves it empty).
  if (r.weights().router.empty()) return r.SwiGluFfn();
  return r.MoeFfn();
}

}  // namespace

const ArchTraits& DeepSeek2Traits() {
  static const ArchTraits traits{
      .name = "deepseek2",
      .rope_style = kernels::RopeStyle::kAdjacent,
      .default_rms_eps = 1e-6f,
      .qkv_bias = false,
      .qk_norm = false,
      .gating = ExpertGating::kDeepSeekSoftmax,  // ReadDeepSeek2 picks sigmoid by expert_gating_func
      .requires_experts = false,                 // V2-Lite-like dense files would run too
      .layer = DeepSeek2Layer,
  };
  return traits;
}

}  // namespace plexus
