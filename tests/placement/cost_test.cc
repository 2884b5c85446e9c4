// The cost model's formulas, the share and layer filling, input validation
// and the model shape read from a real GGUF file.
#include "placement/cost.h"

#include <gtest/gtest.h>

#include <numeric>

#include "format/gguf.h"
#include "placement/planner.h"

// The tables below leave a node's and an inventory's optional fields
// (host, threads, hosts) at their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace plexus::placement {
namespace {

Node Nd(const std::string& name, uint64_t memory = 1, double membw = 1) {
  return Node{name, memory, membw, 0.0, 1.0, "", 0};
}

TEST(CostTest, MessageAndAllReduceFollowAlphaBeta) {
  const CostParams p;                   // 6 us per message
  const LinkCost link{300e-6, 1.25e9};  // 300 us, 10 Gbit/s
  EXPECT_NEAR(MessageTime(link, 16384, p), 300e-6 + 6e-6 + 16384 / 1.25e9, 1e-12);
  EXPECT_EQ(AllReduceTime(1, link, 16384, p), 0.0);
  EXPECT_NEAR(AllReduceTime(2, link, 16384, p), 300e-6 + (6e-6 + 16384 / 1.25e9), 1e-12);
  // Four ranks: the latency once, three sends queued on each rank's link.
  EXPECT_NEAR(AllReduceTime(4, link, 16384, p), 300e-6 + 3 * (6e-6 + 16384 / 1.25e9), 1e-12);
  CostParams doubled = p;
  doubled.allreduce_latency_factor = 2;
  EXPECT_NEAR(AllReduceTime(2, link, 0, doubled), 600e-6 + 6e-6, 1e-12);
}

TEST(CostTest, GatherIsSetByTheBusiestRank) {
  const CostParams p;
  const LinkCost link{10e-6, 1e9};
  const std::vector<double> even = {0.5, 0.5}, skewed = {0.75, 0.25};
  // Even: each sends half and receives half.
  EXPECT_NEAR(GatherTime(even, link, 1e6, p), 10e-6 + 6e-6 + 0.5e6 / 1e9, 1e-12);
  // Skewed: the 0.75 rank sends 0.75 of the logits.
  EXPECT_NEAR(GatherTime(skewed, link, 1e6, p), 10e-6 + 6e-6 + 0.75e6 / 1e9, 1e-12);
  EXPECT_EQ(GatherTime(std::vector<double>{1.0}, link, 1e6, p), 0.0);
}

TEST(CostTest, SlowestLinkOfAGroup) {
  Inventory inv{{Nd("a"), Nd("b"), Nd("c")}, {{"a", "b", 5, 100}, {"b", "c", 300, 10}}, {}};
  const LinkTable links(inv);
  const std::vector<size_t> ab = {0, 1}, bc = {1, 2}, abc = {0, 1, 2}, a = {0};
  EXPECT_NEAR(SlowestLink(links, ab).latency_s, 5e-6, 1e-15);
  EXPECT_NEAR(SlowestLink(links, bc).bytes_per_s, 10e9 / 8, 1e-3);
  EXPECT_LT(SlowestLink(links, abc).latency_s, 0);  // a-c unreachable
  EXPECT_EQ(SlowestLink(links, a).latency_s, 0);
}

struct ShareCase {
  std::string name;
  std::vector<double> weights, caps, expected;
  bool feasible;
};

class FillSharesTest : public testing::TestWithParam<ShareCase> {};

TEST_P(FillSharesTest, WaterFills) {
  const ShareCase& c = GetParam();
  std::vector<double> out;
  EXPECT_EQ(FillShares(c.weights, c.caps, out), c.feasible);
  ASSERT_EQ(out.size(), c.expected.size());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], c.expected[i], 1e-9) << i;
  EXPECT_NEAR(std::accumulate(out.begin(), out.end(), 0.0), 1.0, 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Cases, FillSharesTest,
                         testing::Values(ShareCase{"Proportional", {3, 1}, {1, 1}, {0.75, 0.25}, true},
                                         ShareCase{
                                             "CappedGoesToTheOthers", {1, 1, 2}, {1, 1, 0.3}, {0.35, 0.35, 0.3}, true},
                                         ShareCase{"CascadingCaps", {1, 1, 1}, {0.1, 0.2, 1}, {0.1, 0.2, 0.7}, true},
                                         ShareCase{"CapsTooSmall", {1, 1}, {0.3, 0.1}, {0.75, 0.25}, false}),
                         [](const testing::TestParamInfo<ShareCase>& info) { return info.param.name; });

struct LayerCase {
  std::string name;
  int64_t n_layers;
  std::vector<double> targets;
  std::vector<int64_t> caps, expected;
  bool feasible;
};

class FillLayersTest : public testing::TestWithParam<LayerCase> {};

