#include "model/synth_presets.h"

#include <strings.h>

#include <array>

namespace plexus {
namespace {

constexpr SynthRopeScaling kNoScaling{};
// Llama 3.1 / 3.2 configs: rope_scaling {factor, low 1, high 4, original 8192}.
constexpr SynthRopeScaling kLlama3Scaling(float factor) { return {true, factor, 1.0f, 4.0f, 8192}; }

// The shapes follow the real models' config.json. Tiny dims are multiples of
// 256 so every K type works.
// clang-format off
constexpr std::array<SynthPreset, 12> kPresets = {{
  // name          arch     embd  layers heads kv  head_dim  ff    vocab   ctx     rope_base  eps   tied   bias   qk_norm  scaling
  {"tiny-llama",  "llama",   256,  4,    4,    2,  64,   512,   512,    4096,   500000.0f, 1e-5f, false, false, false, kLlama3Scaling(8)},
  {"tiny-qwen2",  "qwen2",   256,  4,    4,    2,  64,   512,   512,    4096,  1000000.0f, 1e-6f, true,  true,  false, kNoScaling},
  // h * head_dim = 512 != embd, as in the real qwen3 models.
  {"tiny-qwen3",  "qwen3",   256,  4,    8,    4,  64,   512,   512,    4096,  1000000.0f, 1e-6f, true,  false, true,  kNoScaling},
  {"llama3.2-1b", "llama",  2048, 16,   32,    8,  64,  8192, 128256, 131072,   500000.0f, 1e-5f, true,  false, false, kLlama3Scaling(32)},
  {"llama3.1-8b", "llama",  4096, 32,   32,    8, 128, 14336, 128256, 131072,   500000.0f, 1e-5f, false, false, false, kLlama3Scaling(8)},
  {"qwen3-0.6b",  "qwen3",  1024, 28,   16,    8, 128,  3072, 151936,  40960,  1000000.0f, 1e-6f, true,  false, true,  kNoScaling},
  // Mixtures of experts; the last three columns: experts, used per token, expert FFN width.
  {"tiny-qwen3moe", "qwen3moe", 256, 4,  8,    4,  64,   512,   512,    4096,  1000000.0f, 1e-6f, false, false, true,  kNoScaling, 8, 2, 256},
  {"tiny-mixtral", "llama",   256,  4,    4,    2,  64,   256,   512,    4096,  1000000.0f, 1e-5f, false, false, false, kNoScaling, 8, 2, 256},
  // Qwen3-30B-A3B config.json: moe_intermediate_size 768, intermediate_size 6144 (unused: no dense layer).
  {"qwen3-30b-a3b", "qwen3moe", 2048, 48, 32,   4, 128,  6144, 151936,  40960,  1000000.0f, 1e-6f, false, false, true,  kNoScaling, 128, 8, 768},
  {"mixtral-8x7b", "llama",  4096, 32,   32,    8, 128, 14336,  32000,  32768,  1000000.0f, 1e-5f, false, false, false, kNoScaling, 8, 2, 14336},
  // deepseek2; head_dim = nope + rope; the last column: q_lora, kv_lora, nope,
  // rope, v, shared experts, dense layers, groups, groups used, routed scale,
  // YaRN factor, original context, log multiplier. Tiny: 16 experts in 4
  // groups, 2 groups used, top 4, one shared, one dense layer, YaRN x4 over 512.
  {"tiny-deepseek2", "deepseek2", 256, 4, 8,   8,  48,   512,   512,    4096,    10000.0f, 1e-6f, false, false, false, kNoScaling, 16, 4, 128,
   {64, 64, 32, 16, 32, 1, 1, 4, 2, 2.5f, 4.0f, 512, 0.1f}},
  // DeepSeek-V3 / R1 config.json (not for writing: 671B parameters).
  {"deepseek-v3", "deepseek2", 7168, 61, 128, 128, 192, 18432, 129280, 163840,   10000.0f, 1e-6f, false, false, false, kNoScaling, 256, 8, 2048,
   {1536, 512, 128, 64, 128, 1, 3, 8, 4, 2.5f, 40.0f, 4096, 0.1f}},
}};

// general.file_type is llama.cpp's LLAMA_FTYPE: ALL_F32=0, MOSTLY_F16=1,
// Q4_0=2, Q4_1=3, Q8_0=7, Q5_0=8, Q5_1=9, Q4_K_S=14, Q4_K_M=15, Q5_K_S=16,
// Q5_K_M=17, Q6_K=18, BF16=32. Plain q4_k / q5_k (every matrix one type) are
// labelled Q4_K_S / Q5_K_S, the nearest llama.cpp ftype.
constexpr std::array<SynthTypeSpec, 13> kTypes = {{
  {"f32",     0, DType::kF32,  false},
  {"f16",     1, DType::kF16,  false},
  {"bf16",   32, DType::kBF16, false},
  {"q4_0",    2, DType::kQ4_0, false},
  {"q4_1",    3, DType::kQ4_1, false},
  {"q5_0",    8, DType::kQ5_0, false},
  {"q5_1",    9, DType::kQ5_1, false},
  {"q8_0",    7, DType::kQ8_0, false},
  {"q4_k",   14, DType::kQ4_K, false},
  {"q5_k",   16, DType::kQ5_K, false},
  {"q6_k",   18, DType::kQ6_K, false},
  {"q4_k_m", 15, DType::kQ4_K, true},
  {"q5_k_m", 17, DType::kQ5_K, true},
}};
// clang-format on

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string PresetList() {
  std::string out;
  for (const auto& p : kPresets) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

// llama.cpp's use_more_bits(): the first and last eighth of the layers, and
// every third layer between, get more bits in the _M mixes.
bool UseMoreBits(int64_t layer, int64_t n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

}  // namespace

std::vector<std::string> SynthPresetNames() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.emplace_back(p.name);
  return names;
}

const SynthPreset* FindSynthPreset(std::string_view name) {
  for (const auto& p : kPresets)
    if (name == p.name) return &p;
  return nullptr;
}

Result<SynthPreset> ResolveSynthPreset(const SynthOptions& opts) {
  if (!opts.arch.empty() && opts.arch != "llama" && opts.arch != "qwen2" && opts.arch != "qwen3" &&
      opts.arch != "qwen3moe" && opts.arch != "deepseek2")
    return Status::Errorf("synth", "unknown arch '{}' (expected llama, qwen2, qwen3, qwen3moe or deepseek2)", opts.arch);
  std::string name = opts.preset;
  if (name.empty()) name = "tiny-" + (opts.arch.empty() ? std::string("llama") : opts.arch);
  const SynthPreset* preset = FindSynthPreset(name);
  if (preset == nullptr)
    return Status::Errorf("synth", "unknown preset '{}' (expected one of: {})", name, PresetList());
  if (!opts.arch.empty() && opts.arch != preset->arch)
    return Status::Errorf("synth", "preset '{}' is a {} model but arch is '{}'; pick a {} preset or leave arch empty",
                          name, preset->arch, opts.arch, opts.arch);
  SynthPreset out = *preset;
  if (opts.layers != 0) {
    if (opts.layers < 1 || opts.layers > 1024)
      return Status::Errorf("synth", "layers {} is out of range (1 to 1024, or 0 for the preset's {})", opts.layers,
                            preset->n_layers);
    out.n_layers = opts.layers;
  }
  return out;
}

const SynthTypeSpec* FindSynthType(std::string_view name) {
  for (const auto& t : kTypes)
    if (EqualsIgnoreCase(name, t.name)) return &t;
  return nullptr;
}

std::string SynthTypeNames() {
  std::string out;
  for (const auto& t : kTypes) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

DType SynthFitType(DType type, int64_t cols) {
  if (cols % BlockSize(type) == 0) return type;
  DType fallback = DType::kF16;
  if (type == DType::kQ4_K) fallback = DType::kQ5_0;
  if (type == DType::kQ5_K) fallback = DType::kQ5_1;
  if (type == DType::kQ6_K) fallback = DType::kQ8_0;
  return cols % BlockSize(fallback) == 0 ? fallback : DType::kF16;
}

// The mixes follow llama.cpp's llama_tensor_get_type() for Q4_K_M/Q5_K_M:
// output.weight (or token_embd when tied, since it is then the output matrix)
// is Q6_K; attn_v and ffn_down are Q6_K in the UseMoreBits layers (about half
// of them); everything else is the base type. Plain types use one type for
// every matrix (llama.cpp would still give output.weight Q6_K; we do not).
DType SynthMatrixType(const SynthTypeSpec& spec, SynthTensorRole role, bool tied_embeddings,
                      int64_t layer, int64_t n_layers) {
  if (!spec.k_mix) return spec.base;
  switch (role) {
    case SynthTensorRole::kOutput:
      return DType::kQ6_K;
    case SynthTensorRole::kTokenEmbd:
      return tied_embeddings ? DType::kQ6_K : spec.base;
    case SynthTensorRole::kAttnV:
    case SynthTensorRole::kFfnDown:
      return UseMoreBits(layer, n_layers) ? DType::kQ6_K : spec.base;
    case SynthTensorRole::kOtherMatrix:
      break;
  }
  return spec.base;
}

}  // namespace plexus
