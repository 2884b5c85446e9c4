// The live cluster as the planner sees it (engine/live_plan.h): what the
// nodes reported at join becomes an inventory, and a plan becomes a split.
#include "engine/live_plan.h"

#include <gtest/gtest.h>

namespace plexus {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

ShardView View(const std::string& name, const std::string& host, uint64_t available_gib, uint64_t held_gib,
               double rtt_us = -1, double gbps = -1) {
  ShardView v;
  v.name = name;
  v.hostname = host;
  v.mem_available = available_gib * kGiB;
  v.weight_bytes = held_gib * kGiB;
  v.cores = 8;
  v.link_rtt_us = rtt_us;
  v.link_gbps = gbps;
  return v;
}

LivePlanOptions Options() {
  LivePlanOptions o;
  o.membw_gbs = 20;
  o.host_membw_gbs = 50;
  o.threads = 4;
  return o;
}

TEST(LiveInventory, HostsShareMemoryAndLinksAreEstimated) {
  // local and n1 on host "a" (n1 reported 10 GiB free while both held 2 GiB),
  // n2 alone on "b" behind a 600 us round trip.
  std::map<std::string, KnownNode> known = {
      {"local", {View("local", "a", 8, 2)}},
      {"n1", {View("n1", "a", 10, 2, 40, 30)}},
      {"n2", {View("n2", "b", 6, 1, 600, 5)}},
  };
  auto inv = LiveInventory({"local", "n1", "n2"}, known, Options());
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  ASSERT_EQ(inv->nodes.size(), 3u);
  // Host a: the most free (10) plus both shards (4), split between two processes.
  EXPECT_EQ(inv->nodes[0].memory_bytes, 7 * kGiB);
  EXPECT_EQ(inv->nodes[1].memory_bytes, 7 * kGiB);
  EXPECT_EQ(inv->nodes[2].memory_bytes, 7 * kGiB);
  EXPECT_EQ(inv->nodes[0].host, "a");
  EXPECT_EQ(inv->nodes[2].host, "b");
  EXPECT_EQ(inv->nodes[1].threads, 4);
  EXPECT_DOUBLE_EQ(inv->nodes[2].membw_gbs, 20);
  ASSERT_EQ(inv->hosts.size(), 2u);
  EXPECT_DOUBLE_EQ(inv->hosts[0].membw_gbs, 50);
  EXPECT_EQ(inv->hosts[0].cores, 8);
  // local-n1 and local-n2 measured (one way = half the round trip);
  // n1-n2 the slower of the two.
  ASSERT_EQ(inv->links.size(), 3u);
  EXPECT_DOUBLE_EQ(inv->links[0].latency_us, 20);
  EXPECT_DOUBLE_EQ(inv->links[0].bandwidth_gbps, 30);
  EXPECT_DOUBLE_EQ(inv->links[1].latency_us, 300);
  EXPECT_EQ(inv->links[2].a, "n1");
  EXPECT_DOUBLE_EQ(inv->links[2].latency_us, 300);
  EXPECT_DOUBLE_EQ(inv->links[2].bandwidth_gbps, 5);
}

TEST(LiveInventory, NodesOfOtherHostsUseTheirReportedSpeed) {
  // n1 shares host a with this machine: this machine's measurement stands
  // for it even though it reported its own; n2 and n3 on host b reported
  // 80 and 70 GB/s (b's bandwidth: the most of them), n4 on c reported none.
  ShardView n1 = View("n1", "a", 8, 0), n2 = View("n2", "b", 8, 0), n3 = View("n3", "b", 8, 0);
  n1.membw_gbs = 99;
  n2.membw_gbs = 80;
  n2.gflops = 120;
  n3.membw_gbs = 70;
  std::map<std::string, KnownNode> known = {
      {"local", {View("local", "a", 8, 0)}}, {"n1", {n1}}, {"n2", {n2}}, {"n3", {n3}}, {"n4", {View("n4", "c", 8, 0)}},
  };
  auto inv = LiveInventory({"local", "n1", "n2", "n3", "n4"}, known, Options());
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  ASSERT_EQ(inv->nodes.size(), 5u);
  EXPECT_DOUBLE_EQ(inv->nodes[0].membw_gbs, 20);
  EXPECT_DOUBLE_EQ(inv->nodes[1].membw_gbs, 20);
  EXPECT_DOUBLE_EQ(inv->nodes[2].membw_gbs, 80);
  EXPECT_DOUBLE_EQ(inv->nodes[2].gflops, 120);
  EXPECT_DOUBLE_EQ(inv->nodes[3].membw_gbs, 70);
  EXPECT_DOUBLE_EQ(inv->nodes[3].gflops, 0);
  EXPECT_DOUBLE_EQ(inv->nodes[4].membw_gbs, 20);
  ASSERT_EQ(inv->hosts.size(), 3u);  // a, b, c in name order
  EXPECT_DOUBLE_EQ(inv->hosts[0].membw_gbs, 50);
  EXPECT_DOUBLE_EQ(inv->hosts[1].membw_gbs, 80);
  EXPECT_DOUBLE_EQ(inv->hosts[2].membw_gbs, 50);
}

TEST(LiveInventory, UnknownNodeOrBandwidthIsAnError) {
  std::map<std::string, KnownNode> known = {{"local", {View("local", "a", 8, 0)}}};
  auto missing = LiveInventory({"local", "n9"}, known, Options());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("n9 has not reported"), std::string::npos);
  LivePlanOptions o = Options();
  o.membw_gbs = 0;
  EXPECT_FALSE(LiveInventory({"local"}, known, o).ok());
}

TEST(SplitOfPlan, CarriesSharesAndStageLayers) {
  placement::Plan plan;
  plan.tp = 2;
  plan.pp = 2;
  const double shares[] = {0.75, 0.25, 0.75, 0.25};
  const int64_t layers[][2] = {{0, 9}, {0, 9}, {9, 16}, {9, 16}};
  for (int r = 0; r < 4; ++r) {
    placement::NodePlan np;
    np.rank = r;
    np.stage = r / 2;
    np.tp_rank = r % 2;
    np.share = shares[r];
    np.layers = {layers[r][0], layers[r][1]};
    plan.nodes.push_back(np);
  }
  auto split = SplitOfPlan(plan);
  ASSERT_TRUE(split.ok()) << split.status().message();
  EXPECT_EQ(split->tp, 2);
  EXPECT_EQ(split->pp, 2);
  EXPECT_DOUBLE_EQ(split->tp_shares[0] / split->tp_shares[1], 3.0);
  EXPECT_DOUBLE_EQ(split->pp_shares[0], 9);
  EXPECT_DOUBLE_EQ(split->pp_shares[1], 7);
}

}  // namespace
}  // namespace plexus
