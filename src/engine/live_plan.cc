#include "engine/live_plan.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "base/thread_pool.h"
#include "engine/bench.h"
#include "placement/model_shape.h"

namespace plexus {
namespace {

constexpr size_t kBandwidthMib = 256;  // array read by MeasureBandwidth (as plexus bench)
// A node whose link was not measured (it joined before links were probed,
// or the probe failed): loopback-like numbers, so it is neither favoured
// nor excluded for its link.
constexpr double kUnknownLatencyUs = 50, kUnknownGbps = 10;

struct LinkGuess {
  double latency_us, gbps;
};

LinkGuess ToCoordinator(const ShardView& v) {
  if (v.link_rtt_us < 0) return {kUnknownLatencyUs, kUnknownGbps};
  return {v.link_rtt_us / 2, v.link_gbps > 0 ? v.link_gbps : kUnknownGbps};
}

// The free memory of each host: the most any of its processes saw free,
// plus the shards they all held then (freed before the next job).
std::map<std::string, uint64_t> HostMemory(const std::vector<const ShardView*>& views) {
  std::map<std::string, uint64_t> free, held;
  for (const ShardView* v : views) {
    free[v->hostname] = std::max(free[v->hostname], v->mem_available);
    held[v->hostname] += v->weight_bytes;
  }
  for (auto& [host, bytes] : free) bytes += held[host];
  return free;
}

}  // namespace

void MeasureBandwidth(LivePlanOptions& o) {
  if (o.membw_gbs <= 0) {
    ThreadPool pool(o.threads);
    o.membw_gbs = MeasureReadBandwidth(pool, kBandwidthMib);
  }
  if (o.host_membw_gbs <= 0) {
    ThreadPool pool(0);
    o.host_membw_gbs = std::max(o.membw_gbs, MeasureReadBandwidth(pool, kBandwidthMib));
  }
}

Result<placement::Inventory> LiveInventory(const std::vector<std::string>& names,
                                           const std::map<std::string, KnownNode>& known, const LivePlanOptions& o) {
  if (!(o.membw_gbs > 0)) return Status::Errorf("plan", "no read bandwidth measured for this machine");
  std::vector<const ShardView*> views;
  for (const std::string& name : names) {
    auto it = known.find(name);
    if (it == known.end()) return Status::Errorf("plan", "node {} has not reported its inventory", name);
    views.push_back(&it->second.view);
  }
  const std::map<std::string, uint64_t> host_free = HostMemory(views);
  std::map<std::string, int> per_host;
  for (const ShardView* v : views) ++per_host[v->hostname];
  const std::string local_host = views.empty() ? std::string() : views[0]->hostname;
  placement::Inventory inv;
  for (size_t i = 0; i < views.size(); ++i) {
    const ShardView& v = *views[i];
    placement::Node n;
    n.name = names[i];
    n.host = v.hostname;
    n.memory_bytes = host_free.at(v.hostname) / static_cast<uint64_t>(per_host.at(v.hostname));
    if (n.memory_bytes == 0) n.memory_bytes = 1;  // unknown: the plan will say it does not fit
    // This machine's hosts: what it measured for the planner (with o.threads
    // threads). Another host: what its node measured at start, else this
    // machine's measurement stands for it.
    n.membw_gbs = v.hostname != local_host && v.membw_gbs > 0 ? v.membw_gbs : o.membw_gbs;
    n.gflops = v.gflops;  // 0 (not measured): no compute bound
    n.threads = o.threads > 0 ? o.threads : std::max(v.cores, 1);
    inv.nodes.push_back(n);
  }
  for (const auto& [host, count] : per_host) {
    int cores = 0;
    double reported = 0;  // the most any node of another host measured (all its cores)
    for (const ShardView* v : views)
      if (v->hostname == host) {
        cores = std::max(cores, v->cores);
        reported = std::max(reported, v->membw_gbs);
      }
    const double host_gbs = host != local_host && reported > 0 ? reported : o.host_membw_gbs;
    if (!host.empty()) inv.hosts.push_back({host, host_gbs, cores});
  }
  // Measured: this machine to each node. Between two nodes: the slower of
  // their links to this machine (on one host as this machine: the same).
  for (size_t i = 0; i < views.size(); ++i)
    for (size_t j = i + 1; j < views.size(); ++j) {
      LinkGuess l = i == 0 ? ToCoordinator(*views[j]) : ToCoordinator(*views[i]);
      if (i > 0) {
        const LinkGuess other = ToCoordinator(*views[j]);
        l = {std::max(l.latency_us, other.latency_us), std::min(l.gbps, other.gbps)};
      }
      inv.links.push_back({names[i], names[j], l.latency_us, l.gbps});
    }
  PLEXUS_RETURN_IF_ERROR(placement::ValidateInventory(inv));
  return inv;
}

Result<cluster::Split> SplitOfPlan(const placement::Plan& plan) {
  if (plan.ep > 1) return cluster::ParseSplit(plan.Split());  // the engine places the experts itself
  std::vector<std::string> shares, layers;
  for (int r = 0; r < plan.tp; ++r) shares.push_back(fmt::format("{:.6g}", plan.nodes[static_cast<size_t>(r)].share));
  for (int64_t l : plan.StageLayers()) layers.push_back(std::to_string(l));
  return cluster::ParseSplit(plan.Split(), plan.tp > 1 ? fmt::format("{}", fmt::join(shares, ",")) : "",
                             plan.pp > 1 ? fmt::format("{}", fmt::join(layers, ",")) : "");
}

Result<LivePlan> PlanLive(const GgufFile& file, const ModelConfig& config, const std::vector<std::string>& names,
                          const std::map<std::string, KnownNode>& known, const LivePlanOptions& o) {
  LivePlan out;
  PLEXUS_ASSIGN_OR_RETURN(out.inventory, LiveInventory(names, known, o));
  PLEXUS_ASSIGN_OR_RETURN(placement::ModelShape shape, placement::ShapeFromGguf(file, config));
  placement::Request req;
  req.context_tokens = o.context_tokens > 0 ? o.context_tokens : config.context_length;
  req.sequences = o.sequences;
  req.margin_bytes = o.margin_bytes;
  placement::SearchOptions search;
  search.allow_ep = o.allow_ep;
  search.first_node = 0;  // this process coordinates: it is rank 0
  search.max_alternatives = 8;
  PLEXUS_ASSIGN_OR_RETURN(out.placement, placement::PlanPlacement(shape, out.inventory, req, o.cost, search));
  const placement::Plan& best = out.placement.best;
  if (!best.RunFlags().empty() || best.nodes.size() <= 1) {
    PLEXUS_ASSIGN_OR_RETURN(out.split, SplitOfPlan(best));
  } else {
    return Status::Errorf("plan", "the chosen plan {} gives its stages different shares, which --shares cannot say",
                          best.Split());
  }
  for (size_t r = 1; r < best.nodes.size(); ++r) out.peers.push_back(best.nodes[r].name);
  return out;
}

bool EngineRunsExpertParallel() { return cluster::ParseSplit("ep2").ok(); }

}  // namespace plexus
