// Sampler: picks the next token from a row of logits through a fixed chain.
//
// The chain, in this order (each stage off at its default value):
//   1. logit bias        logit[id] += bias (-inf bans a token)
//   2. penalties         over the last `repeat_last_n` accepted tokens:
//                        repetition as CTRL/llama.cpp (positive logits divided
//                        by the penalty, negative ones multiplied), then
//                        frequency/presence as OpenAI
//                        (logit -= count * frequency + (count > 0) * presence)
//   3. top-k             the k most likely
//   4. top-p             the smallest most-likely set with probability >= p
//   5. min-p             tokens at least min_p times as likely as the best
//   6. temperature       logit /= temperature
//   7. draw              from the softmax of what is left, with the sampler's
//                        own seeded RNG (same seed, same logits -> same tokens)
// temperature <= 0 is greedy: the argmax after stages 1-2 (the filters cannot
// change the argmax), and no random number is drawn.
//
// Log-probabilities (the chosen token's and the top n_probs) are computed
// from the softmax of the model's unmodified logits, as OpenAI reports them:
// they describe the model's distribution, not the sampler's filtered one, so
// they stay comparable across sampler settings (and with greedy goldens).
//
// Usage:
//   PLEXUS_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(params, n_vocab));
//   for (int32_t id : prompt) sampler.Accept(id);   // penalties see the prompt
//   SampledToken t = sampler.Sample(logits);
//   sampler.Accept(t.id);
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "sampling/stages.h"

namespace plexus {

struct SamplerParams {
  float temperature = 0.0f;        // <= 0: greedy
  int top_k = 0;                   // 0: off
  float top_p = 1.0f;              // in (0, 1]; 1: off
  float min_p = 0.0f;              // in [0, 1]; 0: off
  float repeat_penalty = 1.0f;     // > 0; 1: off
  int repeat_last_n = 64;          // penalty window; 0: off, -1: every accepted token
  float frequency_penalty = 0.0f;  // 0: off
  float presence_penalty = 0.0f;   // 0: off
  std::map<int32_t, float> logit_bias;  // token id -> bias; -inf bans the token
  std::optional<uint64_t> seed;    // unset: a random one (0 when greedy; see Sampler::seed())
  int n_probs = 0;                 // top log-probabilities reported per token
  bool logprobs = false;           // report the chosen token's log-probability (implied by n_probs > 0)
};

// Checks every parameter against its range; the error names the parameter,
// e.g. "[sampler] top_p must be in (0, 1], got 1.5".
Status ValidateSamplerParams(const SamplerParams& params, int64_t n_vocab);

struct SampledToken {
  int32_t id = -1;
  float logprob = 0;  // log p(id) under the model's softmax; 0 unless logprobs were asked for
  std::vector<std::pair<int32_t, float>> top;  // n_probs most likely (id, logprob), most likely first
};

class Sampler {
 public:
  // Validates `params` for a model with `n_vocab` logits.
  static Result<Sampler> Create(const SamplerParams& params, int64_t n_vocab);

  // Records a token as part of the text (prompt or generated) for the penalties.
  void Accept(int32_t id);
  // Chooses the next token from `logits` (n_vocab floats; checked). Does not
  // Accept it.
  SampledToken Sample(std::span<const float> logits);

  const SamplerParams& params() const { return params_; }
  // The seed in use (the drawn one when params.seed was unset).
  uint64_t seed() const { return seed_; }

 private:
  Sampler(const SamplerParams& params, int64_t n_vocab, uint64_t seed);
  bool HasPenalties() const;
  // Logits after bias and penalties: `logits` itself when neither applies.
  std::span<const float> Adjusted(std::span<const float> logits);
  int32_t Choose(std::span<const float> adjusted);
  // A uniform double in [0, 1) from 53 random bits (the same on every platform).
  double Uniform();

  SamplerParams params_;
  int64_t n_vocab_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::deque<int32_t> window_;               // the last repeat_last_n accepted tokens
  std::unordered_map<int32_t, int> counts_;  // occurrences in window_
  std::vector<float> adjusted_;              // scratch: biased and penalised logits
  Candidates candidates_;                    // scratch
};

}  // namespace plexus
