// The planner's newer cases: expert parallelism for MoE models, nodes that
// share one host (its bandwidth and cores), a fixed rank 0 and a forced split.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "must_plan.h"
#include "placement/planner.h"

namespace plexus::placement {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr double kQ4_0 = 18.0 / 32;

// Qwen3-30B-A3B's shape in Q4_0: 48 layers, 128 experts of width 768, 8 per
// token; about 17 GB, of which the experts are 95%.
ModelShape Qwen3Moe() { return MoeShape(48, 32, 4, 128, 2048, 128, 8, 768, 151936, kQ4_0); }
// Llama 3.2 1B's shape with a 32000 vocabulary in Q4_0.
ModelShape Llama1B() { return DenseShape(16, 32, 8, 64, 2048, 8192, 32000, kQ4_0); }

Node MakeNode(const std::string& name, double memory_gib, double membw_gbs, const std::string& host = "",
              int threads = 0) {
  return Node{name, static_cast<uint64_t>(memory_gib * double(kGiB)), membw_gbs, 0.0, 1.0, host, threads};
}

Inventory Mesh(std::vector<Node> nodes, double latency_us, double gbps) {
  Inventory inv{std::move(nodes), {}, {}};
  for (size_t i = 0; i < inv.nodes.size(); ++i)
    for (size_t j = i + 1; j < inv.nodes.size(); ++j)
      inv.links.push_back({inv.nodes[i].name, inv.nodes[j].name, latency_us, gbps});
  return inv;
}

const Alternative* FindAlternative(const Placement& p, const std::string& split) {
  for (const Alternative& alt : p.alternatives)
    if (alt.plan.Split() == split) return &alt;
  return nullptr;
}

// Under ep the LM head's rows go evenly over every rank (MakeShard does the
// same at runtime): disjoint ranges, in rank order, covering the vocabulary.
void ExpectVocabSplitOverAllRanks(const Plan& plan, int64_t n_vocab) {
  int64_t next = 0;
  for (const NodePlan& np : plan.nodes) {
    EXPECT_EQ(np.vocab.begin, next) << np.name << " (rank " << np.rank << ")";
    EXPECT_NEAR(static_cast<double>(np.vocab.size()), double(n_vocab) / double(plan.nodes.size()), 1.0) << np.name;
    next = np.vocab.end;
  }
  EXPECT_EQ(next, n_vocab);
}

Inventory FourMoeNodes(double latency_us) {
  return Mesh({MakeNode("a", 8, 100), MakeNode("b", 8, 100), MakeNode("c", 8, 100), MakeNode("d", 8, 100)},
              latency_us, 10);
}

TEST(PlannerEp, SlowLinksMoeChoosesExpertParallel) {
  // 400 us links: tp4 waits on 2 all-reduces per layer, ep4 on one per MoE
  // layer, and the attention it replicates is small beside the experts. (The
  // window is narrow for one sequence: at ~230 us tp4 ties, and above ~545 us
  // pp3's one hop per stage beats both.)
  const ModelShape shape = Qwen3Moe();
  const Placement p = MustPlan(shape, FourMoeNodes(400), Request{1024, 1, 512ull << 20});
  const Plan& best = p.best;
  EXPECT_EQ(best.Split(), "ep4");
  EXPECT_EQ(best.ep, 4);
  EXPECT_EQ(best.tp, 1);
  EXPECT_EQ(best.pp, 1);
  EXPECT_EQ(best.RunFlags(), "--split ep4");
  ASSERT_EQ(best.nodes.size(), 4u);
  int64_t next = 0;
  for (const NodePlan& np : best.nodes) {
    EXPECT_EQ(np.experts.begin, next) << np.name;
    next = np.experts.end;
    EXPECT_EQ(np.experts.size(), 32) << np.name;  // equal memory: equal experts
    EXPECT_EQ(np.heads.size(), shape.n_heads) << np.name;  // attention replicated
    EXPECT_LE(np.memory_bytes(), np.usable_bytes) << np.name;
  }
  EXPECT_EQ(next, shape.n_experts);
  ExpectVocabSplitOverAllRanks(best, shape.n_vocab);
  EXPECT_GT(best.stages[0].gather_s, 0.0);  // the head's slices come back once per token
  // Costed as one all-reduce per MoE layer (no attention all-reduces).
  EXPECT_GT(best.stages[0].allreduce_s, 48 * 400e-6);
  EXPECT_LT(best.stages[0].allreduce_s, 2 * 48 * 400e-6);
  const Alternative* tp4 = FindAlternative(p, "tp4");
  ASSERT_NE(tp4, nullptr);
  EXPECT_NE(tp4->why.find("slower"), std::string::npos) << tp4->why;
  EXPECT_GT(tp4->plan.token_s, best.token_s);
  bool explained = false;
  for (const std::string& r : best.reasons) explained = explained || r.find("expert parallelism") != std::string::npos;
  EXPECT_TRUE(explained);
}

TEST(PlannerEp, FastLinksMoeStaysTensorParallel) {
  // 5 us links: the all-reduces are cheap, and tp4 reads a quarter of the
  // attention where ep4 reads all of it on every rank.
  const Placement p = MustPlan(Qwen3Moe(), FourMoeNodes(5), Request{4096, 1, 512ull << 20});
  EXPECT_EQ(p.best.Split(), "tp4");
  const Alternative* ep4 = FindAlternative(p, "ep4");
  ASSERT_NE(ep4, nullptr);
  EXPECT_NE(ep4->why.find("slower"), std::string::npos) << ep4->why;
}

TEST(PlannerEp, ActiveExpertBytesAreWhatATokenReads) {
  // The same model with every expert active reads 16x the expert bytes
  // (and the same attention, embedding row and LM head).
  ModelShape all_active = Qwen3Moe();
  all_active.n_experts_used = all_active.n_experts;
  SearchOptions ep4;
  ep4.only_split = "ep4";
  const Request req{4096, 1, 512ull << 20};
  const Plan sparse = MustPlan(Qwen3Moe(), FourMoeNodes(300), req, ep4).best;
  const Plan dense = MustPlan(all_active, FourMoeNodes(300), req, ep4).best;
  EXPECT_GT(dense.stages[0].compute_s, 3 * sparse.stages[0].compute_s);
}

TEST(PlannerEp, ExpertsFollowMemory) {
  // c has three times the others' room: it takes most of the experts.
  Inventory inv = Mesh({MakeNode("a", 7, 100), MakeNode("b", 7, 100), MakeNode("c", 16, 100)}, 300, 10);
  SearchOptions search;
  search.only_split = "ep3";
  const Plan p = MustPlan(Qwen3Moe(), inv, Request{2048, 1, 512ull << 20}, search).best;
  ASSERT_EQ(p.nodes.size(), 3u);
  int64_t a = 0, c = 0;
  for (const NodePlan& np : p.nodes) {
    if (np.name == "a") a = np.experts.size();
    if (np.name == "c") c = np.experts.size();
    EXPECT_LE(np.memory_bytes(), np.usable_bytes) << np.name;
  }
  EXPECT_GT(c, 2 * a);
}

TEST(PlannerEp, TpTimesEpKeepsAttentionGroupsOnFastLinks) {
  // Two racks of two: the tp2xep2 plan splits attention inside a rack.
  std::vector<Node> nodes = {MakeNode("r0a", 8, 100), MakeNode("r0b", 8, 100), MakeNode("r1a", 8, 100),
                             MakeNode("r1b", 8, 100)};
  Inventory inv{nodes, {}, {}};
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = i + 1; j < 4; ++j) inv.links.push_back({nodes[i].name, nodes[j].name, i / 2 == j / 2 ? 5.0 : 300.0, 10});
  SearchOptions search;
  search.only_split = "tp2xep2";
  const Plan p = MustPlan(Qwen3Moe(), inv, Request{4096, 1, 512ull << 20}, search).best;
  EXPECT_EQ(p.tp, 2);
  EXPECT_EQ(p.ep, 2);
  EXPECT_EQ(p.RunFlags(), "--split tp2xep2");
  ASSERT_EQ(p.nodes.size(), 4u);
  EXPECT_EQ(p.nodes[0].name.substr(0, 2), p.nodes[1].name.substr(0, 2)) << p.Groups();
  EXPECT_EQ(p.nodes[2].name.substr(0, 2), p.nodes[3].name.substr(0, 2)) << p.Groups();
  EXPECT_EQ(p.nodes[0].heads.size(), 16);  // half the heads per rank of a group
  ExpectVocabSplitOverAllRanks(p, Qwen3Moe().n_vocab);  // the head over all four, not per group
}

