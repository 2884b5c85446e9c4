#include "sampling/stages.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace plexus {
namespace {

constexpr size_t kFirstSortChunk = 64;  // top-p sorts this many, then doubles
constexpr size_t kBucketsFrom = 1024;   // top-p on an unsorted list this long uses buckets
constexpr size_t kBuckets = 256;

bool Greater(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

float MaxLogit(const Candidates& c) {
  if (c.sorted > 0) return c.items[0].logit;
  float max = -std::numeric_limits<float>::infinity();
  for (const Candidate& x : c.items) max = std::max(max, x.logit);
  return max;
}

}  // namespace

void BuildCandidates(std::span<const float> logits, Candidates* out) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  out->items.clear();
  out->items.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    if (logits[i] > kNegInf) out->items.push_back({static_cast<int32_t>(i), logits[i]});  // NaN fails too
  out->sorted = 0;
}

void SortPrefix(Candidates* c, size_t n) {
  n = std::min(n, c->items.size());
  if (n <= c->sorted) return;
  // The prefix already holds the largest entries, so only the rest is sorted.
  std::partial_sort(c->items.begin() + static_cast<ptrdiff_t>(c->sorted), c->items.begin() + static_cast<ptrdiff_t>(n),
                    c->items.end(), Greater);
  c->sorted = n;
}

void ApplyLogitBias(const std::map<int32_t, float>& bias, std::span<float> logits) {
  for (const auto& [id, b] : bias)
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[id] += b;
}

void ApplyPenalties(const std::unordered_map<int32_t, int>& counts, float repeat, float frequency, float presence,
                    std::span<float> logits) {
  for (const auto& [id, count] : counts) {
    if (count <= 0 || id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
    float& l = logits[id];
    if (repeat != 1.0f) l = l > 0 ? l / repeat : l * repeat;
    l -= static_cast<float>(count) * frequency + presence;
  }
}

void TopK(Candidates* c, int k) {
  if (k <= 0 || static_cast<size_t>(k) >= c->items.size()) return;
  SortPrefix(c, static_cast<size_t>(k));
  c->items.resize(static_cast<size_t>(k));
}

namespace {

// Top-p by walking down the sorted order, sorting further only when the walk
// gets there: cheap when the list is short or already sorted (after top-k).
// Returns the index of the last token kept.
size_t TopPBySorting(Candidates* c, double p) {
  const std::vector<Candidate>& items = c->items;
  const float max = MaxLogit(*c);
  double z = 0;
  for (const Candidate& x : items) z += std::exp(x.logit - max);
  const double target = p * z;
  double cumulative = 0;
  for (size_t last = 0;; ++last) {
    if (last == c->sorted) SortPrefix(c, std::max(kFirstSortChunk, 2 * c->sorted));
    cumulative += std::exp(items[last].logit - max);
    if (cumulative >= target || last + 1 == items.size()) return last;
  }
}

// Top-p on a long unsorted list without sorting it: a histogram of the
// probability mass over logit buckets finds the bucket where the cumulative
// mass crosses p; only that bucket's tokens are sorted. The tokens of the
// buckets above it come first, unsorted. Returns the index of the last kept.
size_t TopPByBuckets(Candidates* c, double p) {
  std::vector<Candidate>& items = c->items;
  auto [lo, hi] = std::minmax_element(items.begin(), items.end(),
                                      [](const Candidate& a, const Candidate& b) { return a.logit < b.logit; });
  const float max = hi->logit, range = hi->logit - lo->logit;
  if (!(range > 0) || !std::isfinite(range)) return TopPBySorting(c, p);
  const float scale = static_cast<float>(kBuckets) / range;
  auto bucket = [&](float logit) { return std::min(kBuckets - 1, static_cast<size_t>((max - logit) * scale)); };
  std::vector<double> mass(kBuckets, 0.0);  // bucket 0 holds the largest logits
  double z = 0;
  for (const Candidate& x : items) {
    const double e = std::exp(x.logit - max);
    mass[bucket(x.logit)] += e;
    z += e;
  }
  const double target = p * z;
  double cumulative = 0;
  size_t cut = 0;
  while (cut + 1 < kBuckets && cumulative + mass[cut] < target) cumulative += mass[cut++];
  const auto above = std::partition(items.begin(), items.end(),
                                    [&](const Candidate& x) { return bucket(x.logit) < cut; });
  const auto at = std::partition(above, items.end(), [&](const Candidate& x) { return bucket(x.logit) == cut; });
  std::sort(above, at, Greater);
  c->sorted = 0;
  size_t last = static_cast<size_t>(above - items.begin());
  for (; last + 1 < static_cast<size_t>(at - items.begin()); ++last) {
    cumulative += std::exp(items[last].logit - max);
    if (cumulative >= target) break;
  }
  return last;  // ties with it are in the same bucket, sorted right after it
}

}  // namespace

void TopP(Candidates* c, float p) {
  std::vector<Candidate>& items = c->items;
  if (p >= 1.0f || items.size() <= 1) return;
  const bool long_unsorted = items.size() >= kBucketsFrom && c->sorted < kFirstSortChunk;
  const size_t last = long_unsorted ? TopPByBuckets(c, p) : TopPBySorting(c, p);
  size_t keep = last + 1;
  for (; keep < items.size(); ++keep) {  // ties with the last one kept stay
    if (keep == c->sorted) SortPrefix(c, 2 * c->sorted);
    if (items[keep].logit != items[last].logit) break;
  }
  items.resize(keep);
  c->sorted = std::min(c->sorted, keep);
}

void MinP(Candidates* c, float min_p) {
  if (min_p <= 0 || c->items.empty()) return;
  const float threshold = MaxLogit(*c) + std::log(min_p);
  auto below = [threshold](const Candidate& x) { return x.logit < threshold; };
  // The sorted prefix loses a tail at most, and then everything after it goes too.
  const size_t sorted_kept = static_cast<size_t>(
      std::count_if(c->items.begin(), c->items.begin() + static_cast<ptrdiff_t>(c->sorted),
                    [&](const Candidate& x) { return !below(x); }));
  c->items.erase(std::remove_if(c->items.begin(), c->items.end(), below), c->items.end());
  c->sorted = sorted_kept;
}

void ScaleByTemperature(Candidates* c, float temperature) {
  for (Candidate& x : c->items) x.logit /= temperature;
}

int32_t ArgMaxCandidate(const Candidates& c) {
  if (c.items.empty()) return -1;
  if (c.sorted > 0) return c.items[0].id;
  return std::min_element(c.items.begin(), c.items.end(), Greater)->id;
}

int32_t DrawCandidate(Candidates* c, double u) {
  if (c->items.empty()) return -1;
  const float max = MaxLogit(*c);
  c->weights.resize(c->items.size());
  double z = 0;
  for (size_t i = 0; i < c->items.size(); ++i) z += c->weights[i] = std::exp(c->items[i].logit - max);
  const double target = u * z;
  double cumulative = 0;
  for (size_t i = 0; i < c->items.size(); ++i) {
    cumulative += c->weights[i];
    if (cumulative > target) return c->items[i].id;
  }
  return c->items.back().id;  // rounding left the sum just short of u * z
}

}  // namespace plexus
