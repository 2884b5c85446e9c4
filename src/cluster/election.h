// Which live node coordinates (docs/SERVING.md, "One command on every
// machine"). Every node runs the same pure rule over the same beacons, so all
// agree without talking to each other:
//   1. Only candidates are eligible: nodes started with the model (-m).
//   2. A candidate that already coordinates keeps the role (a node that joins
//      later, even with a lower id, does not take over a working
//      coordinator); among several (a healed partition) the lowest node id.
//   3. Otherwise the candidate with the lowest node id.
// Node ids are random 64-bit numbers drawn at each process start; an equal
// pair (practically impossible) is broken by the intake address, and then by
// the API port, so the answer never depends on the order nodes were heard in.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "cluster/discovery.h"

namespace plexus::cluster {

// The index in `live` of the elected coordinator; nullopt when no live node
// is a candidate.
std::optional<size_t> ElectCoordinator(std::span<const DiscoveredNode> live);

// "node 1a2b3c4d5e6f7081 at 10.0.0.2:8080", for logs and errors.
std::string DescribeMember(const DiscoveredNode& n);

}  // namespace plexus::cluster
