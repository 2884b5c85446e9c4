// The cluster seam, in one process: the same model run as 2, 3 and 4 shards
// (tensor split, layer split, both, uneven shares) joined by in-memory
// collectives on threads must give the logits of the single shard.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <thread>

#include "comm/local/local_collective.h"
#include "model/model.h"
#include "model/synth.h"
#include "model/weight_ranges.h"
#include "../process_temp_dir.h"

namespace plexus {
namespace {

struct Plan {
  std::vector<double> tp_shares;  // one per rank of each stage
  std::vector<double> pp_shares;  // one per stage
};

// Steps: first a prefill batch of all prompt tokens (logits everywhere), then
// one decode entry per extra token. Returns the logits of every step: [step][n * V].
using StepLogits = std::vector<std::vector<float>>;

std::vector<std::vector<BatchEntry>> MakeSteps(const std::vector<int32_t>& prompt, const std::vector<int32_t>& decode) {
  std::vector<std::vector<BatchEntry>> steps(1);
  for (size_t i = 0; i < prompt.size(); ++i) steps[0].push_back({0, static_cast<int32_t>(i), prompt[i], true});
  for (size_t i = 0; i < decode.size(); ++i)
    steps.push_back({{0, static_cast<int32_t>(prompt.size() + i), decode[i], true}});
  return steps;
}

struct Worker {
  std::unique_ptr<Model> model;
  std::unique_ptr<LocalCollective> tp;
  std::unique_ptr<LocalPipeLink> pipe;
  StepLogits logits;
  Status status;
};

// A copy of `file` holding only the shard's byte ranges; every other byte is
// 0xFF (a NaN in f32), so a read outside the ranges poisons the logits.
std::shared_ptr<const GgufFile> PoisonedCopy(const GgufFile& file, const ModelConfig& config, const ShardSpec& shard,
                                             std::vector<std::vector<uint8_t>>& keep_alive) {
  const auto src = file.bytes();
  std::vector<uint8_t> bytes(src.size(), 0xFF);
  const auto ranges = ShardByteRanges(file, config, shard);
  for (const ByteRange& r : ranges) std::copy(src.begin() + r.begin, src.begin() + r.end, bytes.begin() + r.begin);
  EXPECT_LT(TotalBytes(ranges), src.size()) << "a shard of a split model needs less than the whole file";
  keep_alive.push_back(std::move(bytes));
  auto parsed = GgufFile::Parse(keep_alive.back(), "poisoned");
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return std::shared_ptr<const GgufFile>(std::move(parsed).value());
}

// Runs every shard of `plan` on its own thread; returns the workers of the last stage.
// With `only_shard_bytes`, each shard loads a copy holding just its ShardByteRanges.
std::vector<Worker> RunSharded(std::shared_ptr<const GgufFile> file, const Plan& plan,
                               const std::vector<std::vector<BatchEntry>>& steps, bool only_shard_bytes = false) {
  std::vector<std::vector<uint8_t>> copies;
  copies.reserve(16);
  auto config = ReadModelConfig(*file);
  EXPECT_TRUE(config.ok()) << config.status().message();
  auto layers = SplitLayers(config->n_layers, plan.pp_shares);
  EXPECT_TRUE(layers.ok()) << layers.status().message();
  auto granularity = FfnGranularity(*file);
  const size_t n_stages = plan.pp_shares.size(), n_tp = plan.tp_shares.size();
  std::vector<std::vector<Worker>> workers(n_stages);
  // channels[s][r]: stage s rank r -> stage s+1 rank r.
  std::vector<std::vector<std::shared_ptr<LocalChannel>>> channels(n_stages);
  for (size_t s = 0; s < n_stages; ++s) {
    auto group = std::make_shared<LocalGroup>(static_cast<int>(n_tp));
    for (size_t r = 0; r < n_tp; ++r) {
      channels[s].push_back(std::make_shared<LocalChannel>());
      auto shard = MakeShard(*config, plan.tp_shares, static_cast<int>(r), (*layers)[s], *granularity);
      EXPECT_TRUE(shard.ok()) << shard.status().message();
      Worker w;
      // An f32 cache: the comparison is about the split, not f16 rounding.
      auto shard_file = only_shard_bytes ? PoisonedCopy(*file, *config, *shard, copies) : file;
      auto model = Model::Load(shard_file, *shard, ModelOptions{.kv_type = DType::kF32});
      EXPECT_TRUE(model.ok()) << model.status().message();
      w.model = std::move(model).value();
      w.tp = std::make_unique<LocalCollective>(group, static_cast<int>(r));
      w.pipe = std::make_unique<LocalPipeLink>(s > 0 ? channels[s - 1][r] : nullptr,
                                               s + 1 < n_stages ? channels[s][r] : nullptr);
      workers[s].push_back(std::move(w));
    }
  }
  std::vector<std::thread> threads;
  for (auto& stage : workers)
    for (Worker& w : stage)
      threads.emplace_back([&w, &steps] {
        ThreadPool pool(1);
        for (const auto& batch : steps) {
          std::vector<float> logits;
          w.status = w.model->Forward(batch, *w.tp, w.pipe.get(), pool, &logits);
          if (!w.status.ok()) return;
          w.logits.push_back(std::move(logits));
        }
      });
  for (auto& t : threads) t.join();
  for (auto& stage : workers)
    for (Worker& w : stage) EXPECT_TRUE(w.status.ok()) << w.status.message();
  return std::move(workers.back());
}

double RelativeError(const std::vector<float>& got, const std::vector<float>& want) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(static_cast<double>(got[i]) - want[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(want[i])));
  }
  return max_diff / max_ref;
}

