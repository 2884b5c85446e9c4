// Which part of the model one process computes: the seam for tensor and
// pipeline parallelism (see ../shared/DESIGN.md). A single node is one
// shard that owns everything.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"

namespace plexus {

struct Range {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

struct ShardSpec {
  int tp_rank = 0;      // rank in the tensor-parallel group of this stage
  int tp_size = 1;
  // Rank in the expert group of this stage: the ranks that split the routed
  // and shared experts and all-reduce the MoE block once. Under tpN it is the
  // TP group; under tpAxepB it is all A*B ranks of the stage (cluster/plan.h).
  int expert_rank = 0;
  int expert_size = 1;
  Range heads;          // query heads owned (Q rows, o_proj columns)
  Range kv_heads;       // KV heads computed here; replicated when groups straddle shards
  Range ffn;            // FFN rows owned (gate/up rows, down columns) of dense layers
  // MoE layers: the experts owned, whole, split over the expert group. A
  // token routed to an expert outside this range gets nothing from it here;
  // the expert group's all-reduce adds the owner's contribution.
  Range experts;
  // Shared experts (deepseek2): rows of the [n_shared * f_e] shared FFN,
  // split over the expert group like a dense FFN over a TP group. Their
  // partial output joins the routed experts' before the one MoE all-reduce,
  // so each row is added exactly once however many ep replicas there are.
  Range shexp;
  // LM-head rows owned: split over the TP group, or evenly over the expert
  // group under ep (expert_size > tp_size), so no rank repeats another's rows.
  Range vocab;
  // LM-head rows of every rank of the group that gathers the logits: the TP
  // group, or the expert group under ep; in that group's rank order.
  std::vector<Range> group_vocab;
  Range layers;         // pipeline stage: layers [begin, end)
  bool first_stage = true;  // embeds tokens
  bool last_stage = true;   // computes logits

  std::string Describe() const;
};

// The whole model in one shard.
ShardSpec FullShard(const ModelConfig& config);

// Splits n items into contiguous ranges proportional to `shares`, in whole
// units of `granularity` items (the last unit may be short). Every range
// gets at least one unit; an error names the shares when that is impossible.
Result<std::vector<Range>> SplitByShares(int64_t n, int64_t granularity, std::span<const double> shares);

// Splits layers into pipeline stages proportional to `shares`.
Result<std::vector<Range>> SplitLayers(int64_t n_layers, std::span<const double> shares);

// The tensor-parallel shard `tp_rank` of a stage owning `layers`.
// Query heads go out in whole KV groups when there are enough groups, so
// that no KV head is replicated; otherwise head by head. FFN rows go out in
// multiples of `ffn_granularity` (the block size of ffn_down's type) when
// there are enough blocks, else row by row. Experts of an MoE model go out
// whole, contiguous ranges in proportion to the shares.
// MLA (deepseek2) heads go out one by one (no KV groups); the per-token
// latent is shared by all heads, so every rank computes and caches all of it.
Result<ShardSpec> MakeShard(const ModelConfig& config, std::span<const double> tp_shares, int tp_rank,
                            Range layers, int64_t ffn_granularity);

// The same with an expert group wider than the TP group (expert parallelism,
// `--split epN` / `tpAxepB`): routed experts whole and shared-expert rows
// split over the expert group by `expert_shares` ([expert group size]);
// attention and dense FFN over the TP group by `tp_shares`. The LM-head rows
// go evenly over the expert group when it is wider than the TP group (the
// logits are gathered over it), else over the TP group by `tp_shares`.
Result<ShardSpec> MakeShard(const ModelConfig& config, std::span<const double> tp_shares, int tp_rank,
                            std::span<const double> expert_shares, int expert_rank, Range layers,
                            int64_t ffn_granularity);

}  // namespace plexus
