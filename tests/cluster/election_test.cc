// The coordinator election rule (cluster/election.h): a pure function of the
// live set, so every node computes the same answer from the same beacons.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "cluster/election.h"

namespace plexus::cluster {
namespace {

DiscoveredNode Member(uint64_t id, uint8_t flags, std::string host = "10.0.0.2", uint16_t port = 7700) {
  DiscoveredNode n;
  n.node_id = id;
  n.host = std::move(host);
  n.port = port;
  n.api_port = 8080;
  n.flags = flags;
  return n;
}

uint64_t Elected(const std::vector<DiscoveredNode>& live) {
  auto i = ElectCoordinator(live);
  return i ? live[*i].node_id : 0;
}

TEST(Election, NobodyWithoutCandidates) {
  EXPECT_FALSE(ElectCoordinator({}).has_value());
  EXPECT_FALSE(ElectCoordinator(std::vector{Member(1, 0), Member(2, 0)}).has_value());
}

TEST(Election, LowestCandidateIdWins) {
  // Node 1 has no model: it can serve shards but not coordinate.
  EXPECT_EQ(Elected({Member(9, kBeaconCandidate), Member(1, 0), Member(5, kBeaconCandidate)}), 5u);
}

TEST(Election, SameAnswerInAnyOrder) {
  std::vector<DiscoveredNode> live = {Member(40, kBeaconCandidate), Member(7, kBeaconCandidate), Member(3, 0),
                                      Member(12, kBeaconCandidate), Member(90, kBeaconCandidate | kBeaconCoordinating),
                                      Member(91, kBeaconCandidate | kBeaconCoordinating)};
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
  do {
    EXPECT_EQ(Elected(live), 90u);
  } while (std::next_permutation(live.begin(), live.end(),
                                 [](const auto& a, const auto& b) { return a.node_id < b.node_id; }));
}

TEST(Election, IncumbentKeepsTheRoleWhenALowerIdJoins) {
  EXPECT_EQ(Elected({Member(50, kBeaconCandidate | kBeaconCoordinating), Member(2, kBeaconCandidate)}), 50u);
  // Once it is gone, the lowest candidate takes over.
  EXPECT_EQ(Elected({Member(2, kBeaconCandidate), Member(60, kBeaconCandidate)}), 2u);
}

TEST(Election, CoordinatingWithoutTheModelIsNotEligible) {
  EXPECT_EQ(Elected({Member(1, kBeaconCoordinating), Member(8, kBeaconCandidate)}), 8u);
}

TEST(Election, EqualIdsAreBrokenByAddress) {
  const std::vector<DiscoveredNode> a = {Member(7, kBeaconCandidate, "10.0.0.9"), Member(7, kBeaconCandidate, "10.0.0.3")};
  const std::vector<DiscoveredNode> b = {a[1], a[0]};
  EXPECT_EQ(a[*ElectCoordinator(a)].host, "10.0.0.3");
  EXPECT_EQ(b[*ElectCoordinator(b)].host, "10.0.0.3");
}

TEST(Election, Describe) {
  EXPECT_EQ(DescribeMember(Member(0x1a, kBeaconCandidate)), "node 000000000000001a at 10.0.0.2:8080");
}

}  // namespace
}  // namespace plexus::cluster
