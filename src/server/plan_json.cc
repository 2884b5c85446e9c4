#include "server/plan_json.h"

namespace plexus::server {
namespace {

using nlohmann::ordered_json;
using placement::NodePlan;

ordered_json Inclusive(const Range& r) { return ordered_json::array({r.begin, r.end - 1}); }

ordered_json NodeJson(const NodePlan& np, bool moe) {
  ordered_json j;
  j["name"] = np.name;
  j["rank"] = np.rank;
  j["stage"] = np.stage;
  j["tp_rank"] = np.tp_rank;
  j["layers"] = Inclusive(np.layers);
  j["share"] = np.share;
  j["heads"] = Inclusive(np.heads);
  j["kv_heads"] = Inclusive(np.kv_heads);
  j["ffn_rows"] = Inclusive(np.ffn);
  j["vocab_rows"] = Inclusive(np.vocab);
  if (moe) j["experts"] = Inclusive(np.experts);
  j["memory"] = {{"weights", np.weight_bytes},
                 {"kv", np.kv_bytes},
                 {"margin", np.margin_bytes},
                 {"total", np.memory_bytes()},
                 {"usable", np.usable_bytes}};
  j["compute_ms"] = np.compute_s * 1e3;
  return j;
}

}  // namespace

void PlanJson(const placement::Plan& p, ordered_json& j) {
  j["split"] = p.Split();
  j["tp"] = p.tp;
  j["pp"] = p.pp;
  j["ep"] = p.ep;
  j["fits"] = p.fits;
  j["predicted_tps"] = p.tokens_per_s();
  j["token_ms"] = p.token_s * 1e3;
  j["run_flags"] = p.RunFlags();
  j["groups"] = p.Groups();
  bool moe = false;
  for (const NodePlan& np : p.nodes) moe = moe || np.experts.size() > 0;
  j["nodes"] = ordered_json::array();
  for (const NodePlan& np : p.nodes) j["nodes"].push_back(NodeJson(np, moe));
  j["stages"] = ordered_json::array();
  for (const placement::StageTime& st : p.stages)
    j["stages"].push_back({{"compute_ms", st.compute_s * 1e3},
                           {"allreduce_ms", st.allreduce_s * 1e3},
                           {"gather_ms", st.gather_s * 1e3},
                           {"hop_ms", st.hop_s * 1e3}});
  if (!p.fits) j["short"] = {{"node", p.short_node}, {"bytes", p.short_bytes}};
}

ordered_json PlacementJson(const placement::Placement& out) {
  ordered_json j;
  PlanJson(out.best, j);
  j["reasons"] = out.best.reasons;
  j["alternatives"] = ordered_json::array();
  for (const placement::Alternative& alt : out.alternatives) {
    ordered_json aj;
    PlanJson(alt.plan, aj);
    aj["why"] = alt.why;
    j["alternatives"].push_back(aj);
  }
  return j;
}

ordered_json InventoryJson(const placement::Inventory& inv) {
  ordered_json j;
  j["nodes"] = ordered_json::array();
  for (const placement::Node& n : inv.nodes) {
    ordered_json nj = {{"name", n.name}, {"memory_bytes", n.memory_bytes}, {"membw_gbs", n.membw_gbs}};
    if (n.gflops > 0) nj["gflops"] = n.gflops;
    if (!n.host.empty()) nj["host"] = n.host;
    if (n.threads > 0) nj["threads"] = n.threads;
    j["nodes"].push_back(nj);
  }
  j["links"] = ordered_json::array();
  for (const placement::Link& l : inv.links)
    j["links"].push_back({{"a", l.a}, {"b", l.b}, {"latency_us", l.latency_us}, {"bandwidth_gbps", l.bandwidth_gbps}});
  j["hosts"] = ordered_json::array();
  for (const placement::Host& h : inv.hosts)
    j["hosts"].push_back({{"name", h.name}, {"membw_gbs", h.membw_gbs}, {"cores", h.cores}});
  return j;
}

}  // namespace plexus::server
