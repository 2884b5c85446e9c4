// Each sampler stage on small logit vectors with hand-computed results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "sampling/stages.h"

namespace plexus {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

Candidates Make(const std::vector<float>& logits) {
  Candidates c;
  BuildCandidates(logits, &c);
  return c;
}

// Logits whose softmax is exactly `probs` (up to rounding).
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<int32_t> KeptIds(const Candidates& c) {
  std::vector<int32_t> ids;
  for (const Candidate& x : c.items) ids.push_back(x.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

struct FilterCase {
  const char* name;
  std::vector<float> logits;
  float param;
  std::vector<int32_t> kept;
};

TEST(StagesTest, TopKKeepsK) {
  const std::vector<FilterCase> cases = {
      {"k2", {1, 3, 2, 5, 4}, 2, {3, 4}},
      {"k1", {1, 3, 2, 5, 4}, 1, {3}},
      {"off", {1, 3, 2, 5, 4}, 0, {0, 1, 2, 3, 4}},
      {"k_above_size", {1, 3, 2}, 10, {0, 1, 2}},
      {"ties_by_smaller_id", {1, 1, 1, 0}, 2, {0, 1}},
  };
  for (const auto& t : cases) {
    SCOPED_TRACE(t.name);
    Candidates c = Make(t.logits);
    TopK(&c, static_cast<int>(t.param));
    EXPECT_EQ(KeptIds(c), t.kept);
  }
}

TEST(StagesTest, TopPCutsAtCumulativeProbabilityWithTies) {
  const std::vector<FilterCase> cases = {
      {"first_alone", LogitsOf({0.4, 0.3, 0.2, 0.1}), 0.35f, {0}},
      {"two", LogitsOf({0.4, 0.3, 0.2, 0.1}), 0.65f, {0, 1}},
      {"three", LogitsOf({0.4, 0.3, 0.2, 0.1}), 0.75f, {0, 1, 2}},
      {"off", LogitsOf({0.4, 0.3, 0.2, 0.1}), 1.0f, {0, 1, 2, 3}},
      {"unsorted_input", LogitsOf({0.1, 0.2, 0.4, 0.3}), 0.65f, {2, 3}},
      // The cut lands on id 1; ids 2 and 3 have the same probability and stay.
      {"ties_kept", LogitsOf({0.4, 0.2, 0.2, 0.2}), 0.5f, {0, 1, 2, 3}},
      {"tie_at_first", {2, 2, 1, 0}, 0.3f, {0, 1}},
      {"equal_all", {0, 0, 0}, 0.1f, {0, 1, 2}},
  };
  for (const auto& t : cases) {
    SCOPED_TRACE(t.name);
    Candidates c = Make(t.logits);
    TopP(&c, t.param);
    EXPECT_EQ(KeptIds(c), t.kept);
  }
}

// Top-p by the rule, with a plain full sort: the oracle for the fast paths.
std::vector<int32_t> TopPReference(const std::vector<float>& logits, float p) {
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  double z = 0, cumulative = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  size_t n = 0;
  while (cumulative < p * z) cumulative += std::exp(static_cast<double>(logits[order[n++]]));
  while (n < order.size() && logits[order[n]] == logits[order[n - 1]]) ++n;
  std::vector<int32_t> want(order.begin(), order.begin() + static_cast<ptrdiff_t>(n));
  std::sort(want.begin(), want.end());
  return want;
}

// 300 tokens: the incremental sort (several chunks); 5000: the bucket path.
TEST(StagesTest, TopPOnLongListsMatchesAFullSort) {
  for (size_t n : {300, 5000, 150000}) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::normal_distribution<float> normal(0.0f, n == 300 ? 0.5f : 3.0f);
    std::vector<float> logits(n);
    for (float& l : logits) l = normal(rng);
    for (float p : {0.05f, 0.5f, 0.9f, 0.999f}) {
      SCOPED_TRACE(testing::Message() << "n " << n << " p " << p);
      Candidates c = Make(logits);
      TopP(&c, p);
      EXPECT_EQ(KeptIds(c), TopPReference(logits, p));
    }
  }
}

TEST(StagesTest, TopPOnLongListsKeepsTies) {
  std::vector<float> logits(2000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 10);
  for (float p : {0.5f, 0.7f, 0.95f}) {
    SCOPED_TRACE(p);
    Candidates c = Make(logits);
    TopP(&c, p);
    const std::vector<int32_t> want = TopPReference(logits, p);
    EXPECT_EQ(KeptIds(c), want);
    EXPECT_EQ(want.size() % 200, 0u);  // whole levels of tied logits
  }
}

TEST(StagesTest, MinPIsRelativeToTheMostLikely) {
  const std::vector<FilterCase> cases = {
      {"half", LogitsOf({0.5, 0.25, 0.2, 0.05}), 0.45f, {0, 1}},
      {"lower", LogitsOf({0.5, 0.25, 0.2, 0.05}), 0.3f, {0, 1, 2}},
      {"keeps_all", LogitsOf({0.5, 0.25, 0.2, 0.05}), 0.05f, {0, 1, 2, 3}},
      {"one_keeps_max", LogitsOf({0.2, 0.5, 0.25, 0.05}), 1.0f, {1}},
      {"off", LogitsOf({0.5, 0.25, 0.2, 0.05}), 0.0f, {0, 1, 2, 3}},
      {"max_ties", {3, 3, 0}, 1.0f, {0, 1}},
  };
  for (const auto& t : cases) {
    SCOPED_TRACE(t.name);
    Candidates c = Make(t.logits);
    MinP(&c, t.param);
    EXPECT_EQ(KeptIds(c), t.kept);
  }
}

TEST(StagesTest, MinPAfterTopKKeepsTheSortedPrefix) {
  Candidates c = Make(LogitsOf({0.05, 0.5, 0.1, 0.25, 0.1}));
  TopK(&c, 4);
  MinP(&c, 0.3f);
  EXPECT_EQ(KeptIds(c), (std::vector<int32_t>{1, 3}));
  ASSERT_EQ(c.sorted, 2u);
  EXPECT_EQ(c.items[0].id, 1);
  EXPECT_EQ(c.items[1].id, 3);
}

struct PenaltyCase {
  const char* name;
  float repeat, frequency, presence;
  std::vector<float> want;
};

TEST(StagesTest, PenaltiesMatchHandComputedValues) {
  // Token 0 (logit 2) seen twice, token 1 (logit -1) once, 2 and 3 never.
  const std::unordered_map<int32_t, int> counts = {{0, 2}, {1, 1}, {7, 3}};  // 7: outside, ignored
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f};
  const std::vector<PenaltyCase> cases = {
      {"off", 1, 0, 0, {2.0f, -1.0f, 0.5f, 3.0f}},
      // CTRL: positive logits divided, negative ones multiplied.
      {"repeat", 2, 0, 0, {1.0f, -2.0f, 0.5f, 3.0f}},
      // OpenAI: logit -= count * frequency.
      {"frequency", 1, 0.5f, 0, {1.0f, -1.5f, 0.5f, 3.0f}},
      // OpenAI: logit -= presence once, whatever the count.
      {"presence", 1, 0, 0.25f, {1.75f, -1.25f, 0.5f, 3.0f}},
      // repeat first: 2/2 - (2*0.5 + 0.25) = -0.25; -1*2 - (0.5 + 0.25) = -2.75.
      {"all", 2, 0.5f, 0.25f, {-0.25f, -2.75f, 0.5f, 3.0f}},
      {"negative_frequency_boosts", 1, -1.0f, 0, {4.0f, 0.0f, 0.5f, 3.0f}},
  };
  for (const auto& t : cases) {
    SCOPED_TRACE(t.name);
    std::vector<float> out = logits;
    ApplyPenalties(counts, t.repeat, t.frequency, t.presence, out);
    for (size_t i = 0; i < out.size(); ++i) EXPECT_FLOAT_EQ(out[i], t.want[i]) << "id " << i;
  }
}

TEST(StagesTest, LogitBiasAddsAndMinusInfinityBans) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f, 0.0f};
  ApplyLogitBias({{0, 1.5f}, {2, -kInf}, {3, -0.5f}, {99, 1.0f}}, logits);
  EXPECT_FLOAT_EQ(logits[0], 2.5f);
  EXPECT_FLOAT_EQ(logits[1], 2.0f);
  EXPECT_EQ(logits[2], -kInf);
  EXPECT_FLOAT_EQ(logits[3], -0.5f);
  // A banned token never becomes a candidate, and so can never be drawn.
  Candidates c = Make(logits);
  EXPECT_EQ(KeptIds(c), (std::vector<int32_t>{0, 1, 3}));
  EXPECT_EQ(ArgMaxCandidate(c), 0);
  for (double u : {0.0, 0.3, 0.6, 0.9, 0.999999}) EXPECT_NE(DrawCandidate(&c, u), 2);
}

