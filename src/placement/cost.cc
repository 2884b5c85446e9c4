#include "placement/cost.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace plexus::placement {
namespace {

// Below this a rank holds next to nothing; SplitByShares needs positive
// shares, and a share this small is not worth a process.
constexpr double kMinShare = 1e-4;

}  // namespace

LinkCost SlowestLink(const LinkTable& links, std::span<const size_t> group) {
  LinkCost slowest{0.0, std::numeric_limits<double>::infinity()};
  for (size_t i = 0; i < group.size(); ++i) {
    for (size_t j = i + 1; j < group.size(); ++j) {
      const LinkCost* l = links.Get(group[i], group[j]);
      if (l == nullptr) return {-1.0, 0.0};
      slowest.latency_s = std::max(slowest.latency_s, l->latency_s);
      slowest.bytes_per_s = std::min(slowest.bytes_per_s, l->bytes_per_s);
    }
  }
  return slowest;
}

double MessageTime(const LinkCost& link, double bytes, const CostParams& p) {
  return link.latency_s + p.message_overhead_us * 1e-6 + bytes / link.bytes_per_s;
}

double AllReduceTime(int n, const LinkCost& link, double bytes, const CostParams& p) {
  if (n <= 1) return 0.0;
  const double per_send = p.message_overhead_us * 1e-6 + bytes / link.bytes_per_s;
  return p.allreduce_latency_factor * link.latency_s + (n - 1) * per_send;
}

double GatherTime(std::span<const double> vocab_fraction, const LinkCost& link, double total_bytes,
                  const CostParams& p) {
  const auto n = static_cast<double>(vocab_fraction.size());
  if (n <= 1) return 0.0;
  double busiest = 0;  // bytes through the busiest rank's link
  for (double f : vocab_fraction) busiest = std::max({busiest, (n - 1) * f * total_bytes, (1 - f) * total_bytes});
  return p.allreduce_latency_factor * link.latency_s + (n - 1) * p.message_overhead_us * 1e-6 +
         busiest / link.bytes_per_s;
}

bool FillShares(std::span<const double> weights, std::span<const double> caps, std::vector<double>& out) {
  const size_t n = weights.size();
  out.assign(n, 0.0);
  std::vector<bool> fixed(n, false);
  double remaining = 1.0;
  bool feasible = false;
  for (size_t round = 0; round <= n; ++round) {
    double wsum = 0;
    for (size_t r = 0; r < n; ++r)
      if (!fixed[r]) wsum += weights[r];
    if (wsum <= 0) break;  // every rank is at its cap and some share is left over
    bool capped = false;
    for (size_t r = 0; r < n; ++r) {
      if (fixed[r] || remaining * weights[r] / wsum <= caps[r]) continue;
      fixed[r] = capped = true;
      out[r] = std::max(caps[r], 0.0);
      remaining -= out[r];
    }
    if (!capped) {
      for (size_t r = 0; r < n; ++r)
        if (!fixed[r]) out[r] = remaining * weights[r] / wsum;
      feasible = true;
      break;
    }
  }
  for (double s : out) feasible = feasible && s >= kMinShare;
  if (feasible) return true;
  double cap_sum = 0;
  for (size_t r = 0; r < n; ++r) cap_sum += std::max(caps[r], kMinShare);
  for (size_t r = 0; r < n; ++r) out[r] = std::max(caps[r], kMinShare) / cap_sum;
  return false;
}

bool FillLayers(int64_t n_layers, std::span<const double> targets, std::span<const int64_t> caps,
                std::vector<int64_t>& out) {
  const size_t n = targets.size();
  int64_t cap_sum = 0;
  bool feasible = static_cast<int64_t>(n) <= n_layers;
  for (int64_t c : caps) {
    feasible = feasible && c >= 1;
    cap_sum += std::clamp<int64_t>(c, 0, n_layers);
  }
  feasible = feasible && cap_sum >= n_layers;
  if (!feasible) {
    if (static_cast<int64_t>(n) > n_layers) {
      out.assign(n, 1);
      return false;
    }
    // Closest we can get: layers in proportion to what each stage holds.
    std::vector<double> fallback(n);
    double weight = 0;
    for (size_t s = 0; s < n; ++s) weight += static_cast<double>(std::clamp<int64_t>(caps[s], 1, n_layers));
    for (size_t s = 0; s < n; ++s)
      fallback[s] =
          static_cast<double>(n_layers) * static_cast<double>(std::clamp<int64_t>(caps[s], 1, n_layers)) / weight;
    std::vector<int64_t> unlimited(n, n_layers);
    FillLayers(n_layers, fallback, unlimited, out);
    return false;
  }
  out.assign(n, 0);
  int64_t sum = 0;
  for (size_t s = 0; s < n; ++s) {
    const auto t = static_cast<int64_t>(std::floor(std::max(targets[s], 0.0)));
    out[s] = std::clamp<int64_t>(t, 1, caps[s]);
    sum += out[s];
  }
  // Hand out (or take back) one layer at a time where the target is furthest
  // away; ties go to the earlier stage, so the result is deterministic.
  while (sum < n_layers) {
    size_t best = n;
    for (size_t s = 0; s < n; ++s)
      if (out[s] < caps[s] && (best == n || targets[s] - out[s] > targets[best] - out[best])) best = s;
    ++out[best];
    ++sum;
  }
  while (sum > n_layers) {
    size_t best = n;
    for (size_t s = 0; s < n; ++s)
      if (out[s] > 1 && (best == n || out[s] - targets[s] > out[best] - targets[best])) best = s;
    --out[best];
    --sum;
  }
  return true;
}

}  // namespace plexus::placement
