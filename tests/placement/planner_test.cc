// The placement planner on small, hand-made clusters: which split it picks,
// the shares and layers it gives, and how it explains itself.
#include "placement/planner.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "must_plan.h"

namespace plexus::placement {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr double kQ4_0 = 18.0 / 32;  // bytes per weight

// Llama 3.1 8B's shape in Q4_0: about 4.5 GB of weights.
ModelShape Llama8B() { return DenseShape(32, 32, 8, 128, 4096, 14336, 128256, kQ4_0); }
// Llama 3.2 1B's shape with a 32000 vocabulary in Q4_0: about 0.6 GB.
ModelShape Llama1B() { return DenseShape(16, 32, 8, 64, 2048, 8192, 32000, kQ4_0); }

Node MakeNode(const std::string& name, double memory_gib, double membw_gbs) {
  return Node{name, static_cast<uint64_t>(memory_gib * double(kGiB)), membw_gbs, 0.0, 1.0, "", 0};
}

// Every pair linked alike.
Inventory Mesh(std::vector<Node> nodes, double latency_us, double gbps) {
  Inventory inv{std::move(nodes), {}, {}};
  for (size_t i = 0; i < inv.nodes.size(); ++i)
    for (size_t j = i + 1; j < inv.nodes.size(); ++j)
      inv.links.push_back({inv.nodes[i].name, inv.nodes[j].name, latency_us, gbps});
  return inv;
}

// Racks of nodes: fast links inside a rack (5 us), slow ones between racks.
// Pipeline stages pay off when the all-reduces a slow link would carry cost
// more than the weights a wider TP group saves reading: fast nodes (200 GB/s)
// that must pool their memory.
Inventory Racks(size_t racks, size_t per_rack, double memory_gib, double slow_latency_us, double membw_gbs = 200) {
  std::vector<Node> nodes;
  for (size_t r = 0; r < racks; ++r)
    for (size_t i = 0; i < per_rack; ++i) nodes.push_back(MakeNode(fmt::format("r{}n{}", r, i), memory_gib, membw_gbs));
  Inventory inv{nodes, {}, {}};
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t j = i + 1; j < nodes.size(); ++j) {
      const bool same_rack = i / per_rack == j / per_rack;
      inv.links.push_back({nodes[i].name, nodes[j].name, same_rack ? 5.0 : slow_latency_us, same_rack ? 100.0 : 10.0});
    }
  return inv;
}

std::set<std::string> NodeNames(const Plan& p) {
  std::set<std::string> names;
  for (const NodePlan& np : p.nodes) names.insert(np.name);
  return names;
}

std::string StageOf(const Plan& p, const std::string& name) {
  for (const NodePlan& np : p.nodes)
    if (np.name == name) return std::to_string(np.stage);
  return "none";
}

// Every node within its memory, every layer owned once, shares summing to 1.
void ExpectConsistent(const Plan& p, const ModelShape& shape) {
  ASSERT_EQ(p.nodes.size(), static_cast<size_t>(p.tp * p.pp));
  int64_t next_layer = 0;
  for (int s = 0; s < p.pp; ++s) {
    double share_sum = 0;
    for (int r = 0; r < p.tp; ++r) {
      const NodePlan& np = p.nodes[static_cast<size_t>(s * p.tp + r)];
      EXPECT_EQ(np.rank, s * p.tp + r);
      EXPECT_EQ(np.stage, s);
      EXPECT_EQ(np.layers.begin, next_layer) << np.name;
      EXPECT_LE(np.memory_bytes(), np.usable_bytes) << np.name;
      share_sum += np.share;
    }
    EXPECT_NEAR(share_sum, 1.0, 1e-9);
    next_layer = p.nodes[static_cast<size_t>(s * p.tp)].layers.end;
  }
  EXPECT_EQ(next_layer, shape.n_layers);
  EXPECT_GT(p.tokens_per_s(), 0);
}

bool HasReason(const Plan& p, const std::string& prefix) {
  for (const std::string& r : p.reasons)
    if (r.starts_with(prefix)) return true;
  return false;
}

// --- which split wins ------------------------------------------------------

struct SplitCase {
  std::string name;
  ModelShape shape;
  Inventory inventory;
  Request request;
  std::string split;  // expected Plan::Split()
};

