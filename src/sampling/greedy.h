// Greedy choice and log-probabilities from a row of logits. The full sampler
// chain (temperature, top-k/p, min-p, penalties) is sampler.h.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace plexus {

// The index of the largest logit (the first one on ties).
int32_t ArgMax(std::span<const float> logits);

// log(sum(exp(logits))), computed stably: logits[i] - LogSumExp(logits) is
// token i's log-probability.
float LogSumExp(std::span<const float> logits);

// The k most likely tokens with their log-probabilities (natural log of the
// softmax over all logits), most likely first (smaller id first on ties).
std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits, int k);
// The same with the normaliser already known (log_z = LogSumExp(logits)).
std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits, int k, float log_z);

}  // namespace plexus
