// The placement planner: which nodes run which part of a model, with which
// tensor- and pipeline-parallel degrees and shares, so that decode is as fast
// as the cost model predicts it can be within every node's memory. Pure: data
// in, plan out (no I/O, threads or clocks), deterministic.
// docs/PLACEMENT.md gives the cost model, its constants and the search.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/shard.h"
#include "placement/inventory.h"
#include "placement/model_shape.h"

namespace plexus::placement {

struct Request {
  int64_t context_tokens = 4096;         // KV cache positions per sequence
  int64_t sequences = 1;                 // sequences whose KV caches are held at once
  uint64_t margin_bytes = 512ull << 20;  // per node: activations, buffers, the runtime itself
};

// Constants of the cost model (docs/PLACEMENT.md says where each comes from).
struct CostParams {
  double membw_efficiency = 0.33;         // decode reads weights at this fraction of the measured bandwidth
  double message_overhead_us = 6;         // software cost of one message (framing, checksum, syscalls)
  double allreduce_latency_factor = 1.0;  // one-way latencies one one-shot all-reduce waits for
  double kv_read_fraction = 0.5;          // decode reads K and V at this fraction of the context (its mean)
};

struct SearchOptions {
  size_t exhaustive_max_nodes = 8;  // up to this many nodes every grouping is tried; greedy beyond
  size_t max_alternatives = 12;     // runner-ups kept, one per (tp, pp)
  // One TP share vector for every stage, as `--shares` takes it today.
  bool same_shares_every_stage = true;
  // MoE models: also try expert parallelism ("epN", "tpAxepB"). Off where
  // the engine cannot run those splits yet.
  bool allow_ep = true;
  // The node that must be rank 0 (a serving coordinator is); kAnyNode: none.
  static constexpr size_t kAnyNode = static_cast<size_t>(-1);
  size_t first_node = kAnyNode;
  // Non-empty: only plans of this split ("tp2", "pp2", "tp2xpp2", "ep4",
  // "tp2xep2", "1"), to predict a split chosen elsewhere.
  std::string only_split;
};

// One process of the plan.
struct NodePlan {
  std::string name;
  size_t node = 0;  // index into Inventory::nodes
  int rank = 0;     // stage * tp + tp_rank (cluster/plan.h)
  int stage = 0;
  int tp_rank = 0;
  Range layers;                       // [begin, end)
  double share = 1;                   // TP share (the --shares value, normalised over the group)
  Range heads, kv_heads, ffn, vocab;  // as MakeShard realises the share
  Range experts;                      // MoE: routed experts held (whole ones)
  uint64_t weight_bytes = 0;          // weights held
  uint64_t kv_bytes = 0;              // KV cache at the full context for every sequence
  uint64_t margin_bytes = 0;
  uint64_t usable_bytes = 0;  // memory_bytes * max_fraction
  double compute_s = 0;       // reading its weights (and KV) for one token
  uint64_t memory_bytes() const { return weight_bytes + kv_bytes + margin_bytes; }
};

// Where one stage's time per token goes.
struct StageTime {
  double compute_s = 0;    // slowest rank reading its share
  double allreduce_s = 0;  // 2 per layer when tp > 1
  double gather_s = 0;     // logits all-gather on the last stage when tp > 1 or ep > 1
  double hop_s = 0;        // sending the hidden state on (the token back, after the last stage)
  double total() const { return compute_s + allreduce_s + gather_s + hop_s; }
};

struct Plan {
  int tp = 1, pp = 1;
  // Expert parallelism (MoE): ep > 1 is "tp{tp}xep{ep}" ("ep{ep}" when tp
  // is 1) on one stage of tp * ep ranks: attention split over groups of tp
  // ranks (rank = group * tp + tp_rank), every rank holding whole experts.
  int ep = 1;
  std::vector<NodePlan> nodes;    // by rank
  std::vector<StageTime> stages;  // [pp]
  double token_s = 0;             // predicted decode time per token, one sequence
  bool fits = true;
  std::string short_node;            // !fits: the node furthest over its memory
  uint64_t short_bytes = 0;          //   and by how many bytes
  std::vector<std::string> reasons;  // why this plan (filled for the chosen one)

  double tokens_per_s() const { return token_s > 0 ? 1.0 / token_s : 0.0; }
  int world() const { return tp * pp * ep; }
  std::string Split() const;   // "tp2xpp2", "tp3", "pp2", "ep4", "tp2xep2", "1"
  std::string Groups() const;  // "a,b | c,d": stages in order, TP ranks within
  // "--split tp2xpp2 --shares 0.6,0.4 --stage-shares 9,7"; empty when the
  // stages' shares differ (today's --shares is one vector for all stages).
  std::string RunFlags() const;
  std::vector<int64_t> StageLayers() const;
};

struct Alternative {
  Plan plan;
  std::string why;  // "slower by 23.1% (...)" or "does not fit: node b short by 123 bytes (...)"
};

struct Placement {
  Plan best;
  std::vector<Alternative> alternatives;  // best first: fitting by speed, then the rest by shortfall
};

// "512 B", "3.50 KiB", "1.25 MiB", "4.21 GiB": for reasons and reports.
std::string FormatBytes(double bytes);

// Errors: an invalid shape or inventory (naming the field), or no plan that
// fits: "[placement] does not fit: needs N bytes (weights W + KV K + margins M)
// but the nodes offer A; tightest: node x short by B bytes in tp2".
Result<Placement> PlanPlacement(const ModelShape& shape, const Inventory& inventory, const Request& request,
                                const CostParams& cost = {}, const SearchOptions& search = {});

}  // namespace plexus::placement