class SplitTest : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitTest, PicksExpectedSplit) {
  const SplitCase& c = GetParam();
  const Placement placement = MustPlan(c.shape, c.inventory, c.request);
  EXPECT_EQ(placement.best.Split(), c.split) << fmt::format("{}", fmt::join(placement.best.reasons, "\n"));
  ExpectConsistent(placement.best, c.shape);
}

Request Ctx(int64_t tokens) { return Request{tokens, 1, 512ull << 20}; }

INSTANTIATE_TEST_SUITE_P(
    Scenarios, SplitTest,
    testing::Values(
        // Equal nodes on 10 us links: tensor parallel over all of them.
        SplitCase{
            "EqualFastNodesTpOverAll", Llama8B(),
            Mesh({MakeNode("a", 16, 50), MakeNode("b", 16, 50), MakeNode("c", 16, 50), MakeNode("d", 16, 50)}, 10, 100),
            Ctx(4096), "tp4"},
        // Two pairs of fast nodes with 300 us between the pairs, the model
        // needs all four: TP inside the pairs, PP across the slow link.
        SplitCase{"SlowLinkBetweenPairs", Llama8B(), Racks(2, 2, 2.5, 300), Ctx(4096), "tp2xpp2"},
        // The same with memory to spare: a pipeline does not speed one
        // sequence up, so one pair alone beats tp2xpp2.
        SplitCase{"PipelineOnlyForMemory", Llama8B(), Racks(2, 2, 16, 300), Ctx(4096), "tp2"},
        // Slower nodes (50 GB/s): reading a quarter of the weights saves more
        // than 64 all-reduces over 300 us cost, so TP spans the slow link
        // (as measured: tp4 over 300 us links beat pp4, docs/PERFORMANCE.md).
        SplitCase{"SlowNodesTpAcrossSlowLink", Llama8B(), Racks(2, 2, 2.5, 300, 50), Ctx(4096), "tp4"},
        // Two nodes over a 5 ms link, the model fits one: one node.
        SplitCase{"SlowLinkSmallModelOneNode", Llama1B(), Mesh({MakeNode("a", 8, 50), MakeNode("b", 8, 50)}, 5000, 1),
                  Ctx(4096), "1"},
        // The same link, a model neither node holds: a pipeline over it.
        SplitCase{"SlowLinkBigModelPipeline", Llama8B(),
                  Mesh({MakeNode("a", 3.5, 50), MakeNode("b", 3.5, 50)}, 5000, 1), Ctx(4096), "pp2"},
        // Same nodes and link as the first: at 4096 tokens one node holds
        // the model and its KV cache, at 65536 tokens it takes both.
        SplitCase{"ShortContextOneNode", Llama8B(), Mesh({MakeNode("a", 8, 50), MakeNode("b", 8, 50)}, 5000, 1),
                  Ctx(4096), "1"},
        SplitCase{"LongContextTwoNodes", Llama8B(), Mesh({MakeNode("a", 8, 50), MakeNode("b", 8, 50)}, 5000, 1),
                  Ctx(65536), "pp2"}),
    [](const testing::TestParamInfo<SplitCase>& info) { return info.param.name; });

TEST(PlannerTest, SlowLinkSeparatesStagesNotTpGroups) {
  const Placement placement = MustPlan(Llama8B(), Racks(2, 2, 2.5, 300));
  const Plan& p = placement.best;
  ASSERT_EQ(p.Split(), "tp2xpp2");
  EXPECT_EQ(StageOf(p, "r0n0"), StageOf(p, "r0n1"));
  EXPECT_EQ(StageOf(p, "r1n0"), StageOf(p, "r1n1"));
  EXPECT_NE(StageOf(p, "r0n0"), StageOf(p, "r1n0"));
  // The last stage also reads the LM head (about 2.4 layers of weights): it gets fewer layers.
  EXPECT_EQ(p.RunFlags(), "--split tp2xpp2 --shares 0.5,0.5 --stage-shares 17,15");
  EXPECT_TRUE(HasReason(p, "2 pipeline stages")) << fmt::format("{}", fmt::join(p.reasons, "\n"));
}

