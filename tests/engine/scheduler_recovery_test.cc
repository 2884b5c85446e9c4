// The scheduler's recovery path on the real stories260K model: an executor
// that loses every KV cache once (as RecoveringExecutor does when a node dies
// and the model is placed anew) and says so through placement(). Requests in
// flight are prefilled again from input + generated tokens and go on: their
// tokens and text equal a run without the failure, no error reaches them, and
// sampler state (seeded draws, penalties) continues rather than restarts.
// Also RunWhenIdle, which POST /v1/cluster/replan uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/scheduler.h"

namespace plexus {
namespace {

// Runs batches on the real model; on its `fail_at`-th Forward it drops every
// sequence's cache (all of them: a re-placement loses every cache, also of
// sequences outside the failed batch), moves placement() on and fails.
class ReplacingExecutor final : public Executor {
 public:
  // Fails the fail_at-th forward (counting only batches of at least
  // min_seqs sequences: the scheduler may step the first request alone
  // before the test thread has submitted the others, more so under load).
  ReplacingExecutor(Executor& inner, int fail_at, int max_seq, int min_seqs = 0)
      : inner_(inner), fail_at_(fail_at), max_seq_(max_seq), min_seqs_(min_seqs) {}
  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override {
    {
      // Held (min_seqs > 0) until RunAll has submitted every request: on a
      // loaded machine the first request could otherwise finish before the
      // others arrive, and no batch would ever hold min_seqs sequences.
      std::unique_lock lock(hold_mu_);
      hold_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return released_; });
    }
    ++forwards_;
    if (!failed_ && Sequences(batch) >= min_seqs_ && ++counted_ == fail_at_) {
      failed_ = true;
      for (int32_t seq = 0; seq <= max_seq_; ++seq) inner_.DropSequence(seq);
      ++placement_;
      return Status::Errorf("test", "node X lost; re-placed on 1 rank (split 1) in 0.0 s");
    }
    // After the failure: the first position each sequence runs at.
    if (failed_)
      for (const BatchEntry& e : batch) {
        if (restarted_.size() <= static_cast<size_t>(e.seq)) restarted_.resize(static_cast<size_t>(e.seq) + 1, -1);
        if (restarted_[static_cast<size_t>(e.seq)] < 0) restarted_[static_cast<size_t>(e.seq)] = e.pos;
      }
    return inner_.Forward(batch, logits);
  }
  void DropSequence(int32_t seq) override { inner_.DropSequence(seq); }
  int64_t max_context() const override { return inner_.max_context(); }
  const ModelConfig& config() const override { return inner_.config(); }
  ClusterView Describe() const override { return inner_.Describe(); }
  uint64_t placement() const override { return placement_; }

  // Lets Forward run (RunAll calls it once every request is submitted).
  void Release() {
    std::lock_guard lock(hold_mu_);
    released_ = true;
    hold_cv_.notify_all();
  }

  int forwards() const { return forwards_; }
  // The first position each sequence ran at after the failure (-1: none ran).
  std::vector<int32_t> restarted() const { return restarted_; }

 private:
  static int Sequences(std::span<const BatchEntry> batch) {
    std::vector<int32_t> seqs;
    for (const BatchEntry& e : batch)
      if (std::find(seqs.begin(), seqs.end(), e.seq) == seqs.end()) seqs.push_back(e.seq);
    return static_cast<int>(seqs.size());
  }

  Executor& inner_;
  int fail_at_, max_seq_, min_seqs_;
  int counted_ = 0;
  bool failed_ = false;
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool released_ = min_seqs_ == 0;
  std::atomic<int> forwards_{0};
  std::atomic<uint64_t> placement_{0};
  std::vector<int32_t> restarted_;
};

struct Outcome {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::string> texts, streamed;
  std::vector<std::string> finish;
  int errors = 0;
  std::vector<std::string> logged;
};

constexpr const char* kPrompts[] = {"Once upon a time", "Lily and Ben", "The cat sat"};

class RecoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions options;
    options.threads = 1;
    auto opened = Engine::Open(std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf", options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    engine_ = std::move(opened).value().release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }

  // Runs the prompts together through a scheduler over `executor`.
  static Outcome RunAll(ReplacingExecutor& executor, const std::vector<GenerateOptions>& options, int step_tokens) {
    Outcome run;
    std::mutex mu;
    SchedulerOptions so{.max_active = 4, .max_queue = 4, .step_tokens = step_tokens};
    so.log = [&](const std::string& line) {
      std::lock_guard lock(mu);
      run.logged.push_back(line);
    };
    Scheduler scheduler(*engine_, executor, so);
    std::vector<std::shared_ptr<RequestHandle>> handles;
    run.streamed.resize(options.size());
    for (size_t i = 0; i < options.size(); ++i) {
      RequestSpec spec;
      spec.input = *engine_->PromptTokens(kPrompts[i], true, false);
      spec.options = options[i];
      spec.on_event = [&, i](const RequestEvent& e) {
        std::lock_guard lock(mu);
        if (e.kind == RequestEvent::Kind::kToken || e.kind == RequestEvent::Kind::kDone) run.streamed[i] += e.text;
        if (e.kind == RequestEvent::Kind::kError) ++run.errors;
      };
      auto h = scheduler.Submit(std::move(spec));
      EXPECT_TRUE(h.ok()) << h.status().message();
      handles.push_back(*h);
    }
    executor.Release();
    for (auto& h : handles) {
      auto r = h->Wait();
      EXPECT_TRUE(r.ok()) << r.status().message();
      run.tokens.push_back(r.ok() ? r->tokens : std::vector<int32_t>{});
      run.texts.push_back(r.ok() ? r->text : "");
      run.finish.push_back(r.ok() ? r->finish_reason : "error");
    }
    return run;
  }

  static void ExpectSame(const Outcome& got, const Outcome& want) {
    EXPECT_EQ(got.errors, 0);
    ASSERT_EQ(got.tokens.size(), want.tokens.size());
    for (size_t i = 0; i < got.tokens.size(); ++i) {
      const auto diff = std::mismatch(got.tokens[i].begin(), got.tokens[i].end(), want.tokens[i].begin(), want.tokens[i].end());
      EXPECT_EQ(got.tokens[i], want.tokens[i]) << kPrompts[i] << ": first differs at token "
                                               << (diff.first - got.tokens[i].begin());
      EXPECT_EQ(got.texts[i], want.texts[i]) << kPrompts[i];
      EXPECT_EQ(got.streamed[i], want.streamed[i]) << kPrompts[i];  // nothing repeated or skipped
      EXPECT_EQ(got.finish[i], want.finish[i]) << kPrompts[i];
    }
  }

  static Engine* engine_;
};

Engine* RecoveryTest::engine_ = nullptr;

GenerateOptions Greedy(int n) {
  GenerateOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  return o;
}

TEST_F(RecoveryTest, GreedyRequestsResumeMidDecodeWithTheSameTokens) {
  const std::vector<GenerateOptions> options = {Greedy(60), Greedy(45), Greedy(70)};
  ReplacingExecutor clean(engine_->executor(), -1, 8);
  const Outcome want = RunAll(clean, options, 64);
  // The 15th forward of all three: every request is decoding (the prompts
  // fit one step, and the shortest has 45 tokens to go).
  ReplacingExecutor failing(engine_->executor(), 15, 8, /*min_seqs=*/3);
  const Outcome got = RunAll(failing, options, 64);
  ExpectSame(got, want);
  for (size_t i = 0; i < got.tokens.size(); ++i) EXPECT_EQ(got.tokens[i].size(), options[i].max_tokens);
  // Every sequence started again from position 0 on the new placement.
  for (int32_t seq = 1; seq <= 3; ++seq) {
    ASSERT_GT(failing.restarted().size(), static_cast<size_t>(seq));
    EXPECT_EQ(failing.restarted()[seq], 0) << "seq " << seq;
  }
  ASSERT_EQ(got.logged.size(), 1u);
  EXPECT_NE(got.logged[0].find("node X lost"), std::string::npos) << got.logged[0];
  EXPECT_NE(got.logged[0].find("resuming 3 requests"), std::string::npos) << got.logged[0];
}