TEST_P(FillLayersTest, RoundsWithinCaps) {
  const LayerCase& c = GetParam();
  std::vector<int64_t> out;
  EXPECT_EQ(FillLayers(c.n_layers, c.targets, c.caps, out), c.feasible);
  EXPECT_EQ(out, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Cases, FillLayersTest,
                         testing::Values(LayerCase{"Exact", 32, {16, 16}, {32, 32}, {16, 16}, true},
                                         LayerCase{"Rounded", 32, {10.6, 21.4}, {32, 32}, {11, 21}, true},
                                         LayerCase{"Capped", 32, {16, 16}, {10, 32}, {10, 22}, true},
                                         LayerCase{"AtLeastOneEach", 4, {3.9, 0.05, 0.05}, {4, 4, 4}, {2, 1, 1}, true},
                                         LayerCase{"CapsTooSmall", 32, {16, 16}, {10, 10}, {16, 16}, false},
                                         LayerCase{"ZeroCap", 32, {16, 16}, {0, 32}, {1, 31}, false}),
                         [](const testing::TestParamInfo<LayerCase>& info) { return info.param.name; });

struct InventoryCase {
  std::string name;
  Inventory inventory;
  std::string error;  // expected in the message
};

class InventoryTest : public testing::TestWithParam<InventoryCase> {};

TEST_P(InventoryTest, NamesTheField) {
  const Status st = ValidateInventory(GetParam().inventory);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(GetParam().error), std::string::npos) << st.message();
}

const Node kGood{"a", 1ull << 30, 10};

INSTANTIATE_TEST_SUITE_P(
    Cases, InventoryTest,
    testing::Values(
        InventoryCase{"NoNodes", {}, "nodes must list at least one node"},
        InventoryCase{"EmptyName", {{kGood, {"", 1, 1}}, {}}, "nodes[1].name must be a non-empty string"},
        InventoryCase{"DuplicateName", {{kGood, kGood}, {}}, "nodes[1].name 'a' repeats nodes[0].name"},
        InventoryCase{"ZeroMemory", {{kGood, {"c", 0, 1}}, {}}, "nodes[1].memory_bytes must be a positive number"},
        InventoryCase{"ZeroBandwidth", {{{"c", 1, 0}}, {}}, "nodes[0].membw_gbs must be a positive number"},
        InventoryCase{"NegativeGflops", {{{"c", 1, 1, -1}}, {}}, "nodes[0].gflops must be a non-negative number"},
        InventoryCase{"BadFraction", {{{"c", 1, 1, 0, 1.5}}, {}}, "nodes[0].max_fraction must be in (0, 1]"},
        InventoryCase{"UnknownLinkEnd", {{kGood}, {{"a", "zz", 1, 1}}}, "links[0].b 'zz' is not a node"},
        InventoryCase{"SelfLink", {{kGood}, {{"a", "a", 1, 1}}}, "links[0] joins 'a' to itself"},
        InventoryCase{"NegativeLatency",
                      {{kGood, {"b", 1, 1}}, {{"a", "b", -1, 1}}},
                      "links[0].latency_us must be a non-negative number"},
        InventoryCase{"ZeroLinkBandwidth",
                      {{kGood, {"b", 1, 1}}, {{"a", "b", 1, 0}}},
                      "links[0].bandwidth_gbps must be a positive number"}),
    [](const testing::TestParamInfo<InventoryCase>& info) { return info.param.name; });

TEST(ShapeTest, DenseShapeWeighsWhatItSays) {
  const ModelShape s = DenseShape(32, 32, 8, 128, 4096, 14336, 128256, 18.0 / 32);
  EXPECT_TRUE(ValidateShape(s).ok());
  // 8.03 B weights at 4.5 bits: about 4.5 GB.
  EXPECT_NEAR(s.weight_bytes() / 1e9, 4.52, 0.02);
  EXPECT_EQ(s.kv_bytes_per_token_layer, 2 * 1024 * 2);
}

TEST(ShapeTest, RejectsBadShapes) {
  ModelShape s = DenseShape(2, 4, 3, 8, 32, 64, 100, 1);
  EXPECT_NE(ValidateShape(s).message().find("n_heads 4 is not a multiple of n_kv_heads 3"), std::string::npos);
  s = DenseShape(0, 4, 2, 8, 32, 64, 100, 1);
  EXPECT_NE(ValidateShape(s).message().find("n_layers 0 must be positive"), std::string::npos);
  auto plan = PlanPlacement(s, Inventory{{Nd("a", 1ull << 30, 10)}, {}, {}}, {});
  EXPECT_FALSE(plan.ok());
}

TEST(ShapeTest, FromGgufAddsUpTheTensors) {
  auto file = GgufFile::Open(std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf");
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto config = ReadModelConfig(**file);
  ASSERT_TRUE(config.ok()) << config.status().message();
  auto shape = ShapeFromGguf(**file, *config);
  ASSERT_TRUE(shape.ok()) << shape.status().message();
  double total = 0;
  for (const GgufTensorInfo& t : (*file)->tensors()) total += static_cast<double>(t.n_bytes);
  EXPECT_NEAR(shape->weight_bytes(), total, 1e-6 * total);
  EXPECT_EQ(shape->n_layers, config->n_layers);
  EXPECT_EQ(shape->n_heads, config->n_heads);
  EXPECT_EQ(shape->kv_bytes_per_token_layer, 2.0 * static_cast<double>(config->kv_dim()) * 2);
  EXPECT_GT(shape->layer.ffn, shape->layer.other);
  // A one-node plan for it on a modest machine.
  auto placement = PlanPlacement(*shape, Inventory{{Nd("here", 1ull << 30, 10)}, {}, {}}, Request{256, 1, 64ull << 20});
  ASSERT_TRUE(placement.ok()) << placement.status().message();
  EXPECT_EQ(placement->best.Split(), "1");
  EXPECT_EQ(placement->best.nodes[0].layers.size(), config->n_layers);
}

}  // namespace
}  // namespace plexus::placement
