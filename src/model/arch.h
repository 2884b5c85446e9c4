// What distinguishes one architecture from another. Each architecture file
// (llama.cc, qwen2.cc, qwen3.cc, qwen3moe.cc, deepseek2.cc) defines one ArchTraits; the forward pass
// (forward.cc) is shared and consults these flags.
#pragma once

#include <string_view>

#include "base/status.h"
#include "kernels/ops.h"
#include "model/config.h"

namespace plexus {

class LayerRun;

struct ArchTraits {
  const char* name;                 // general.architecture
  kernels::RopeStyle rope_style;    // how RoPE pairs dimensions
  float default_rms_eps;
  bool qkv_bias;                    // attn_{q,k,v}.bias tensors
  bool qk_norm;                     // per-head RMSNorm on q and k before RoPE
  // Routing rule of an MoE model of this architecture (kNone: dense only).
  ExpertGating gating;
  bool requires_experts;            // qwen3moe: expert_count must be set
  Status (*layer)(LayerRun& run);   // one transformer block, composed from layer_ops.h
};

const ArchTraits& LlamaTraits();
const ArchTraits& Qwen2Traits();
const ArchTraits& Qwen3Traits();
const ArchTraits& Qwen3MoeTraits();
const ArchTraits& DeepSeek2Traits();

// nullptr for an architecture plexus does not run.
const ArchTraits* FindArch(std::string_view name);

}  // namespace plexus
