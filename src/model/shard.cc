#include "model/shard.h"

#include <cmath>

#include <fmt/format.h>

namespace plexus {

std::string ShardSpec::Describe() const {
  std::string out = fmt::format("tp {}/{} heads [{},{}) kv [{},{}) ffn [{},{}) vocab [{},{}) layers [{},{})", tp_rank,
                                tp_size, heads.begin, heads.end, kv_heads.begin, kv_heads.end, ffn.begin, ffn.end,
                                vocab.begin, vocab.end, layers.begin, layers.end);
  if (expert_size > 1 && expert_size != tp_size) out += fmt::format(" ep {}/{}", expert_rank, expert_size);
  if (experts.size() > 0) out += fmt::format(" experts [{},{})", experts.begin, experts.end);
  if (shexp.size() > 0) out += fmt::format(" shared [{},{})", shexp.begin, shexp.end);
  return out;
}

ShardSpec FullShard(const ModelConfig& c) {
  ShardSpec s;
  s.heads = {0, c.n_heads};
  s.kv_heads = {0, c.n_kv_heads};
  s.ffn = {0, c.n_ff};
  s.experts = {0, c.n_experts};
  s.shexp = {0, c.n_ff_shared()};
  s.vocab = {0, c.n_vocab};
  s.group_vocab = {s.vocab};
  s.layers = {0, c.n_layers};
  return s;
}

Result<std::vector<Range>> SplitByShares(int64_t n, int64_t granularity, std::span<const double> shares) {
  if (shares.empty()) return Status::Errorf("shard", "no shares given");
  if (granularity <= 0 || n <= 0) return Status::Errorf("shard", "cannot split {} items by {}", n, granularity);
  double total = 0;
  for (double s : shares) {
    if (!(s > 0) || !std::isfinite(s)) return Status::Errorf("shard", "share {} is not a positive number", s);
    total += s;
  }
  const int64_t units = (n + granularity - 1) / granularity;
  const auto parts = static_cast<int64_t>(shares.size());
  if (units < parts)
    return Status::Errorf("shard", "{} items in units of {} cannot be split {} ways", n, granularity, parts);
  std::vector<Range> out;
  double cum = 0;
  int64_t prev_unit = 0;
  for (int64_t i = 0; i < parts; ++i) {
    cum += shares[i];
    int64_t unit = i + 1 == parts ? units : std::llround(cum / total * static_cast<double>(units));
    // Keep at least one unit for this part and for every part after it.
    unit = std::max(unit, prev_unit + 1);
    unit = std::min(unit, units - (parts - 1 - i));
    out.push_back({std::min(n, prev_unit * granularity), std::min(n, unit * granularity)});
    prev_unit = unit;
  }
  return out;
}

Result<std::vector<Range>> SplitLayers(int64_t n_layers, std::span<const double> shares) {
  return SplitByShares(n_layers, 1, shares);
}

Result<ShardSpec> MakeShard(const ModelConfig& c, std::span<const double> tp_shares, int tp_rank, Range layers,
                            int64_t ffn_granularity) {
  return MakeShard(c, tp_shares, tp_rank, tp_shares, tp_rank, layers, ffn_granularity);
}

namespace {

// Routed experts whole and shared-expert rows, over the expert group.
Status SplitExperts(const ModelConfig& c, std::span<const double> shares, int rank, int64_t ffn_granularity,
                    ShardSpec& s) {
  if (c.is_moe()) {
    auto experts = SplitByShares(c.n_experts, 1, shares);
    if (!experts.ok()) return experts.status().WithContext("splitting the experts");
    s.experts = experts.value()[rank];
  }
  if (c.n_ff_shared() > 0) {
    auto shexp = SplitByShares(c.n_ff_shared(), ffn_granularity, shares);
    if (!shexp.ok()) shexp = SplitByShares(c.n_ff_shared(), 1, shares);
    if (!shexp.ok()) return shexp.status().WithContext("splitting the shared experts");
    s.shexp = shexp.value()[rank];
  }
  return Status::Ok();
}

// LM-head rows. Under expert parallelism (an expert group wider than the TP
// group) every rank of the stage would otherwise compute its TP group's
// slice again, so the rows go out evenly over the whole expert group and the
// logits are gathered over it. Even, not by expert_shares: the planner sizes
// each rank's room for experts after its non-expert bytes, head included.
Status SplitVocab(const ModelConfig& c, std::span<const double> tp_shares, int tp_rank, int expert_size,
                  int expert_rank, ShardSpec& s) {
  const bool over_experts = expert_size > static_cast<int>(tp_shares.size());
  const std::vector<double> even(static_cast<size_t>(expert_size), 1.0);
  auto vocab = over_experts ? SplitByShares(c.n_vocab, 1, even) : SplitByShares(c.n_vocab, 1, tp_shares);
  if (!vocab.ok()) return vocab.status().WithContext("splitting the vocabulary");
  s.vocab = vocab.value()[over_experts ? expert_rank : tp_rank];
  s.group_vocab = vocab.value();
  return Status::Ok();
}

}  // namespace

Result<ShardSpec> MakeShard(const ModelConfig& c, std::span<const double> tp_shares, int tp_rank,
                            std::span<const double> expert_shares, int expert_rank, Range layers,
                            int64_t ffn_granularity) {
  const int tp_size = static_cast<int>(tp_shares.size());
  const int expert_size = static_cast<int>(expert_shares.size());
  if (tp_rank < 0 || tp_rank >= tp_size) return Status::Errorf("shard", "rank {} outside group of {}", tp_rank, tp_size);
  if (expert_rank < 0 || expert_rank >= expert_size)
    return Status::Errorf("shard", "expert rank {} outside group of {}", expert_rank, expert_size);
  if (layers.begin < 0 || layers.end > c.n_layers || layers.size() <= 0)
    return Status::Errorf("shard", "layer range [{},{}) invalid for {} layers", layers.begin, layers.end, c.n_layers);
  ShardSpec s;
  s.tp_rank = tp_rank;
  s.tp_size = tp_size;
  s.expert_rank = expert_rank;
  s.expert_size = expert_size;
  s.layers = layers;
  s.first_stage = layers.begin == 0;
  s.last_stage = layers.end == c.n_layers;
  const int64_t group = c.heads_per_kv();
  const int64_t head_unit = c.n_kv_heads >= tp_size ? group : 1;
  auto heads = SplitByShares(c.n_heads, head_unit, tp_shares);
  if (!heads.ok()) return heads.status().WithContext("splitting attention heads");
  s.heads = heads.value()[tp_rank];
  s.kv_heads = {s.heads.begin / group, (s.heads.end - 1) / group + 1};
  auto ffn = SplitByShares(c.n_ff, ffn_granularity, tp_shares);
  // Too few whole blocks for this many ranks: split by rows, and the loader
  // decodes the off-grid ffn_down columns to f32 (same values, more bytes).
  if (!ffn.ok()) ffn = SplitByShares(c.n_ff, 1, tp_shares);
  if (!ffn.ok()) return ffn.status().WithContext("splitting FFN rows");
  s.ffn = ffn.value()[tp_rank];
  PLEXUS_RETURN_IF_ERROR(SplitExperts(c, expert_shares, expert_rank, ffn_granularity, s));
  PLEXUS_RETURN_IF_ERROR(SplitVocab(c, tp_shares, tp_rank, expert_size, expert_rank, s));
  return s;
}

}  // namespace plexus
