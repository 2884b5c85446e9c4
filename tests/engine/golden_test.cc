// Golden: greedy generations of the real stories260K model (F32 and F16)
// must reproduce llama.cpp's tokens and text exactly, and its top
// log-probabilities closely.
//
// On the log-probabilities: llama.cpp made the golden file with an f16 KV
// cache, rounding q, K, V and the attention weights to f16 (and, for F16
// weights, the activations too). plexus's default f16 cache does the same for
// attention, so most values agree to ~1e-4, but where a value sits on an f16
// rounding boundary the two engines round differently and single logprobs
// move by up to ~1e-2. Hence a median bound of ~1e-3 plus a per-value bound.
// For F32 weights the median is 5e-4: which values land on such a boundary
// depends on the SIMD target's summation order (medians: under 2.5e-4 with
// AVX2, 2.7e-4 and 4.2e-4 with AVX-512).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace plexus {
namespace {

struct GoldenSuite {
  const char* name;
  const char* golden;
  const char* model;
  double median_bound;
};

class GoldenTest : public ::testing::TestWithParam<GoldenSuite> {};

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

TEST_P(GoldenTest, ReproducesTokensTextAndLogprobs) {
  const std::string shared = PLEXUS_SHARED_DIR;
  const nlohmann::json golden = ReadJson(shared + "/golden/" + GetParam().golden);
  auto engine = Engine::Open(shared + "/models/" + GetParam().model, EngineOptions{.threads = 1});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  ASSERT_GE(golden["cases"].size(), 1u);
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["prompt"].get<std::string>());
    GenerateOptions options;
    options.max_tokens = c["n_predict"].get<int>();
    options.add_bos = c["add_bos"].get<bool>();
    options.top_logprobs = 3;
    auto result = (*engine)->Generate(c["prompt"].get<std::string>(), options);
    ASSERT_TRUE(result.ok()) << result.status().message();
    EXPECT_EQ(result->prompt_tokens, c["prompt_tokens"].get<std::vector<int32_t>>());
    EXPECT_EQ(result->tokens, c["tokens"].get<std::vector<int32_t>>());
    EXPECT_EQ(result->text, c["text"].get<std::string>());
    ASSERT_EQ(result->top_logprobs.size(), c["top_logprobs"].size());
    std::vector<double> diffs;
    for (size_t step = 0; step < c["top_logprobs"].size(); ++step) {
      const auto& mine = result->top_logprobs[step];
      for (const auto& pair : c["top_logprobs"][step]["top"]) {
        const int32_t id = pair[0].get<int32_t>();
        const double want = pair[1].get<double>();
        auto it = std::find_if(mine.begin(), mine.end(), [&](const auto& p) { return p.first == id; });
        // A near-tie for third place may swap ids; then the value must still be close to ours.
        const double got = it != mine.end() ? it->second : mine.back().second;
        diffs.push_back(std::abs(got - want));
        EXPECT_LE(diffs.back(), 2e-2) << "step " << step << " id " << id;
      }
    }
    std::nth_element(diffs.begin(), diffs.begin() + diffs.size() / 2, diffs.end());
    EXPECT_LE(diffs[diffs.size() / 2], GetParam().median_bound);
  }
}

INSTANTIATE_TEST_SUITE_P(Stories, GoldenTest,
                         ::testing::Values(GoldenSuite{"F32", "stories260K.json", "stories260K.gguf", 5e-4},
                                           GoldenSuite{"F16", "stories260K-F16.json", "stories260K-F16.gguf", 1.5e-3}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace plexus
