// The planner's search over arrangements, and how its findings are explained.
// Internal to placement/ (planner.h is the interface).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "placement/evaluate.h"

namespace plexus::placement {

// What the search remembers of every arrangement it tried: enough to rank
// it and to say why it lost.
struct Candidate {
  std::vector<size_t> ranks;  // node index of each rank
  int tp = 1, pp = 1, ep = 1;
  bool fits = true;
  double token_s = 0;
  uint64_t short_bytes = 0;
  std::string short_node;
};
Candidate Summarize(const Plan& plan);

struct SearchResult {
  std::map<std::tuple<int, int, int>, Plan> by_degree;  // (tp, pp, ep) -> the best plan of those degrees
  std::vector<Candidate> tried;                   // every arrangement that could run
};

// Fitting beats not fitting; then less time per token (fits) or a smaller
// shortfall (does not fit); then fewer nodes, fewer stages, and the nodes
// listed first in the inventory. A strict order: the search is deterministic.
bool Better(const Candidate& a, const Candidate& b);
inline bool Better(const Plan& a, const Plan& b) { return Better(Summarize(a), Summarize(b)); }

// Up to search.exhaustive_max_nodes nodes: every subset, every (tp, pp) with
// tp * pp = its size, every grouping into stages and (up to 5 stages) every
// stage order. Beyond: greedy groups of fast links (docs/PLACEMENT.md).
// MoE models (search.allow_ep): expert-parallel arrangements too. Only
// arrangements with search.first_node at rank 0 and of search.only_split
// count, when those are set.
SearchResult Search(const Evaluator& evaluator, const SearchOptions& search);

// Why `best` won: its time, its groups and links, shares, layers, memory,
// the nodes it leaves out.
std::vector<std::string> Reasons(const Evaluator& evaluator, const SearchResult& found, const Plan& best);
// The best plan of every other (tp, pp), each with why it lost, best first.
std::vector<Alternative> Alternatives(const SearchResult& found, const Plan& best, size_t max);
// No plan fits: what the model needs against what the nodes offer, and the
// node furthest short in the closest plan.
Status NoFitError(const Evaluator& evaluator, const Plan& closest);

}  // namespace plexus::placement