TEST(StagesTest, TemperatureScalesLogits) {
  for (float t : {0.5f, 1.0f, 2.0f}) {
    Candidates c = Make({2.0f, -4.0f, 1.0f});
    ScaleByTemperature(&c, t);
    EXPECT_FLOAT_EQ(c.items[0].logit, 2.0f / t);
    EXPECT_FLOAT_EQ(c.items[1].logit, -4.0f / t);
    EXPECT_FLOAT_EQ(c.items[2].logit, 1.0f / t);
  }
}

TEST(StagesTest, DrawWalksTheCumulativeDistribution) {
  Candidates c = Make(LogitsOf({0.25, 0.5, 0.25}));
  EXPECT_EQ(DrawCandidate(&c, 0.0), 0);
  EXPECT_EQ(DrawCandidate(&c, 0.2), 0);
  EXPECT_EQ(DrawCandidate(&c, 0.3), 1);
  EXPECT_EQ(DrawCandidate(&c, 0.7), 1);
  EXPECT_EQ(DrawCandidate(&c, 0.8), 2);
  EXPECT_EQ(DrawCandidate(&c, 0.9999999), 2);
  Candidates empty;
  EXPECT_EQ(DrawCandidate(&empty, 0.5), -1);
}

TEST(StagesTest, BuildSkipsNanAndMinusInfinity) {
  Candidates c = Make({1.0f, std::nanf(""), -kInf, -1e30f});
  EXPECT_EQ(KeptIds(c), (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(ArgMaxCandidate(Make({1.0f, 3.0f, 3.0f})), 1);
}

}  // namespace
}  // namespace plexus
