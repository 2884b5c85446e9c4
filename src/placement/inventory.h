// The machines a plan may use and the links between them: the planner's
// input besides the model. Pure data; apps/cmd_plan.cc reads it from JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace plexus::placement {

struct Node {
  std::string name;
  uint64_t memory_bytes = 0;  // memory the node can give to plexus
  double membw_gbs = 0;       // measured read bandwidth, GB/s (10^9 bytes/s)
  double gflops = 0;          // sustained GFLOP/s of the decode kernels; 0: unknown (no compute bound)
  double max_fraction = 1.0;  // use at most this fraction of memory_bytes
  // The machine the node runs on; nodes naming the same host share its
  // memory bandwidth and cores while they compute at once (the ranks of one
  // stage). Empty: a machine of its own.
  std::string host;
  int threads = 0;  // threads the node computes with; 0: unknown (no core contention counted)
  uint64_t usable_bytes() const;
  const std::string& host_key() const { return host.empty() ? name : host; }
};

// A machine several nodes share (optional: nodes may name hosts not listed).
struct Host {
  std::string name;
  double membw_gbs = 0;  // read bandwidth of the whole machine with all its nodes reading; 0: the largest
                         // membw_gbs of its nodes (one node alone saturates it)
  int cores = 0;         // 0: unknown (no core contention counted)
};

// A link between two nodes, the same both ways. Pairs without a link are
// unreachable: no plan puts them in one TP group or in adjacent stages.
struct Link {
  std::string a, b;
  double latency_us = 0;      // one way
  double bandwidth_gbps = 0;  // Gbit/s (10^9 bits/s)
};

struct Inventory {
  std::vector<Node> nodes;
  std::vector<Link> links;
  std::vector<Host> hosts;
};

// Errors name the field: "nodes[2].memory_bytes must be a positive number",
// "links[0].b 'x' is not a node", "hosts[0].name 'x' is no node's host".
Status ValidateInventory(const Inventory& inventory);

// A link in the units the cost model uses.
struct LinkCost {
  double latency_s = 0;
  double bytes_per_s = 0;
};

// Node indices -> link cost, for the planner's inner loop. Built once from a
// valid inventory; a later link for the same pair replaces an earlier one.
class LinkTable {
 public:
  explicit LinkTable(const Inventory& inventory);
  // nullptr: unreachable. A node reaches itself at no cost.
  const LinkCost* Get(size_t a, size_t b) const {
    const auto& l = table_[a * n_ + b];
    return l ? &*l : nullptr;
  }

 private:
  size_t n_ = 0;
  std::vector<std::optional<LinkCost>> table_;  // [n * n]
};

}  // namespace plexus::placement
