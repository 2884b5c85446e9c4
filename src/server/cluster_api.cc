#include "server/cluster_api.h"

#include <algorithm>

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
