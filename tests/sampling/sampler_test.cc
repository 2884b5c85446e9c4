// The sampler chain: validation, greedy default, seeds, the drawn
// distribution (chi-square), penalties over a window, and log-probabilities.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "sampling/greedy.h"
#include "sampling/sampler.h"

namespace plexus {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

Sampler MustCreate(const SamplerParams& params, int64_t n_vocab) {
  auto sampler = Sampler::Create(params, n_vocab);
  EXPECT_TRUE(sampler.ok()) << sampler.status().message();
  return std::move(sampler).value();
}

std::vector<float> RandomLogits(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(n);
  for (float& l : logits) l = normal(rng);
  return logits;
}

TEST(SamplerTest, BadParametersAreErrorsNamingThem) {
  struct Case {
    const char* name;
    void (*set)(SamplerParams&);
  };
  const std::vector<Case> cases = {
      {"temperature", [](SamplerParams& p) { p.temperature = std::nanf(""); }},
      {"top_k", [](SamplerParams& p) { p.top_k = -1; }},
      {"top_p", [](SamplerParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplerParams& p) { p.top_p = 1.5f; }},
      {"top_p", [](SamplerParams& p) { p.top_p = std::nanf(""); }},
      {"min_p", [](SamplerParams& p) { p.min_p = -0.1f; }},
      {"min_p", [](SamplerParams& p) { p.min_p = 1.1f; }},
      {"repeat_penalty", [](SamplerParams& p) { p.repeat_penalty = 0.0f; }},
      {"repeat_last_n", [](SamplerParams& p) { p.repeat_last_n = -2; }},
      {"frequency_penalty", [](SamplerParams& p) { p.frequency_penalty = kInf; }},
      {"presence_penalty", [](SamplerParams& p) { p.presence_penalty = std::nanf(""); }},
      {"n_probs", [](SamplerParams& p) { p.n_probs = -1; }},
      {"logit_bias: token id 10", [](SamplerParams& p) { p.logit_bias[10] = 1.0f; }},
      {"logit_bias: token id -1", [](SamplerParams& p) { p.logit_bias[-1] = 1.0f; }},
      {"logit_bias: the bias of token 2", [](SamplerParams& p) { p.logit_bias[2] = kInf; }},
      {"logit_bias bans every token",
       [](SamplerParams& p) { for (int32_t id = 0; id < 10; ++id) p.logit_bias[id] = -kInf; }},
  };
  for (const auto& c : cases) {
    SamplerParams params;
    c.set(params);
    auto sampler = Sampler::Create(params, 10);
    ASSERT_FALSE(sampler.ok()) << c.name;
    EXPECT_NE(sampler.status().message().find(c.name), std::string::npos) << sampler.status().message();
    EXPECT_NE(sampler.status().message().find("[sampler]"), std::string::npos);
  }
}

TEST(SamplerTest, DefaultIsGreedy) {
  Sampler sampler = MustCreate(SamplerParams{}, 1000);
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> logits = RandomLogits(1000, seed);
    const SampledToken t = sampler.Sample(logits);
    EXPECT_EQ(t.id, ArgMax(logits));
    EXPECT_TRUE(t.top.empty());
  }
}

std::vector<int32_t> Draws(SamplerParams params, const std::vector<float>& logits, int n) {
  Sampler sampler = MustCreate(params, static_cast<int64_t>(logits.size()));
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back(sampler.Sample(logits).id);
  return ids;
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferent) {
  const std::vector<float> logits = RandomLogits(2000, 3);
  SamplerParams params;
  params.temperature = 1.0f;
  params.top_k = 50;
  params.top_p = 0.95f;
  params.seed = 42;
  const std::vector<int32_t> first = Draws(params, logits, 200);
  EXPECT_EQ(Draws(params, logits, 200), first);
  params.seed = 43;
  EXPECT_NE(Draws(params, logits, 200), first);
  EXPECT_EQ(MustCreate(params, 2000).seed(), 43u);
  params.seed.reset();  // a random seed each time; none at all for greedy
  EXPECT_NE(MustCreate(params, 2000).seed(), MustCreate(params, 2000).seed());
  EXPECT_EQ(MustCreate(SamplerParams{}, 2000).seed(), 0u);
}

// Pearson's statistic of `counts` against `probs` (all categories).
double ChiSquare(const std::vector<int>& counts, const std::vector<double>& probs, int n) {
  double stat = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double expected = probs[i] * n;
    stat += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return stat;
}

std::vector<double> Softmax(const std::vector<float>& logits, float temperature) {
  std::vector<double> p;
  double z = 0;
  for (float l : logits) z += std::exp(l / temperature);
  for (float l : logits) p.push_back(std::exp(l / temperature) / z);
  return p;
}

