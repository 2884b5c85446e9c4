#include "sampling/sampler.h"

#include <cmath>
#include <limits>

#include "sampling/greedy.h"

namespace plexus {
namespace {

constexpr const char* kTag = "sampler";

Status CheckLogitBias(const std::map<int32_t, float>& bias, int64_t n_vocab) {
  size_t banned = 0;
  for (const auto& [id, b] : bias) {
    if (id < 0 || id >= n_vocab)
      return Status::Errorf(kTag, "logit_bias: token id {} is not in the vocabulary (0..{})", id, n_vocab - 1);
    if (std::isnan(b) || b == std::numeric_limits<float>::infinity())
      return Status::Errorf(kTag, "logit_bias: the bias of token {} must be a number or -inf, got {}", id, b);
    if (b == -std::numeric_limits<float>::infinity()) ++banned;
  }
  if (n_vocab > 0 && banned == static_cast<size_t>(n_vocab))
    return Status::Errorf(kTag, "logit_bias bans every token of the vocabulary");
  return Status::Ok();
}

}  // namespace

Status ValidateSamplerParams(const SamplerParams& p, int64_t n_vocab) {
  if (!std::isfinite(p.temperature))
    return Status::Errorf(kTag, "temperature must be a finite number, got {}", p.temperature);
  if (p.top_k < 0) return Status::Errorf(kTag, "top_k must be >= 0 (0: off), got {}", p.top_k);
  if (!(p.top_p > 0 && p.top_p <= 1)) return Status::Errorf(kTag, "top_p must be in (0, 1], got {}", p.top_p);
  if (!(p.min_p >= 0 && p.min_p <= 1)) return Status::Errorf(kTag, "min_p must be in [0, 1], got {}", p.min_p);
  if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty))
    return Status::Errorf(kTag, "repeat_penalty must be > 0 (1: off), got {}", p.repeat_penalty);
  if (p.repeat_last_n < -1)
    return Status::Errorf(kTag, "repeat_last_n must be >= -1 (-1: all, 0: off), got {}", p.repeat_last_n);
  if (!std::isfinite(p.frequency_penalty))
    return Status::Errorf(kTag, "frequency_penalty must be a finite number, got {}", p.frequency_penalty);
  if (!std::isfinite(p.presence_penalty))
    return Status::Errorf(kTag, "presence_penalty must be a finite number, got {}", p.presence_penalty);
  if (p.n_probs < 0 || p.n_probs > n_vocab)
    return Status::Errorf(kTag, "n_probs must be in [0, {}], got {}", n_vocab, p.n_probs);
  return CheckLogitBias(p.logit_bias, n_vocab);
}

Result<Sampler> Sampler::Create(const SamplerParams& params, int64_t n_vocab) {
  if (n_vocab <= 0) return Status::Errorf(kTag, "the vocabulary is empty");
  PLEXUS_RETURN_IF_ERROR(ValidateSamplerParams(params, n_vocab));
  uint64_t seed = 0;  // greedy draws nothing: keep its output deterministic
  if (params.seed) seed = *params.seed;
  else if (params.temperature > 0) seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  return Sampler(params, n_vocab, seed);
}

Sampler::Sampler(const SamplerParams& params, int64_t n_vocab, uint64_t seed)
    : params_(params), n_vocab_(n_vocab), seed_(seed), rng_(seed) {}

void Sampler::Accept(int32_t id) {
  if (params_.repeat_last_n == 0) return;
  window_.push_back(id);
  ++counts_[id];
  if (params_.repeat_last_n > 0 && window_.size() > static_cast<size_t>(params_.repeat_last_n)) {
    auto it = counts_.find(window_.front());
    if (--it->second == 0) counts_.erase(it);
    window_.pop_front();
  }
}

bool Sampler::HasPenalties() const {
  return params_.repeat_last_n != 0 &&
         (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f);
}

std::span<const float> Sampler::Adjusted(std::span<const float> logits) {
  const bool penalise = HasPenalties() && !counts_.empty();
  if (params_.logit_bias.empty() && !penalise) return logits;
  adjusted_.assign(logits.begin(), logits.end());
  ApplyLogitBias(params_.logit_bias, adjusted_);
  if (penalise)
    ApplyPenalties(counts_, params_.repeat_penalty, params_.frequency_penalty, params_.presence_penalty, adjusted_);
  return adjusted_;
}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::Choose(std::span<const float> adjusted) {
  if (params_.temperature <= 0) {
    // Banned tokens are -inf; ArgMax returns one only if every token is banned,
    // which validation rules out for the bias (the model's own -inf aside).
    return ArgMax(adjusted);
  }
  BuildCandidates(adjusted, &candidates_);
  if (candidates_.items.empty()) return ArgMax(adjusted);  // nothing finite: no distribution to draw from
  TopK(&candidates_, params_.top_k);
  TopP(&candidates_, params_.top_p);
  MinP(&candidates_, params_.min_p);
  ScaleByTemperature(&candidates_, params_.temperature);
  return DrawCandidate(&candidates_, Uniform());
}

SampledToken Sampler::Sample(std::span<const float> logits) {
  PLEXUS_CHECK(static_cast<int64_t>(logits.size()) == n_vocab_, "{} logits for a sampler of {}", logits.size(),
               n_vocab_);
  SampledToken out;
  out.id = Choose(Adjusted(logits));
  if (params_.logprobs || params_.n_probs > 0) {
    const float log_z = LogSumExp(logits);  // the model's distribution, before any stage
    out.logprob = logits[static_cast<size_t>(out.id)] - log_z;
    out.top = TopLogprobs(logits, params_.n_probs, log_z);
  }
  return out;
}

}  // namespace plexus
