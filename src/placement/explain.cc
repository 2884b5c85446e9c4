// Human-readable reasons: why the chosen plan won, why each runner-up lost,
// why nothing fits.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "placement/search.h"

namespace plexus::placement {
namespace {

constexpr double kTieFraction = 0.0005;  // runner-ups within 0.05% are reported as ties

std::string Ms(double s) { return fmt::format("{:.2f} ms", s * 1e3); }

std::string Breakdown(const Plan& p) {
  StageTime sum;
  for (const StageTime& st : p.stages) {
    sum.compute_s += st.compute_s;
    sum.allreduce_s += st.allreduce_s;
    sum.gather_s += st.gather_s;
    sum.hop_s += st.hop_s;
  }
  return fmt::format("weights and KV {}, all-reduces {}, logits gather {}, stage hops {}", Ms(sum.compute_s),
                     Ms(sum.allreduce_s), Ms(sum.gather_s), Ms(sum.hop_s));
}

std::vector<size_t> StageNodes(const Plan& p, int stage) {
  std::vector<size_t> group;
  for (const NodePlan& np : p.nodes)
    if (np.stage == stage) group.push_back(np.node);
  return group;
}

void LinkReasons(const Evaluator& ev, const Plan& p, std::vector<std::string>& out) {
  for (int s = 0; s < p.pp && p.tp > 1; ++s) {
    const std::vector<size_t> group = StageNodes(p, s);
    const LinkCost link = SlowestLink(ev.links(), group);
    out.push_back(
        fmt::format("stage {} TP group of {}: slowest link {:.0f} us, {:.3g} Gbit/s; its 2 x {} all-reduces "
                    "cost {} per token",
                    s, p.tp, link.latency_s * 1e6, link.bytes_per_s * 8 / 1e9,
                    p.nodes[static_cast<size_t>(s * p.tp)].layers.size(), Ms(p.stages[s].allreduce_s)));
  }
  if (p.pp <= 1) return;
  double worst = 0, hops = 0;
  for (int s = 0; s + 1 < p.pp; ++s)
    for (int r = 0; r < p.tp; ++r)
      worst = std::max(worst, ev.links().Get(p.nodes[s * p.tp + r].node, p.nodes[(s + 1) * p.tp + r].node)->latency_s);
  for (const StageTime& st : p.stages) hops += st.hop_s;
  out.push_back(
      fmt::format("{} pipeline stages: the hidden state crosses links of up to {:.0f} us once per stage "
                  "boundary ({} per token with the token's way back), where a TP group across them would "
                  "wait on 2 all-reduces per layer",
                  p.pp, worst * 1e6, Ms(hops)));
}

void ShareReasons(const Evaluator& ev, const Plan& p, std::vector<std::string>& out) {
  if (p.tp <= 1 || p.ep > 1) return;
  for (int s = 0; s < p.pp; ++s) {
    // Speeds as the stage runs: nodes sharing a host share its bandwidth.
    const std::vector<double> spb = ev.ConcurrentSecondsPerByte(StageNodes(p, s));
    double rate_sum = 0;
    for (int r = 0; r < p.tp; ++r) rate_sum += 1 / spb[static_cast<size_t>(r)];
    std::vector<std::string> items, capped;
    for (int r = 0; r < p.tp; ++r) {
      const NodePlan& np = p.nodes[s * p.tp + r];
      const Node& node = ev.inventory().nodes[np.node];
      const double speed_share = 1 / spb[static_cast<size_t>(r)] / rate_sum;
      items.push_back(fmt::format("{} {:.3f} ({:g} GB/s, heads {}-{}, FFN rows {}-{})", np.name, np.share,
                                  node.membw_gbs, np.heads.begin, np.heads.end - 1, np.ffn.begin, np.ffn.end - 1));
      if (np.share < speed_share * 0.999)
        capped.push_back(fmt::format(
            "{} gets {:.3f} instead of its speed share {:.3f} ({})", np.name, np.share, speed_share,
            np.memory_bytes() + np.usable_bytes / 50 >= np.usable_bytes ? "memory caps it"
                                                                        : "one share vector serves every stage"));
    }
    out.push_back(fmt::format("stage {} TP shares follow decode speed: {}", s, fmt::join(items, ", ")));
    for (const std::string& c : capped) out.push_back(c);
  }
}

void EpReasons(const Evaluator& ev, const Plan& p, std::vector<std::string>& out) {
  std::vector<std::string> experts;
  for (const NodePlan& np : p.nodes) experts.push_back(fmt::format("{} {}", np.name, np.experts.size()));
  out.push_back(fmt::format(
      "expert parallelism over {} ranks: whole experts in proportion to the memory left for them ({} of {}); "
      "attention {}; one all-reduce over all ranks per MoE layer ({} layers){}: {} of all-reduces per token",
      p.nodes.size(), fmt::join(experts, ", "), ev.shape().n_experts,
      p.tp > 1 ? fmt::format("split over groups of {}", p.tp) : std::string("replicated on every rank"),
      ev.shape().n_moe_layers, p.tp > 1 ? " plus one per layer inside each attention group" : "",
      Ms(p.stages[0].allreduce_s)));
}

void MemoryReason(const Plan& p, std::vector<std::string>& out) {
  const NodePlan* tight = &p.nodes[0];
  auto used = [](const NodePlan& np) { return double(np.memory_bytes()) / double(np.usable_bytes); };
  for (const NodePlan& np : p.nodes)
    if (used(np) > used(*tight)) tight = &np;
  out.push_back(fmt::format("tightest memory: {} uses {} of {} ({:.0f}%: weights {}, KV cache {}, margin {})",
                            tight->name, FormatBytes(double(tight->memory_bytes())),
                            FormatBytes(double(tight->usable_bytes)), used(*tight) * 100,
                            FormatBytes(double(tight->weight_bytes)), FormatBytes(double(tight->kv_bytes)),
                            FormatBytes(double(tight->margin_bytes))));
}

std::string Describe(const Evaluator& ev, const Candidate& c) {
  Plan shape;  // Split() and Groups() need only the degrees and the names
  shape.tp = c.tp;
  shape.pp = c.pp;
  shape.ep = c.ep;
  for (size_t r = 0; r < c.ranks.size(); ++r) {
    NodePlan np;
    np.name = ev.inventory().nodes[c.ranks[r]].name;
    np.rank = static_cast<int>(r);
    np.tp_rank = static_cast<int>(r) % c.tp;
    shape.nodes.push_back(np);
  }
  return fmt::format("{} on {}", shape.Split(), shape.Groups());
}

bool Uses(const Candidate& c, size_t node) { return std::find(c.ranks.begin(), c.ranks.end(), node) != c.ranks.end(); }

// The best tried arrangement that uses every node `need` lists.
const Candidate* BestUsing(const SearchResult& found, const std::vector<size_t>& need) {
  const Candidate* best = nullptr;
  for (const Candidate& c : found.tried) {
    if (!std::all_of(need.begin(), need.end(), [&](size_t n) { return Uses(c, n); })) continue;
    if (best == nullptr || Better(c, *best)) best = &c;
  }
  return best;
}

std::string Outcome(const Evaluator& ev, const Candidate& c, const Plan& best) {
  if (!c.fits)
    return fmt::format("{}, which does not fit: {} short by {} bytes", Describe(ev, c), c.short_node, c.short_bytes);
  return fmt::format("{} at {:.2f} tokens/s, {:.1f}% slower", Describe(ev, c), 1 / c.token_s,
                     (1 - best.token_s / c.token_s) * 100);
}

// Why each unused node stays out: what the chosen nodes plus it would give.
void LeftOutReasons(const Evaluator& ev, const SearchResult& found, const Plan& best, std::vector<std::string>& out) {
  std::vector<size_t> chosen;
  for (const NodePlan& np : best.nodes) chosen.push_back(np.node);
  for (size_t i = 0; i < ev.inventory().nodes.size(); ++i) {
    if (std::find(chosen.begin(), chosen.end(), i) != chosen.end()) continue;
    const std::string& name = ev.inventory().nodes[i].name;
    std::vector<size_t> with_chosen = chosen;
    with_chosen.push_back(i);
    if (const Candidate* added = BestUsing(found, with_chosen)) {
      out.push_back(fmt::format("node {} left out: with it the best plan is {}", name, Outcome(ev, *added, best)));
    } else if (const Candidate* alone = BestUsing(found, {i})) {
      out.push_back(
          fmt::format("node {} left out: no plan joins it to the chosen nodes (a link is missing); the "
                      "best plan that uses it is {}",
                      name, Outcome(ev, *alone, best)));
    } else {
      out.push_back(
          fmt::format("node {} left out: no arrangement can use it (a link it needs is missing, or the "
                      "model cannot be split that many ways)",
                      name));
    }
  }
}

void SingleNodeReason(const SearchResult& found, const Plan& best, std::vector<std::string>& out) {
  auto single = found.by_degree.find({1, 1, 1});
  if (best.nodes.size() <= 1 || single == found.by_degree.end()) return;
  const Plan& one = single->second;
  if (one.fits)
    out.push_back(fmt::format("the best single node ({}) would give {:.2f} tokens/s; this plan gives {:.2f}x that",
                              one.nodes[0].name, one.tokens_per_s(), best.tokens_per_s() / one.tokens_per_s()));
  else
    out.push_back(fmt::format("no single node holds the model: the closest, {}, is short by {} bytes",
                              one.nodes[0].name, one.short_bytes));
}

// Why a runner-up that ties on time lost to `best`.
std::string TieBreak(const Plan& alt, const Plan& best) {
  if (alt.nodes.size() != best.nodes.size()) return "uses more nodes";
  if (alt.pp != best.pp) return "has more stages";
  if (alt.ep != best.ep) return "uses expert parallelism";
  return "its nodes come later in the inventory";
}

}  // namespace

std::vector<std::string> Reasons(const Evaluator& ev, const SearchResult& found, const Plan& best) {
  std::vector<std::string> out;
  out.push_back(fmt::format("{} on {}: {:.2f} tokens/s predicted, {} per token ({})", best.Split(), best.Groups(),
                            best.tokens_per_s(), Ms(best.token_s), Breakdown(best)));
  if (best.ep > 1)
    EpReasons(ev, best, out);
  else
    LinkReasons(ev, best, out);
  ShareReasons(ev, best, out);
  if (best.pp > 1)
    out.push_back(fmt::format("layers per stage: {} (stages balanced by speed, within memory)",
                              fmt::join(best.StageLayers(), ", ")));
  MemoryReason(best, out);
  LeftOutReasons(ev, found, best, out);
  SingleNodeReason(found, best, out);
  if (best.nodes.size() == 1 && ev.inventory().nodes.size() > 1)
    out.push_back("one node alone is fastest: every plan that adds a node predicts fewer tokens/s or does not fit");
  return out;
}

std::vector<Alternative> Alternatives(const SearchResult& found, const Plan& best, size_t max) {
  std::vector<const Plan*> others;
  for (const auto& [degrees, plan] : found.by_degree)
    if (degrees != std::make_tuple(best.tp, best.pp, best.ep)) others.push_back(&plan);
  std::sort(others.begin(), others.end(), [](const Plan* a, const Plan* b) { return Better(*a, *b); });
  std::vector<Alternative> out;
  for (const Plan* p : others) {
    if (out.size() >= max) break;
    Alternative alt{*p, ""};
    if (!p->fits) {
      const auto it =
          std::find_if(p->nodes.begin(), p->nodes.end(), [&](const NodePlan& np) { return np.name == p->short_node; });
      alt.why = fmt::format("does not fit: node {} short by {} bytes (needs {} of its {})", p->short_node,
                            p->short_bytes, it->memory_bytes(), it->usable_bytes);
    } else if (p->token_s <= best.token_s * (1 + kTieFraction)) {
      alt.why = fmt::format("ties at {:.2f} tokens/s but {}", p->tokens_per_s(), TieBreak(*p, best));
    } else {
      alt.why = fmt::format("slower by {:.1f}% ({:.2f} vs {:.2f} tokens/s: {})",
                            (1 - p->tokens_per_s() / best.tokens_per_s()) * 100, p->tokens_per_s(), best.tokens_per_s(),
                            Breakdown(*p));
    }
    out.push_back(std::move(alt));
  }
  return out;
}

Status NoFitError(const Evaluator& ev, const Plan& closest) {
  const ModelShape& shape = ev.shape();
  const Request& req = ev.request();
  const double kv =
      double(req.context_tokens) * double(req.sequences) * double(shape.n_layers) * shape.kv_bytes_per_token_layer;
  const double weights = shape.weight_bytes();
  const auto needed = static_cast<uint64_t>(std::llround(weights + kv));
  uint64_t available = 0;
  for (const Node& n : ev.inventory().nodes)
    available += n.usable_bytes() > req.margin_bytes ? n.usable_bytes() - req.margin_bytes : 0;
  const std::string total_short =
      needed > available ? fmt::format(", {} bytes short in total", needed - available) : std::string();
  const auto it = std::find_if(closest.nodes.begin(), closest.nodes.end(),
                               [&](const NodePlan& np) { return np.name == closest.short_node; });
  return Status::Errorf("placement",
                        "the model does not fit: it needs {} bytes ({}: weights {} + KV cache {} for {} tokens x {} "
                        "sequences) but the {} node(s) offer {} bytes ({}) after a {}-byte margin each{}; tightest "
                        "node: {} short by {} bytes in the closest plan ({} on {}: needs {} of its {})",
                        needed, FormatBytes(weights + kv), std::llround(weights), std::llround(kv), req.context_tokens,
                        req.sequences, ev.inventory().nodes.size(), available, FormatBytes(double(available)),
                        req.margin_bytes, total_short, closest.short_node, closest.short_bytes, closest.Split(),
                        closest.Groups(), it->memory_bytes(), it->usable_bytes);
}

}  // namespace plexus::placement
