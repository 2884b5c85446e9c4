// The communication terms of the cost model (docs/PLACEMENT.md): an
// alpha-beta model where every message pays the link's one-way latency, a
// software overhead and its bytes over the link's bandwidth. Decode messages
// are small (n_embd floats), so the latency dominates.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "placement/inventory.h"
#include "placement/planner.h"

namespace plexus::placement {

// The slowest pair of a group of nodes: largest latency, smallest bandwidth.
// nullopt-like: latency_s < 0 when some pair is unreachable. One node: free.
LinkCost SlowestLink(const LinkTable& links, std::span<const size_t> group);

// One message of `bytes` over `link`: latency + overhead + bytes / bandwidth.
double MessageTime(const LinkCost& link, double bytes, const CostParams& params);

// One-shot all-reduce of `bytes` over `n` ranks whose slowest link is
// `link`: every rank sends its partial to the n-1 others at once, so the
// latency is paid once (times allreduce_latency_factor) and each rank's
// n-1 sends queue on its link: factor*latency + (n-1)*(overhead + bytes/bw).
double AllReduceTime(int n, const LinkCost& link, double bytes, const CostParams& params);

// All-gather of the logits: rank i owns vocab_fraction[i] of `total_bytes`
// and sends it to the n-1 others while receiving the rest; the busiest rank
// (sending or receiving) sets the time.
double GatherTime(std::span<const double> vocab_fraction, const LinkCost& link, double total_bytes,
                  const CostParams& params);

// Water-filling: shares proportional to `weights` (positive), none above its
// `caps` entry, summing to 1. false when the caps sum below 1; `out` then
// holds shares proportional to the caps (at least a small floor each), the
// closest it can get.
bool FillShares(std::span<const double> weights, std::span<const double> caps, std::vector<double>& out);

// Integer layers per stage: near `targets` (real, summing to n_layers), each
// at least 1 and at most its `caps` entry. false when that is impossible;
// `out` then splits the layers proportionally to the caps instead.
bool FillLayers(int64_t n_layers, std::span<const double> targets, std::span<const int64_t> caps,
                std::vector<int64_t>& out);

}  // namespace plexus::placement
