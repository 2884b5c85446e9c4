#include "placement/search.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <tuple>

namespace plexus::placement {
namespace {

constexpr double kSameTime = 1e-9;    // relative: times closer than this tie
constexpr size_t kAllOrdersUpTo = 5;  // stages: every order up to this many, greedy chains beyond

using Visit = std::function<void(const Layout&)>;

void Add(SearchResult& found, Plan plan) {
  found.tried.push_back(Summarize(plan));
  auto [it, fresh] = found.by_degree.try_emplace({plan.tp, plan.pp, plan.ep}, plan);
  if (!fresh && Better(plan, it->second)) it->second = std::move(plan);
}

// Faster nodes take the lower TP ranks, so positions line up across stages
// (one --shares vector serves every stage).
void SortGroup(const Evaluator& ev, std::vector<size_t>& group) {
  std::sort(group.begin(), group.end(), [&](size_t a, size_t b) {
    if (ev.SecondsPerByte(a) != ev.SecondsPerByte(b)) return ev.SecondsPerByte(a) < ev.SecondsPerByte(b);
    return a < b;
  });
}

// The cost of handing activations from group a to group b (their worst pair).
double HopLatency(const Evaluator& ev, const std::vector<size_t>& a, const std::vector<size_t>& b) {
  double worst = 0;
  for (size_t r = 0; r < a.size(); ++r) {
    const LinkCost* l = ev.links().Get(a[r], b[r]);
    if (l == nullptr) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, l->latency_s + 8.0 / l->bytes_per_s);  // tie-break on bandwidth
  }
  return worst;
}

// Stages in the order of a nearest-neighbour chain from `start`.
Layout Chain(const Evaluator& ev, const std::vector<std::vector<size_t>>& groups, size_t start) {
  Layout layout = {groups[start]};
  std::vector<bool> used(groups.size(), false);
  used[start] = true;
  for (size_t step = 1; step < groups.size(); ++step) {
    size_t next = groups.size();
    double best = std::numeric_limits<double>::infinity();
    for (size_t g = 0; g < groups.size(); ++g) {
      if (used[g]) continue;
      const double h = HopLatency(ev, layout.back(), groups[g]);
      if (next == groups.size() || h < best) {
        next = g;
        best = h;
      }
    }
    used[next] = true;
    layout.push_back(groups[next]);
  }
  return layout;
}

void VisitOrders(const Evaluator& ev, const std::vector<std::vector<size_t>>& groups, const Visit& visit,
                 bool ordered) {
  if (!ordered) return visit(groups);  // expert parallelism: one stage, the group order does not matter
  if (groups.size() <= kAllOrdersUpTo) {
    std::vector<size_t> order(groups.size());
    std::iota(order.begin(), order.end(), 0);
    do {
      Layout layout;
      for (size_t g : order) layout.push_back(groups[g]);
      visit(layout);
    } while (std::next_permutation(order.begin(), order.end()));
    return;
  }
  for (size_t start = 0; start < groups.size(); ++start) visit(Chain(ev, groups, start));
}

// Every way to cut `rest` into unordered groups of `tp`: the lowest
// remaining node opens the next group, the others are chosen from the rest.
void Partitions(const Evaluator& ev, std::vector<size_t> rest, size_t tp, std::vector<std::vector<size_t>>& groups,
                const Visit& visit, bool ordered = true) {
  if (rest.empty()) return VisitOrders(ev, groups, visit, ordered);
  const size_t head = rest[0];
  rest.erase(rest.begin());
  std::vector<bool> pick(rest.size(), false);
  std::fill(pick.begin(), pick.begin() + static_cast<std::ptrdiff_t>(tp - 1), true);
  do {  // combinations of tp - 1 from rest, in lexicographic order of `pick`
    std::vector<size_t> group = {head}, left;
    for (size_t i = 0; i < rest.size(); ++i) (pick[i] ? group : left).push_back(rest[i]);
    SortGroup(ev, group);
    groups.push_back(group);
    Partitions(ev, left, tp, groups, visit, ordered);
    groups.pop_back();
  } while (std::prev_permutation(pick.begin(), pick.end()));
}

// Sizes A of the attention groups of expert-parallel arrangements of k nodes
// (B = k / A >= 2 groups); none for a dense model.
std::vector<size_t> EpGroupSizes(const Evaluator& ev, size_t k, const SearchOptions& search) {
  std::vector<size_t> sizes;
  if (!search.allow_ep || !ev.shape().is_moe() || static_cast<int64_t>(k) > ev.shape().n_experts) return sizes;
  for (size_t a = 1; 2 * a <= k; ++a)
    if (k % a == 0 && static_cast<int64_t>(a) <= ev.shape().n_heads) sizes.push_back(a);
  return sizes;
}

void Exhaustive(const Evaluator& ev, const SearchOptions& search, const Visit& visit, const Visit& visit_ep) {
  const size_t n = ev.inventory().nodes.size();
  for (uint64_t mask = 1; mask < (uint64_t{1} << n); ++mask) {
    std::vector<size_t> members;
    for (size_t i = 0; i < n; ++i)
      if (mask >> i & 1) members.push_back(i);
    const size_t k = members.size();
    for (size_t tp = 1; tp <= k; ++tp) {
      if (k % tp != 0 || static_cast<int64_t>(tp) > ev.shape().n_heads ||
          static_cast<int64_t>(k / tp) > ev.shape().n_layers)
        continue;
      std::vector<std::vector<size_t>> groups;
      Partitions(ev, members, tp, groups, visit);
    }
    for (size_t a : EpGroupSizes(ev, k, search)) {
      std::vector<std::vector<size_t>> groups;
      Partitions(ev, members, a, groups, visit_ep, /*ordered=*/false);
    }
  }
}

// Grows a TP group around `seed` with the nodes best linked to it: lowest
// worst-case latency to the group, then highest bandwidth, then speed.
std::vector<size_t> GrowGroup(const Evaluator& ev, size_t seed, size_t tp, const std::vector<bool>& used) {
  std::vector<size_t> group = {seed};
  const size_t n = ev.inventory().nodes.size();
  while (group.size() < tp) {
    size_t pick = n;
    std::tuple<double, double, double> best_key;
    for (size_t c = 0; c < n; ++c) {
      if (used[c] || std::find(group.begin(), group.end(), c) != group.end()) continue;
      double latency = 0, bandwidth = std::numeric_limits<double>::infinity();
      bool reachable = true;
      for (size_t g : group) {
        const LinkCost* l = ev.links().Get(c, g);
        if (l == nullptr) {
          reachable = false;
          break;
        }
        latency = std::max(latency, l->latency_s);
        bandwidth = std::min(bandwidth, l->bytes_per_s);
      }
      if (!reachable) continue;
      const auto key = std::make_tuple(latency, -bandwidth, ev.SecondsPerByte(c));
      if (pick == n || key < best_key) {
        pick = c;
        best_key = key;
      }
    }
    if (pick == n) break;
    group.push_back(pick);
  }
  SortGroup(ev, group);
  return group;
}

// Many nodes: for each tp, groups grown around the fastest free node; for
// each pp, the first pp groups chained by their cheapest hops.
void Greedy(const Evaluator& ev, const SearchOptions& search, const Visit& visit, const Visit& visit_ep) {
  const size_t n = ev.inventory().nodes.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  SortGroup(ev, order);
  for (size_t tp = 1; tp <= n && static_cast<int64_t>(tp) <= ev.shape().n_heads; ++tp) {
    std::vector<bool> used(n, false);
    std::vector<std::vector<size_t>> groups;
    for (size_t seed : order) {
      if (used[seed]) continue;
      std::vector<size_t> group = GrowGroup(ev, seed, tp, used);
      if (group.size() < tp) continue;
      for (size_t g : group) used[g] = true;
      groups.push_back(group);
    }
    for (size_t pp = 1; pp <= groups.size() && static_cast<int64_t>(pp) <= ev.shape().n_layers; ++pp) {
      const std::vector<std::vector<size_t>> chosen(groups.begin(), groups.begin() + static_cast<std::ptrdiff_t>(pp));
      visit(Chain(ev, chosen, 0));
    }
    for (size_t b = 2; b <= groups.size(); ++b) {
      const std::vector<size_t> sizes = EpGroupSizes(ev, tp * b, search);
      if (std::find(sizes.begin(), sizes.end(), tp) != sizes.end())
        visit_ep({groups.begin(), groups.begin() + static_cast<std::ptrdiff_t>(b)});
    }
  }
}

// Puts search.first_node at rank 0 (the front of the first group; for
// expert parallelism its group first); false when the layout cannot.
bool FirstNodeFirst(const SearchOptions& search, Layout& layout, bool any_group) {
  if (search.first_node == SearchOptions::kAnyNode) return true;
  for (size_t g = 0; g < (any_group ? layout.size() : 1); ++g) {
    auto it = std::find(layout[g].begin(), layout[g].end(), search.first_node);
    if (it == layout[g].end()) continue;
    std::iter_swap(layout[g].begin(), it);
    std::swap(layout[0], layout[g]);
    return true;
  }
  return false;
}

}  // namespace