TEST(PlannerTest, ContextLengthRaisesKvMemory) {
  const Inventory inv = Mesh({MakeNode("a", 8, 50), MakeNode("b", 8, 50)}, 5000, 1);
  const Plan short_ctx = MustPlan(Llama8B(), inv, Ctx(4096)).best;
  const Plan long_ctx = MustPlan(Llama8B(), inv, Ctx(65536)).best;
  ASSERT_EQ(short_ctx.nodes.size(), 1u);
  ASSERT_EQ(long_ctx.nodes.size(), 2u);
  // The whole model's KV cache at 4096 tokens: 32 layers x 2 x 1024 x f16.
  EXPECT_EQ(short_ctx.nodes[0].kv_bytes, 4096ull * 32 * 2 * 1024 * 2);
  EXPECT_GT(long_ctx.nodes[0].kv_bytes, short_ctx.nodes[0].kv_bytes);
  // Two sequences at 4096 tokens hold twice the KV cache.
  const Plan two_seqs = MustPlan(Llama8B(), inv, Request{4096, 2, 512ull << 20}).best;
  EXPECT_EQ(two_seqs.nodes[0].kv_bytes, 2 * short_ctx.nodes[0].kv_bytes);
}

// --- shares ----------------------------------------------------------------

TEST(PlannerTest, SharesFollowBandwidth) {
  const Inventory inv = Mesh({MakeNode("fast", 16, 60), MakeNode("slow", 16, 20)}, 10, 100);
  const Plan p = MustPlan(Llama8B(), inv).best;
  ASSERT_EQ(p.Split(), "tp2");
  ExpectConsistent(p, Llama8B());
  EXPECT_EQ(p.nodes[0].name, "fast");  // the faster node takes TP rank 0
  EXPECT_NEAR(p.nodes[0].share, 0.75, 1e-9);
  EXPECT_NEAR(p.nodes[1].share, 0.25, 1e-9);
  // Realised in whole KV groups of 4 heads: 24 and 8 of 32.
  EXPECT_EQ(p.nodes[0].heads.size(), 24);
  EXPECT_EQ(p.nodes[1].heads.size(), 8);
  EXPECT_EQ(p.RunFlags(), "--split tp2 --shares 0.75,0.25");
}

TEST(PlannerTest, UnequalMemoryGivesUnevenSharesThatFit) {
  const Inventory inv = Mesh({MakeNode("big", 16, 50), MakeNode("small", 2.5, 50)}, 10, 100);
  const Plan p = MustPlan(Llama8B(), inv).best;
  ASSERT_EQ(p.Split(), "tp2") << fmt::format("{}", fmt::join(p.reasons, "\n"));
  ExpectConsistent(p, Llama8B());
  const NodePlan& small = p.nodes[0].name == "small" ? p.nodes[0] : p.nodes[1];
  const NodePlan& big = p.nodes[0].name == "small" ? p.nodes[1] : p.nodes[0];
  EXPECT_LT(small.share, 0.5);
  EXPECT_GT(big.share, 0.5);
  EXPECT_LT(small.heads.size(), big.heads.size());
  EXPECT_LT(small.ffn.size(), big.ffn.size());
  // Capped by memory, not starved: the small node is nearly full.
  EXPECT_GT(double(small.memory_bytes()), 0.85 * double(small.usable_bytes));
  EXPECT_TRUE(HasReason(p, "small gets")) << fmt::format("{}", fmt::join(p.reasons, "\n"));
}

TEST(PlannerTest, MaxFractionLimitsMemory) {
  Inventory inv = Mesh({MakeNode("a", 8, 50), MakeNode("b", 8, 50)}, 5000, 1);
  EXPECT_EQ(MustPlan(Llama8B(), inv).best.Split(), "1");
  inv.nodes[0].max_fraction = inv.nodes[1].max_fraction = 0.5;  // 4 GiB each: the model needs both
  const Plan p = MustPlan(Llama8B(), inv).best;
  EXPECT_EQ(p.Split(), "pp2");
  for (const NodePlan& np : p.nodes) EXPECT_EQ(np.usable_bytes, 4 * kGiB);
}

// --- nodes left out, errors ------------------------------------------------