TEST(PlannerEp, GatedOffOrDenseModelHasNoExpertParallelPlans) {
  SearchOptions no_ep;
  no_ep.allow_ep = false;
  const Placement moe = MustPlan(Qwen3Moe(), FourMoeNodes(300), Request{4096, 1, 512ull << 20}, no_ep);
  EXPECT_EQ(moe.best.ep, 1);
  for (const Alternative& alt : moe.alternatives) EXPECT_EQ(alt.plan.ep, 1) << alt.plan.Split();
  const Placement dense = MustPlan(Llama1B(), Mesh({MakeNode("a", 8, 100), MakeNode("b", 8, 100)}, 300, 10));
  for (const Alternative& alt : dense.alternatives) EXPECT_EQ(alt.plan.ep, 1) << alt.plan.Split();
}

TEST(PlannerSharedHost, NodesOnOneHostShareItsBandwidth) {
  // Apart, tp2 nearly halves the time per token; on one host whose single
  // process already takes all the bandwidth, tp2 cannot beat one process.
  const Inventory apart = Mesh({MakeNode("a", 8, 20), MakeNode("b", 8, 20)}, 10, 40);
  EXPECT_EQ(MustPlan(Llama1B(), apart).best.Split(), "tp2");
  const Inventory shared = Mesh({MakeNode("a", 8, 20, "box"), MakeNode("b", 8, 20, "box")}, 10, 40);
  const Placement p = MustPlan(Llama1B(), shared);
  EXPECT_EQ(p.best.Split(), "1");
  const Alternative* tp2 = FindAlternative(p, "tp2");
  ASSERT_NE(tp2, nullptr);
  EXPECT_GT(tp2->plan.token_s, p.best.token_s);
  // Pipeline stages run one after another: they do not contend.
  SearchOptions pp2;
  pp2.only_split = "pp2";
  const Plan pp_apart = MustPlan(Llama1B(), apart, {}, pp2).best;
  const Plan pp_shared = MustPlan(Llama1B(), shared, {}, pp2).best;
  EXPECT_NEAR(pp_shared.token_s, pp_apart.token_s, pp_apart.token_s * 1e-9);
}

