// plexus bench's bytes per generated token follow the active parameters: of
// an MoE layer the router and k of its E experts, not every expert.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/bench.h"
#include "format/gguf.h"
#include "model/synth.h"
#include "tensor/quant.h"
#include "../process_temp_dir.h"

namespace plexus {
namespace {

// A seeded Q8_0 model of a tiny preset, in a directory of this test process
// (ctest runs the tests side by side); empty when it cannot be written.
std::string WriteTinyQ8(const std::string& preset) {
  const auto dir = testing::ProcessTempDir("bench_test");
  const std::string path = (dir / (preset + "-q8_0.gguf")).string();
  SynthOptions o;
  o.arch = "";
  o.preset = preset;
  o.type = "q8_0";
  o.threads = 1;
  return WriteSyntheticModel(o, path).ok() ? path : std::string();
}

// Four decoded tokens, one repetition, one thread, no bandwidth measurement.
BenchOptions DecodeOnly(const std::string& path) {
  BenchOptions bo;
  bo.model_path = path;
  bo.n_prompt = 0;
  bo.n_gen = 4;
  bo.reps = 1;
  bo.threads = 1;
  bo.membw_mib = 0;
  return bo;
}

// f16 K and V bytes one position adds to a qwen3moe model's cache, all layers.
double KvBytesPerPosition(const GgufFile& f) {
  const double n_layers = static_cast<double>(*f.GetInt("qwen3moe.block_count"));
  const double kv_dim = static_cast<double>(*f.GetInt("qwen3moe.attention.head_count_kv") *
                                            *f.GetInt("qwen3moe.attention.key_length"));
  return 2 * n_layers * kv_dim * 2;
}

TEST(BenchTest, MoeBytesPerTokenCountsOnlyTheActiveExperts) {
  const std::string path = WriteTinyQ8("tiny-qwen3moe");
  ASSERT_FALSE(path.empty());

  // Expected, from the file's tensor table alone.
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  const GgufFile& f = **file;
  const double k = static_cast<double>(*f.GetInt("qwen3moe.expert_used_count"));
  const double n_experts = static_cast<double>(*f.GetInt("qwen3moe.expert_count"));
  double all_matrices = 0, active = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name == "token_embd.weight") {
      active += static_cast<double>(RowBytes(t.type, t.shape[0]));  // one row looked up
    } else if (t.shape.size() == 3) {  // ffn_{gate,up,down}_exps: E experts, k read
      all_matrices += static_cast<double>(t.n_bytes);
      active += static_cast<double>(t.n_bytes) * k / n_experts;
    } else if (t.shape.size() == 2) {  // attention, router, output
      all_matrices += static_cast<double>(t.n_bytes);
      active += static_cast<double>(t.n_bytes);
    }
  }
  const BenchOptions bo = DecodeOnly(path);
  // K and V rows (f16) of every layer at the mean context of the run, n_gen / 2.
  active += KvBytesPerPosition(f) * (bo.n_gen / 2.0);
  auto r = RunBench(bo);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->weight_bytes, all_matrices);
  EXPECT_DOUBLE_EQ(r->bytes_per_token, active);
  EXPECT_LT(r->bytes_per_token, 0.5 * r->weight_bytes);  // 2 of 8 experts
  EXPECT_GT(r->tg_tps, 0);
}

// -d: pp and tg run after a filled context, and each generated token also
// reads the K and V rows of that context.
TEST(BenchTest, DepthRunsAfterAFilledContextAndCountsItsCacheReads) {
  const std::string path = WriteTinyQ8("tiny-qwen3moe");
  ASSERT_FALSE(path.empty());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  const double per_position = KvBytesPerPosition(**file);
  BenchOptions bo = DecodeOnly(path);
  bo.n_prompt = 6;
  auto flat = RunBench(bo);
  ASSERT_TRUE(flat.ok()) << flat.status().message();
  bo.depth = 40;
  auto deep = RunBench(bo);
  ASSERT_TRUE(deep.ok()) << deep.status().message();
  EXPECT_EQ(flat->depth, 0);
  EXPECT_EQ(deep->depth, 40);
  EXPECT_DOUBLE_EQ(deep->bytes_per_token - flat->bytes_per_token, per_position * 40);
  EXPECT_GT(deep->pp_tps, 0);
  EXPECT_GT(deep->tg_tps, 0);
}

// deepseek2: shared experts, the leading dense layer and MLA are read whole,
// k of E routed experts; the cache holds one latent row per token and layer;
// attn_kv_b's k half is read as the f32 transpose the loader builds.
TEST(BenchTest, DeepSeek2BytesPerTokenCountsSharedAndKRoutedExperts) {
  const std::string path = WriteTinyQ8("tiny-deepseek2");
  ASSERT_FALSE(path.empty());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  const GgufFile& f = **file;
  const double k = 4, n_experts = 16, n_layers = 4, latent = 64 + 16, heads = 8, nope = 32, lora = 64;
  double active = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name == "token_embd.weight") {
      active += static_cast<double>(RowBytes(t.type, t.shape[0]));
    } else if (t.shape.size() == 3) {  // routed experts
      active += static_cast<double>(t.n_bytes) * k / n_experts;
    } else if (t.name.find("attn_kv_b") != std::string::npos) {  // v half as stored, k half in f32
      active += static_cast<double>(t.n_bytes) / 2 + heads * lora * nope * 4;
    } else if (t.shape.size() == 2) {  // MLA, router, shared experts, dense FFN, output
      active += static_cast<double>(t.n_bytes);
    }
  }
  const BenchOptions bo = DecodeOnly(path);
  active += n_layers * latent * 2 * (bo.n_gen / 2.0);  // f16 latent rows, no V
  auto r = RunBench(bo);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->bytes_per_token, active);
  EXPECT_LT(r->bytes_per_token, 0.6 * r->weight_bytes);
}

}  // namespace
}  // namespace plexus

namespace plexus {
namespace {

// The node-start speed measurements give positive, finite numbers (small
// sizes: this checks the arithmetic, not the speed).
TEST(BenchTest, MachineSpeedIsPositiveAndFinite) {
  ThreadPool pool(2);
  const double gflops = MeasureDecodeGflops(pool, 256, 3);
  EXPECT_GT(gflops, 0);
  EXPECT_TRUE(std::isfinite(gflops));
  const double gbs = MeasureReadBandwidth(pool, 8);
  EXPECT_GT(gbs, 0);
  EXPECT_TRUE(std::isfinite(gbs));
}

}  // namespace
}  // namespace plexus
