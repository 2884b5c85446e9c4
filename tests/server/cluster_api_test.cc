// /api/cluster and /api/stats documents.
#include <gtest/gtest.h>

#include "server/cluster_api.h"

namespace plexus::server {
namespace {

TEST(ClusterApi, TwoRanks) {
  ModelFacts f;
  f.id = "stories260K";
  f.path = "/m/stories260K.gguf";
  f.context = 512;
  f.file_bytes = 1185376;
  f.quant = "F32";
  f.config = {{"arch", "llama"}, {"n_layers", 5}, {"n_heads", 8}, {"n_kv_heads", 4}, {"n_embd", 64},
              {"n_ff", 172}, {"n_vocab", 512}};
  ClusterView view;
  view.split = "tp2";
  ShardView a;
  a.rank = 0;
  a.name = "local";
  a.role = "coordinator";
  a.shard.layers = {0, 5};
  a.shard.heads = {0, 4};
  a.shard.vocab = {0, 256};
  a.share = 0.5;
  ShardView b = a;
  b.rank = 1;
  b.name = "10.0.0.2:7070";
  b.role = "node";
  b.shard.heads = {4, 8};
  b.link_rtt_us = 35.5;
  b.link_gbps = 9.5;
  b.membw_gbs = 21.5;
  b.gflops = 64;
  b.gpus = {"Tesla T4"};
  view.shards = {a, b};
  view.links = {LinkView{0, 1, 35.5, 9.5, "tcp", 1700000000000}, LinkView{1, 2, 40, 8, "", 1700000000500}};
  view.links_rounds = 2;
  const Json j = ClusterJson(f, view);
  EXPECT_EQ(j["model"]["id"], "stories260K");
  EXPECT_EQ(j["model"]["n_layers"], 5);
  EXPECT_EQ(j["model"]["context"], 512);
  EXPECT_EQ(j["model"]["quant"], "F32");
  EXPECT_EQ(j["split"], "tp2");
  ASSERT_EQ(j["nodes"].size(), 2u);
  EXPECT_EQ(j["nodes"][0]["layers"], Json::array({0, 5}));
  EXPECT_EQ(j["nodes"][1]["heads"], Json::array({4, 8}));
  EXPECT_TRUE(j["nodes"][0]["link_rtt_us"].is_null());  // the coordinator itself
  EXPECT_EQ(j["nodes"][1]["link_gbps"], 9.5);
  EXPECT_TRUE(j["nodes"][0]["membw_gbs"].is_null());  // not measured
  EXPECT_TRUE(j["nodes"][0]["gflops"].is_null());
  EXPECT_EQ(j["nodes"][0]["gpus"], Json::array());
  EXPECT_EQ(j["nodes"][1]["membw_gbs"], 21.5);
  EXPECT_EQ(j["nodes"][1]["gflops"], 64);
  EXPECT_EQ(j["nodes"][1]["gpus"], Json::array({"Tesla T4"}));
  ASSERT_EQ(j["links"].size(), 2u);
  EXPECT_EQ(j["links"][0]["a"], 0);
  EXPECT_EQ(j["links"][0]["b"], 1);
  EXPECT_EQ(j["links"][0]["latency_us"], 35.5);
  EXPECT_EQ(j["links"][0]["transport"], "tcp");
  EXPECT_EQ(j["links"][1]["a"], 1);  // a pair of nodes: no transport known at rank 0
  EXPECT_FALSE(j["links"][1].contains("transport"));
  EXPECT_EQ(j["links"][1]["measured_at_ms"], 1700000000500);
  EXPECT_EQ(j["links_measured_at_ms"], 1700000000500);  // the newest measurement
  EXPECT_EQ(j["links_rounds"], 2);
}

// ep2 of a mixture of experts: both ranks hold every head; each its experts.
TEST(ClusterApi, ExpertParallelRanksShowTheirExperts) {
  ModelFacts f;
  f.config = {{"arch", "qwen3moe"}, {"n_layers", 4}, {"n_heads", 8}, {"n_experts", 8}};
  ClusterView view;
  view.split = "ep2";
  for (int r = 0; r < 2; ++r) {
    ShardView v;
    v.rank = r;
    v.shard.heads = {0, 8};
    v.shard.experts = {4 * r, 4 * r + 4};
    v.shard.shexp = {64 * r, 64 * r + 64};
    v.shard.expert_rank = r;
    v.shard.expert_size = 2;
    view.shards.push_back(v);
  }
  const Json j = ClusterJson(f, view);
  EXPECT_EQ(j["model"]["n_experts"], 8);
  EXPECT_EQ(j["nodes"][1]["experts"], Json::array({4, 8}));
  EXPECT_EQ(j["nodes"][1]["shared_experts"], Json::array({64, 128}));
  EXPECT_EQ(j["nodes"][1]["ep_rank"], 1);
  EXPECT_EQ(j["nodes"][0]["heads"], Json::array({0, 8}));
}

TEST(ClusterApi, Stats) {
  SchedulerStats s;
  s.active = 1;
  s.requests_total = 3;
  s.decode_tps = 12.5;
  SchedulerOptions o;
  o.max_active = 8;
  o.max_queue = 64;
  const Json j = StatsJson(s, o, 12.0);
  for (const char* key : {"active", "queued", "max_active", "max_queue", "requests_total", "requests_rejected",
                          "prompt_tokens_total", "generated_tokens_total", "decode_tps", "last_ttft_ms", "uptime_s"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["max_queue"], 64);
  EXPECT_EQ(j["decode_tps"], 12.5);
}

}  // namespace
}  // namespace plexus::server
