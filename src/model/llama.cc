// Llama 2, 3, 3.1, 3.2, Mistral, TinyLlama, and Mixtral (a llama file with
// llama.expert_count > 0: the FFN is a mixture of experts, see moe_ops.cc).
// llama.cpp's converter permutes the Q and K rows so that RoPE rotates
// adjacent pairs (ggml "normal" mode). Llama 3.1+ frequency scaling arrives
// as the rope_freqs.weight tensor, read by the shared loader.
#include "model/arch.h"
#include "model/layer_ops.h"

namespace plexus {
namespace {

// Pre-norm attention then pre-norm SwiGLU FFN, each with a residual.
Status LlamaLayer(LayerRun& r) {
  r.Norm(r.weights().attn_norm);
  r.ProjectQkv();
  r.ApplyRope();
  r.StoreKv();
  r.Attend();
  PLEXUS_RETURN_IF_ERROR(r.AttentionOutput());
  r.Norm(r.weights().ffn_norm);
  return r.config().is_moe() ? r.MoeFfn() : r.SwiGluFfn();
}

}  // namespace

const ArchTraits& LlamaTraits() {
  static const ArchTraits traits{
      .name = "llama",
      .rope_style = kernels::RopeStyle::kAdjacent,
      .default_rms_eps = 1e-5f,
      .qkv_bias = false,
      .qk_norm = false,
      .gating = ExpertGating::kTopKSoftmax,  // Mixtral
      .requires_experts = false,
      .layer = LlamaLayer,
  };
  return traits;
}

const ArchTraits* FindArch(std::string_view name) {
  for (const ArchTraits* t : {&LlamaTraits(), &Qwen2Traits(), &Qwen3Traits(), &Qwen3MoeTraits(),
                              &DeepSeek2Traits()})
    if (name == t->name) return t;
  return nullptr;
}

}  // namespace plexus