Candidate Summarize(const Plan& plan) {
  Candidate c{{}, plan.tp, plan.pp, plan.ep, plan.fits, plan.token_s, plan.short_bytes, plan.short_node};
  for (const NodePlan& np : plan.nodes) c.ranks.push_back(np.node);
  return c;
}

bool Better(const Candidate& a, const Candidate& b) {
  if (a.fits != b.fits) return a.fits;
  if (!a.fits && a.short_bytes != b.short_bytes) return a.short_bytes < b.short_bytes;
  const double scale = std::max(a.token_s, b.token_s) * kSameTime;
  if (std::abs(a.token_s - b.token_s) > scale) return a.token_s < b.token_s;
  if (a.ranks.size() != b.ranks.size()) return a.ranks.size() < b.ranks.size();
  if (a.pp != b.pp) return a.pp < b.pp;
  if (a.ep != b.ep) return a.ep < b.ep;
  return a.ranks < b.ranks;
}

SearchResult Search(const Evaluator& ev, const SearchOptions& search) {
  SearchResult found;
  auto keep = [&](std::optional<Plan> plan) {
    if (plan && (search.only_split.empty() || plan->Split() == search.only_split)) Add(found, std::move(*plan));
  };
  const Visit visit = [&](const Layout& given) {
    Layout layout = given;
    if (FirstNodeFirst(search, layout, false)) keep(ev.Evaluate(layout));
  };
  const Visit visit_ep = [&](const Layout& given) {
    Layout layout = given;
    if (FirstNodeFirst(search, layout, true)) keep(ev.EvaluateEp(layout));
  };
  if (ev.inventory().nodes.size() <= std::min<size_t>(search.exhaustive_max_nodes, 20))
    Exhaustive(ev, search, visit, visit_ep);
  else
    Greedy(ev, search, visit, visit_ep);
  return found;
}

}  // namespace plexus::placement