// `tolerance`: 1e-5 where the split only reorders float sums. Where a split
// cuts K-quant rows off their 256-block grid, the shard decodes that slice to
// f32 while the single node runs the int8-activation kernel, so the two differ
// by the activation quantization error (~1e-2).
void ExpectSameAsSingle(const std::string& path, const Plan& plan, bool only_shard_bytes = false,
                        double tolerance = 1e-5) {
  auto opened = GgufFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  std::shared_ptr<const GgufFile> file(std::move(opened).value());
  const auto steps = MakeSteps({1, 17, 42, 100, 7, 250}, {33, 12, 201, 5});
  std::vector<Worker> single = RunSharded(file, Plan{{1.0}, {1.0}}, steps);
  std::vector<Worker> sharded = RunSharded(file, plan, steps, only_shard_bytes);
  ASSERT_EQ(single[0].logits.size(), steps.size());
  for (const Worker& w : sharded) {
    ASSERT_EQ(w.logits.size(), steps.size());
    for (size_t step = 0; step < steps.size(); ++step) {
      ASSERT_EQ(w.logits[step].size(), single[0].logits[step].size());
      EXPECT_LE(RelativeError(w.logits[step], single[0].logits[step]), tolerance) << "step " << step;
      // Every rank of the last stage must hold bit-identical logits: they all pick the same token.
      EXPECT_EQ(w.logits[step], sharded[0].logits[step]) << "step " << step;
    }
  }
}

