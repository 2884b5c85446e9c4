// How ranks map onto a split: `--split tpAxepBxppC` (any order, any subset:
// "tp2", "ep4", "tp2xep2", "ep2xpp2", ...) counts every process, the
// coordinator included, world = A * B * C.
//
// Rank layout (G = A * B ranks per pipeline stage):
//
//   rank = stage * G + ep_rank * A + tp_rank        coordinator: rank 0
//
//   - TP group: the A consecutive ranks of one stage and one ep replica.
//     Attention, dense FFN layers, norms, the router and the LM head are
//     split over it by heads / rows (replicated when A = 1), and it
//     all-reduces attention and dense FFNs. Every ep replica computes the same.
//   - Expert group: all G ranks of a stage. Routed experts go whole to its
//     ranks and shared-expert rows are split over it, both by the expert
//     shares; each MoE layer ends with ONE all-reduce over it (moe_ops.cc).
//     Under tpN (B = 1) it is the TP group itself.
//   - Pipeline: rank r hands its hidden state to rank r + G (same ep replica
//     and tp rank in the next stage). The last stage's rank 0 of the expert
//     group (LastStageLeader) sends the logits to the coordinator.
//
// E.g. tp2xep2: ranks 0,1 are TP group 0 and 2,3 TP group 1 (same heads as
// 0,1); experts split four ways over 0..3.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/shard.h"

namespace plexus::cluster {

struct Split {
  int tp = 1;
  int ep = 1;
  int pp = 1;
  std::vector<double> tp_shares;  // [tp]
  std::vector<double> pp_shares;  // [pp]
  // [world]: rank r's share of its stage's experts (and shared-expert rows),
  // relative to the other ranks of its expert group.
  std::vector<double> expert_shares;
  // The expert shares came from --shares; otherwise the coordinator may set
  // them from the nodes' memory (ApplyMemoryShares).
  bool expert_shares_given = false;
  int group() const { return tp * ep; }  // ranks per pipeline stage: the expert group
  int world() const { return tp * ep * pp; }
  std::string Name() const;  // "1", "tp2", "ep3", "tp2xep2xpp2", ...
};

// "tp2", "ep2", "pp3", "tp2xep2", "tp2xpp2", "ep2xpp2", "tp2xep2xpp2" (terms
// in any order), "1". `shares` (--shares): "3,1" gives the ranks of a stage
// uneven shares: under tpN the TP ranks' (heads, rows and experts); with
// ep > 1 the expert group's A * B ranks' experts (the heads then split
// evenly). Empty: equal. Errors name the text.
Result<Split> ParseSplit(const std::string& split, const std::string& shares = "", const std::string& pp_shares = "");

int StageOf(const Split& s, int rank);
int TpRankOf(const Split& s, int rank);
int EpRankOf(const Split& s, int rank);                   // which replica of the TP group
int ExpertRankOf(const Split& s, int rank);               // rank inside its stage's expert group
std::vector<int> TpGroupRanks(const Split& s, int rank);  // ranks of rank's TP group, ascending
std::vector<int> ExpertGroupRanks(const Split& s, int rank);  // ranks of rank's stage, ascending
int PrevStageRank(const Split& s, int rank);             // -1 on the first stage
int NextStageRank(const Split& s, int rank);             // -1 on the last stage
int LastStageLeader(const Split& s);                     // expert rank 0 of the last stage

// Expert shares in proportion to each rank's memory (`mem_total` bytes, in
// rank order). A rank that reported 0 (unknown) counts as the mean of the
// known ones; all unknown: equal shares.
std::vector<double> MemoryShares(std::span<const uint64_t> mem_total);

// Sets split->expert_shares from the ranks' memory ([world]) unless
// --shares gave them. Errors name a size mismatch.
Status ApplyMemoryShares(Split* split, std::span<const uint64_t> mem_total);

// The expert shares of `stage`'s expert group ([group()]); a Split without
// expert_shares (built by hand) gives the TP shares when ep = 1, else equal.
Result<std::vector<double>> StageExpertShares(const Split& split, int stage);

// The shard rank `rank` computes. A split with ep > 1 needs a model with
// experts (an error says so).
Result<ShardSpec> ShardForRank(const GgufFile& file, const ModelConfig& config, const Split& split, int rank);

}  // namespace plexus::cluster