TEST(PlannerSharedHost, HostBandwidthAboveOneProcessHelpsTp) {
  // One process reads 20 GB/s, the whole host 36: tp2 on it gets 18 each.
  Inventory inv = Mesh({MakeNode("a", 8, 20, "box"), MakeNode("b", 8, 20, "box")}, 10, 40);
  inv.hosts.push_back({"box", 36, 0});
  const Placement p = MustPlan(Llama1B(), inv);
  EXPECT_EQ(p.best.Split(), "tp2");
  const Plan& one = FindAlternative(p, "1")->plan;
  EXPECT_GT(p.best.tokens_per_s(), 1.3 * one.tokens_per_s());
  EXPECT_LT(p.best.tokens_per_s(), 1.8 * one.tokens_per_s());
}

TEST(PlannerSharedHost, OversubscribedCoresSlowEveryRank) {
  // 2 cores, two processes of 2 threads each: tp2 on the host computes at
  // half speed, so sharing the host's bandwidth evenly is not all it costs.
  Inventory roomy = Mesh({MakeNode("a", 8, 20, "box", 1), MakeNode("b", 8, 20, "box", 1)}, 10, 40);
  roomy.hosts.push_back({"box", 40, 2});
  Inventory crowded = roomy;
  for (Node& n : crowded.nodes) n.threads = 2;
  SearchOptions tp2;
  tp2.only_split = "tp2";
  const Plan fast = MustPlan(Llama1B(), roomy, {}, tp2).best;
  const Plan slow = MustPlan(Llama1B(), crowded, {}, tp2).best;
  EXPECT_NEAR(slow.stages[0].compute_s, 2 * fast.stages[0].compute_s, fast.stages[0].compute_s * 1e-6);
}

TEST(PlannerSearch, FirstNodeIsRankZero) {
  const Inventory inv = Mesh({MakeNode("a", 8, 50), MakeNode("b", 8, 20), MakeNode("c", 8, 20)}, 10, 40);
  SearchOptions search;
  search.first_node = 2;  // c coordinates
  const Placement p = MustPlan(Llama1B(), inv, {}, search);
  EXPECT_EQ(p.best.nodes[0].name, "c");
  for (const Alternative& alt : p.alternatives) EXPECT_EQ(alt.plan.nodes[0].name, "c") << alt.plan.Split();
}

TEST(PlannerSearch, OnlySplitPredictsThatSplit) {
  const Inventory inv = Mesh({MakeNode("a", 8, 20), MakeNode("b", 8, 20), MakeNode("c", 8, 20), MakeNode("d", 8, 20)},
                             10, 40);
  for (const std::string split : {"tp2", "pp2", "tp2xpp2", "1"}) {
    SearchOptions search;
    search.only_split = split;
    const Placement p = MustPlan(Llama1B(), inv, {}, search);
    EXPECT_EQ(p.best.Split(), split);
    EXPECT_TRUE(p.alternatives.empty());
  }
}

TEST(PlannerInventory, HostsAreChecked) {
  Inventory inv = Mesh({MakeNode("a", 8, 20, "box")}, 10, 40);
  inv.hosts.push_back({"other", 40, 2});
  const Status st = ValidateInventory(inv);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("hosts[0].name 'other' is no node's host"), std::string::npos) << st.message();
  inv.hosts = {{"box", -1, 2}};
  EXPECT_NE(ValidateInventory(inv).message().find("hosts[0].membw_gbs"), std::string::npos);
}

}  // namespace
}  // namespace plexus::placement