TEST_F(RecoveryTest, RequestsResumeWhileStillPrefilling) {
  // A 3-token budget chunks the prompts: the failure hits mid-prefill for
  // some and mid-decode for others.
  const std::vector<GenerateOptions> options = {Greedy(30), Greedy(25), Greedy(35)};
  ReplacingExecutor clean(engine_->executor(), -1, 8);
  const Outcome want = RunAll(clean, options, 4);
  for (int fail_at : {2, 4, 7}) {
    ReplacingExecutor failing(engine_->executor(), fail_at, 8);
    const Outcome got = RunAll(failing, options, 4);
    SCOPED_TRACE("failing at forward " + std::to_string(fail_at));
    ExpectSame(got, want);
  }
}

TEST_F(RecoveryTest, SamplerStateContinuesAcrossTheReplacement) {
  // Seeded sampling with penalties: the draws and the penalty history must
  // go on from where they were (a restarted sampler draws other tokens at
  // once). 12 tokens past the failure: the re-prefilled cache matches the
  // decoded one to rounding only, and a long enough sampled run meets a
  // draw that lands on a boundary (here ~16 tokens on).
  std::vector<GenerateOptions> options = {Greedy(36), Greedy(36)};
  for (size_t i = 0; i < options.size(); ++i) {
    options[i].sampler.temperature = 0.9f;
    options[i].sampler.seed = 1234 + i;
    options[i].sampler.repeat_penalty = 1.3f;
    options[i].sampler.presence_penalty = 0.5f;
  }
  ReplacingExecutor clean(engine_->executor(), -1, 8);
  const Outcome want = RunAll(clean, options, 64);
  ReplacingExecutor failing(engine_->executor(), 25, 8);
  const Outcome got = RunAll(failing, options, 64);
  ExpectSame(got, want);
}

TEST_F(RecoveryTest, RunWhenIdleRunsBetweenStepsAndRefusesUnderLoad) {
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 2});
  bool busy = true;
  int ran = 0;
  EXPECT_TRUE(scheduler.RunWhenIdle([&] { ++ran; return Status::Ok(); }, &busy).ok());
  EXPECT_FALSE(busy);
  EXPECT_EQ(ran, 1);
  // The task's own error comes back, not marked busy.
  Status failed = scheduler.RunWhenIdle([] { return Status::Errorf("test", "no nodes"); }, &busy);
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(busy);
  // While a request holds a slot the task is refused: the request's first
  // token holds the scheduler thread until the task has been queued.
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, go = false;
  RequestSpec spec;
  spec.input = *engine_->PromptTokens("Once upon a time", true, false);
  spec.options = Greedy(100);
  spec.on_event = [&](const RequestEvent& e) {
    if (e.kind != RequestEvent::Kind::kToken) return;
    std::unique_lock lock(mu);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return go; });
  };
  auto h = scheduler.Submit(std::move(spec));
  ASSERT_TRUE(h.ok());
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  Status refused;
  bool refused_busy = false;
  std::thread asker([&] { refused = scheduler.RunWhenIdle([&] { ++ran; return Status::Ok(); }, &refused_busy); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the task is queued by now
  {
    std::lock_guard lock(mu);
    go = true;
  }
  cv.notify_all();
  asker.join();
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(refused_busy);
  EXPECT_EQ(ran, 1);
  (*h)->Cancel();
  (void)(*h)->Wait();
  EXPECT_TRUE(scheduler.RunWhenIdle([&] { ++ran; return Status::Ok(); }, &busy).ok());
  EXPECT_EQ(ran, 2);
}

}  // namespace
}  // namespace plexus
