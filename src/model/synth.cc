// WriteSyntheticModel: options -> GGUF metadata, tokenizer and seeded tensors.
#include "model/synth.h"

#include <cmath>
#include <string_view>
#include <utility>

#include "format/gguf.h"
#include "model/synth_presets.h"
#include "model/synth_vocab.h"
#include "model/synth_weights.h"

namespace plexus {
namespace {

// Logit std = output_norm weight * (std of an output-matrix element) *
// sqrt(n_embd), since the final norm makes the hidden state unit-RMS. Sharp
// models use ~20, so the gap between the top two of V logits is several
// logits (on the tiny presets, 60-63 of 64 greedy steps of a real forward
// pass had a top-1 vs top-2 margin > 1; plain models ~10-35 of 64).
constexpr float kSharpLogitStd = 20.0f;
constexpr float kPlainLogitStd = 2.0f;
// Sharp output rows also get log-normal norms (spread 0.5): the top tail of
// the logits gets heavier, so the top-1 vs top-2 gap is > 1 logit for ~95% of
// hidden states instead of ~85% (a median gap of ~13 logits at V = 512).
constexpr float kSharpRowLogSpread = 0.5f;
// Norm of a tied token_embd row (see PlanOutputScales). Its mean square,
// 0.25/d, stays an order of magnitude above the norm epsilon of the tied
// presets (d <= 2048).
constexpr float kTiedEmbdNorm = 0.5f;
constexpr float kNormNoise = 0.02f;  // relative std of norm weights around their mean (1)
constexpr float kBiasStd = 0.1f;
constexpr float kDeepSeekRouterGain = 4.0f;

struct SynthModel {
  SynthPreset preset;
  const SynthTypeSpec* type = nullptr;
  int64_t n_vocab = 0;
  bool sharp = false;
  uint64_t seed = 0;
  int64_t distinct_rows = 0;  // SynthOptions::distinct_rows
};

Status CheckShapes(const SynthPreset& p, const SynthTypeSpec& type) {
  // The mixes only add Q6_K, whose block size equals the K base type's.
  const int block = BlockSize(type.base);
  const std::pair<const char*, int64_t> dims[] = {
      {"embedding_length", p.n_embd},
      {"feed_forward_length", p.n_ff},
      {"head_count * head_dim", p.n_heads * p.head_dim},
      {"expert_feed_forward_length", p.n_experts > 0 ? p.n_ff_expert : 0},
  };
  // deepseek2's narrow matrices take llama.cpp's fallback types instead (SynthFitType).
  const bool fit = std::string_view(p.arch) == "deepseek2";
  for (const auto& [what, n] : dims)
    if (n % block != 0 && !fit)
      return Status::Errorf("synth", "type {} needs matrix rows of whole {}-element blocks, but preset '{}' has {} {}",
                            type.name, block, p.name, what, n);
  if (p.n_embd <= 0 || p.n_layers <= 0 || p.n_heads <= 0 || p.n_kv_heads <= 0 || p.head_dim <= 0 ||
      p.n_ff <= 0 || p.n_heads % p.n_kv_heads != 0 || p.head_dim % 2 != 0 || p.n_experts < 0 ||
      (p.n_experts > 0 && (p.n_experts_used <= 0 || p.n_experts_used > p.n_experts || p.n_ff_expert <= 0)))
    return Status::Errorf("synth", "preset '{}' has an invalid shape", p.name);
  const SynthDeepSeek& ds = p.ds;
  if (fit && (ds.kv_lora <= 0 || ds.rope <= 0 || ds.nope + ds.rope != p.head_dim || ds.v_dim <= 0 ||
              ds.n_groups <= 0 || p.n_experts % ds.n_groups != 0 || ds.n_dense > p.n_layers))
    return Status::Errorf("synth", "preset '{}' has an invalid deepseek2 shape", p.name);
  return Status::Ok();
}

Result<SynthModel> ResolveModel(const SynthPreset& preset, const SynthOptions& opts) {
  SynthModel m;
  m.preset = preset;
  m.type = FindSynthType(opts.type);
  if (m.type == nullptr)
    return Status::Errorf("synth", "unknown type '{}' (expected one of: {})", opts.type, SynthTypeNames());
  m.n_vocab = opts.vocab == 0 ? preset.n_vocab : opts.vocab;
  if (m.n_vocab < kSynthMinVocab || m.n_vocab > kSynthMaxVocab)
    return Status::Errorf("synth", "vocab {} out of range: need {} (3 special + 256 byte tokens) to {}",
                          m.n_vocab, kSynthMinVocab, kSynthMaxVocab);
  if (opts.layers < 0 || opts.layers > 4096)
    return Status::Errorf("synth", "layers {} out of range: need 1 to 4096 (0: the preset's {})", opts.layers,
                          preset.n_layers);
  if (opts.layers > 0) m.preset.n_layers = opts.layers;
  if (opts.distinct_rows < 0)
    return Status::Errorf("synth", "distinct rows {} out of range: need 0 (every row generated) or more",
                          opts.distinct_rows);
  m.distinct_rows = opts.distinct_rows;
  m.sharp = opts.sharp;
  m.seed = opts.seed;
  PLEXUS_RETURN_IF_ERROR(CheckShapes(m.preset, *m.type));
  return m;
}

// deepseek2's keys as llama.cpp's converter writes them (key_length = nope +
// rope, value_length = v: the layout with attn_kv_b whole).
void WriteDeepSeek2Params(const SynthPreset& p, GgufWriter* w) {
  const std::string a = p.arch;
  const SynthDeepSeek& ds = p.ds;
  auto u32 = [&](const char* key, int64_t v) { w->SetU32(a + key, static_cast<uint32_t>(v)); };
  u32(".attention.value_length", ds.v_dim);
  u32(".rope.dimension_count", ds.rope);
  if (ds.q_lora > 0) u32(".attention.q_lora_rank", ds.q_lora);
  u32(".attention.kv_lora_rank", ds.kv_lora);
  u32(".expert_shared_count", ds.n_shared);
  u32(".leading_dense_block_count", ds.n_dense);
  u32(".expert_gating_func", 2);  // sigmoid
  u32(".expert_group_count", ds.n_groups);
  u32(".expert_group_used_count", ds.n_groups_used);
  w->SetF32(a + ".expert_weights_scale", ds.weights_scale);
  w->SetBool(a + ".expert_weights_norm", true);
  if (ds.yarn_factor > 0) {
    w->SetString(a + ".rope.scaling.type", "yarn");
    w->SetF32(a + ".rope.scaling.factor", ds.yarn_factor);
    u32(".rope.scaling.original_context_length", ds.yarn_original_context);
    w->SetF32(a + ".rope.scaling.yarn_log_multiplier", ds.yarn_log_multiplier);
  }
}

void WriteHyperParams(const SynthModel& m, GgufWriter* w) {
  const SynthPreset& p = m.preset;
  const std::string a = p.arch;
  w->SetString("general.architecture", a);
  w->SetString("general.name", fmt::format("synthetic {} {} seed {}{}", p.name, m.type->name, m.seed,
                                           m.sharp ? " sharp" : ""));
  w->SetU32("general.file_type", m.type->file_type);
  w->SetU32("general.alignment", 32);
  w->SetU32(a + ".context_length", static_cast<uint32_t>(p.n_ctx));
  w->SetU32(a + ".embedding_length", static_cast<uint32_t>(p.n_embd));
  w->SetU32(a + ".block_count", static_cast<uint32_t>(p.n_layers));
  w->SetU32(a + ".feed_forward_length", static_cast<uint32_t>(p.n_ff));
  w->SetU32(a + ".attention.head_count", static_cast<uint32_t>(p.n_heads));
  w->SetU32(a + ".attention.head_count_kv", static_cast<uint32_t>(p.n_kv_heads));
  w->SetF32(a + ".attention.layer_norm_rms_epsilon", p.norm_eps);
  w->SetU32(a + ".attention.key_length", static_cast<uint32_t>(p.head_dim));
  w->SetU32(a + ".attention.value_length", static_cast<uint32_t>(p.head_dim));
  w->SetF32(a + ".rope.freq_base", p.rope_base);
  w->SetU32(a + ".rope.dimension_count", static_cast<uint32_t>(p.head_dim));
  w->SetU32(a + ".vocab_size", static_cast<uint32_t>(m.n_vocab));
  if (p.n_experts > 0) {
    w->SetU32(a + ".expert_count", static_cast<uint32_t>(p.n_experts));
    w->SetU32(a + ".expert_used_count", static_cast<uint32_t>(p.n_experts_used));
    // llama.cpp writes the expert width under its own key for qwen3moe; a
    // Mixtral (llama) file has it as feed_forward_length.
    if (a != "llama") w->SetU32(a + ".expert_feed_forward_length", static_cast<uint32_t>(p.n_ff_expert));
  }
  if (a == "deepseek2") WriteDeepSeek2Params(p, w);
}

// Real Qwen models use a byte-level BPE vocabulary; plexus' tokenizer reads
// SPM first, so synthetic files of every arch carry this SPM vocabulary.
void WriteTokenizer(int64_t n_vocab, GgufWriter* w) {
  SynthVocab vocab = BuildSynthVocab(n_vocab);
  w->SetString("tokenizer.ggml.model", "llama");
  w->SetStringArray("tokenizer.ggml.tokens", vocab.tokens);
  w->SetF32Array("tokenizer.ggml.scores", vocab.scores);
  w->SetI32Array("tokenizer.ggml.token_type", vocab.types);
  w->SetU32("tokenizer.ggml.bos_token_id", 1);
  w->SetU32("tokenizer.ggml.eos_token_id", 2);
  w->SetU32("tokenizer.ggml.unknown_token_id", 0);
  w->SetBool("tokenizer.ggml.add_bos_token", true);
  w->SetBool("tokenizer.ggml.add_eos_token", false);
}

SynthTensorPlan Matrix(std::string name, DType type, int64_t cols, int64_t rows, float std) {
  SynthTensorPlan t;
  t.name = std::move(name);
  t.type = type;
  t.cols = cols;
  t.rows = rows;
  t.std = std;
  return t;
}

SynthTensorPlan Vector(std::string name, int64_t n, float mean, float std) {
  SynthTensorPlan t = Matrix(std::move(name), DType::kF32, n, 1, std);
  t.mean = mean;
  t.is_1d = true;
  return t;
}

// An MoE FFN as llama.cpp stores it: the router ffn_gate_inp [d, E] in F32
// (llama.cpp's quantizer leaves it so), and each of gate/up/down as one 3-D
// tensor of E expert matrices in the model's matrix type.
void PlanExperts(const SynthModel& m, int64_t layer, std::vector<SynthTensorPlan>* out) {
  const SynthPreset& p = m.preset;
  const std::string b = fmt::format("blk.{}.", layer);
  const int64_t d = p.n_embd, fe = p.n_ff_expert, n = p.n_experts;
  auto type = [&](SynthTensorRole role) {
    return SynthMatrixType(*m.type, role, p.tied_embeddings, layer, p.n_layers);
  };
  const float in_d = 1.0f / std::sqrt(static_cast<float>(d));
  out->push_back(Matrix(b + "ffn_gate_inp.weight", DType::kF32, d, n, in_d));
  out->push_back(Matrix(b + "ffn_gate_exps.weight", SynthFitType(type(SynthTensorRole::kOtherMatrix), d), d, fe * n, in_d));
  out->back().n_slabs = n;
  out->push_back(Matrix(b + "ffn_up_exps.weight", SynthFitType(type(SynthTensorRole::kOtherMatrix), d), d, fe * n, in_d));
  out->back().n_slabs = n;
  out->push_back(Matrix(b + "ffn_down_exps.weight", SynthFitType(type(SynthTensorRole::kFfnDown), fe), fe, d * n,
                        1.0f / std::sqrt(static_cast<float>(fe))));
  out->back().n_slabs = n;
}

// A SwiGLU FFN `ffn_{gate,up,down}{suffix}` of width f, types fitted to the dims.
void PlanSwiGlu(const SynthModel& m, int64_t layer, const std::string& suffix, int64_t f,
                std::vector<SynthTensorPlan>* out) {
  const SynthPreset& p = m.preset;
  const std::string b = fmt::format("blk.{}.", layer);
  auto type = [&](SynthTensorRole role, int64_t cols) {
    return SynthFitType(SynthMatrixType(*m.type, role, p.tied_embeddings, layer, p.n_layers), cols);
  };
  const float in_d = 1.0f / std::sqrt(static_cast<float>(p.n_embd));
  out->push_back(Matrix(b + "ffn_gate" + suffix, type(SynthTensorRole::kOtherMatrix, p.n_embd), p.n_embd, f, in_d));
  out->push_back(Matrix(b + "ffn_up" + suffix, type(SynthTensorRole::kOtherMatrix, p.n_embd), p.n_embd, f, in_d));
  out->push_back(Matrix(b + "ffn_down" + suffix, type(SynthTensorRole::kFfnDown, f), f, p.n_embd,
                        1.0f / std::sqrt(static_cast<float>(f))));
}

// deepseek2: MLA attention, then a dense FFN (leading layers) or routed +
// shared experts with the router's score-correction bias.
void PlanDeepSeek2Layer(const SynthModel& m, int64_t layer, std::vector<SynthTensorPlan>* out) {
  const SynthPreset& p = m.preset;
  const SynthDeepSeek& ds = p.ds;
  const std::string b = fmt::format("blk.{}.", layer);
  const int64_t d = p.n_embd, h = p.n_heads;
  auto type = [&](SynthTensorRole role, int64_t cols) {
    return SynthFitType(SynthMatrixType(*m.type, role, p.tied_embeddings, layer, p.n_layers), cols);
  };
  auto inv_sqrt = [](int64_t n) { return 1.0f / std::sqrt(static_cast<float>(n)); };
  const auto other = SynthTensorRole::kOtherMatrix;
  out->push_back(Vector(b + "attn_norm.weight", d, 1, kNormNoise));
  if (ds.q_lora > 0) {
    out->push_back(Matrix(b + "attn_q_a.weight", type(other, d), d, ds.q_lora, inv_sqrt(d)));
    out->push_back(Vector(b + "attn_q_a_norm.weight", ds.q_lora, 1, kNormNoise));
    out->push_back(Matrix(b + "attn_q_b.weight", type(other, ds.q_lora), ds.q_lora, h * p.head_dim, inv_sqrt(ds.q_lora)));
  } else {
    out->push_back(Matrix(b + "attn_q.weight", type(other, d), d, h * p.head_dim, inv_sqrt(d)));
  }
  out->push_back(Matrix(b + "attn_kv_a_mqa.weight", type(other, d), d, ds.kv_lora + ds.rope, inv_sqrt(d)));
  out->push_back(Vector(b + "attn_kv_a_norm.weight", ds.kv_lora, 1, kNormNoise));
  out->push_back(Matrix(b + "attn_kv_b.weight", type(SynthTensorRole::kAttnV, ds.kv_lora), ds.kv_lora,
                        h * (ds.nope + ds.v_dim), inv_sqrt(ds.kv_lora)));
  out->push_back(Matrix(b + "attn_output.weight", type(other, h * ds.v_dim), h * ds.v_dim, d, inv_sqrt(h * ds.v_dim)));
  out->push_back(Vector(b + "ffn_norm.weight", d, 1, kNormNoise));
  if (layer < ds.n_dense) return PlanSwiGlu(m, layer, ".weight", p.n_ff, out);
  PlanExperts(m, layer, out);
  // Router logits of std ~4 rather than ~1: sigmoid scores squeeze logit gaps
  // by up to 4x, and top-4 of 16 in 2 of 4 groups makes many choices per
  // token; wider logits keep routing clear of near-ties that rounding (TP
  // sum order, int8 activations) could flip.
  for (SynthTensorPlan& t : *out)
    if (t.name == b + "ffn_gate_inp.weight") t.std *= kDeepSeekRouterGain;
  // Spread like the sigmoid scores' own differences, so the bias changes some choices.
  out->push_back(Vector(b + "exp_probs_b.bias", p.n_experts, 0, 0.05f));
  if (ds.n_shared > 0) PlanSwiGlu(m, layer, "_shexp.weight", ds.n_shared * p.n_ff_expert, out);
}

// Matrices: std 1/sqrt(cols) keeps every projection's output O(1) for O(1) inputs.
void PlanLayer(const SynthModel& m, int64_t layer, std::vector<SynthTensorPlan>* out) {
  const SynthPreset& p = m.preset;
  const std::string b = fmt::format("blk.{}.", layer);
  const int64_t d = p.n_embd, q_dim = p.n_heads * p.head_dim, kv_dim = p.n_kv_heads * p.head_dim;
  auto type = [&](SynthTensorRole role) {
    return SynthMatrixType(*m.type, role, p.tied_embeddings, layer, p.n_layers);
  };
  const float in_d = 1.0f / std::sqrt(static_cast<float>(d));
  out->push_back(Vector(b + "attn_norm.weight", d, 1, kNormNoise));
  out->push_back(Matrix(b + "attn_q.weight", type(SynthTensorRole::kOtherMatrix), d, q_dim, in_d));
  out->push_back(Matrix(b + "attn_k.weight", type(SynthTensorRole::kOtherMatrix), d, kv_dim, in_d));
  out->push_back(Matrix(b + "attn_v.weight", type(SynthTensorRole::kAttnV), d, kv_dim, in_d));
  if (p.attn_bias) {
    out->push_back(Vector(b + "attn_q.bias", q_dim, 0, kBiasStd));
    out->push_back(Vector(b + "attn_k.bias", kv_dim, 0, kBiasStd));
    out->push_back(Vector(b + "attn_v.bias", kv_dim, 0, kBiasStd));
  }
  if (p.qk_norm) {
    out->push_back(Vector(b + "attn_q_norm.weight", p.head_dim, 1, kNormNoise));
    out->push_back(Vector(b + "attn_k_norm.weight", p.head_dim, 1, kNormNoise));
  }
  out->push_back(Matrix(b + "attn_output.weight", type(SynthTensorRole::kOtherMatrix), q_dim, d,
                        1.0f / std::sqrt(static_cast<float>(q_dim))));
  out->push_back(Vector(b + "ffn_norm.weight", d, 1, kNormNoise));
  if (p.n_experts > 0) return PlanExperts(m, layer, out);
  out->push_back(Matrix(b + "ffn_gate.weight", type(SynthTensorRole::kOtherMatrix), d, p.n_ff, in_d));
  out->push_back(Matrix(b + "ffn_up.weight", type(SynthTensorRole::kOtherMatrix), d, p.n_ff, in_d));
  out->push_back(Matrix(b + "ffn_down.weight", type(SynthTensorRole::kFfnDown), p.n_ff, d,
                        1.0f / std::sqrt(static_cast<float>(p.n_ff))));
}

// How the logit scale is split between the output matrix and output_norm.
// Logit std = output_norm weight * (output row std) * sqrt(n_embd).
struct OutputScales {
  float embd_std;         // token_embd elements
  float out_std;          // output.weight elements (untied only)
  float out_norm_mean;    // output_norm.weight
  float row_log_spread;   // of the output matrix's rows (sharp only)
};

OutputScales PlanOutputScales(const SynthModel& m) {
  const float logit_std = m.sharp ? kSharpLogitStd : kPlainLogitStd;
  const float sqrt_d = std::sqrt(static_cast<float>(m.preset.n_embd));
  const float spread = m.sharp ? kSharpRowLogSpread : 0.0f;
  // Untied: unit-std input embeddings, the scale in output.weight.
  if (!m.preset.tied_embeddings) return {1.0f, logit_std / sqrt_d, 1.0f, spread};
  // Tied: token_embd is also the output matrix. Were the scale in it, a
  // token's own row would dominate the next logits (e_t . e_t is large) and
  // greedy decoding would repeat the input token; so rows have norm
  // kTiedEmbdNorm and output_norm carries the scale.
  return {kTiedEmbdNorm / sqrt_d, 0.0f, logit_std / kTiedEmbdNorm, spread};
}

// Tensor order follows llama.cpp's converter: embeddings, rope_freqs, blocks, output.
std::vector<SynthTensorPlan> PlanTensors(const SynthModel& m) {
  const SynthPreset& p = m.preset;
  auto type = [&](SynthTensorRole role) { return SynthMatrixType(*m.type, role, p.tied_embeddings, 0, p.n_layers); };
  const OutputScales scales = PlanOutputScales(m);
  std::vector<SynthTensorPlan> plans;
  plans.push_back(Matrix("token_embd.weight", type(SynthTensorRole::kTokenEmbd), p.n_embd, m.n_vocab,
                         scales.embd_std));
  if (p.tied_embeddings) plans.back().row_log_spread = scales.row_log_spread;
  if (p.rope_scaling.enabled) {
    SynthTensorPlan freqs = Vector("rope_freqs.weight", p.head_dim / 2, 0, 0);
    freqs.values = Llama3RopeFactors(p.rope_scaling, p.rope_base, p.head_dim);
    plans.push_back(std::move(freqs));
  }
  for (int64_t layer = 0; layer < p.n_layers; ++layer) {
    if (std::string_view(p.arch) == "deepseek2") PlanDeepSeek2Layer(m, layer, &plans);
    else PlanLayer(m, layer, &plans);
  }
  plans.push_back(Vector("output_norm.weight", p.n_embd, scales.out_norm_mean, scales.out_norm_mean * kNormNoise));
  if (!p.tied_embeddings) {
    plans.push_back(Matrix("output.weight", type(SynthTensorRole::kOutput), p.n_embd, m.n_vocab, scales.out_std));
    plans.back().row_log_spread = scales.row_log_spread;
  }
  return plans;
}

}  // namespace

Status WriteSyntheticModelWithPreset(const SynthPreset& preset, const SynthOptions& opts,
                                     const std::string& path) {
  PLEXUS_ASSIGN_OR_RETURN(SynthModel model, ResolveModel(preset, opts));
  GgufWriter writer;
  writer.set_alignment(32);
  WriteHyperParams(model, &writer);
  WriteTokenizer(model.n_vocab, &writer);
  ThreadPool pool(opts.threads);
  // Each tensor is generated (its rows in parallel) when the writer reaches
  // it, so memory holds one tensor, not the model.
  std::vector<SynthTensorPlan> plans = PlanTensors(model);
  uint64_t total = 0, done = 0;
  for (const SynthTensorPlan& plan : plans) total += RowBytes(plan.type, plan.cols) * static_cast<uint64_t>(plan.rows);
  for (SynthTensorPlan& plan : plans) {
    const std::string name = plan.name;
    const DType type = plan.type;
    const std::vector<int64_t> shape = plan.shape();
    GgufWriter::TensorProducer produce = [plan = std::move(plan), &model, &pool, &opts, &done, total] {
      std::vector<uint8_t> bytes = GenerateSynthTensor(plan, model.seed, &pool, model.distinct_rows);
      done += bytes.size();
      if (opts.progress) opts.progress(done, total);
      return bytes;
    };
    PLEXUS_RETURN_IF_ERROR(writer.AddProducedTensor(name, type, shape, std::move(produce)).WithContext("[synth] " + name));
  }
  return writer.WriteFile(path).WithContext(fmt::format("[synth] writing {}", path));
}

Status WriteSyntheticModel(const SynthOptions& opts, const std::string& path) {
  PLEXUS_ASSIGN_OR_RETURN(SynthPreset preset, ResolveSynthPreset(opts));
  return WriteSyntheticModelWithPreset(preset, opts, path);
}

}  // namespace plexus
