// Mixture of experts: routing rules, config keys and their errors, expert
// tensors (stacked or one per expert) and their shape errors.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>

#include "format/gguf.h"
#include "model/model.h"
#include "model/moe_ops.h"
#include "model/synth.h"
#include "gguf_rewrite.h"

namespace plexus {
namespace {

std::filesystem::path TestDir() { return testing::TestModelDir("moe_test"); }

// A tiny synthetic model of `preset`, written once per test binary run.
std::string Synthetic(const std::string& preset, const std::string& type) {
  return testing::WriteTinyModel(TestDir(), preset, type, 5);
}

std::unique_ptr<GgufFile> Open(const std::string& path) { return testing::OpenGguf(path); }

using Edit = testing::GgufEdit;

std::string Rewrite(const std::string& src_path, const std::string& name, const Edit& edit) {
  return testing::RewriteGguf(src_path, (TestDir() / name).string(), edit);
}

std::string ConfigError(const std::string& path) {
  auto file = Open(path);
  auto config = ReadModelConfig(*file);
  return config.ok() ? "" : config.status().message();
}

std::string LoadError(const std::string& path) {
  std::shared_ptr<const GgufFile> file = Open(path);
  auto config = ReadModelConfig(*file);
  if (!config.ok()) return config.status().message();
  auto model = Model::Load(file, FullShard(*config));
  return model.ok() ? "" : model.status().message();
}

// Logits [n, V] of a prefill of `tokens` on one full shard.
std::vector<float> Logits(const std::string& path, const std::vector<int32_t>& tokens,
                          WeightLoad load = WeightLoad::kMap) {
  std::shared_ptr<const GgufFile> file = Open(path);
  auto config = ReadModelConfig(*file);
  EXPECT_TRUE(config.ok()) << config.status().message();
  auto model = Model::Load(file, FullShard(*config), ModelOptions{.kv_type = DType::kF32, .weight_load = load});
  EXPECT_TRUE(model.ok()) << model.status().message();
  std::vector<BatchEntry> batch;
  for (size_t i = 0; i < tokens.size(); ++i) batch.push_back({0, static_cast<int32_t>(i), tokens[i], true});
  NoopCollective single;
  ThreadPool pool(1);
  std::vector<float> logits;
  Status st = (*model)->Forward(batch, single, nullptr, pool, &logits);
  EXPECT_TRUE(st.ok()) << st.message();
  return logits;
}

TEST(MoeRoutingTest, TopKTakesTheLargestAndTiesGoToTheLowerIndex) {
  const float logits[] = {0.5f, 2.0f, -1.0f, 2.0f, 3.0f, 0.5f};
  int32_t ids[3];
  ExpertTopK(logits, 6, 3, ids);
  EXPECT_EQ(ids[0], 4);
  EXPECT_EQ(ids[1], 1);  // 1 and 3 tie: the lower index first
  EXPECT_EQ(ids[2], 3);
  const float flat[] = {1, 1, 1, 1};
  ExpertTopK(flat, 4, 2, ids);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[1], 1);
}

TEST(MoeRoutingTest, GateWeightsFollowEachArchitecture) {
  const float logits[] = {1.0f, 3.0f, 0.0f, 2.0f};
  const int32_t ids[] = {1, 3};
  float w[2];
  // Mixtral: softmax over the chosen two = e^3 / (e^3 + e^2).
  ExpertGateWeights(ExpertGating::kTopKSoftmax, true, logits, 4, ids, 2, w);
  const double top = std::exp(3.0) / (std::exp(3.0) + std::exp(2.0));
  EXPECT_NEAR(w[0], top, 1e-7);
  EXPECT_NEAR(w[1], 1 - top, 1e-7);
  // qwen3moe renormalised: the same numbers (softmax then renormalise).
  ExpertGateWeights(ExpertGating::kSoftmaxTopK, true, logits, 4, ids, 2, w);
  EXPECT_NEAR(w[0], top, 1e-7);
  // Without renormalisation: the plain softmax over all four.
  ExpertGateWeights(ExpertGating::kSoftmaxTopK, false, logits, 4, ids, 2, w);
  const double all = std::exp(1.0) + std::exp(3.0) + std::exp(0.0) + std::exp(2.0);
  EXPECT_NEAR(w[0], std::exp(3.0) / all, 1e-7);
  EXPECT_NEAR(w[1], std::exp(2.0) / all, 1e-7);
}

TEST(MoeConfigTest, ReadsTheExpertKeys) {
  auto qwen = Open(Synthetic("tiny-qwen3moe", "f32"));
  auto c = ReadModelConfig(*qwen);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->n_experts, 8);
  EXPECT_EQ(c->n_experts_used, 2);
  EXPECT_EQ(c->n_ff_expert, 256);
  EXPECT_EQ(c->gating, ExpertGating::kSoftmaxTopK);
  EXPECT_TRUE(c->expert_weights_norm);
  EXPECT_EQ(FullShard(*c).experts, (Range{0, 8}));
  auto mixtral = Open(Synthetic("tiny-mixtral", "f32"));
  auto m = ReadModelConfig(*mixtral);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->arch, "llama");
  EXPECT_EQ(m->gating, ExpertGating::kTopKSoftmax);
  EXPECT_EQ(m->n_ff_expert, 256);  // Mixtral: feed_forward_length is the expert width
  auto dense = Open(Synthetic("tiny-qwen3", "f32"));
  auto d = ReadModelConfig(*dense);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->is_moe());
  EXPECT_EQ(FullShard(*d).experts.size(), 0);
}

