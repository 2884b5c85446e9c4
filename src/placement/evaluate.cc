#include "placement/evaluate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

namespace plexus::placement {
namespace {

constexpr double kActivationBytesPerValue = 4;  // hidden states and partials travel as f32
constexpr double kTokenBytes = 4;               // the sampled token id going back to the first stage
constexpr int kFitAttempts = 4;                 // re-distributions after head/FFN rounding overshoots memory

uint64_t Bytes(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(std::llround(v)); }

double Fraction(const Range& r, int64_t n) {
  return n > 0 ? static_cast<double>(r.size()) / static_cast<double>(n) : 0.0;
}

}  // namespace

Evaluator::Evaluator(const ModelShape& shape, const Inventory& inventory, const Request& request,
                     const CostParams& cost, const SearchOptions& search)
    : shape_(shape),
      inventory_(inventory),
      request_(request),
      cost_(cost),
      search_(search),
      links_(inventory),
      config_(shape.AsConfig()) {
  const double flops_per_byte = shape_.flops_per_token() / std::max(shape_.weight_bytes(), 1.0);
  for (const Node& n : inventory_.nodes) {
    double spb = 1.0 / (n.membw_gbs * 1e9 * cost_.membw_efficiency);
    if (n.gflops > 0) spb = std::max(spb, flops_per_byte / (n.gflops * 1e9));
    seconds_per_byte_.push_back(spb);
  }
}

std::vector<double> Evaluator::ConcurrentSecondsPerByte(const std::vector<size_t>& group,
                                                        std::vector<double>* core_factor) const {
  // Per host: nodes of the group on it, their threads, its bandwidth and cores.
  struct Load {
    int nodes = 0, threads = 0;
    bool threads_known = true;
  };
  std::map<std::string, Load> load;
  for (size_t n : group) {
    Load& l = load[inventory_.nodes[n].host_key()];
    ++l.nodes;
    l.threads += inventory_.nodes[n].threads;
    l.threads_known = l.threads_known && inventory_.nodes[n].threads > 0;
  }
  std::vector<double> spb(group.size());
  if (core_factor) core_factor->assign(group.size(), 1.0);
  for (size_t i = 0; i < group.size(); ++i) {
    const Node& node = inventory_.nodes[group[i]];
    const Load& l = load[node.host_key()];
    double host_bw = 0;
    int cores = 0;
    for (const Host& h : inventory_.hosts)
      if (h.name == node.host) host_bw = h.membw_gbs, cores = h.cores;
    if (host_bw <= 0)  // not given: one node alone saturates the host
      for (const Node& other : inventory_.nodes)
        if (other.host_key() == node.host_key()) host_bw = std::max(host_bw, other.membw_gbs);
    const double bw = std::min(node.membw_gbs, host_bw / l.nodes);
    double factor = 1;
    if (cores > 0 && l.threads_known) factor = std::max(1.0, static_cast<double>(l.threads) / cores);
    const double flops_per_byte = shape_.flops_per_token() / std::max(shape_.weight_bytes(), 1.0);
    spb[i] = 1.0 / (bw * 1e9 * cost_.membw_efficiency);
    if (node.gflops > 0) spb[i] = std::max(spb[i], flops_per_byte / (node.gflops * 1e9));
    spb[i] *= factor;
    if (core_factor) (*core_factor)[i] = factor;
  }
  return spb;
}

double Evaluator::WeightBytes(bool first, bool last, int64_t layers, const Fractions& f) const {
  const LayerBytes& b = shape_.layer;
  double w =
      static_cast<double>(layers) * (b.qo * f.head + b.kv * f.kv + b.ffn * f.ffn + b.other + b.experts * f.experts);
  if (first) w += shape_.embedding_bytes;
  if (last) {
    w += shape_.output_extra_bytes;
    // Tied on a first stage: the LM head is the embedding already held.
    if (!(shape_.tied_embeddings && first)) w += shape_.output_bytes * f.vocab;
  }
  return w;
}

double Evaluator::KvBytes(int64_t layers, double kv_fraction) const {
  return static_cast<double>(request_.context_tokens) * static_cast<double>(request_.sequences) *
         static_cast<double>(layers) * shape_.kv_bytes_per_token_layer * kv_fraction;
}

// Bytes read per decoded token: every weight held except the embedding, of
// which one row; K and V at the mean context of one sequence.
double Evaluator::ReadBytes(bool first, bool last, int64_t layers, const Fractions& f) const {
  const LayerBytes& b = shape_.layer;
  const double kv_read =
      static_cast<double>(request_.context_tokens) * cost_.kv_read_fraction * shape_.kv_bytes_per_token_layer * f.kv;
  const double experts = b.experts * f.experts * shape_.active_expert_fraction();  // the routed ones a token reads
  double r =
      static_cast<double>(layers) * (b.qo * f.head + b.kv * f.kv + b.ffn * f.ffn + b.other + experts + kv_read);
  if (first) r += shape_.embedding_bytes / static_cast<double>(shape_.n_vocab);
  if (last) r += shape_.output_extra_bytes + shape_.output_bytes * f.vocab;
  return r;
}

double Evaluator::Flops(bool last, int64_t layers, const Fractions& f) const {
  const auto d = static_cast<double>(shape_.n_embd);
  const auto q_dim = static_cast<double>(shape_.n_heads * shape_.head_dim);
  const auto kv_dim = static_cast<double>(shape_.n_kv_heads * shape_.head_dim);
  const double pos = static_cast<double>(request_.context_tokens) * cost_.kv_read_fraction;
  const double q_bytes_per_weight = shape_.layer.qo > 0 ? shape_.layer.qo / (2 * d * q_dim) : 1.0;
  const double expert_macs = shape_.layer.experts * f.experts * shape_.active_expert_fraction() / q_bytes_per_weight;
  const double per_layer = 2 * (2 * d * q_dim * f.head + 2 * d * kv_dim * f.kv +
                                3 * d * (shape_.layer.ffn > 0 ? static_cast<double>(shape_.n_ff) : 0.0) * f.ffn +
                                2 * pos * q_dim * f.head +
                                expert_macs);
  double flops = static_cast<double>(layers) * per_layer;
  if (last) flops += 2 * d * static_cast<double>(shape_.n_vocab) * f.vocab;
  return flops;
}

double Evaluator::Room(size_t node, double reserve) const {
  return static_cast<double>(inventory_.nodes[node].usable_bytes()) - static_cast<double>(request_.margin_bytes) -
         reserve;
}

std::optional<Evaluator::Comm> Evaluator::Communication(const Layout& layout) const {
  const size_t pp = layout.size(), tp = layout[0].size();
  const double hidden = static_cast<double>(shape_.n_embd) * kActivationBytesPerValue;
  Comm c;
  c.hop_s.assign(pp, 0.0);
  for (size_t s = 0; s < pp; ++s) {
    c.group.push_back(SlowestLink(links_, layout[s]));
    if (c.group.back().latency_s < 0) return std::nullopt;
    c.core_factor.emplace_back();
    c.spb.push_back(ConcurrentSecondsPerByte(layout[s], &c.core_factor.back()));
  }
  // Each TP rank hands the hidden state to the same TP rank of the next stage.
  for (size_t s = 0; s + 1 < pp; ++s) {
    for (size_t r = 0; r < tp; ++r) {
      const LinkCost* l = links_.Get(layout[s][r], layout[s + 1][r]);
      if (l == nullptr) return std::nullopt;
      c.hop_s[s] = std::max(c.hop_s[s], MessageTime(*l, hidden, cost_));
    }
  }
  if (pp > 1) {
    const LinkCost* back = links_.Get(layout[pp - 1][0], layout[0][0]);
    if (back == nullptr) return std::nullopt;
    c.hop_s[pp - 1] = MessageTime(*back, kTokenBytes, cost_);
  }
  return c;
}

// Shares in proportion to each rank's decode rate, capped so that its
// memory holds (the caps treat heads, KV heads, FFN rows and vocabulary as
// splitting exactly by share; Realize checks the rounded result).
void Evaluator::FillStageShares(const Layout& layout, const Comm& comm, const std::vector<int64_t>& layers,
                                const std::vector<std::vector<double>>& reserve, Split& split) const {
  const size_t pp = layout.size(), tp = layout[0].size();
  const LayerBytes& b = shape_.layer;
  const double kv_per_layer = KvBytes(1, 1.0);
  std::vector<std::vector<double>> weights(pp, std::vector<double>(tp)), caps = weights;
  for (size_t s = 0; s < pp; ++s) {
    const bool first = s == 0, last = s + 1 == pp;
    const auto n = static_cast<double>(layers[s]);
    const double fixed = WeightBytes(first, last, layers[s], {0, 0, 0, 0});
    const double per_share = n * (b.qo + b.kv + b.ffn + b.experts + kv_per_layer) +
                             (last && !(shape_.tied_embeddings && first) ? shape_.output_bytes : 0.0);
    for (size_t r = 0; r < tp; ++r) {
      weights[s][r] = 1.0 / comm.spb[s][r];
      caps[s][r] = (Room(layout[s][r], reserve[s][r]) - fixed) / per_share;
    }
  }
  split.shares.assign(pp, {});
  if (search_.same_shares_every_stage && pp > 1) {
    // One vector for all stages: a position gets what its slowest, tightest node allows.
    std::vector<double> w(tp), cap(tp), out;
    for (size_t r = 0; r < tp; ++r) {
      w[r] = weights[0][r];
      cap[r] = caps[0][r];
      for (size_t s = 1; s < pp; ++s) {
        w[r] = std::min(w[r], weights[s][r]);
        cap[r] = std::min(cap[r], caps[s][r]);
      }
    }
    FillShares(w, cap, out);
    split.shares.assign(pp, out);
    return;
  }
  for (size_t s = 0; s < pp; ++s) FillShares(weights[s], caps[s], split.shares[s]);
}

// Layers so that the stages take equal time per token: with t_s a layer's
// time on stage s and f_s its fixed time (LM head, gather, hop), L_s =
// (T - f_s) / t_s where T makes the L_s sum to n_layers.
std::vector<double> Evaluator::LayerTargets(const Layout& layout, const Comm& comm, const Split& split) const {
  const size_t pp = layout.size(), tp = layout[0].size();
  const LayerBytes& b = shape_.layer;
  const double kv_read =
      static_cast<double>(request_.context_tokens) * cost_.kv_read_fraction * shape_.kv_bytes_per_token_layer;
  const double hidden = static_cast<double>(shape_.n_embd) * kActivationBytesPerValue;
  std::vector<double> t(pp), f(pp);
  for (size_t s = 0; s < pp; ++s) {
    double layer = 0, fixed = 0;
    for (size_t r = 0; r < tp; ++r) {
      const double spb = comm.spb[s][r], share = split.shares[s][r];
      const double experts = b.experts * shape_.active_expert_fraction();
      layer = std::max(layer, spb * (share * (b.qo + b.kv + b.ffn + experts + kv_read) + b.other));
      if (s + 1 == pp) fixed = std::max(fixed, spb * (share * shape_.output_bytes + shape_.output_extra_bytes));
    }
    t[s] = layer + 2 * AllReduceTime(static_cast<int>(tp), comm.group[s], hidden, cost_);
    f[s] = fixed + comm.hop_s[s];
    if (s + 1 == pp && tp > 1)
      f[s] += GatherTime(split.shares[s], comm.group[s], static_cast<double>(shape_.n_vocab) * 4, cost_);
  }
  double inv = 0, fixed_layers = 0;
  for (size_t s = 0; s < pp; ++s) {
    inv += 1 / t[s];
    fixed_layers += f[s] / t[s];
  }
  const double total = (static_cast<double>(shape_.n_layers) + fixed_layers) / inv;
  std::vector<double> targets(pp);
  for (size_t s = 0; s < pp; ++s) targets[s] = (total - f[s]) / t[s];
  return targets;
}

std::vector<int64_t> Evaluator::LayerCaps(const Layout& layout, const Split& split,
                                          const std::vector<std::vector<double>>& reserve) const {
  const size_t pp = layout.size(), tp = layout[0].size();
  const LayerBytes& b = shape_.layer;
  const double kv_per_layer = KvBytes(1, 1.0);
  std::vector<int64_t> caps(pp, shape_.n_layers);
  for (size_t s = 0; s < pp; ++s) {
    const bool first = s == 0, last = s + 1 == pp;
    for (size_t r = 0; r < tp; ++r) {
      const double share = split.shares[s][r];
      const double fixed = WeightBytes(first, last, 0, {0, 0, 0, share});
      const double per_layer = b.other + share * (b.qo + b.kv + b.ffn + b.experts + kv_per_layer);
      const double fit = std::floor((Room(layout[s][r], reserve[s][r]) - fixed) / per_layer);
      caps[s] = std::min(caps[s], static_cast<int64_t>(std::clamp(fit, 0.0, static_cast<double>(shape_.n_layers))));
    }
  }
  return caps;
}

Evaluator::Split Evaluator::Distribute(const Layout& layout, const Comm& comm,
                                       const std::vector<std::vector<double>>& reserve) const {
  const size_t pp = layout.size();
  const std::vector<int64_t> unlimited(pp, shape_.n_layers);
  Split split;
  FillLayers(shape_.n_layers, std::vector<double>(pp, static_cast<double>(shape_.n_layers) / pp), unlimited,
             split.layers);
  // Shares depend on the layers a stage holds (memory), layers on the
  // shares (speed and memory): a few rounds settle both.
  for (int round = 0; round < 3; ++round) {
    FillStageShares(layout, comm, split.layers, reserve, split);
    FillLayers(shape_.n_layers, LayerTargets(layout, comm, split), LayerCaps(layout, split, reserve), split.layers);
  }
  FillStageShares(layout, comm, split.layers, reserve, split);
  return split;
}

Evaluator::Fractions Evaluator::FractionsOf(const NodePlan& np) const {
  // Without a dense FFN, layer.ffn holds shared experts, split like the heads.
  const double ffn = shape_.n_ff > 0 ? Fraction(np.ffn, shape_.n_ff) : Fraction(np.heads, shape_.n_heads);
  return {Fraction(np.heads, shape_.n_heads), Fraction(np.kv_heads, shape_.n_kv_heads), ffn,
          Fraction(np.vocab, shape_.n_vocab), Fraction(np.experts, shape_.n_experts)};
}

double Evaluator::ComputeSeconds(size_t node, double spb, double core_factor, bool first, bool last, int64_t layers,
                                 const Fractions& f) const {
  double t = ReadBytes(first, last, layers, f) * spb;
  const double gflops = inventory_.nodes[node].gflops;
  if (gflops > 0) t = std::max(t, Flops(last, layers, f) / (gflops * 1e9) * core_factor);
  return t;
}

std::optional<Plan> Evaluator::Realize(const Layout& layout, const Comm& comm, const Split& split) const {
  const size_t pp = layout.size(), tp = layout[0].size();
  Plan plan;
  plan.tp = static_cast<int>(tp);
  plan.pp = static_cast<int>(pp);
  int64_t begin = 0;
  for (size_t s = 0; s < pp; ++s) {
    const Range layers{begin, begin + split.layers[s]};
    begin = layers.end;
    const bool first = s == 0, last = s + 1 == pp;
    for (size_t r = 0; r < tp; ++r) {
      auto shard = MakeShard(config_, split.shares[s], static_cast<int>(r), layers, shape_.ffn_granularity);
      if (!shard.ok()) return std::nullopt;
      const size_t node = layout[s][r];
      NodePlan np;
      np.name = inventory_.nodes[node].name;
      np.node = node;
      np.stage = static_cast<int>(s);
      np.tp_rank = static_cast<int>(r);
      np.rank = np.stage * plan.tp + np.tp_rank;
      np.layers = layers;
      np.share = split.shares[s][r];
      np.heads = shard->heads;
      np.kv_heads = shard->kv_heads;
      np.ffn = shard->ffn;
      np.vocab = shard->vocab;
      np.experts = shard->experts;
      const Fractions f = FractionsOf(np);
      np.weight_bytes = Bytes(WeightBytes(first, last, layers.size(), f));
      np.kv_bytes = Bytes(KvBytes(layers.size(), f.kv));
      np.margin_bytes = request_.margin_bytes;
      np.usable_bytes = inventory_.nodes[node].usable_bytes();
      np.compute_s = ComputeSeconds(node, comm.spb[s][r], comm.core_factor[s][r], first, last, layers.size(), f);
      plan.nodes.push_back(std::move(np));
    }
  }
  Time(layout, comm, plan);
  return plan;
}

void Evaluator::Time(const Layout& layout, const Comm& comm, Plan& plan) const {
  const size_t pp = layout.size(), tp = layout[0].size();
  const double hidden = static_cast<double>(shape_.n_embd) * kActivationBytesPerValue;
  plan.stages.assign(pp, {});
  plan.token_s = 0;
  for (size_t s = 0; s < pp; ++s) {
    StageTime& st = plan.stages[s];
    std::vector<double> vocab_fraction;
    for (size_t r = 0; r < tp; ++r) {
      const NodePlan& np = plan.nodes[s * tp + r];
      st.compute_s = std::max(st.compute_s, np.compute_s);
      vocab_fraction.push_back(Fraction(np.vocab, shape_.n_vocab));
    }
    const auto layers = static_cast<double>(plan.nodes[s * tp].layers.size());
    st.allreduce_s = 2 * layers * AllReduceTime(static_cast<int>(tp), comm.group[s], hidden, cost_);
    if (s + 1 == pp && tp > 1)
      st.gather_s = GatherTime(vocab_fraction, comm.group[s], static_cast<double>(shape_.n_vocab) * 4, cost_);
    st.hop_s = comm.hop_s[s];
    plan.token_s += st.total();
  }
  CheckFit(plan);
}

void Evaluator::CheckFit(Plan& plan) {
  plan.fits = true;
  plan.short_bytes = 0;
  plan.short_node.clear();
  for (const NodePlan& np : plan.nodes) {
    if (np.memory_bytes() <= np.usable_bytes) continue;
    const uint64_t over = np.memory_bytes() - np.usable_bytes;
    if (plan.fits || over > plan.short_bytes) {
      plan.short_bytes = over;
      plan.short_node = np.name;
    }
    plan.fits = false;
  }
}

std::optional<Plan> Evaluator::Evaluate(const Layout& layout) const {
  if (layout.empty() || layout[0].empty()) return std::nullopt;
  const auto pp = static_cast<int64_t>(layout.size()), tp = static_cast<int64_t>(layout[0].size());
  if (tp > shape_.n_heads || pp > shape_.n_layers) return std::nullopt;
  const std::optional<Comm> comm = Communication(layout);
  if (!comm) return std::nullopt;
  std::vector<std::vector<double>> reserve(layout.size(), std::vector<double>(layout[0].size(), 0.0));
  std::optional<Plan> best;
  for (int attempt = 0; attempt < kFitAttempts; ++attempt) {
    std::optional<Plan> plan = Realize(layout, *comm, Distribute(layout, *comm, reserve));
    if (!plan) return best;
    if (plan->fits) return plan;
    if (!best || plan->short_bytes < best->short_bytes) best = plan;
    // Rounding to whole heads or FFN blocks overshot: hold that much back
    // on the nodes that went over, and distribute again.
    for (const NodePlan& np : plan->nodes)
      if (np.memory_bytes() > np.usable_bytes)
        reserve[np.stage][np.tp_rank] += static_cast<double>(np.memory_bytes() - np.usable_bytes) + 4096;
  }
  return best;
}

}  // namespace plexus::placement