TEST(PlannerTest, NodeTooSmallToHelpIsLeftOut) {
  const Inventory inv = Mesh({MakeNode("a", 16, 50), MakeNode("b", 16, 50), MakeNode("tiny", 1, 5)}, 10, 100);
  const Plan p = MustPlan(Llama8B(), inv).best;
  EXPECT_EQ(NodeNames(p), (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(HasReason(p, "node tiny left out:")) << fmt::format("{}", fmt::join(p.reasons, "\n"));
}

TEST(PlannerTest, FewerNodesWhenAddingOneIsSlower) {
  // 1B over a 5 ms link: b would only slow a down, and the reasons say so.
  const Plan p = MustPlan(Llama1B(), Mesh({MakeNode("a", 8, 50), MakeNode("b", 8, 50)}, 5000, 1)).best;
  ASSERT_EQ(p.nodes.size(), 1u);
  EXPECT_TRUE(HasReason(p, "node b left out: with it the best plan is "))
      << fmt::format("{}", fmt::join(p.reasons, "\n"));
  EXPECT_TRUE(HasReason(p, "one node alone is fastest"));
}

TEST(PlannerTest, ModelTooLargeNamesShortfall) {
  const ModelShape shape = Llama8B();
  const Inventory inv = Mesh({MakeNode("a", 2, 50), MakeNode("b", 1.5, 50)}, 10, 100);
  auto placement = PlanPlacement(shape, inv, Ctx(4096));
  ASSERT_FALSE(placement.ok());
  const std::string& msg = placement.status().message();
  const auto needed = static_cast<uint64_t>(std::llround(shape.weight_bytes() + 4096.0 * 32 * 2 * 1024 * 2));
  const uint64_t offered = 2 * kGiB - (512ull << 20) + (3 * kGiB / 2 - (512ull << 20));
  EXPECT_NE(msg.find("does not fit"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("needs {} bytes", needed)), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("offer {} bytes", offered)), std::string::npos) << msg;
  EXPECT_NE(msg.find(fmt::format("{} bytes short in total", needed - offered)), std::string::npos) << msg;
  EXPECT_NE(msg.find("tightest node: "), std::string::npos) << msg;
}

TEST(PlannerTest, UnreachableNodeIsNotUsed) {
  Inventory inv{{MakeNode("a", 16, 50), MakeNode("b", 16, 50)}, {}, {}};  // no link
  const Plan p = MustPlan(Llama8B(), inv).best;
  EXPECT_EQ(p.nodes.size(), 1u);
  EXPECT_TRUE(HasReason(p, "node b left out: no plan joins it to the chosen nodes"))
      << fmt::format("{}", fmt::join(p.reasons, "\n"));
  inv.nodes[0].memory_bytes = inv.nodes[1].memory_bytes = 3 * kGiB;  // neither holds it alone
  EXPECT_FALSE(PlanPlacement(Llama8B(), inv, {}).ok());
}

// --- determinism and alternatives --------------------------------------------

TEST(PlannerTest, Deterministic) {
  const Inventory inv = Mesh({MakeNode("a", 16, 50), MakeNode("b", 16, 50), MakeNode("c", 16, 50),
                              MakeNode("d", 16, 50), MakeNode("e", 6, 30)},
                             10, 100);
  const Placement first = MustPlan(Llama8B(), inv);
  for (int i = 0; i < 2; ++i) {
    const Placement again = MustPlan(Llama8B(), inv);
    EXPECT_EQ(again.best.Groups(), first.best.Groups());
    EXPECT_EQ(again.best.reasons, first.best.reasons);
    EXPECT_EQ(again.best.token_s, first.best.token_s);
    ASSERT_EQ(again.alternatives.size(), first.alternatives.size());
    for (size_t a = 0; a < first.alternatives.size(); ++a) {
      EXPECT_EQ(again.alternatives[a].why, first.alternatives[a].why);
      EXPECT_EQ(again.alternatives[a].plan.Groups(), first.alternatives[a].plan.Groups());
    }
  }
}

TEST(PlannerTest, TiesGoToTheNodesListedFirst) {
  // Three equal nodes over 5 ms links: one node is best, and any would do.
  const Inventory inv = Mesh({MakeNode("c", 8, 50), MakeNode("a", 8, 50), MakeNode("b", 8, 50)}, 5000, 1);
  EXPECT_EQ(MustPlan(Llama1B(), inv).best.Groups(), "c");
}

TEST(PlannerTest, AlternativesSortedAndExplained) {
  const Placement placement = MustPlan(Llama8B(), Racks(2, 2, 4, 300, 50));
  const Plan& best = placement.best;
  ASSERT_FALSE(placement.alternatives.empty());
  bool seen_misfit = false;
  double previous_s = best.token_s;
  std::set<std::string> splits = {best.Split()};
  for (const Alternative& alt : placement.alternatives) {
    EXPECT_TRUE(splits.insert(alt.plan.Split()).second) << "one alternative per split: " << alt.plan.Split();
    if (alt.plan.fits) {
      EXPECT_FALSE(seen_misfit) << "fitting alternatives come before the ones that do not fit";
      EXPECT_GE(alt.plan.token_s, previous_s);
      previous_s = alt.plan.token_s;
      EXPECT_TRUE(alt.why.starts_with("slower by ") || alt.why.starts_with("ties at ")) << alt.why;
      if (alt.why.starts_with("slower by ")) {
        EXPECT_NE(alt.why.find(fmt::format("{:.2f} vs {:.2f} tokens/s", alt.plan.tokens_per_s(), best.tokens_per_s())),
                  std::string::npos)
            << alt.why;
      }
    } else {
      seen_misfit = true;
      EXPECT_TRUE(alt.why.starts_with("does not fit: node " + alt.plan.short_node + " short by " +
                                      std::to_string(alt.plan.short_bytes) + " bytes"))
          << alt.why;
    }
  }
  // 4 GiB nodes: the 8B model does not fit one node, so "1" is among the misfits.
  EXPECT_TRUE(seen_misfit);
}

TEST(PlannerTest, GreedySearchKeepsTpInsideARack) {
  // 12 nodes: too many to try every grouping. Three racks of four.
  const Placement placement = MustPlan(Llama8B(), Racks(3, 4, 4, 300));
  const Plan& p = placement.best;
  ExpectConsistent(p, Llama8B());
  for (int s = 0; s < p.pp; ++s)
    for (int r = 1; r < p.tp; ++r)
      EXPECT_EQ(p.nodes[static_cast<size_t>(s * p.tp + r)].name.substr(0, 2),
                p.nodes[static_cast<size_t>(s * p.tp)].name.substr(0, 2))
          << p.Groups();
  EXPECT_EQ(p.tp, 4) << p.Groups();
}

TEST(PlannerTest, GreedyAgreesWithExhaustiveOnPairs) {
  SearchOptions greedy;
  greedy.exhaustive_max_nodes = 0;
  const Plan exhaustive = MustPlan(Llama8B(), Racks(2, 2, 2.5, 300)).best;
  const Plan fast = MustPlan(Llama8B(), Racks(2, 2, 2.5, 300), {}, greedy).best;
  EXPECT_EQ(fast.Split(), exhaustive.Split());
  EXPECT_NEAR(fast.token_s, exhaustive.token_s, 1e-12);
}

TEST(PlannerTest, EightNodesExhaustive) {
  // Eight fast nodes in two racks of four; one rack cannot hold the model.
  const Placement placement = MustPlan(Llama8B(), Racks(2, 4, 1.5, 300));
  EXPECT_EQ(placement.best.Split(), "tp4xpp2") << fmt::format("{}", fmt::join(placement.best.reasons, "\n"));
  ExpectConsistent(placement.best, Llama8B());
}

TEST(PlannerTest, PerStageSharesWhenAsked) {
  // Stage nodes of different speeds: with one share vector both stages get
  // the positional minimum; per-stage shares follow each stage's nodes.
  Inventory inv = Racks(2, 2, 2.5, 300);
  inv.nodes[1].membw_gbs = 100;  // r0n1
  SearchOptions per_stage;
  per_stage.same_shares_every_stage = false;
  const Plan p = MustPlan(Llama8B(), inv, {}, per_stage).best;
  ASSERT_EQ(p.Split(), "tp2xpp2");
  EXPECT_TRUE(p.RunFlags().empty()) << "stages with different shares have no --shares form";
  const Plan uniform = MustPlan(Llama8B(), inv).best;
  EXPECT_FALSE(uniform.RunFlags().empty());
  EXPECT_LE(p.token_s, uniform.token_s * (1 + 1e-9));
}

}  // namespace
}  // namespace plexus::placement
