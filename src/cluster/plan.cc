#include "cluster/plan.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

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
  const bool known = term.size() >= 3 && term[1] == 'p' && (term[0] == 't' || term[0] == 'p' || term[0] == 'e');
  if (!known)
    return Status::Errorf("split", "'{}': '{}' is not tpN, epN or ppN (e.g. tp2, ep4, tp2xep2, tp2xpp2)", split, term);
  int n = 0;
  auto [ptr, ec] = std::from_chars(term.data() + 2, term.data() + term.size(), n);
  if (ec != std::errc() || ptr != term.data() + term.size() || n < 1 || n > 256)
    return Status::Errorf("split", "'{}': '{}' needs a degree from 1 to 256", split, term);
  return std::make_pair(term[0], n);
}

}  // namespace

std::string Split::Name() const {
  std::string name;
  for (auto [prefix, n] : {std::pair<const char*, int>{"tp", tp}, {"ep", ep}, {"pp", pp}})
    if (n > 1) name += fmt::format("{}{}{}", name.empty() ? "" : "x", prefix, n);
  return name.empty() ? "1" : name;
}

Result<Split> ParseSplit(const std::string& text, const std::string& shares, const std::string& pp_shares) {
  Split s;
  if (!text.empty() && text != "1") {
    std::vector<std::string> terms;
    for (size_t start = 0;;) {
      const size_t x = text.find('x', start);
      terms.push_back(text.substr(start, x == std::string::npos ? std::string::npos : x - start));
      if (x == std::string::npos) break;
      start = x + 1;
    }
    bool seen[3] = {false, false, false};
    for (const std::string& term : terms) {
      PLEXUS_ASSIGN_OR_RETURN(auto parsed, ParseTerm(term, text));
      const int which = parsed.first == 't' ? 0 : parsed.first == 'e' ? 1 : 2;
      if (seen[which]) return Status::Errorf("split", "'{}' names the same degree twice", text);
      seen[which] = true;
      (which == 0 ? s.tp : which == 1 ? s.ep : s.pp) = parsed.second;
    }
    if (s.world() > 1024) return Status::Errorf("split", "'{}' counts {} processes (at most 1024)", text, s.world());
  }
  s.tp_shares.assign(static_cast<size_t>(s.tp), 1.0);
  std::vector<double> group_shares;  // [tp * ep]: the expert group's, the same in every stage
  if (s.ep == 1) {
    PLEXUS_ASSIGN_OR_RETURN(s.tp_shares, ParseShares(shares, s.tp, "--shares"));
    group_shares = s.tp_shares;
  } else {
    PLEXUS_ASSIGN_OR_RETURN(group_shares, ParseShares(shares, s.group(), "--shares"));
  }
  s.expert_shares_given = !shares.empty();
  for (int stage = 0; stage < s.pp; ++stage)
    s.expert_shares.insert(s.expert_shares.end(), group_shares.begin(), group_shares.end());
  PLEXUS_ASSIGN_OR_RETURN(s.pp_shares, ParseShares(pp_shares, s.pp, "--stage-shares"));
  return s;
}

int StageOf(const Split& s, int rank) { return rank / s.group(); }
int TpRankOf(const Split& s, int rank) { return rank % s.tp; }
int EpRankOf(const Split& s, int rank) { return rank % s.group() / s.tp; }
int ExpertRankOf(const Split& s, int rank) { return rank % s.group(); }

std::vector<int> TpGroupRanks(const Split& s, int rank) {
  std::vector<int> ranks;
  const int first = rank - TpRankOf(s, rank);
  for (int r = 0; r < s.tp; ++r) ranks.push_back(first + r);
  return ranks;
}

std::vector<int> ExpertGroupRanks(const Split& s, int rank) {
  std::vector<int> ranks;
  for (int r = 0; r < s.group(); ++r) ranks.push_back(StageOf(s, rank) * s.group() + r);
  return ranks;
}

int PrevStageRank(const Split& s, int rank) { return StageOf(s, rank) == 0 ? -1 : rank - s.group(); }
int NextStageRank(const Split& s, int rank) { return StageOf(s, rank) == s.pp - 1 ? -1 : rank + s.group(); }
int LastStageLeader(const Split& s) { return (s.pp - 1) * s.group(); }

std::vector<double> MemoryShares(std::span<const uint64_t> mem_total) {
  double known = 0;
  int n_known = 0;
  for (uint64_t m : mem_total)
    if (m > 0) {
      known += static_cast<double>(m);
      ++n_known;
    }
  const double mean = n_known > 0 ? known / n_known : 1.0;
  std::vector<double> shares;
  for (uint64_t m : mem_total) shares.push_back(m > 0 ? static_cast<double>(m) / mean : 1.0);
  return shares;
}

Status ApplyMemoryShares(Split* split, std::span<const uint64_t> mem_total) {
  if (static_cast<int>(mem_total.size()) != split->world())
    return Status::Errorf("split", "memory of {} ranks given for the {} ranks of split {}", mem_total.size(),
                          split->world(), split->Name());
  if (!split->expert_shares_given) split->expert_shares = MemoryShares(mem_total);
  return Status::Ok();
}

Result<std::vector<double>> StageExpertShares(const Split& s, int stage) {
  if (s.expert_shares.empty()) {  // a Split built by hand: the TP shares, or equal ones
    if (s.ep == 1) return s.tp_shares;
    return std::vector<double>(static_cast<size_t>(s.group()), 1.0);
  }
  if (static_cast<int>(s.expert_shares.size()) != s.world())
    return Status::Errorf("split", "split {} has {} expert shares for {} ranks", s.Name(), s.expert_shares.size(),
                          s.world());
  const auto begin = s.expert_shares.begin() + stage * s.group();
  return std::vector<double>(begin, begin + s.group());
}

Result<ShardSpec> ShardForRank(const GgufFile& file, const ModelConfig& config, const Split& split, int rank) {
  if (split.pp > config.n_layers)
    return Status::Errorf("split", "{} pipeline stages but the model has {} layers", split.pp, config.n_layers);
  if (split.ep > 1 && !config.is_moe())
    return Status::Errorf("split", "split {} places experts on nodes but {} has no experts (use tpN or ppN)",
                          split.Name(), file.name());
  if (rank < 0 || rank >= split.world())
    return Status::Errorf("split", "rank {} outside split {} of {} processes", rank, split.Name(), split.world());
  PLEXUS_ASSIGN_OR_RETURN(std::vector<Range> layers, SplitLayers(config.n_layers, split.pp_shares));
  PLEXUS_ASSIGN_OR_RETURN(int64_t granularity, FfnGranularity(file));
  PLEXUS_ASSIGN_OR_RETURN(std::vector<double> group_shares, StageExpertShares(split, StageOf(split, rank)));
  return MakeShard(config, split.tp_shares, TpRankOf(split, rank), group_shares, ExpertRankOf(split, rank),
                   layers[StageOf(split, rank)], granularity);
}

}  // namespace plexus::cluster