// With a fixed seed the outcome is fixed; the bound is the chi-square 99.9%
// critical value, so another seed would fail one time in a thousand at most.
TEST(SamplerTest, TemperatureDrawsFromTheSoftmax) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f};
  constexpr int kDraws = 20000;
  constexpr double kCritical999Df4 = 18.467;
  for (float temperature : {0.7f, 1.0f, 1.5f}) {
    SCOPED_TRACE(temperature);
    SamplerParams params;
    params.temperature = temperature;
    params.seed = 20240601;
    std::vector<int> counts(logits.size());
    for (int32_t id : Draws(params, logits, kDraws)) ++counts.at(static_cast<size_t>(id));
    EXPECT_LT(ChiSquare(counts, Softmax(logits, temperature), kDraws), kCritical999Df4);
  }
}

// Top-k renormalises over what it keeps; the others are never drawn.
TEST(SamplerTest, TopKDrawsFromTheRenormalisedTop) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f};
  constexpr int kDraws = 20000;
  constexpr double kCritical999Df2 = 13.816;
  SamplerParams params;
  params.temperature = 1.0f;
  params.top_k = 3;
  params.seed = 7;
  std::vector<int> counts(logits.size());
  for (int32_t id : Draws(params, logits, kDraws)) ++counts.at(static_cast<size_t>(id));
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[3], 0);
  const std::vector<double> top = Softmax({2.0f, 1.0f, 0.5f}, 1.0f);
  EXPECT_LT(ChiSquare({counts[4], counts[0], counts[1]}, top, kDraws), kCritical999Df2);
}

TEST(SamplerTest, PenaltiesSeeOnlyTheWindow) {
  // Token 1 is the argmax; a repetition penalty of 4 pushes it below token 0.
  const std::vector<float> logits = {3.0f, 4.0f, 1.0f, 0.0f};
  SamplerParams params;
  params.repeat_penalty = 4.0f;
  params.repeat_last_n = 2;
  Sampler sampler = MustCreate(params, 4);
  sampler.Accept(1);
  EXPECT_EQ(sampler.Sample(logits).id, 0);
  sampler.Accept(2);
  sampler.Accept(3);  // token 1 has left the two-token window
  EXPECT_EQ(sampler.Sample(logits).id, 1);

  params.repeat_last_n = 0;  // off
  Sampler off = MustCreate(params, 4);
  off.Accept(1);
  EXPECT_EQ(off.Sample(logits).id, 1);

  params.repeat_last_n = -1;  // every accepted token
  Sampler all = MustCreate(params, 4);
  all.Accept(1);
  for (int i = 0; i < 100; ++i) all.Accept(3);
  EXPECT_EQ(all.Sample(logits).id, 0);
}

TEST(SamplerTest, LogitBiasBansAndForces) {
  const std::vector<float> logits = {3.0f, 4.0f, 1.0f, 0.0f};
  SamplerParams params;
  params.logit_bias = {{1, -kInf}};
  EXPECT_EQ(MustCreate(params, 4).Sample(logits).id, 0);
  params.logit_bias = {{3, 10.0f}};
  EXPECT_EQ(MustCreate(params, 4).Sample(logits).id, 3);
  params.logit_bias = {{1, -kInf}, {0, -kInf}};
  params.temperature = 2.0f;
  params.seed = 1;
  for (int32_t id : Draws(params, logits, 2000)) EXPECT_TRUE(id == 2 || id == 3) << id;
}

// Log-probabilities describe the model's distribution: the stages do not move them.
TEST(SamplerTest, LogprobsComeFromTheUnmodifiedLogits) {
  const std::vector<float> logits = RandomLogits(500, 9);
  const float log_z = LogSumExp(logits);
  SamplerParams params;
  params.temperature = 0.8f;
  params.top_k = 5;
  params.repeat_penalty = 1.3f;
  params.logit_bias = {{7, 2.0f}};
  params.n_probs = 4;
  params.seed = 11;
  Sampler sampler = MustCreate(params, 500);
  sampler.Accept(3);
  for (int i = 0; i < 10; ++i) {
    const SampledToken t = sampler.Sample(logits);
    EXPECT_NEAR(t.logprob, logits[static_cast<size_t>(t.id)] - log_z, 1e-5);
    ASSERT_EQ(t.top.size(), 4u);
    EXPECT_EQ(t.top, TopLogprobs(logits, 4));
  }
}

TEST(SamplerTest, LargeVocabularyWithSmallTopK) {
  const std::vector<float> logits = RandomLogits(150000, 4);
  SamplerParams params;
  params.temperature = 1.0f;
  params.top_k = 40;
  params.top_p = 0.9f;
  params.min_p = 0.05f;
  params.seed = 3;
  const auto top = TopLogprobs(logits, 40);
  for (int32_t id : Draws(params, logits, 200)) {
    const bool in_top = std::any_of(top.begin(), top.end(), [&](const auto& p) { return p.first == id; });
    EXPECT_TRUE(in_top) << id;
  }
}

}  // namespace
}  // namespace plexus
