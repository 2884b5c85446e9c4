#include "server/cluster_api.h"

#include <algorithm>

#include "engine/recovering_executor.h"
#include "server/plan_json.h"

namespace plexus::server {
namespace {

Json RangeJson(const Range& r) { return Json::array({r.begin, r.end}); }

// Negative means "not measured" (or the coordinator itself).
Json Measured(double v) { return v < 0 ? Json(nullptr) : Json(v); }

Json ModelJson(const ModelFacts& f) {
  Json j;
  j["id"] = f.id;
  j["path"] = f.path;
  for (const auto& [key, value] : f.config.items()) j[key] = value;  // arch, n_layers, ... n_vocab
  j["context"] = f.context;
  j["file_bytes"] = f.file_bytes;
  j["quant"] = f.quant;
  return j;
}

Json NodeJson(const ShardView& s) {
  Json j;
  j["rank"] = s.rank;
  j["name"] = s.name;
  j["role"] = s.role;
  j["layers"] = RangeJson(s.shard.layers);
  j["heads"] = RangeJson(s.shard.heads);
  j["kv_heads"] = RangeJson(s.shard.kv_heads);
  j["ffn"] = RangeJson(s.shard.ffn);
  j["vocab"] = RangeJson(s.shard.vocab);
  // Mixtures of experts: the routed experts this rank holds whole, and its
  // rows of the shared experts (both split over the expert group).
  if (s.shard.experts.size() > 0) j["experts"] = RangeJson(s.shard.experts);
  if (s.shard.shexp.size() > 0) j["shared_experts"] = RangeJson(s.shard.shexp);
  if (s.shard.expert_size > 1 && s.shard.expert_size != s.shard.tp_size)
    j["ep_rank"] = s.shard.expert_rank / s.shard.tp_size;  // which replica of its TP group
  j["share"] = s.share;
  j["weight_bytes"] = s.weight_bytes;
  j["mem_total"] = s.mem_total;
  j["mem_available"] = s.mem_available;
  j["rss"] = s.rss;
  j["cores"] = s.cores;
  j["simd"] = s.simd;
  // Measured by the rank at start (null: not measured, e.g. one process).
  j["membw_gbs"] = s.membw_gbs > 0 ? Json(s.membw_gbs) : Json(nullptr);
  j["gflops"] = s.gflops > 0 ? Json(s.gflops) : Json(nullptr);
  j["gpus"] = s.gpus;
  j["link_rtt_us"] = Measured(s.link_rtt_us);
  j["link_gbps"] = Measured(s.link_gbps);
  if (!s.link_transport.empty()) j["link_transport"] = s.link_transport;
  return j;
}

}  // namespace

Json ClusterJson(const ModelFacts& facts, const ClusterView& view) {
  Json j;
  j["model"] = ModelJson(facts);
  j["split"] = view.split;
  Json nodes = Json::array(), links = Json::array();
  for (const ShardView& s : view.shards) nodes.push_back(NodeJson(s));
  // Every measured pair: at join, and again while idle (links_rounds counts them).
  int64_t newest = 0;
  for (const LinkView& l : view.links) {
    Json link = {{"a", l.a}, {"b", l.b}, {"latency_us", Measured(l.rtt_us)}, {"bandwidth_gbps", Measured(l.gbps)},
                 {"measured_at_ms", l.measured_unix_ms}};
    if (!l.transport.empty()) link["transport"] = l.transport;
    links.push_back(std::move(link));
    newest = std::max(newest, l.measured_unix_ms);
  }
  j["nodes"] = std::move(nodes);
  j["links_rounds"] = view.links_rounds;
  j["links_measured_at_ms"] = newest > 0 ? Json(newest) : Json(nullptr);
  j["links"] = std::move(links);
  return j;
}

Json ClusterJson(const ModelFacts& facts, const Executor& executor) {
  Json j = ClusterJson(facts, executor.Describe());
  const Json plan = PlanStatusJson(executor);
  if (plan["planned"].get<bool>()) {
    Json summary = {{"split", plan["split"]}, {"tp", plan["tp"]}, {"pp", plan["pp"]}, {"ep", plan["ep"]},
                    {"predicted_tps", plan["predicted_tps"]}, {"alternatives", Json::array()}};
    for (const Json& alt : plan["alternatives"])
      summary["alternatives"].push_back({{"split", alt["split"]}, {"predicted_tps", alt["predicted_tps"]},
                                         {"fits", alt["fits"]}, {"why", alt["why"]}});
    j["plan"] = std::move(summary);
  }
  return j;
}

Json PlanStatusJson(const Executor& executor) {
  const auto* recovering = dynamic_cast<const RecoveringExecutor*>(&executor);
  const std::optional<LivePlan> plan = recovering ? recovering->plan() : std::nullopt;
  if (!plan) {
    const char* why = recovering == nullptr
                          ? "the model runs on one machine, or on a cluster without recovery"
                          : "the running placement was not planned: --split was given, or the last re-placement "
                            "could not be planned";
    return Json{{"planned", false}, {"why", why}};
  }
  Json j = {{"planned", true}};
  const Json placed = PlacementJson(plan->placement);  // kept alive: items() refers to it
  for (const auto& [key, value] : placed.items()) j[key] = value;
  j["inventory"] = InventoryJson(plan->inventory);
  return j;
}

Json StatsJson(const SchedulerStats& s, const SchedulerOptions& o, double uptime_s) {
  Json j;
  j["active"] = s.active;
  j["queued"] = s.queued;
  j["max_active"] = o.max_active;
  j["max_queue"] = o.max_queue;
  j["requests_total"] = s.requests_total;
  j["requests_rejected"] = s.requests_rejected;
  j["prompt_tokens_total"] = s.prompt_tokens_total;
  j["generated_tokens_total"] = s.generated_tokens_total;
  j["decode_tps"] = s.decode_tps;
  j["last_ttft_ms"] = s.last_ttft_ms;
  j["uptime_s"] = uptime_s;
  return j;
}

}  // namespace plexus::server
