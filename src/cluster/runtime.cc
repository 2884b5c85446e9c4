#include "cluster/runtime.h"

#include <algorithm>

#include <fmt/format.h>

namespace plexus::cluster {
namespace {

constexpr uint32_t kPings = 20;
constexpr uint32_t kPingBytes = 64;
constexpr uint64_t kBulkBytes = 2 << 20;
constexpr uint64_t kMinBulkBytes = 64 << 10;
constexpr double kBulkSeconds = 0.02;   // target one-way time of one bulk transfer
constexpr double kPingBudgetUs = 100e3; // target time of all pings together

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

LinkProbe PlanLinkProbe(const tcp::LinkSpec& coordinator, const tcp::LinkSpec& node) {
  LinkProbe p{kPings, kPingBytes, kBulkBytes, 2};
  // Emulated latency applies to every send of each end: one round trip pays both.
  const double rtt_us = 1e-3 * static_cast<double>(coordinator.latency_ns + node.latency_ns);
  if (rtt_us > 0) p.pings = std::clamp<uint32_t>(static_cast<uint32_t>(kPingBudgetUs / rtt_us), 5, kPings);
  double bps = 0;  // the slower emulated bandwidth; 0: unlimited
  for (double b : {coordinator.bits_per_second, node.bits_per_second})
    if (b > 0) bps = bps > 0 ? std::min(bps, b) : b;
  if (bps > 0)
    p.bulk_bytes = std::clamp<uint64_t>(static_cast<uint64_t>(bps / 8 * kBulkSeconds), kMinBulkBytes, kBulkBytes);
  return p;
}

Result<LinkStats> MeasureLink(tcp::TcpMesh& mesh, int peer, const LinkProbe& plan) {
  LinkStats stats;
  std::vector<double> pings, bulk;
  if (plan.pings > 0) {
    PLEXUS_ASSIGN_OR_RETURN(pings, mesh.RawPingPong(peer, plan.ping_bytes, static_cast<int>(plan.pings)));
  }
  if (plan.bulk_iters > 0) {
    PLEXUS_ASSIGN_OR_RETURN(bulk, mesh.RawPingPong(peer, plan.bulk_bytes, static_cast<int>(plan.bulk_iters)));
  }
  if (pings.empty()) return stats;  // the side that does not measure
  stats.rtt_us = Median(pings);
  if (bulk.empty()) return stats;
  // A bulk round trip is two transfers plus latency; the best one (past TCP's
  // slow start) less a small round trip leaves twice the transfer time.
  const double best_us = *std::min_element(bulk.begin(), bulk.end());
  double one_way_us = (best_us - stats.rtt_us) / 2;
  if (one_way_us <= best_us * 0.05) one_way_us = best_us / 2;  // latency-bound: bytes over the whole time
  stats.gbps = static_cast<double>(plan.bulk_bytes) * 8 / (one_way_us * 1e3);
  return stats;
}

Result<std::unique_ptr<ShardRuntime>> ShardRuntime::Join(std::unique_ptr<Model> model, const Split& split, int rank,
                                                         tcp::MeshOptions mesh_options, int threads,
                                                         TransportKind transport) {
  std::unique_ptr<ShardRuntime> rt(new ShardRuntime(std::move(model), split, rank, threads));
  mesh_options.rank = rank;
  auto log = mesh_options.log;
  PLEXUS_ASSIGN_OR_RETURN(rt->mesh_, tcp::TcpMesh::Create(std::move(mesh_options)));
  PLEXUS_ASSIGN_OR_RETURN(rt->transports_, Transports::Negotiate(*rt->mesh_, transport, log));
  const std::vector<int> group = TpGroupRanks(split, rank);
  PLEXUS_ASSIGN_OR_RETURN(rt->tp_, rt->transports_->NewCollective(group, 0));
  if (log && group.size() > 1)
    log(fmt::format("rank {}: tensor-parallel all-reduce over {}", rank, rt->transports_->DescribeGroup(group)));
  if (split.ep > 1) {
    // The expert group contains the TP group: its own tag keeps the two apart.
    const std::vector<int> experts = ExpertGroupRanks(split, rank);
    PLEXUS_ASSIGN_OR_RETURN(rt->experts_, rt->transports_->NewCollective(experts, 1));
    if (log)
      log(fmt::format("rank {}: expert-parallel all-reduce over {}", rank, rt->transports_->DescribeGroup(experts)));
  }
  PLEXUS_ASSIGN_OR_RETURN(rt->pipe_, rt->transports_->NewPipeLink(PrevStageRank(split, rank), NextStageRank(split, rank), 0));
  return rt;
}

Status ShardRuntime::Step(std::span<const BatchEntry> batch, std::vector<float>* logits) {
  return model_->Forward(batch, *tp_, experts_ ? *experts_ : *tp_, pipe_.get(), pool_, logits);
}

}  // namespace plexus::cluster
