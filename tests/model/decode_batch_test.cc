// Batched decode steps are bit-identical to decoding each sequence alone:
// several sequences decoded together (the scheduler's multi-stream steps,
// kernels::MatVecBatch) give every sequence exactly the logits, and so the
// greedy tokens, that it gets as the only sequence, step after step; and a
// prompt chunk that joins a decode step leaves the decode rows' bits alone.
// Synthetic dense, MoE and MLA models in the quant types with int8 kernels,
// and in f16 and bf16 (MatVecBatch's float rows).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "gguf_rewrite.h"

namespace plexus {
namespace {

constexpr int kSeqs = 5;    // sequences decoded together
constexpr int kSteps = 10;  // decode steps each

std::filesystem::path TestDir() { return testing::TestModelDir("decode_batch_test"); }

std::unique_ptr<Model> Load(const std::string& path) {
  std::shared_ptr<const GgufFile> file = testing::OpenGguf(path);
  auto config = ReadModelConfig(*file);
  EXPECT_TRUE(config.ok()) << config.status().message();
  auto model = Model::Load(file, FullShard(*config), ModelOptions{.max_context = 64});
  EXPECT_TRUE(model.ok()) << model.status().message();
  return std::move(model).value();
}

// Prompt of sequence s: lengths 3..7, different tokens.
std::vector<int32_t> Prompt(int s, int32_t vocab) {
  std::vector<int32_t> p;
  for (int i = 0; i < 3 + s; ++i) p.push_back((17 * s + 5 * i + 1) % vocab);
  return p;
}

int32_t Argmax(const float* logits, int32_t vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

// The logits rows of every sequence: [s][step] (step 0: the prompt's last token).
using Trace = std::vector<std::vector<std::vector<float>>>;

class Runner {
 public:
  explicit Runner(const std::string& path) : model_(Load(path)), vocab_(static_cast<int32_t>(model_->config().n_vocab)) {
    trace_.assign(kSeqs, {});
    next_.assign(kSeqs, 0);
    len_.assign(kSeqs, 0);
  }
  int32_t vocab() const { return vocab_; }
  const Trace& trace() const { return trace_; }

  // One forward of `seqs`' decode entries (their greedy next tokens), then
  // the whole prompt of `prefill` (-1: none); records each logits row.
  void Step(const std::vector<int>& seqs, int prefill = -1) {
    std::vector<BatchEntry> batch;
    std::vector<int> owner;
    for (int s : seqs) {
      batch.push_back({s, len_[s]++, next_[s], true});
      owner.push_back(s);
    }
    if (prefill >= 0) {
      const std::vector<int32_t> p = Prompt(prefill, vocab_);
      for (size_t i = 0; i < p.size(); ++i)
        batch.push_back({prefill, len_[prefill]++, p[i], i + 1 == p.size()});
      owner.push_back(prefill);
    }
    std::vector<float> logits;
    const Status st = model_->Forward(batch, single_, nullptr, pool_, &logits);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(logits.size(), owner.size() * static_cast<size_t>(vocab_));
    for (size_t r = 0; r < owner.size(); ++r) {
      const float* row = logits.data() + r * vocab_;
      trace_[owner[r]].emplace_back(row, row + vocab_);
      next_[owner[r]] = Argmax(row, vocab_);
    }
  }

 private:
  std::unique_ptr<Model> model_;
  int32_t vocab_;
  NoopCollective single_;
  ThreadPool pool_{2};
  Trace trace_;
  std::vector<int32_t> next_, len_;
};

// Each sequence alone: its prompt, then kSteps one-token steps.
Trace Alone(const std::string& path) {
  Runner run(path);
  for (int s = 0; s < kSeqs; ++s) {
    run.Step({}, s);
    for (int i = 0; i < kSteps; ++i) run.Step({s});
  }
  return run.trace();
}

// Together: sequences 0..3 prefill alone, then decode in shared steps;
// sequence 4's prompt joins the third step, and it decodes with the others
// from then on (the batch shrinks as the first four finish).
Trace Together(const std::string& path) {
  Runner run(path);
  for (int s = 0; s < kSeqs - 1; ++s) run.Step({}, s);
  for (int i = 0; i < kSteps + 4; ++i) {
    std::vector<int> seqs;
    for (int s = 0; s < kSeqs; ++s) {
      const size_t done = run.trace()[s].size();  // logits rows so far: 1 + steps run
      if (done >= 1 && done < 1 + kSteps) seqs.push_back(s);
    }
    if (seqs.empty()) break;
    run.Step(seqs, i == 2 ? kSeqs - 1 : -1);
  }
  return run.trace();
}

void ExpectSameBits(const std::string& preset, const std::string& type) {
  SCOPED_TRACE(preset + " " + type);
  const std::string path = testing::WriteTinyModel(TestDir(), preset, type, 11);
  const Trace alone = Alone(path), together = Together(path);
  for (int s = 0; s < kSeqs; ++s) {
    ASSERT_EQ(together[s].size(), alone[s].size()) << "sequence " << s;
    for (size_t i = 0; i < alone[s].size(); ++i) {
      const std::vector<float>& a = alone[s][i];
      const std::vector<float>& t = together[s][i];
      EXPECT_EQ(0, std::memcmp(a.data(), t.data(), a.size() * sizeof(float)))
          << "sequence " << s << " step " << i << ": greedy " << Argmax(t.data(), static_cast<int32_t>(t.size()))
          << " batched, " << Argmax(a.data(), static_cast<int32_t>(a.size())) << " alone";
    }
  }
}

TEST(LeadingLoneTokensTest, CountsTheDecodeEntriesBeforeAPromptChunk) {
  const BatchEntry decode_and_chunk[] = {{3, 9, 1}, {1, 4, 2}, {7, 0, 3}, {7, 1, 4}, {5, 0, 5}};
  EXPECT_EQ(LeadingLoneTokens(decode_and_chunk), 2);  // seq 7 has two entries; seq 5 comes after them
  const BatchEntry all_lone[] = {{1, 4, 1}, {2, 7, 1}, {3, 0, 1}};
  EXPECT_EQ(LeadingLoneTokens(all_lone), 3);
  const BatchEntry prefill[] = {{1, 0, 1}, {1, 1, 1}};
  EXPECT_EQ(LeadingLoneTokens(prefill), 0);
  const BatchEntry repeated_later[] = {{1, 4, 1}, {2, 7, 1}, {1, 5, 1}};
  EXPECT_EQ(LeadingLoneTokens(repeated_later), 0);
  EXPECT_EQ(LeadingLoneTokens({}), 0);
}

class DecodeBatchTest : public ::testing::TestWithParam<const char*> {};

TEST_P(DecodeBatchTest, DenseLlama) { ExpectSameBits("tiny-llama", GetParam()); }
TEST_P(DecodeBatchTest, MixtureOfExperts) { ExpectSameBits("tiny-qwen3moe", GetParam()); }
TEST_P(DecodeBatchTest, LatentAttention) { ExpectSameBits("tiny-deepseek2", GetParam()); }

INSTANTIATE_TEST_SUITE_P(Types, DecodeBatchTest, ::testing::Values("q4_0", "q8_0", "q4_k", "q6_k", "f16", "bf16"));

}  // namespace
}  // namespace plexus
