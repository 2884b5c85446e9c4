#include "sampling/greedy.h"

#include <algorithm>
#include <cmath>

namespace plexus {

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

float LogSumExp(std::span<const float> logits) {
  if (logits.empty()) return 0;
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(l - max);  // float exp (twice as fast), double sum
  return max + static_cast<float>(std::log(sum));
}

std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits, int k) {
  if (logits.empty() || k <= 0) return {};
  return TopLogprobs(logits, k, LogSumExp(logits));
}

std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits, int k, float log_z) {
  if (logits.empty() || k <= 0) return {};
  k = std::min<int>(k, static_cast<int>(logits.size()));
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<std::pair<int32_t, float>> top;
  for (int i = 0; i < k; ++i) top.emplace_back(ids[i], logits[ids[i]] - log_z);
  return top;
}

}  // namespace plexus
