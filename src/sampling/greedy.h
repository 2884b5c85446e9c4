// Token choice from a row of logits. Greedy for now; the full sampler chain
// (temperature, top-k/p, min-p, penalties) is issue 3's work.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace plexus {

// The index of the largest logit (the first one on ties).
int32_t ArgMax(std::span<const float> logits);

// The k most likely tokens with their log-probabilities (natural log of the
// softmax over all logits), most likely first.
std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits, int k);

}  // namespace plexus
