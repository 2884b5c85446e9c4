#include "cluster/plan.h"

#include <charconv>
#include <cmath>

#include "model/weights.h"

namespace plexus::cluster {
namespace {

Result<std::vector<double>> ParseShares(const std::string& text, int n, const char* what) {
  std::vector<double> shares;
  if (text.empty()) return std::vector<double>(static_cast<size_t>(n), 1.0);
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v))
      return Status::Errorf("split", "{} '{}': '{}' is not a positive number", what, text, item);
    shares.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<int>(shares.size()) != n)
    return Status::Errorf("split", "{} '{}' has {} values but the split has {} ranks there", what, text, shares.size(), n);
  return shares;
}

// "tp2" -> ('t', 2). Degrees from 1 to 256.
Result<std::pair<char, int>> ParseTerm(const std::string& term, const std::string& split) {
  if (term.size() < 3 || (term.compare(0, 2, "tp") != 0 && term.compare(0, 2, "pp") != 0))
    return Status::Errorf("split", "'{}': expected tpN, ppN or tpNxppM", split);
  int n = 0;
  auto [ptr, ec] = std::from_chars(term.data() + 2, term.data() + term.size(), n);
  if (ec != std::errc() || ptr != term.data() + term.size() || n < 1 || n > 256)
    return Status::Errorf("split", "'{}': '{}' needs a degree from 1 to 256", split, term);
  return std::make_pair(term[0], n);
}

}  // namespace

Result<Split> ParseSplit(const std::string& text, const std::string& tp_shares, const std::string& pp_shares) {
  Split s;
  if (!text.empty() && text != "1") {
    const size_t x = text.find('x');
    std::vector<std::string> terms = {text.substr(0, x)};
    if (x != std::string::npos) terms.push_back(text.substr(x + 1));
    bool seen_tp = false, seen_pp = false;
    for (const std::string& term : terms) {
      PLEXUS_ASSIGN_OR_RETURN(auto parsed, ParseTerm(term, text));
      bool& seen = parsed.first == 't' ? seen_tp : seen_pp;
      if (seen) return Status::Errorf("split", "'{}' names the same degree twice", text);
      seen = true;
      (parsed.first == 't' ? s.tp : s.pp) = parsed.second;
    }
  }
  PLEXUS_ASSIGN_OR_RETURN(s.tp_shares, ParseShares(tp_shares, s.tp, "--shares"));
  PLEXUS_ASSIGN_OR_RETURN(s.pp_shares, ParseShares(pp_shares, s.pp, "--stage-shares"));
  return s;
}

int StageOf(const Split& s, int rank) { return rank / s.tp; }
int TpRankOf(const Split& s, int rank) { return rank % s.tp; }

std::vector<int> TpGroupRanks(const Split& s, int rank) {
  std::vector<int> ranks;
  for (int r = 0; r < s.tp; ++r) ranks.push_back(StageOf(s, rank) * s.tp + r);
  return ranks;
}

int PrevStageRank(const Split& s, int rank) { return StageOf(s, rank) == 0 ? -1 : rank - s.tp; }
int NextStageRank(const Split& s, int rank) { return StageOf(s, rank) == s.pp - 1 ? -1 : rank + s.tp; }
int LastStageLeader(const Split& s) { return (s.pp - 1) * s.tp; }

Result<ShardSpec> ShardForRank(const GgufFile& file, const ModelConfig& config, const Split& split, int rank) {
  if (split.pp > config.n_layers)
    return Status::Errorf("split", "{} pipeline stages but the model has {} layers", split.pp, config.n_layers);
  PLEXUS_ASSIGN_OR_RETURN(std::vector<Range> layers, SplitLayers(config.n_layers, split.pp_shares));
  PLEXUS_ASSIGN_OR_RETURN(int64_t granularity, FfnGranularity(file));
  return MakeShard(config, split.tp_shares, TpRankOf(split, rank), layers[StageOf(split, rank)], granularity);
}

}  // namespace plexus::cluster