std::string Stories() { return std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf"; }

// A tiny synthetic model of `preset`, written once per test binary run.
std::string Synthetic(const std::string& preset, const std::string& type) {
  const auto dir = testing::ProcessTempDir("shard_test");
  std::string path = (dir / (preset + "-" + type + ".gguf")).string();
  SynthOptions o;
  o.arch = "";
  o.preset = preset;
  o.type = type;
  o.seed = 11;
  o.threads = 1;
  Status st = WriteSyntheticModel(o, path);
  EXPECT_TRUE(st.ok()) << st.message();
  return path;
}

TEST(ShardTest, StoriesTp2) { ExpectSameAsSingle(Stories(), {{1, 1}, {1}}); }
TEST(ShardTest, StoriesTp3) { ExpectSameAsSingle(Stories(), {{1, 1, 1}, {1}}); }
TEST(ShardTest, StoriesPp2) { ExpectSameAsSingle(Stories(), {{1}, {1, 1}}); }
TEST(ShardTest, StoriesPp3) { ExpectSameAsSingle(Stories(), {{1}, {1, 1, 1}}); }
TEST(ShardTest, StoriesTp2xPp2) { ExpectSameAsSingle(Stories(), {{1, 1}, {1, 1}}); }
TEST(ShardTest, StoriesUnevenTp3to1) { ExpectSameAsSingle(Stories(), {{3, 1}, {1}}); }

// tiny-llama has 4 query heads and 2 KV heads: tp3 splits head by head and
// replicates a KV head; q8_0 exercises block-aligned column slices.
TEST(ShardTest, TinyLlamaTp3ReplicatesKvHeads) { ExpectSameAsSingle(Synthetic("tiny-llama", "f32"), {{1, 1, 1}, {1}}); }
TEST(ShardTest, TinyLlamaQ8Tp2xPp2) { ExpectSameAsSingle(Synthetic("tiny-llama", "q8_0"), {{1, 1}, {1, 1}}); }
TEST(ShardTest, TinyQwen2Tp2) { ExpectSameAsSingle(Synthetic("tiny-qwen2", "f32"), {{1, 1}, {1}}); }
TEST(ShardTest, TinyQwen3Uneven) { ExpectSameAsSingle(Synthetic("tiny-qwen3", "f32"), {{3, 1}, {1, 2}}); }
// q4_K columns go in blocks of 256: head slices off the block grid are decoded to f32.
TEST(ShardTest, TinyQwen3Q4KTp3) {
  ExpectSameAsSingle(Synthetic("tiny-qwen3", "q4_k"), {{1, 1, 1}, {1}}, false, 5e-2);
}

// Each shard computes from its ShardByteRanges alone (what a node without the
// file is sent): everything else is NaN and would poison the logits.
TEST(ShardTest, ShardByteRangesSufficeForStoriesTp2xPp2) {
  ExpectSameAsSingle(Stories(), {{1, 1}, {1, 1}}, true);
}
TEST(ShardTest, ShardByteRangesSufficeForQ4KTp3) {
  ExpectSameAsSingle(Synthetic("tiny-qwen3", "q4_k"), {{1, 1, 1}, {1}}, true, 5e-2);
}
TEST(ShardTest, ShardByteRangesSufficeForQ8Tp2Pp2Uneven) {
  ExpectSameAsSingle(Synthetic("tiny-llama", "q8_0"), {{3, 1}, {2, 1}}, true);
}

// MoE: experts go out whole to the TP ranks (expert parallelism inside the
// group); the FFN's all-reduce sums what each rank's experts contributed.
TEST(ShardTest, TinyQwen3MoeTp2) { ExpectSameAsSingle(Synthetic("tiny-qwen3moe", "f32"), {{1, 1}, {1}}); }
TEST(ShardTest, TinyQwen3MoeTp3) { ExpectSameAsSingle(Synthetic("tiny-qwen3moe", "f32"), {{1, 1, 1}, {1}}); }
TEST(ShardTest, TinyQwen3MoeQ8UnevenTp2xPp2) {
  ExpectSameAsSingle(Synthetic("tiny-qwen3moe", "q8_0"), {{3, 1}, {1, 1}});
}
TEST(ShardTest, TinyMixtralQ4Tp2) { ExpectSameAsSingle(Synthetic("tiny-mixtral", "q4_0"), {{1, 1}, {1}}); }
TEST(ShardTest, ShardByteRangesSufficeForMoeTp3) {
  ExpectSameAsSingle(Synthetic("tiny-qwen3moe", "q8_0"), {{1, 1, 1}, {1}}, true);
}

// deepseek2: MLA heads split one by one (each rank computes the shared latent
// itself), shared experts split by rows, routed experts whole.
TEST(ShardTest, TinyDeepSeek2Tp2) { ExpectSameAsSingle(Synthetic("tiny-deepseek2", "f32"), {{1, 1}, {1}}); }
TEST(ShardTest, TinyDeepSeek2Tp3) { ExpectSameAsSingle(Synthetic("tiny-deepseek2", "f32"), {{1, 1, 1}, {1}}); }
TEST(ShardTest, TinyDeepSeek2Q8UnevenTp2xPp2) {
  ExpectSameAsSingle(Synthetic("tiny-deepseek2", "q8_0"), {{3, 1}, {1, 1}});
}
TEST(ShardTest, ShardByteRangesSufficeForDeepSeek2Tp3) {
  ExpectSameAsSingle(Synthetic("tiny-deepseek2", "q8_0"), {{1, 1, 1}, {1}}, true);
}

TEST(ShardTest, ExpertsFollowTheShares) {
  auto opened = GgufFile::Open(Synthetic("tiny-qwen3moe", "f32"));
  ASSERT_TRUE(opened.ok());
  auto config = ReadModelConfig(**opened);
  ASSERT_TRUE(config.ok());
  const std::vector<double> shares{3, 1};
  auto first = MakeShard(*config, shares, 0, {0, 4}, 32);
  auto second = MakeShard(*config, shares, 1, {0, 4}, 32);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->experts, (Range{0, 6}));
  EXPECT_EQ(second->experts, (Range{6, 8}));
  EXPECT_NE(second->Describe().find("experts [6,8)"), std::string::npos) << second->Describe();
}

// A hand-made last-stage shard whose LM-head split does not match the group
// that gathers the logits is refused by name, before any gather could read
// past its ranges.
TEST(ShardTest, ForwardRefusesAHeadSplitThatDoesNotMatchTheGatherGroup) {
  auto opened = GgufFile::Open(Stories());
  ASSERT_TRUE(opened.ok());
  std::shared_ptr<const GgufFile> file(std::move(opened).value());
  auto config = ReadModelConfig(*file);
  ASSERT_TRUE(config.ok());
  ShardSpec shard = FullShard(*config);
  const int64_t half = config->n_vocab / 2;
  shard.vocab = {0, half};
  shard.group_vocab = {{0, half}, {half, config->n_vocab}};  // two ranks' head rows, one rank to gather
  auto model = Model::Load(file, shard);
  ASSERT_TRUE(model.ok()) << model.status().message();
  LocalCollective alone(std::make_shared<LocalGroup>(1), 0);
  ThreadPool pool(1);
  const BatchEntry entry{0, 0, 1, true};
  std::vector<float> logits;
  const Status st = (*model)->Forward({&entry, 1}, alone, nullptr, pool, &logits);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("splits the LM head 2 ways but gathers the logits over 1 ranks"), std::string::npos)
      << st.message();
}

TEST(ShardTest, SplitBySharesIsProportional) {
  auto r = SplitByShares(8192, 256, std::vector<double>{3, 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0], (Range{0, 6144}));
  EXPECT_EQ((*r)[1], (Range{6144, 8192}));
  EXPECT_FALSE(SplitByShares(2, 1, std::vector<double>{1, 1, 1}).ok());
  EXPECT_FALSE(SplitByShares(10, 1, std::vector<double>{1, -1}).ok());
}

}  // namespace
}  // namespace plexus
