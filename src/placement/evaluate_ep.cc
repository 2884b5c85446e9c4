// Expert-parallel plans of MoE models ("epN", "tpAxepB"): one stage, every
// rank holds all layers. Attention (and any dense FFN, shared experts) is
// split evenly inside a group of A ranks, or replicated when A is 1; the LM
// head's rows go evenly over all A*B ranks (as MakeShard splits them under
// ep), and the routed experts are placed whole on all A*B ranks in
// proportion to the memory each has left for them. Communication per token:
// one all-reduce of the MoE output over all ranks per MoE layer, one gather
// of the logits over all ranks, plus (A > 1) the attention all-reduce inside
// each group per layer and the dense FFN's on dense layers.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "model/shard.h"
#include "placement/cost.h"
#include "placement/evaluate.h"

namespace plexus::placement {
namespace {

constexpr double kActivationBytesPerValue = 4;  // partials travel as f32

uint64_t Bytes(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(std::llround(v)); }

}  // namespace

// The ranks' non-expert part (attention split evenly inside a group of A,
// the LM head evenly over all ranks, everything else of the model but the
// experts); `room` gets what memory each has left for experts. false when
// the model cannot be split A ways, or its vocabulary all-ranks ways.
bool Evaluator::EpRanks(const std::vector<size_t>& all, size_t a, Plan& plan, std::vector<double>& room) const {
  const std::vector<double> even(a, 1.0 / static_cast<double>(a));
  const Range layers{0, shape_.n_layers};
  // The head's rows do not depend on the expert placement (it is sized from
  // the room left after them), so the split is even, as at runtime.
  auto vocab = SplitByShares(shape_.n_vocab, 1, std::vector<double>(all.size(), 1.0));
  if (!vocab.ok()) return false;
  room.assign(all.size(), 0.0);
  for (size_t r = 0; r < all.size(); ++r) {
    auto shard = MakeShard(config_, even, static_cast<int>(r % a), layers, shape_.ffn_granularity);
    if (!shard.ok()) return false;
    NodePlan np;
    np.node = all[r];
    np.name = inventory_.nodes[np.node].name;
    np.rank = static_cast<int>(r);
    np.tp_rank = static_cast<int>(r % a);
    np.layers = layers;
    np.heads = shard->heads;
    np.kv_heads = shard->kv_heads;
    np.ffn = shard->ffn;
    np.vocab = (*vocab)[r];
    np.margin_bytes = request_.margin_bytes;
    np.usable_bytes = inventory_.nodes[np.node].usable_bytes();
    Fractions f = FractionsOf(np);
    f.experts = 0;
    np.kv_bytes = Bytes(KvBytes(layers.size(), f.kv));
    room[r] = std::max(0.0, Room(np.node, 0) - WeightBytes(true, true, layers.size(), f) - double(np.kv_bytes));
    plan.nodes.push_back(std::move(np));
  }
  return true;
}

// Whole experts in proportion to the room each rank has, none beyond it
// (FillLayers' largest remainders); when they cannot fit, the closest split,
// and CheckFit says by how much.
std::vector<int64_t> Evaluator::ExpertCounts(const std::vector<double>& room) const {
  const size_t world = room.size();
  const double per_expert = shape_.layer.experts * static_cast<double>(shape_.n_layers) / double(shape_.n_experts);
  double room_sum = 0;
  for (double r : room) room_sum += r;
  std::vector<double> targets(world);
  std::vector<int64_t> caps(world), counts;
  for (size_t r = 0; r < world; ++r) {
    targets[r] = room_sum > 0 ? double(shape_.n_experts) * room[r] / room_sum : double(shape_.n_experts) / world;
    caps[r] = per_expert > 0 ? static_cast<int64_t>(std::min(std::floor(room[r] / per_expert), 1e15))
                             : shape_.n_experts;
  }
  FillLayers(shape_.n_experts, targets, caps, counts);
  return counts;
}

std::optional<Plan> Evaluator::EvaluateEp(const Layout& groups) const {
  if (!shape_.is_moe() || groups.empty() || groups[0].empty()) return std::nullopt;
  const size_t a = groups[0].size(), b = groups.size(), world = a * b;
  if (b < 2 || static_cast<int64_t>(a) > shape_.n_heads || static_cast<int64_t>(world) > shape_.n_experts)
    return std::nullopt;
  std::vector<size_t> all;
  for (const auto& g : groups) {
    if (g.size() != a) return std::nullopt;
    all.insert(all.end(), g.begin(), g.end());
  }
  const LinkCost everyone = SlowestLink(links_, all);  // also: every pair reachable
  if (everyone.latency_s < 0) return std::nullopt;
  LinkCost group_link{0.0, std::numeric_limits<double>::infinity()};
  for (const auto& g : groups) {
    const LinkCost l = SlowestLink(links_, g);
    group_link.latency_s = std::max(group_link.latency_s, l.latency_s);
    group_link.bytes_per_s = std::min(group_link.bytes_per_s, l.bytes_per_s);
  }
  Plan plan;
  plan.tp = static_cast<int>(a);
  plan.ep = static_cast<int>(b);
  std::vector<double> room;
  if (!EpRanks(all, a, plan, room)) return std::nullopt;
  const std::vector<int64_t> counts = ExpertCounts(room);
  std::vector<double> core_factor;
  const std::vector<double> spb = ConcurrentSecondsPerByte(all, &core_factor);  // every rank computes at once
  StageTime st;
  std::vector<double> vocab_fraction;
  int64_t begin = 0;
  for (size_t r = 0; r < world; ++r) {
    NodePlan& np = plan.nodes[r];
    np.experts = {begin, begin + counts[r]};
    begin = np.experts.end;
    np.share = double(counts[r]) / double(shape_.n_experts);  // of the experts
    const Fractions f = FractionsOf(np);
    np.weight_bytes = Bytes(WeightBytes(true, true, shape_.n_layers, f));
    np.compute_s = ComputeSeconds(np.node, spb[r], core_factor[r], true, true, shape_.n_layers, f);
    st.compute_s = std::max(st.compute_s, np.compute_s);
    vocab_fraction.push_back(f.vocab);
  }
  const double hidden = static_cast<double>(shape_.n_embd) * kActivationBytesPerValue;
  const auto n_layers = static_cast<double>(shape_.n_layers), n_moe = static_cast<double>(shape_.n_moe_layers);
  st.allreduce_s = n_moe * AllReduceTime(static_cast<int>(world), everyone, hidden, cost_);
  if (a > 1) {
    // Attention on every layer, the dense FFN on the dense ones.
    st.allreduce_s += (2 * n_layers - n_moe) * AllReduceTime(static_cast<int>(a), group_link, hidden, cost_);
  }
  // Every rank's slice of the logits, over the links between all of them.
  st.gather_s = GatherTime(vocab_fraction, everyone, static_cast<double>(shape_.n_vocab) * 4, cost_);
  plan.stages = {st};
  plan.token_s = st.total();
  CheckFit(plan);
  return plan;
}

}  // namespace plexus::placement
