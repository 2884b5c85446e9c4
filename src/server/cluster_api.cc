#include "server/cluster_api.h"

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
  for (const ShardView& s : view.shards) {
    nodes.push_back(NodeJson(s));
    // Links are measured from the coordinator (rank 0) to each node at join.
    if (s.rank != 0 && s.link_rtt_us >= 0)
      links.push_back({{"a", 0}, {"b", s.rank}, {"latency_us", s.link_rtt_us}, {"bandwidth_gbps", Measured(s.link_gbps)},
                       {"transport", s.link_transport}});
  }
  j["nodes"] = std::move(nodes);
  j["links"] = std::move(links);
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
