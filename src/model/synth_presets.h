// The shapes `plexus synth` can make and the weight types it can write, as
// tables. Internal to src/model/synth*; tests use it to build odd shapes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "model/synth.h"
#include "tensor/dtype.h"

namespace plexus {

// llama3-style rope scaling ("rope_type": "llama3" in HF configs).
struct SynthRopeScaling {
  bool enabled = false;
  float factor = 1;
  float low_freq_factor = 1;
  float high_freq_factor = 4;
  int64_t original_context = 8192;  // original_max_position_embeddings
};

// deepseek2 (DeepSeek-V3 family): multi-head latent attention, shared
// experts, leading dense layers, group-limited sigmoid routing, YaRN. The
// preset's head_dim is nope + rope and n_ff the dense layers' width.
struct SynthDeepSeek {
  int64_t q_lora = 0;
  int64_t kv_lora = 0;
  int64_t nope = 0;
  int64_t rope = 0;
  int64_t v_dim = 0;
  int64_t n_shared = 0;       // shared experts (width n_shared * n_ff_expert)
  int64_t n_dense = 0;        // leading dense layers
  int64_t n_groups = 1;       // expert groups
  int64_t n_groups_used = 1;  // groups a token may route into
  float weights_scale = 1;    // routed_scaling_factor
  float yarn_factor = 0;      // 0: no YaRN
  int64_t yarn_original_context = 0;
  float yarn_log_multiplier = 0;  // 0.1 * mscale_all_dim
};

struct SynthPreset {
  const char* name;
  const char* arch;  // general.architecture: llama | qwen2 | qwen3 | qwen3moe | deepseek2
  int64_t n_embd;
  int64_t n_layers;
  int64_t n_heads;
  int64_t n_kv_heads;
  int64_t head_dim;
  int64_t n_ff;
  int64_t n_vocab;
  int64_t n_ctx;
  float rope_base;
  float norm_eps;
  bool tied_embeddings;  // no output.weight; token_embd is the output matrix
  bool attn_bias;        // qwen2: q/k/v biases
  bool qk_norm;          // qwen3: per-head RMS norm on q and k
  SynthRopeScaling rope_scaling;
  // Mixture of experts (0: dense). The expert FFNs replace the dense one;
  // a llama preset with experts is Mixtral (whose n_ff is the expert width).
  int64_t n_experts = 0;
  int64_t n_experts_used = 0;
  int64_t n_ff_expert = 0;
  SynthDeepSeek ds{};
};

// nullptr when unknown.
const SynthPreset* FindSynthPreset(std::string_view name);
// The preset to use for `opts` (resolving empty preset/arch), or an error
// naming the unknown preset or the arch that does not match it.
Result<SynthPreset> ResolveSynthPreset(const SynthOptions& opts);

// Which tensors get which type, for one `--type` value.
enum class SynthTensorRole { kTokenEmbd, kOutput, kAttnV, kFfnDown, kOtherMatrix };

struct SynthTypeSpec {
  const char* name;    // the --type value
  uint32_t file_type;  // general.file_type (llama.cpp's LLAMA_FTYPE_*)
  DType base;          // the type of most matrices
  bool k_mix;          // q4_k_m / q5_k_m: some tensors get Q6_K
};

// nullptr when unknown; case-insensitive.
const SynthTypeSpec* FindSynthType(std::string_view name);
// Comma-separated list of the accepted --type values (for error messages).
std::string SynthTypeNames();
// `type`, or where a row of `cols` is not whole blocks of it, llama.cpp's
// fallback (q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0, others f16).
DType SynthFitType(DType type, int64_t cols);
// The type of a 2-D matrix. `layer`/`n_layers` matter for the mixes only.
DType SynthMatrixType(const SynthTypeSpec& spec, SynthTensorRole role, bool tied_embeddings,
                      int64_t layer, int64_t n_layers);

// WriteSyntheticModel() for a shape outside the table (tests use it for odd
// dims); opts.arch and opts.preset are ignored.
Status WriteSyntheticModelWithPreset(const SynthPreset& preset, const SynthOptions& opts,
                                     const std::string& path);

}  // namespace plexus
