// Synthetic GGUF models: shapes, keys, determinism, option errors and weight statistics.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "format/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "model/synth_presets.h"
#include "model/synth_vocab.h"
#include "model/synth_weights.h"
#include "tensor/quant.h"

namespace plexus {
namespace {

class SynthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("plexus_synth_{}_{}", getpid(), ::testing::UnitTest::GetInstance()->random_seed());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::unique_ptr<GgufFile> WriteAndOpen(const SynthOptions& opts, const std::string& name) {
    Status st = WriteSyntheticModel(opts, Path(name));
    EXPECT_TRUE(st.ok()) << st.message();
    auto file = GgufFile::Open(Path(name));
    EXPECT_TRUE(file.ok()) << file.status().message();
    return file.ok() ? std::move(file).value() : nullptr;
  }

  std::filesystem::path dir_;
};

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> Dequantize(const GgufFile& file, const std::string& name) {
  const GgufTensorInfo* info = file.FindTensor(name);
  EXPECT_NE(info, nullptr) << name;
  if (info == nullptr) return {};
  TensorView view = file.View(*info);
  std::vector<float> out(static_cast<size_t>(view.rows * view.cols));
  for (int64_t r = 0; r < view.rows; ++r) DequantizeRow(view.type, view.row(r), out.data() + r * view.cols, view.cols);
  return out;
}

struct Stats {
  double mean = 0, std = 0;
};
Stats ComputeStats(const std::vector<float>& v) {
  Stats s;
  for (float x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (float x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  return s;
}

void ExpectTensor(const GgufFile& file, const std::string& name, std::vector<int64_t> shape, DType type) {
  const GgufTensorInfo* info = file.FindTensor(name);
  ASSERT_NE(info, nullptr) << name;
  EXPECT_EQ(info->shape, shape) << name;
  EXPECT_EQ(info->type, type) << name << " is " << DTypeName(info->type);
}

int64_t GetInt(const GgufFile& file, const std::string& key) {
  auto v = file.GetInt(key);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? v.value() : -1;
}

// Checks every key and tensor a preset/type should produce.
void ExpectModel(const GgufFile& f, const SynthPreset& p, const SynthTypeSpec& spec) {
  const std::string a = p.arch;
  EXPECT_EQ(f.GetString("general.architecture").value(), a);
  EXPECT_EQ(GetInt(f, "general.file_type"), static_cast<int64_t>(spec.file_type));
  EXPECT_EQ(GetInt(f, "general.alignment"), 32);
  EXPECT_EQ(GetInt(f, a + ".embedding_length"), p.n_embd);
  EXPECT_EQ(GetInt(f, a + ".block_count"), p.n_layers);
  EXPECT_EQ(GetInt(f, a + ".feed_forward_length"), p.n_ff);
  EXPECT_EQ(GetInt(f, a + ".attention.head_count"), p.n_heads);
  EXPECT_EQ(GetInt(f, a + ".attention.head_count_kv"), p.n_kv_heads);
  EXPECT_EQ(GetInt(f, a + ".attention.key_length"), p.head_dim);
  EXPECT_EQ(GetInt(f, a + ".rope.dimension_count"), p.head_dim);
  EXPECT_EQ(GetInt(f, a + ".vocab_size"), p.n_vocab);
  if (p.n_experts > 0) {
    EXPECT_EQ(GetInt(f, a + ".expert_count"), p.n_experts);
    EXPECT_EQ(GetInt(f, a + ".expert_used_count"), p.n_experts_used);
    // Mixtral (llama) carries the expert width as feed_forward_length.
    if (a != "llama") EXPECT_EQ(GetInt(f, a + ".expert_feed_forward_length"), p.n_ff_expert);
  }
  EXPECT_FLOAT_EQ(f.GetFloat(a + ".rope.freq_base").value(), p.rope_base);
  EXPECT_FLOAT_EQ(f.GetFloat(a + ".attention.layer_norm_rms_epsilon").value(), p.norm_eps);
  EXPECT_EQ(f.GetString("tokenizer.ggml.model").value(), "llama");
  EXPECT_EQ(f.Find("tokenizer.ggml.tokens")->array_size(), static_cast<size_t>(p.n_vocab));
  EXPECT_EQ(GetInt(f, "tokenizer.ggml.bos_token_id"), 1);
  EXPECT_TRUE(f.GetBool("tokenizer.ggml.add_bos_token").value());

  const int64_t d = p.n_embd, q = p.n_heads * p.head_dim, kv = p.n_kv_heads * p.head_dim;
  auto mt = [&](SynthTensorRole role, int64_t layer) {
    return SynthMatrixType(spec, role, p.tied_embeddings, layer, p.n_layers);
  };
  size_t expected = 2 + (p.tied_embeddings ? 0 : 1) + (p.rope_scaling.enabled ? 1 : 0);
  ExpectTensor(f, "token_embd.weight", {d, p.n_vocab}, mt(SynthTensorRole::kTokenEmbd, 0));
  ExpectTensor(f, "output_norm.weight", {d}, DType::kF32);
  if (!p.tied_embeddings) ExpectTensor(f, "output.weight", {d, p.n_vocab}, mt(SynthTensorRole::kOutput, 0));
  if (p.rope_scaling.enabled) ExpectTensor(f, "rope_freqs.weight", {p.head_dim / 2}, DType::kF32);
  for (int64_t l = 0; l < p.n_layers; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    const DType other = mt(SynthTensorRole::kOtherMatrix, l);
    ExpectTensor(f, b + "attn_norm.weight", {d}, DType::kF32);
    ExpectTensor(f, b + "attn_q.weight", {d, q}, other);
    ExpectTensor(f, b + "attn_k.weight", {d, kv}, other);
    ExpectTensor(f, b + "attn_v.weight", {d, kv}, mt(SynthTensorRole::kAttnV, l));
    ExpectTensor(f, b + "attn_output.weight", {q, d}, other);
    ExpectTensor(f, b + "ffn_norm.weight", {d}, DType::kF32);
    if (p.n_experts > 0) {  // router in F32, experts as 3-D stacks [in, out, E]
      const int64_t fe = p.n_ff_expert, n = p.n_experts;
      ExpectTensor(f, b + "ffn_gate_inp.weight", {d, n}, DType::kF32);
      ExpectTensor(f, b + "ffn_gate_exps.weight", {d, fe, n}, other);
      ExpectTensor(f, b + "ffn_up_exps.weight", {d, fe, n}, other);
      ExpectTensor(f, b + "ffn_down_exps.weight", {fe, d, n}, mt(SynthTensorRole::kFfnDown, l));
      expected += 1;
    } else {
      ExpectTensor(f, b + "ffn_gate.weight", {d, p.n_ff}, other);
      ExpectTensor(f, b + "ffn_up.weight", {d, p.n_ff}, other);
      ExpectTensor(f, b + "ffn_down.weight", {p.n_ff, d}, mt(SynthTensorRole::kFfnDown, l));
    }
    expected += 9;
    if (p.attn_bias) {
      ExpectTensor(f, b + "attn_q.bias", {q}, DType::kF32);
      ExpectTensor(f, b + "attn_k.bias", {kv}, DType::kF32);
      ExpectTensor(f, b + "attn_v.bias", {kv}, DType::kF32);
      expected += 3;
    }
    if (p.qk_norm) {
      ExpectTensor(f, b + "attn_q_norm.weight", {p.head_dim}, DType::kF32);
      ExpectTensor(f, b + "attn_k_norm.weight", {p.head_dim}, DType::kF32);
      expected += 2;
    }
  }
  EXPECT_EQ(f.tensors().size(), expected);
}

TEST_F(SynthTest, PresetNamesListTheTable) {
  std::vector<std::string> names = SynthPresetNames();
  for (const char* want : {"tiny-llama", "tiny-qwen2", "tiny-qwen3", "llama3.2-1b", "llama3.1-8b", "qwen3-0.6b"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  EXPECT_EQ(FindSynthPreset("qwen3-0.6b")->head_dim, 128);
  EXPECT_TRUE(FindSynthPreset("llama3.2-1b")->tied_embeddings);
  EXPECT_FALSE(FindSynthPreset("llama3.1-8b")->tied_embeddings);
  // The MoE shapes of Qwen3-30B-A3B and Mixtral-8x7B (config.json).
  const SynthPreset* qwen = FindSynthPreset("qwen3-30b-a3b");
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ(std::string(qwen->arch), "qwen3moe");
  EXPECT_EQ(qwen->n_layers, 48);
  EXPECT_EQ(qwen->n_experts, 128);
  EXPECT_EQ(qwen->n_experts_used, 8);
  EXPECT_EQ(qwen->n_ff_expert, 768);
  const SynthPreset* mixtral = FindSynthPreset("mixtral-8x7b");
  ASSERT_NE(mixtral, nullptr);
  EXPECT_EQ(std::string(mixtral->arch), "llama");
  EXPECT_EQ(mixtral->n_experts, 8);
  EXPECT_EQ(mixtral->n_experts_used, 2);
  EXPECT_EQ(mixtral->n_ff_expert, mixtral->n_ff);
}

TEST_F(SynthTest, TinyPresetsInManyTypesHaveTheExpectedTensorsAndKeys) {
  for (const char* preset : {"tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-qwen3moe", "tiny-mixtral"}) {
    for (const char* type : {"f32", "f16", "bf16", "q4_0", "q5_1", "q8_0", "q4_k", "q6_k", "q4_k_m"}) {
      SCOPED_TRACE(fmt::format("{} {}", preset, type));
      SynthOptions opts;
      opts.preset = preset;
      opts.arch = "";
      opts.type = type;
      auto file = WriteAndOpen(opts, fmt::format("{}-{}.gguf", preset, type));
      ASSERT_NE(file, nullptr);
      ExpectModel(*file, *FindSynthPreset(preset), *FindSynthType(type));
    }
  }
}

// deepseek2: in every type the file loads (every tensor of the expected shape),
// and matrices too narrow for a K-type's 256-blocks take llama.cpp's fallback.
TEST_F(SynthTest, TinyDeepSeek2LoadsInEveryType) {
  for (const char* type : {"f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k",
                           "q4_k_m", "q5_k_m"}) {
    SCOPED_TRACE(type);
    SynthOptions opts;
    opts.preset = "tiny-deepseek2";
    opts.arch = "deepseek2";
    opts.type = type;
    std::shared_ptr<const GgufFile> file = WriteAndOpen(opts, fmt::format("tiny-deepseek2-{}.gguf", type));
    ASSERT_NE(file, nullptr);
    auto config = ReadModelConfig(*file);
    ASSERT_TRUE(config.ok()) << config.status().message();
    auto model = Model::Load(file, FullShard(*config));
    ASSERT_TRUE(model.ok()) << model.status().message();
    const DType base = FindSynthType(type)->base;
    EXPECT_EQ(file->FindTensor("blk.1.attn_q_b.weight")->type, SynthFitType(base, 64));  // cols = q_lora
    EXPECT_EQ(file->FindTensor("blk.1.ffn_down_exps.weight")->type, SynthFitType(base, 128));
    EXPECT_EQ(file->FindTensor("blk.1.exp_probs_b.bias")->type, DType::kF32);
    EXPECT_EQ(file->FindTensor("blk.0.ffn_gate_inp.weight"), nullptr);  // the leading dense layer
    EXPECT_NE(file->FindTensor("blk.0.ffn_gate.weight"), nullptr);
  }
  EXPECT_EQ(SynthFitType(DType::kQ4_K, 64), DType::kQ5_0);
  EXPECT_EQ(SynthFitType(DType::kQ6_K, 128), DType::kQ8_0);
  EXPECT_EQ(SynthFitType(DType::kQ4_K, 512), DType::kQ4_K);
  const SynthPreset* v3 = FindSynthPreset("deepseek-v3");  // DeepSeek-V3 config.json
  ASSERT_NE(v3, nullptr);
  EXPECT_EQ(v3->n_layers, 61);
  EXPECT_EQ(v3->n_experts, 256);
  EXPECT_EQ(v3->ds.kv_lora, 512);
  EXPECT_EQ(v3->ds.n_dense, 3);
}

TEST_F(SynthTest, Q4KMGivesQ6KToOutputAndHalfTheLayers) {
  const SynthTypeSpec& spec = *FindSynthType("q4_k_m");
  EXPECT_EQ(SynthMatrixType(spec, SynthTensorRole::kOutput, false, 0, 32), DType::kQ6_K);
  EXPECT_EQ(SynthMatrixType(spec, SynthTensorRole::kTokenEmbd, true, 0, 32), DType::kQ6_K);
  EXPECT_EQ(SynthMatrixType(spec, SynthTensorRole::kTokenEmbd, false, 0, 32), DType::kQ4_K);
  EXPECT_EQ(SynthMatrixType(spec, SynthTensorRole::kOtherMatrix, true, 0, 32), DType::kQ4_K);
  int n_q6 = 0;
  for (int l = 0; l < 32; ++l) n_q6 += SynthMatrixType(spec, SynthTensorRole::kAttnV, false, l, 32) == DType::kQ6_K;
  EXPECT_GE(n_q6, 12);
  EXPECT_LE(n_q6, 20);
}

TEST_F(SynthTest, SameSeedSameBytesAcrossThreadCounts) {
  SynthOptions opts;
  opts.type = "q4_k_m";
  opts.seed = 42;
  opts.threads = 1;
  ASSERT_TRUE(WriteSyntheticModel(opts, Path("a.gguf")).ok());
  opts.threads = 2;
  ASSERT_TRUE(WriteSyntheticModel(opts, Path("b.gguf")).ok());
  opts.seed = 43;
  ASSERT_TRUE(WriteSyntheticModel(opts, Path("c.gguf")).ok());
  std::vector<uint8_t> a = ReadBytes(Path("a.gguf")), b = ReadBytes(Path("b.gguf")), c = ReadBytes(Path("c.gguf"));
  ASSERT_GT(a.size(), 100000u);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), c.size());  // the name holds the seed: 42 and 43 have the same length
  EXPECT_NE(a, c);
}

TEST_F(SynthTest, DifferentSeedsGiveDifferentWeights) {
  SynthOptions opts;
  opts.seed = 1;
  auto one = WriteAndOpen(opts, "s1.gguf");
  opts.seed = 2;
  auto two = WriteAndOpen(opts, "s2.gguf");
  ASSERT_TRUE(one && two);
  for (const char* name : {"token_embd.weight", "blk.1.ffn_down.weight", "output_norm.weight"})
    EXPECT_NE(Dequantize(*one, name), Dequantize(*two, name)) << name;
}

void ExpectError(const SynthOptions& opts, const std::string& path, const std::string& needle) {
  Status st = WriteSyntheticModel(opts, path);
  ASSERT_FALSE(st.ok()) << "expected an error mentioning " << needle;
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  EXPECT_EQ(st.message().rfind("[synth]", 0), 0u) << st.message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(SynthTest, BadOptionsNameTheBadValue) {
  SynthOptions opts;
  opts.preset = "tiny-gpt";
  ExpectError(opts, Path("x.gguf"), "unknown preset 'tiny-gpt'");
  opts = {};
  opts.arch = "mamba";
  ExpectError(opts, Path("x.gguf"), "unknown arch 'mamba'");
  opts = {};
  opts.type = "q3_k";
  ExpectError(opts, Path("x.gguf"), "unknown type 'q3_k'");
  opts = {};
  opts.arch = "qwen3";  // preset stays tiny-llama
  ExpectError(opts, Path("x.gguf"), "is a llama model but arch is 'qwen3'");
  opts = {};
  opts.vocab = 100;
  ExpectError(opts, Path("x.gguf"), "vocab 100");
  opts = {};
  opts.layers = -2;
  ExpectError(opts, Path("x.gguf"), "layers -2");
  opts = {};
  opts.distinct_rows = -1;
  ExpectError(opts, Path("x.gguf"), "distinct rows -1");
}

TEST_F(SynthTest, ProgressCountsEveryTensorByteOnce) {
  SynthOptions opts;
  opts.type = "q4_k_m";
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  opts.progress = [&calls](uint64_t done, uint64_t total) { calls.emplace_back(done, total); };
  auto file = WriteAndOpen(opts, "p.gguf");
  ASSERT_TRUE(file);
  uint64_t tensor_bytes = 0;
  for (const GgufTensorInfo& info : file->tensors()) tensor_bytes += file->View(info).row_bytes * file->View(info).rows;
  ASSERT_EQ(calls.size(), file->tensors().size());
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].second, tensor_bytes);
    if (i > 0) EXPECT_GT(calls[i].first, calls[i - 1].first);
  }
  EXPECT_EQ(calls.back().first, tensor_bytes);
}

// --distinct-rows: every matrix's first N rows are those of the full file, and
// each later row repeats one of them; tensors of N rows or fewer are whole.
TEST_F(SynthTest, DistinctRowsRepeatTheFirstRowsOfTheFullFile) {
  SynthOptions opts;
  opts.type = "q8_0";
  opts.seed = 5;
  auto full = WriteAndOpen(opts, "full.gguf");
  opts.distinct_rows = 3;
  auto fast = WriteAndOpen(opts, "fast.gguf");
  ASSERT_TRUE(full && fast);
  ASSERT_EQ(full->bytes().size(), fast->bytes().size());
  int repeated = 0;
  for (const GgufTensorInfo& info : full->tensors()) {
    const TensorView a = full->View(info), b = fast->View(*fast->FindTensor(info.name));
    for (int64_t r = 0; r < a.rows; ++r) {
      if (r < 3) {
        EXPECT_EQ(std::memcmp(a.row(r), b.row(r), a.row_bytes), 0) << info.name << " row " << r;
        continue;
      }
      bool found = false;
      for (int64_t s = 0; s < 3 && !found; ++s) found = std::memcmp(b.row(r), b.row(s), b.row_bytes) == 0;
      EXPECT_TRUE(found) << info.name << " row " << r << " repeats none of the first 3";
      ++repeated;
    }
  }
  EXPECT_GT(repeated, 1000);
  EXPECT_NE(std::vector<uint8_t>(full->bytes().begin(), full->bytes().end()),
            std::vector<uint8_t>(fast->bytes().begin(), fast->bytes().end()));
}

TEST_F(SynthTest, EmptyPresetPicksTheArchsTinyPreset) {
  SynthOptions opts;
  opts.arch = "qwen3";
  opts.preset = "";
  auto file = WriteAndOpen(opts, "q3.gguf");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->GetString("general.architecture").value(), "qwen3");
  EXPECT_NE(file->FindTensor("blk.0.attn_q_norm.weight"), nullptr);
}