TEST(MoeConfigTest, BadExpertKeysNameTheKey) {
  const std::string src = Synthetic("tiny-qwen3moe", "f32");
  Edit no_count;
  no_count.key = [](const std::string& k, GgufWriter&) { return k != "qwen3moe.expert_count"; };
  EXPECT_NE(ConfigError(Rewrite(src, "no_count.gguf", no_count)).find("qwen3moe.expert_count"), std::string::npos);
  Edit no_used;
  no_used.key = [](const std::string& k, GgufWriter&) { return k != "qwen3moe.expert_used_count"; };
  EXPECT_NE(ConfigError(Rewrite(src, "no_used.gguf", no_used)).find("qwen3moe.expert_used_count"), std::string::npos);
  Edit too_many;
  too_many.key = [](const std::string& k, GgufWriter& w) {
    if (k != "qwen3moe.expert_used_count") return true;
    w.SetU32(k, 9);
    return false;
  };
  const std::string err = ConfigError(Rewrite(src, "too_many.gguf", too_many));
  EXPECT_NE(err.find("expert_used_count = 9 exceeds expert_count = 8"), std::string::npos) << err;
}

TEST(MoeWeightsTest, WrongExpertShapeNamesTheTensor) {
  Edit reshape;
  reshape.tensor = [](const GgufFile& f, const GgufTensorInfo& t, GgufWriter& w) {
    if (t.name != "blk.1.ffn_up_exps.weight") return false;
    const uint8_t* data = f.TensorData(t);
    // Same bytes, 16 experts of half the width.
    EXPECT_TRUE(w.AddTensor(t.name, t.type, {t.shape[0], t.shape[1] / 2, t.shape[2] * 2},
                            std::vector<uint8_t>(data, data + t.n_bytes)).ok());
    return true;
  };
  const std::string err = LoadError(Rewrite(Synthetic("tiny-qwen3moe", "q8_0"), "reshaped.gguf", reshape));
  EXPECT_NE(err.find("blk.1.ffn_up_exps.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("expected [256, 256, 8]"), std::string::npos) << err;
}

// Older Mixtral files hold one 2-D tensor per expert (blk.N.ffn_gate.E.weight):
// the same weights give the same logits, bit for bit.
TEST(MoeWeightsTest, PerExpertTensorsMatchStackedOnes) {
  const std::string stacked = Synthetic("tiny-mixtral", "q4_0");
  Edit split;
  split.tensor = [](const GgufFile& f, const GgufTensorInfo& t, GgufWriter& w) {
    const auto at = t.name.find("_exps.weight");
    if (at == std::string::npos) return false;
    const std::string stem = t.name.substr(0, at);  // blk.N.ffn_gate
    const size_t slab = t.n_bytes / static_cast<size_t>(t.shape[2]);
    for (int64_t e = 0; e < t.shape[2]; ++e) {
      const uint8_t* data = f.TensorData(t) + e * slab;
      EXPECT_TRUE(w.AddTensor(fmt::format("{}.{}.weight", stem, e), t.type, {t.shape[0], t.shape[1]},
                              std::vector<uint8_t>(data, data + slab)).ok());
    }
    return true;
  };
  const std::string per_expert = Rewrite(stacked, "per_expert.gguf", split);
  auto file = Open(per_expert);
  ASSERT_NE(file->FindTensor("blk.1.ffn_down.7.weight"), nullptr);
  ASSERT_EQ(file->FindTensor("blk.1.ffn_down_exps.weight"), nullptr);
  const std::vector<int32_t> tokens = {1, 40, 7, 300, 12, 99};
  EXPECT_EQ(Logits(per_expert, tokens), Logits(stacked, tokens));
  Edit missing;
  missing.tensor = [](const GgufFile&, const GgufTensorInfo& t, GgufWriter&) {
    return t.name == "blk.0.ffn_up_exps.weight";  // dropped
  };
  const std::string err = LoadError(Rewrite(stacked, "missing.gguf", missing));
  EXPECT_NE(err.find("blk.0.ffn_up_exps.weight' is missing"), std::string::npos) << err;
}

// --load copy moves the router and every expert slab into the arena too.
TEST(MoeWeightsTest, CopiedWeightsGiveTheSameLogits) {
  const std::string path = Synthetic("tiny-qwen3moe", "q4_k");
  const std::vector<int32_t> tokens = {1, 9, 200, 31};
  EXPECT_EQ(Logits(path, tokens, WeightLoad::kCopy), Logits(path, tokens));
}

// Copied Q4_0 matrices are repacked (kQ4_0R, experts and dense layers
// alike); mapped ones keep the file's layout. The logits are the same bits.
TEST(MoeWeightsTest, RepackedQ4_0GivesTheSameLogits) {
  for (const char* preset : {"tiny-qwen3moe", "tiny-llama"}) {
    const std::string path = Synthetic(preset, "q4_0");
    const std::vector<int32_t> tokens = {1, 9, 200, 31};
    EXPECT_EQ(Logits(path, tokens, WeightLoad::kCopy), Logits(path, tokens)) << preset;
    std::shared_ptr<const GgufFile> file = Open(path);
    auto config = ReadModelConfig(*file);
    ASSERT_TRUE(config.ok()) << config.status().message();
    for (WeightLoad load : {WeightLoad::kMap, WeightLoad::kCopy}) {
      auto model = Model::Load(file, FullShard(*config), ModelOptions{.weight_load = load});
      ASSERT_TRUE(model.ok()) << model.status().message();
      int q4_0 = 0, q4_0r = 0;
      for (const TensorView* m : (*model)->weights().Matrices()) {
        q4_0 += m->type == DType::kQ4_0;
        q4_0r += m->type == DType::kQ4_0R;
      }
      EXPECT_GT(load == WeightLoad::kCopy ? q4_0r : q4_0, 0) << preset << " " << WeightLoadName(load);
      EXPECT_EQ(load == WeightLoad::kCopy ? q4_0 : q4_0r, 0) << preset << " " << WeightLoadName(load);
    }
  }
}

// The default (kAuto) copies a model that fits in free memory and reports it;
// kMap and kCopy are what they say.
TEST(MoeWeightsTest, AutoLoadCopiesWhatFitsAndSaysSo) {
  std::shared_ptr<const GgufFile> file = Open(Synthetic("tiny-qwen3moe", "q4_0"));
  auto config = ReadModelConfig(*file);
  ASSERT_TRUE(config.ok()) << config.status().message();
  for (const auto& [asked, got] : {std::pair{WeightLoad::kAuto, WeightLoad::kCopy},
                                   {WeightLoad::kMap, WeightLoad::kMap}, {WeightLoad::kCopy, WeightLoad::kCopy}}) {
    auto model = Model::Load(file, FullShard(*config), ModelOptions{.weight_load = asked});
    ASSERT_TRUE(model.ok()) << model.status().message();
    const ModelWeights& w = (*model)->weights();
    EXPECT_EQ(w.load, got) << WeightLoadName(asked);
    EXPECT_EQ(w.arena_bytes > 0, got == WeightLoad::kCopy) << WeightLoadName(asked);
  }
}

// kAuto's memory rule: the copies must leave max(1 GiB, total / 8) of
// MemAvailable free.
TEST(MoeWeightsTest, ArenaFitsLeavesAReserveFree) {
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  EXPECT_TRUE(WeightArenaFits(2 * kGiB, {.total = 16 * kGiB, .available = 10 * kGiB}));
  EXPECT_TRUE(WeightArenaFits(8 * kGiB, {.total = 16 * kGiB, .available = 10 * kGiB}));   // 2 GiB left: total / 8
  EXPECT_FALSE(WeightArenaFits(8 * kGiB + 1, {.total = 16 * kGiB, .available = 10 * kGiB}));
  EXPECT_TRUE(WeightArenaFits(2 * kGiB, {.total = 4 * kGiB, .available = 3 * kGiB}));     // 1 GiB left: the floor
  EXPECT_FALSE(WeightArenaFits(2 * kGiB + 1, {.total = 4 * kGiB, .available = 3 * kGiB}));
  EXPECT_FALSE(WeightArenaFits(1, {.total = 4 * kGiB, .available = kGiB / 2}));          // less than the reserve
  EXPECT_FALSE(WeightArenaFits(1, {}));                                                  // /proc unread
}

// Decode and prefill agree: one token at a time routes each token on its own,
// a batch groups the tokens by expert.
TEST(MoeForwardTest, PrefillEqualsTokenByToken) {
  const std::string path = Synthetic("tiny-qwen3moe", "f32");
  const std::vector<int32_t> tokens = {1, 17, 42, 100, 7, 250, 33};
  const std::vector<float> batch = Logits(path, tokens);
  std::shared_ptr<const GgufFile> file = Open(path);
  auto config = ReadModelConfig(*file);
  auto model = Model::Load(file, FullShard(*config), ModelOptions{.kv_type = DType::kF32});
  ASSERT_TRUE(model.ok());
  NoopCollective single;
  ThreadPool pool(1);
  const int64_t vocab = config->n_vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const BatchEntry e{0, static_cast<int32_t>(i), tokens[i], true};
    std::vector<float> logits;
    ASSERT_TRUE((*model)->Forward({&e, 1}, single, nullptr, pool, &logits).ok());
    double max_diff = 0, max_ref = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      max_diff = std::max(max_diff, std::abs(static_cast<double>(logits[v]) - batch[i * vocab + v]));
      max_ref = std::max(max_ref, std::abs(static_cast<double>(batch[i * vocab + v])));
    }
    EXPECT_LE(max_diff / max_ref, 1e-5) << "token " << i;
  }
}

}  // namespace
}  // namespace plexus
