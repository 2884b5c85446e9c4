#include "cluster/election.h"

#include <tuple>

#include <fmt/format.h>

namespace plexus::cluster {
namespace {

// Strict order on nodes: the lowest wins an election.
bool Before(const DiscoveredNode& a, const DiscoveredNode& b) {
  return std::forward_as_tuple(a.node_id, a.host, a.port, a.api_port) <
         std::forward_as_tuple(b.node_id, b.host, b.port, b.api_port);
}

}  // namespace

std::optional<size_t> ElectCoordinator(std::span<const DiscoveredNode> live) {
  std::optional<size_t> best;
  bool best_coordinating = false;
  for (size_t i = 0; i < live.size(); ++i) {
    const DiscoveredNode& n = live[i];
    if ((n.flags & kBeaconCandidate) == 0) continue;
    const bool coordinating = (n.flags & kBeaconCoordinating) != 0;
    // An incumbent beats any non-incumbent; within each group the lowest id wins.
    const bool better = !best || (coordinating && !best_coordinating) ||
                        (coordinating == best_coordinating && Before(n, live[*best]));
    if (better) {
      best = i;
      best_coordinating = coordinating;
    }
  }
  return best;
}

std::string DescribeMember(const DiscoveredNode& n) {
  return n.api_port != 0 ? fmt::format("node {:016x} at {}:{}", n.node_id, n.host, n.api_port)
                         : fmt::format("node {:016x} at {}", n.node_id, n.address());
}

}  // namespace plexus::cluster
