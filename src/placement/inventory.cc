#include "placement/inventory.h"

#include <cmath>
#include <limits>
#include <map>

namespace plexus::placement {
namespace {

bool Finite(double v) { return std::isfinite(v); }

Status CheckNode(const Node& n, size_t i, std::map<std::string, size_t>& seen) {
  if (n.name.empty()) return Status::Errorf("placement", "nodes[{}].name must be a non-empty string", i);
  if (auto [it, fresh] = seen.emplace(n.name, i); !fresh)
    return Status::Errorf("placement", "nodes[{}].name '{}' repeats nodes[{}].name", i, n.name, it->second);
  if (n.memory_bytes == 0) return Status::Errorf("placement", "nodes[{}].memory_bytes must be a positive number", i);
  if (!(n.membw_gbs > 0) || !Finite(n.membw_gbs))
    return Status::Errorf("placement", "nodes[{}].membw_gbs must be a positive number", i);
  if (!(n.gflops >= 0) || !Finite(n.gflops))
    return Status::Errorf("placement", "nodes[{}].gflops must be a non-negative number", i);
  if (!(n.max_fraction > 0) || n.max_fraction > 1)
    return Status::Errorf("placement", "nodes[{}].max_fraction must be in (0, 1]", i);
  if (n.threads < 0) return Status::Errorf("placement", "nodes[{}].threads must be a non-negative number", i);
  return Status::Ok();
}

Status CheckLink(const Link& l, size_t i, const std::map<std::string, size_t>& names) {
  if (!names.contains(l.a)) return Status::Errorf("placement", "links[{}].a '{}' is not a node", i, l.a);
  if (!names.contains(l.b)) return Status::Errorf("placement", "links[{}].b '{}' is not a node", i, l.b);
  if (l.a == l.b) return Status::Errorf("placement", "links[{}] joins '{}' to itself", i, l.a);
  if (!(l.latency_us >= 0) || !Finite(l.latency_us))
    return Status::Errorf("placement", "links[{}].latency_us must be a non-negative number", i);
  if (!(l.bandwidth_gbps > 0) || !Finite(l.bandwidth_gbps))
    return Status::Errorf("placement", "links[{}].bandwidth_gbps must be a positive number", i);
  return Status::Ok();
}

}  // namespace

uint64_t Node::usable_bytes() const {
  return static_cast<uint64_t>(std::floor(static_cast<double>(memory_bytes) * max_fraction));
}

Status ValidateInventory(const Inventory& inv) {
  if (inv.nodes.empty()) return Status::Errorf("placement", "nodes must list at least one node");
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < inv.nodes.size(); ++i) PLEXUS_RETURN_IF_ERROR(CheckNode(inv.nodes[i], i, names));
  for (size_t i = 0; i < inv.links.size(); ++i) PLEXUS_RETURN_IF_ERROR(CheckLink(inv.links[i], i, names));
  std::map<std::string, size_t> hosts;
  for (size_t i = 0; i < inv.hosts.size(); ++i) {
    const Host& h = inv.hosts[i];
    bool used = false;
    for (const Node& n : inv.nodes) used = used || n.host == h.name;
    if (h.name.empty() || !used)
      return Status::Errorf("placement", "hosts[{}].name '{}' is no node's host", i, h.name);
    if (auto [it, fresh] = hosts.emplace(h.name, i); !fresh)
      return Status::Errorf("placement", "hosts[{}].name '{}' repeats hosts[{}].name", i, h.name, it->second);
    if (!(h.membw_gbs >= 0) || !Finite(h.membw_gbs))
      return Status::Errorf("placement", "hosts[{}].membw_gbs must be a non-negative number", i);
    if (h.cores < 0) return Status::Errorf("placement", "hosts[{}].cores must be a non-negative number", i);
  }
  return Status::Ok();
}

LinkTable::LinkTable(const Inventory& inv) : n_(inv.nodes.size()), table_(n_ * n_) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < n_; ++i) {
    index[inv.nodes[i].name] = i;
    table_[i * n_ + i] = LinkCost{0.0, std::numeric_limits<double>::infinity()};
  }
  for (const Link& l : inv.links) {
    auto a = index.find(l.a), b = index.find(l.b);
    if (a == index.end() || b == index.end() || a->second == b->second) continue;
    const LinkCost cost{l.latency_us * 1e-6, l.bandwidth_gbps * 1e9 / 8};
    table_[a->second * n_ + b->second] = cost;
    table_[b->second * n_ + a->second] = cost;
  }
}

}  // namespace plexus::placement
