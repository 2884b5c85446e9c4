#include "placement/planner.h"

#include <fmt/format.h>

#include <cmath>

#include "placement/search.h"

namespace plexus::placement {
namespace {

Status CheckRequest(const Request& req, const CostParams& cost) {
  if (req.context_tokens < 1)
    return Status::Errorf("placement", "context_tokens {} must be at least 1", req.context_tokens);
  if (req.sequences < 1) return Status::Errorf("placement", "sequences {} must be at least 1", req.sequences);
  if (!(cost.membw_efficiency > 0) || cost.membw_efficiency > 1)
    return Status::Errorf("placement", "membw_efficiency {} must be in (0, 1]", cost.membw_efficiency);
  if (!(cost.message_overhead_us >= 0) || !std::isfinite(cost.message_overhead_us))
    return Status::Errorf("placement", "message_overhead_us {} must be a non-negative number",
                          cost.message_overhead_us);
  if (!(cost.allreduce_latency_factor >= 0) || !std::isfinite(cost.allreduce_latency_factor))
    return Status::Errorf("placement", "allreduce_latency_factor {} must be a non-negative number",
                          cost.allreduce_latency_factor);
  if (!(cost.kv_read_fraction >= 0) || cost.kv_read_fraction > 1)
    return Status::Errorf("placement", "kv_read_fraction {} must be in [0, 1]", cost.kv_read_fraction);
  return Status::Ok();
}

}  // namespace

std::string FormatBytes(double bytes) {
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{:.0f} B", bytes);
  int unit = 0;
  for (bytes /= 1024; bytes >= 1024 && unit < 3; ++unit) bytes /= 1024;
  return fmt::format("{:.2f} {}", bytes, kUnits[unit]);
}

std::string Plan::Split() const {
  if (ep > 1) return tp > 1 ? fmt::format("tp{}xep{}", tp, ep) : fmt::format("ep{}", ep);
  if (tp > 1 && pp > 1) return fmt::format("tp{}xpp{}", tp, pp);
  if (tp > 1) return fmt::format("tp{}", tp);
  if (pp > 1) return fmt::format("pp{}", pp);
  return "1";
}

std::string Plan::Groups() const {
  std::string out;
  for (const NodePlan& np : nodes) {
    if (np.rank > 0) out += np.tp_rank == 0 ? " | " : ",";
    out += np.name;
  }
  return out;
}

std::vector<int64_t> Plan::StageLayers() const {
  std::vector<int64_t> layers;
  for (const NodePlan& np : nodes)
    if (np.tp_rank == 0) layers.push_back(np.layers.size());
  return layers;
}

std::string Plan::RunFlags() const {
  if (nodes.size() <= 1) return "";
  if (ep > 1) return fmt::format("--split {}", Split());  // the engine places experts by memory itself
  std::vector<std::string> shares;
  for (int r = 0; r < tp; ++r) {
    for (int s = 1; s < pp; ++s)
      if (nodes[static_cast<size_t>(s * tp + r)].share != nodes[static_cast<size_t>(r)].share) return "";
    shares.push_back(fmt::format("{:.4g}", nodes[static_cast<size_t>(r)].share));
  }
  std::string flags = fmt::format("--split {}", Split());
  if (tp > 1) flags += fmt::format(" --shares {}", fmt::join(shares, ","));
  if (pp > 1) flags += fmt::format(" --stage-shares {}", fmt::join(StageLayers(), ","));
  return flags;
}

Result<Placement> PlanPlacement(const ModelShape& shape, const Inventory& inventory, const Request& request,
                                const CostParams& cost, const SearchOptions& search) {
  PLEXUS_RETURN_IF_ERROR(ValidateShape(shape));
  PLEXUS_RETURN_IF_ERROR(ValidateInventory(inventory));
  PLEXUS_RETURN_IF_ERROR(CheckRequest(request, cost));
  const Evaluator evaluator(shape, inventory, request, cost, search);
  const SearchResult found = Search(evaluator, search);
  const Plan* best = nullptr;
  for (const auto& [degrees, plan] : found.by_degree)
    if (best == nullptr || Better(plan, *best)) best = &plan;
  if (best == nullptr) return Status::Errorf("placement", "no arrangement of the nodes can run the model");
  if (!best->fits) return NoFitError(evaluator, *best);
  Placement out;
  out.best = *best;
  out.best.reasons = Reasons(evaluator, found, *best);
  out.alternatives = Alternatives(found, *best, search.max_alternatives);
  return out;
}

}  // namespace plexus::placement
