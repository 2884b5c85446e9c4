// How ranks map onto a split: `--split tpNxppM` counts every process, the
// coordinator included. Rank r = stage * tp + tp_rank; the coordinator is
// rank 0 (stage 0, tp rank 0).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/shard.h"

namespace plexus::cluster {

struct Split {
  int tp = 1;
  int pp = 1;
  std::vector<double> tp_shares;  // [tp]
  std::vector<double> pp_shares;  // [pp]
  int world() const { return tp * pp; }
};

// "tp2", "pp3", "tp2xpp2" (either order), "1". `shares`: "3,1" gives the
// tensor-parallel ranks uneven shares (empty: equal). Errors name the text.
Result<Split> ParseSplit(const std::string& split, const std::string& tp_shares = "", const std::string& pp_shares = "");

int StageOf(const Split& s, int rank);
int TpRankOf(const Split& s, int rank);
std::vector<int> TpGroupRanks(const Split& s, int rank);  // ranks of rank's stage, ascending
int PrevStageRank(const Split& s, int rank);             // -1 on the first stage
int NextStageRank(const Split& s, int rank);             // -1 on the last stage
int LastStageLeader(const Split& s);                     // tp rank 0 of the last stage

// The shard rank `rank` computes.
Result<ShardSpec> ShardForRank(const GgufFile& file, const ModelConfig& config, const Split& split, int rank);

}  // namespace plexus::cluster
