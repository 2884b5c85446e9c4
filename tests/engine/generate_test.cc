// Engine::Generate with the sampler and stop conditions, on the real
// stories260K model. Greedy "Once upon a time" continues with
// ", there was a little girl named Lily. ..." (tests/engine/golden_test.cc).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/engine.h"

namespace plexus {
namespace {

constexpr const char* kPrompt = "Once upon a time";
constexpr const char* kGolden =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. "
    "She wanted to play with it, but it was too high.\nLily's mom said";

class GenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf";
    auto opened = Engine::Open(model, EngineOptions{.threads = 1});
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    engine_ = std::move(opened).value().release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }

  static GenerateResult MustGenerate(const GenerateOptions& options, std::string* streamed = nullptr) {
    auto result = engine_->Generate(kPrompt, options, [&](std::string_view s) {
      if (streamed != nullptr) streamed->append(s);
    });
    EXPECT_TRUE(result.ok()) << result.status().message();
    return result.ok() ? std::move(result).value() : GenerateResult{};
  }

  static Engine* engine_;
};

Engine* GenerateTest::engine_ = nullptr;

TEST_F(GenerateTest, StopStringEndsGenerationBeforeIt) {
  GenerateOptions options;
  options.max_tokens = 32;
  options.stop = {"little girl"};
  std::string streamed;
  const GenerateResult r = MustGenerate(options, &streamed);
  EXPECT_EQ(r.text, ", there was a ");
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.stop_string, "little girl");
  EXPECT_LT(r.tokens.size(), 10u);  // it stopped right there
}

TEST_F(GenerateTest, UnmatchedStopStringChangesNothing) {
  GenerateOptions options;
  options.max_tokens = 20;
  options.stop = {"dragon", "Lily!"};
  std::string streamed;
  const GenerateResult r = MustGenerate(options, &streamed);
  EXPECT_EQ(std::string(kGolden).substr(0, r.text.size()), r.text);
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.tokens.size(), 20u);
  EXPECT_EQ(r.stop_string, "");
}

TEST_F(GenerateTest, EndOfGenerationTokenStops) {
  GenerateOptions options;
  options.sampler.logit_bias = {{engine_->tokenizer().eos(), 100.0f}};
  const GenerateResult r = MustGenerate(options);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_EQ(r.text, "");
}

TEST_F(GenerateTest, SeededSamplingIsReproducible) {
  GenerateOptions options;
  options.max_tokens = 48;
  options.sampler.temperature = 1.0f;
  options.sampler.seed = 1234;
  const GenerateResult a = MustGenerate(options);
  const GenerateResult b = MustGenerate(options);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.seed, 1234u);
  options.sampler.seed = 1235;
  EXPECT_NE(MustGenerate(options).tokens, a.tokens);
}

TEST_F(GenerateTest, LogprobsPerToken) {
  GenerateOptions options;
  options.max_tokens = 8;
  options.sampler.n_probs = 3;
  const GenerateResult r = MustGenerate(options);
  ASSERT_EQ(r.logprobs.size(), r.tokens.size());
  ASSERT_EQ(r.top_logprobs.size(), r.tokens.size());
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(r.top_logprobs[i][0].first, r.tokens[i]);
    EXPECT_FLOAT_EQ(r.top_logprobs[i][0].second, r.logprobs[i]);
    EXPECT_LE(r.logprobs[i], 0.0f);
  }
}

TEST_F(GenerateTest, PenaltiesChangeTheGreedyText) {
  GenerateOptions options;
  options.max_tokens = 40;
  const std::string plain = MustGenerate(options).text;
  options.sampler.frequency_penalty = 2.0f;
  options.sampler.repeat_penalty = 1.5f;
  const GenerateResult r = MustGenerate(options);
  EXPECT_NE(r.text, plain);
}

TEST_F(GenerateTest, BadOptionsAreErrors) {
  GenerateOptions options;
  options.sampler.top_p = 1.5f;
  auto r = engine_->Generate(kPrompt, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("top_p"), std::string::npos) << r.status().message();
  options = GenerateOptions{};
  options.sampler.logit_bias = {{1 << 20, 1.0f}};
  r = engine_->Generate(kPrompt, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("logit_bias"), std::string::npos) << r.status().message();
  options = GenerateOptions{};
  options.stop = {""};
  r = engine_->Generate(kPrompt, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("stop string 0"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace plexus