TEST_F(SynthTest, ShapesMustBeWholeBlocksOfTheType) {
  SynthPreset odd = *FindSynthPreset("tiny-llama");
  odd.n_embd = 96;  // 3 blocks of 32, not a multiple of 256
  odd.head_dim = 24;
  SynthOptions opts;
  opts.type = "q4_k";
  Status st = WriteSyntheticModelWithPreset(odd, opts, Path("odd.gguf"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("embedding_length 96"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("256"), std::string::npos) << st.message();
  opts.type = "q4_0";
  st = WriteSyntheticModelWithPreset(odd, opts, Path("odd.gguf"));
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(SynthTest, VocabOverride) {
  SynthOptions opts;
  opts.vocab = 300;
  auto file = WriteAndOpen(opts, "v300.gguf");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->FindTensor("token_embd.weight")->shape, (std::vector<int64_t>{256, 300}));
  EXPECT_EQ(file->FindTensor("output.weight")->shape, (std::vector<int64_t>{256, 300}));
  EXPECT_EQ(file->Find("tokenizer.ggml.tokens")->array_size(), 300u);
  EXPECT_EQ(GetInt(*file, "llama.vocab_size"), 300);
}

TEST_F(SynthTest, LayersOverride) {
  SynthOptions opts;
  opts.preset = "tiny-qwen3moe";
  opts.arch = "";
  opts.layers = 3;
  auto file = WriteAndOpen(opts, "l3.gguf");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(GetInt(*file, "qwen3moe.block_count"), 3);
  EXPECT_NE(file->FindTensor("blk.2.ffn_gate_exps.weight"), nullptr);
  EXPECT_EQ(file->FindTensor("blk.3.ffn_gate_exps.weight"), nullptr);
}

TEST(SynthVocabTest, SpmLayoutUniqueAndDescending) {
  for (int64_t n : {259, 512, 5000}) {
    SynthVocab v = BuildSynthVocab(n);
    ASSERT_EQ(v.tokens.size(), static_cast<size_t>(n));
    ASSERT_EQ(v.scores.size(), static_cast<size_t>(n));
    ASSERT_EQ(v.types.size(), static_cast<size_t>(n));
    EXPECT_EQ(v.tokens[0], "<unk>");
    EXPECT_EQ(v.tokens[1], "<s>");
    EXPECT_EQ(v.tokens[2], "</s>");
    EXPECT_EQ(v.tokens[3], "<0x00>");
    EXPECT_EQ(v.tokens[3 + 0x0A], "<0x0A>");
    EXPECT_EQ(v.tokens[258], "<0xFF>");
    EXPECT_EQ(v.types[0], kTokUnknown);
    EXPECT_EQ(v.types[2], kTokControl);
    EXPECT_EQ(v.types[100], kTokByte);
    EXPECT_EQ(std::set<std::string>(v.tokens.begin(), v.tokens.end()).size(), v.tokens.size());
    for (int64_t i = 259; i < n; ++i) {
      EXPECT_EQ(v.types[i], kTokNormal);
      if (i > 259) {
        EXPECT_LT(v.scores[i], v.scores[i - 1]) << i;
      }
    }
  }
  SynthVocab v = BuildSynthVocab(5000);
  EXPECT_EQ(v.tokens[259], "\xE2\x96\x81");
  for (const char* piece : {"a", "\xE2\x96\x81the", "th", "\xE2\x96\x81Hello", "\xE2\x96\x81tok0"})
    EXPECT_NE(std::find(v.tokens.begin(), v.tokens.end(), piece), v.tokens.end()) << piece;
}

TEST(SynthWeightsTest, Llama3RopeFactorsCoverAllThreeRegimes) {
  SynthRopeScaling s{true, 8.0f, 1.0f, 4.0f, 8192};
  std::vector<float> f = Llama3RopeFactors(s, 500000.0f, 64);
  ASSERT_EQ(f.size(), 32u);
  EXPECT_FLOAT_EQ(f.front(), 1.0f);  // high frequencies are kept
  EXPECT_FLOAT_EQ(f.back(), 8.0f);   // low frequencies are divided by the factor
  bool smooth = false;
  for (size_t i = 1; i < f.size(); ++i) {
    EXPECT_GE(f[i], f[i - 1]);
    smooth |= f[i] > 1.0f && f[i] < 8.0f;
  }
  EXPECT_TRUE(smooth);
  // Pair i: wavelen = 2 pi * base^(2i/64); the formula evaluated by hand for one smooth pair.
  for (size_t i = 0; i < f.size(); ++i) {
    double wavelen = 2 * M_PI * std::pow(500000.0, 2.0 * i / 64);
    if (wavelen < 2048 || wavelen > 8192) continue;
    double smooth_i = (8192 / wavelen - 1) / 3;
    EXPECT_NEAR(f[i], 1 / ((1 - smooth_i) / 8 + smooth_i), 1e-5);
  }
}

TEST(SynthWeightsTest, RowNoiseHasTheRequestedMoments) {
  std::vector<float> row(1 << 16);
  FillSynthRow(SynthRowSeed(7, "t", 0), 0.5f, 2.0f, row.data(), static_cast<int64_t>(row.size()));
  Stats s = ComputeStats(row);
  EXPECT_NEAR(s.mean, 0.5, 0.05);
  EXPECT_NEAR(s.std, 2.0, 0.05);
  EXPECT_NE(SynthRowSeed(7, "t", 0), SynthRowSeed(7, "t", 1));
  EXPECT_NE(SynthRowSeed(7, "t", 0), SynthRowSeed(7, "u", 0));
  EXPECT_NE(SynthRowSeed(7, "t", 0), SynthRowSeed(8, "t", 0));
}

TEST_F(SynthTest, DequantizedWeightsHaveTheIntendedStatistics) {
  for (const char* type : {"f32", "q8_0", "q4_0", "q4_k"}) {
    SCOPED_TRACE(type);
    SynthOptions opts;
    opts.type = type;
    auto file = WriteAndOpen(opts, fmt::format("stats-{}.gguf", type));
    ASSERT_NE(file, nullptr);
    const double tol = std::string(type) == "f32" || std::string(type) == "q8_0" ? 0.03 : 0.12;
    Stats q = ComputeStats(Dequantize(*file, "blk.0.attn_q.weight"));
    EXPECT_NEAR(q.mean, 0.0, 0.01);
    EXPECT_NEAR(q.std, 1.0 / 16, tol / 16);  // 1/sqrt(256)
    Stats down = ComputeStats(Dequantize(*file, "blk.1.ffn_down.weight"));
    EXPECT_NEAR(down.std, 1.0 / std::sqrt(512.0), tol / std::sqrt(512.0));
    Stats embd = ComputeStats(Dequantize(*file, "token_embd.weight"));
    EXPECT_NEAR(embd.std, 1.0, tol);
    Stats out = ComputeStats(Dequantize(*file, "output.weight"));
    EXPECT_NEAR(out.std, 2.0 / 16, tol * 2 / 16);
    Stats norm = ComputeStats(Dequantize(*file, "blk.0.attn_norm.weight"));
    EXPECT_NEAR(norm.mean, 1.0, 0.01);
    EXPECT_GT(norm.std, 0.005);
    EXPECT_LT(norm.std, 0.05);
    std::vector<float> freqs = Dequantize(*file, "rope_freqs.weight");
    EXPECT_EQ(freqs, Llama3RopeFactors(FindSynthPreset("tiny-llama")->rope_scaling, 500000.0f, 64));
  }
}

// With --sharp, logits of a unit-RMS hidden state have std ~20, so the top-1
// vs top-2 gap is several logits: check it on 64 random hidden states.
// logits[v] = sum_i W[v][i] * output_norm[i] * h[i].
TEST_F(SynthTest, SharpModelsHaveLargeTopLogitMargins) {
  for (const char* preset : {"tiny-llama", "tiny-qwen3"}) {
    SCOPED_TRACE(preset);
    SynthOptions opts;
    opts.arch = "";
    opts.preset = preset;
    opts.type = "q8_0";
    opts.sharp = true;
    auto file = WriteAndOpen(opts, fmt::format("sharp-{}.gguf", preset));
    ASSERT_NE(file, nullptr);
    const bool tied = file->FindTensor("output.weight") == nullptr;
    std::vector<float> w = Dequantize(*file, tied ? "token_embd.weight" : "output.weight");
    std::vector<float> g = Dequantize(*file, "output_norm.weight");
    const int64_t d = 256, n_vocab = static_cast<int64_t>(w.size()) / d;
    double mean_square = 0;
    for (float x : w) mean_square += x * x;
    const double logit_std = std::sqrt(mean_square / w.size()) * ComputeStats(g).mean * std::sqrt(256.0);
    EXPECT_NEAR(logit_std, 20.0, 2.0);
    int big_margins = 0;
    std::vector<float> h(d);
    for (int step = 0; step < 64; ++step) {
      FillSynthRow(SynthRowSeed(99, "hidden", step), 0.0f, 1.0f, h.data(), d);
      for (int64_t i = 0; i < d; ++i) h[i] *= g[i];
      std::vector<float> logits(n_vocab);
      for (int64_t v = 0; v < n_vocab; ++v)
        for (int64_t i = 0; i < d; ++i) logits[v] += w[v * d + i] * h[i];
      std::partial_sort(logits.begin(), logits.begin() + 2, logits.end(), std::greater<>());
      big_margins += logits[0] - logits[1] > 1.0f;
    }
    EXPECT_GE(big_margins, 56) << "of 64";
  }
}

// Tied models keep token_embd rows short and put the logit scale in
// output_norm, so a token's own row does not dominate its next logits.
TEST_F(SynthTest, TiedModelsCarryTheLogitScaleInOutputNorm) {
  SynthOptions opts;
  opts.arch = "";
  opts.preset = "tiny-qwen2";
  auto file = WriteAndOpen(opts, "tied.gguf");
  ASSERT_NE(file, nullptr);
  Stats embd = ComputeStats(Dequantize(*file, "token_embd.weight"));
  EXPECT_NEAR(embd.std, 0.5 / 16, 0.05 / 16);  // rows of norm ~0.5
  Stats norm = ComputeStats(Dequantize(*file, "output_norm.weight"));
  EXPECT_NEAR(norm.mean, 4.0, 0.05);  // logit std 2 = 4 * 0.5
  Stats bias = ComputeStats(Dequantize(*file, "blk.0.attn_k.bias"));
  EXPECT_NEAR(bias.std, 0.1, 0.03);
}

}  // namespace
}  // namespace plexus
