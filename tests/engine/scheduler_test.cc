// Continuous batching on the real stories260K model: requests run together
// through one Scheduler give what Engine::Generate gives each alone (a second
// Engine is the reference), batches really mix sequences, and cancellation,
// refusals, executor failures and shutdown end requests cleanly.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

namespace plexus {
namespace {

// One request's events as the scheduler thread delivered them.
struct Events {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  int n_tokens = 0;
  std::vector<int32_t> tokens;
  std::string text;  // kToken texts, then the kDone text
  int done = 0, errors = 0;
  std::string finish_reason;
  Status error;
  std::function<void(const RequestEvent&)> hook;  // extra work on the scheduler thread

  void On(const RequestEvent& e) {
    {
      std::lock_guard lock(mu);
      switch (e.kind) {
        case RequestEvent::Kind::kStarted: started = true; break;
        case RequestEvent::Kind::kToken:
          ++n_tokens;
          tokens.push_back(e.token);
          text += e.text;
          break;
        case RequestEvent::Kind::kDone:
          ++done;
          text += e.text;
          finish_reason = e.result->finish_reason;
          break;
        case RequestEvent::Kind::kError:
          ++errors;
          error = e.error;
          break;
      }
    }
    cv.notify_all();
    if (hook) hook(e);
  }
  void WaitTokens(int n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return n_tokens >= n || done > 0 || errors > 0; });
  }
};

struct Tracked {
  std::shared_ptr<RequestHandle> handle;
  std::shared_ptr<Events> events;
};

// Forwards to the real executor, recording each batch's entries; can be made
// to fail.
class RecordingExecutor final : public Executor {
 public:
  explicit RecordingExecutor(Executor& inner) : inner_(inner) {}
  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override {
    {
      std::lock_guard lock(mu_);
      batches_.emplace_back(batch.begin(), batch.end());
      if (fail_) return Status::Errorf("test", "the executor is broken");
    }
    return inner_.Forward(batch, logits);
  }
  void DropSequence(int32_t seq) override { inner_.DropSequence(seq); }
  int64_t max_context() const override { return inner_.max_context(); }
  const ModelConfig& config() const override { return inner_.config(); }
  ClusterView Describe() const override { return inner_.Describe(); }

  void set_fail(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }
  std::vector<std::vector<BatchEntry>> batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }

 private:
  Executor& inner_;
  mutable std::mutex mu_;
  bool fail_ = false;
  std::vector<std::vector<BatchEntry>> batches_;
};

constexpr const char* kPrompts[] = {"Once upon a time", "Lily and Ben", "The cat sat", "One day, a little boy named Tim",
                                    "She", "The sun was shining and the birds"};

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf";
    for (Engine** e : {&engine_, &reference_}) {
      EngineOptions options;
      options.threads = 1;
      auto opened = Engine::Open(model, options);
      ASSERT_TRUE(opened.ok()) << opened.status().message();
      *e = std::move(opened).value().release();
    }
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete reference_;
    engine_ = reference_ = nullptr;
  }

  static GenerateResult Reference(const char* prompt, const GenerateOptions& options) {
    auto r = reference_->Generate(prompt, options);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : GenerateResult{};
  }

  static Tracked Submit(Scheduler& scheduler, const char* prompt, const GenerateOptions& options,
                        std::function<void(const RequestEvent&)> hook = nullptr) {
    auto input = engine_->PromptTokens(prompt, true, false);
    EXPECT_TRUE(input.ok());
    RequestSpec spec;
    spec.input = std::move(input).value();
    spec.options = options;
    auto events = std::make_shared<Events>();
    events->hook = std::move(hook);
    spec.on_event = [events](const RequestEvent& e) { events->On(e); };
    auto handle = scheduler.Submit(std::move(spec));
    EXPECT_TRUE(handle.ok()) << handle.status().message();
    return {handle.ok() ? handle.value() : nullptr, events};
  }

  static GenerateResult MustWait(const Tracked& t) {
    auto r = t.handle->Wait();
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : GenerateResult{};
  }

  // The scheduler's result and its streamed events agree with Engine::Generate alone.
  // `tolerance`: of the log-probabilities. A batch of several sequences sums
  // its dot products in another order than one token alone (the matmul
  // micro-kernel vs the matvec), so the values agree to rounding, not bits.
  static void ExpectSameAsAlone(const Tracked& t, const char* prompt, const GenerateOptions& options,
                                float tolerance = 2e-3f) {
    const GenerateResult want = Reference(prompt, options);
    const GenerateResult got = MustWait(t);
    EXPECT_EQ(got.tokens, want.tokens) << prompt;
    EXPECT_EQ(got.text, want.text) << prompt;
    EXPECT_EQ(got.finish_reason, want.finish_reason) << prompt;
    EXPECT_EQ(got.stop_string, want.stop_string) << prompt;
    EXPECT_EQ(got.prompt_tokens, want.prompt_tokens) << prompt;
    EXPECT_EQ(got.seed, want.seed) << prompt;
    ASSERT_EQ(got.logprobs.size(), want.logprobs.size()) << prompt;
    for (size_t i = 0; i < got.logprobs.size(); ++i) EXPECT_NEAR(got.logprobs[i], want.logprobs[i], tolerance) << prompt;
    ASSERT_EQ(got.top_logprobs.size(), want.top_logprobs.size()) << prompt;
    for (size_t i = 0; i < got.top_logprobs.size(); ++i) {
      ASSERT_EQ(got.top_logprobs[i].size(), want.top_logprobs[i].size());
      for (size_t k = 0; k < got.top_logprobs[i].size(); ++k) {
        EXPECT_EQ(got.top_logprobs[i][k].first, want.top_logprobs[i][k].first) << prompt << " step " << i;
        EXPECT_NEAR(got.top_logprobs[i][k].second, want.top_logprobs[i][k].second, tolerance);
      }
    }
    std::lock_guard lock(t.events->mu);
    EXPECT_TRUE(t.events->started);
    EXPECT_EQ(t.events->done, 1);
    EXPECT_EQ(t.events->tokens, got.tokens);
    EXPECT_EQ(t.events->text, got.text);
    EXPECT_EQ(t.events->finish_reason, got.finish_reason);
  }

  static Engine* engine_;
  static Engine* reference_;
};

Engine* SchedulerTest::engine_ = nullptr;
Engine* SchedulerTest::reference_ = nullptr;

GenerateOptions Greedy(int max_tokens) {
  GenerateOptions options;
  options.max_tokens = max_tokens;
  return options;
}

TEST_F(SchedulerTest, ConcurrentGreedyRequestsMatchGenerateAlone) {
  // A small step budget: prompts are chunked and share steps with decodes.
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 8, .max_queue = 8, .step_tokens = 9});
  const int max_tokens[] = {40, 25, 60, 12, 48, 33};
  std::vector<Tracked> tracked;
  for (int i = 0; i < 3; ++i) tracked.push_back(Submit(scheduler, kPrompts[i], Greedy(max_tokens[i])));
  tracked[0].events->WaitTokens(5);  // the rest join while these generate
  for (int i = 3; i < 6; ++i) tracked.push_back(Submit(scheduler, kPrompts[i], Greedy(max_tokens[i])));
  for (int i = 0; i < 6; ++i) ExpectSameAsAlone(tracked[i], kPrompts[i], Greedy(max_tokens[i]));
  const SchedulerStats stats = scheduler.Stats();
  EXPECT_EQ(stats.requests_total, 6u);
  EXPECT_EQ(stats.active, 0);
  EXPECT_EQ(stats.queued, 0);
  EXPECT_GT(stats.last_ttft_ms, 0);
  uint64_t generated = 0, prompt = 0;
  for (const Tracked& t : tracked) generated += t.handle->Wait()->tokens.size();
  for (const char* p : kPrompts) prompt += engine_->PromptTokens(p, true, false)->size();
  EXPECT_EQ(stats.generated_tokens_total, generated);
  EXPECT_EQ(stats.prompt_tokens_total, prompt);
}

TEST_F(SchedulerTest, SeededSamplingReproducesAloneAndTogether) {
  std::vector<GenerateOptions> options(4);
  for (size_t i = 0; i < options.size(); ++i) {
    options[i].max_tokens = 30;
    options[i].sampler.temperature = 0.8f;
    options[i].sampler.seed = 1234 + i;
  }
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 4, .step_tokens = 16});
  std::vector<std::vector<int32_t>> alone;
  for (size_t i = 0; i < options.size(); ++i) {
    const Tracked t = Submit(scheduler, kPrompts[i], options[i]);
    alone.push_back(MustWait(t).tokens);
  }
  std::vector<Tracked> together;
  for (size_t i = 0; i < options.size(); ++i) together.push_back(Submit(scheduler, kPrompts[i], options[i]));
  for (size_t i = 0; i < options.size(); ++i) {
    EXPECT_EQ(MustWait(together[i]).tokens, alone[i]) << kPrompts[i];
    EXPECT_EQ(MustWait(together[i]).seed, 1234 + i);
    ExpectSameAsAlone(together[i], kPrompts[i], options[i]);  // and as Engine::Generate with that seed
  }
}

TEST_F(SchedulerTest, CancelEndsTheRequestAndFreesItsSlot) {
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 1});
  std::promise<void> reached, cancelled;
  std::shared_future<void> cancelled_future = cancelled.get_future().share();
  GenerateOptions long_run = Greedy(400);
  long_run.stop_at_eos = false;
  // At its third token the request waits (on the scheduler thread) until the test cancelled it.
  const Tracked a = Submit(scheduler, kPrompts[0], long_run, [&, n = 0](const RequestEvent& e) mutable {
    if (e.kind == RequestEvent::Kind::kToken && ++n == 3) {
      reached.set_value();
      cancelled_future.wait();
    }
  });
  const Tracked b = Submit(scheduler, kPrompts[1], Greedy(20));  // waits for the one slot
  reached.get_future().wait();
  a.handle->Cancel();
  a.handle->Cancel();  // twice is harmless
  cancelled.set_value();
  const GenerateResult r = MustWait(a);
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_EQ(r.tokens.size(), 3u);
  EXPECT_EQ(r.text, a.events->text);
  EXPECT_EQ(a.events->done, 1);
  ExpectSameAsAlone(b, kPrompts[1], Greedy(20));  // the freed slot (same sequence id, emptied) serves it
  const Tracked c = Submit(scheduler, kPrompts[2], Greedy(15));
  ExpectSameAsAlone(c, kPrompts[2], Greedy(15));
  EXPECT_EQ(scheduler.Stats().active, 0);
}

TEST_F(SchedulerTest, CancelWhileQueuedEndsWithoutRunning) {
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 1});
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  const Tracked a = Submit(scheduler, kPrompts[0], Greedy(10), [open](const RequestEvent& e) {
    if (e.kind == RequestEvent::Kind::kStarted) open.wait();
  });
  const Tracked b = Submit(scheduler, kPrompts[1], Greedy(10));
  b.handle->Cancel();
  gate.set_value();
  const GenerateResult rb = MustWait(b);
  EXPECT_EQ(rb.finish_reason, "cancelled");
  EXPECT_TRUE(rb.tokens.empty());
  EXPECT_FALSE(b.events->started);
  ExpectSameAsAlone(a, kPrompts[0], Greedy(10));
}

TEST_F(SchedulerTest, FullQueueIsRefused) {
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 1, .max_queue = 1});
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  // The first holds the one slot (its kStarted waits) while the others arrive.
  const Tracked a = Submit(scheduler, kPrompts[0], Greedy(10), [open](const RequestEvent& e) {
    if (e.kind == RequestEvent::Kind::kStarted) open.wait();
  });
  const Tracked b = Submit(scheduler, kPrompts[1], Greedy(10));
  RequestSpec spec;
  spec.input = *engine_->PromptTokens(kPrompts[2], true, false);
  SubmitError why = SubmitError::kNone;
  auto refused = scheduler.Submit(spec, &why);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(why, SubmitError::kQueueFull);
  EXPECT_NE(refused.status().message().find("queue is full"), std::string::npos) << refused.status().message();
  gate.set_value();
  ExpectSameAsAlone(a, kPrompts[0], Greedy(10));
  ExpectSameAsAlone(b, kPrompts[1], Greedy(10));
  EXPECT_EQ(scheduler.Stats().requests_rejected, 1u);
  EXPECT_EQ(scheduler.Stats().requests_total, 2u);
  auto later = scheduler.Submit(spec, &why);  // room again
  ASSERT_TRUE(later.ok()) << later.status().message();
  EXPECT_EQ(why, SubmitError::kNone);
  EXPECT_TRUE((*later)->Wait().ok());
}

TEST_F(SchedulerTest, InvalidRequestsAreRefusedWithTheReason) {
  Scheduler scheduler(*engine_, SchedulerOptions{});
  const std::vector<int32_t> prompt = *engine_->PromptTokens(kPrompts[0], true, false);
  const auto expect_invalid = [&](RequestSpec spec, const std::string& needle) {
    SubmitError why = SubmitError::kNone;
    auto r = scheduler.Submit(std::move(spec), &why);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(why, SubmitError::kInvalid) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  RequestSpec empty;
  expect_invalid(empty, "no input tokens");
  RequestSpec out_of_range;
  out_of_range.input = {1, 600};
  expect_invalid(out_of_range, "token 600 at position 1 is outside the vocabulary of 512");
  RequestSpec negative;
  negative.input = {-3};
  expect_invalid(negative, "token -3");
  RequestSpec too_long;
  too_long.input.assign(static_cast<size_t>(engine_->max_context()), prompt[1]);
  expect_invalid(too_long, fmt::format("{} tokens but the context holds {}", engine_->max_context(),
                                       engine_->max_context()));
  RequestSpec bad_top_p;
  bad_top_p.input = prompt;
  bad_top_p.options.sampler.top_p = 1.5f;
  expect_invalid(bad_top_p, "top_p");
  RequestSpec bad_stop;
  bad_stop.input = prompt;
  bad_stop.options.stop = {"ok", ""};
  expect_invalid(bad_stop, "stop string 1 is empty");
  EXPECT_EQ(scheduler.Stats().requests_rejected, 6u);
  EXPECT_EQ(scheduler.Stats().requests_total, 0u);
}

TEST_F(SchedulerTest, MaxTokensIsClampedToTheContext) {
  EngineOptions small;
  small.threads = 1;
  small.max_context = 40;
  auto opened = Engine::Open(engine_->path(), small);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Engine& engine = **opened;
  Scheduler scheduler(engine, SchedulerOptions{});
  RequestSpec zero;
  zero.input = *engine.PromptTokens(kPrompts[0], true, false);
  zero.options.max_tokens = 0;
  auto h = scheduler.Submit(zero);
  ASSERT_TRUE(h.ok());
  const GenerateResult r = *(*h)->Wait();
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_TRUE(r.tokens.empty());
  // A prompt that leaves room for 3 tokens gets 3, however many were asked.
  RequestSpec near_full;
  near_full.input = zero.input;
  while (static_cast<int64_t>(near_full.input.size()) < engine.max_context() - 3)
    near_full.input.push_back(zero.input[1 + near_full.input.size() % (zero.input.size() - 1)]);
  near_full.options.max_tokens = 100;
  near_full.options.stop_at_eos = false;
  auto full = scheduler.Submit(near_full);
  ASSERT_TRUE(full.ok()) << full.status().message();
  const GenerateResult rf = *(*full)->Wait();
  EXPECT_EQ(rf.tokens.size(), 3u);
  EXPECT_EQ(rf.finish_reason, "length");
}

TEST_F(SchedulerTest, StopStringsAndTopLogprobsMatchGenerate) {
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 4, .step_tokens = 6});
  GenerateOptions stop = Greedy(32);
  stop.stop = {"little girl", "dragon"};
  GenerateOptions top = Greedy(24);
  top.top_logprobs = 3;
  GenerateOptions chosen = Greedy(16);
  chosen.sampler.logprobs = true;
  GenerateOptions both = Greedy(40);
  both.stop = {"park"};
  both.top_logprobs = 2;
  const Tracked a = Submit(scheduler, kPrompts[0], stop);
  const Tracked b = Submit(scheduler, kPrompts[1], top);
  const Tracked c = Submit(scheduler, kPrompts[2], chosen);
  const Tracked d = Submit(scheduler, kPrompts[0], both);
  ExpectSameAsAlone(a, kPrompts[0], stop);
  ExpectSameAsAlone(b, kPrompts[1], top);
  ExpectSameAsAlone(c, kPrompts[2], chosen);
  ExpectSameAsAlone(d, kPrompts[0], both);
  EXPECT_EQ(MustWait(a).text, ", there was a ");
  EXPECT_EQ(MustWait(a).stop_string, "little girl");
  EXPECT_EQ(MustWait(b).top_logprobs.size(), MustWait(b).tokens.size());
  EXPECT_EQ(MustWait(c).logprobs.size(), 16u);
  // Alone, with the whole prompt in one step, the batches are Generate's
  // (one prefill matmul, then one token at a time): the same bits.
  Scheduler roomy(*engine_, SchedulerOptions{});
  const Tracked alone = Submit(roomy, kPrompts[3], top);
  ExpectSameAsAlone(alone, kPrompts[3], top, 0.0f);
}

TEST_F(SchedulerTest, MoreRequestsThanSlotsAllComplete) {
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 2, .max_queue = 16, .step_tokens = 32});
  std::vector<Tracked> tracked;
  for (int i = 0; i < 9; ++i) tracked.push_back(Submit(scheduler, kPrompts[i % 6], Greedy(10 + 3 * i)));
  for (int i = 0; i < 9; ++i) ExpectSameAsAlone(tracked[static_cast<size_t>(i)], kPrompts[i % 6], Greedy(10 + 3 * i));
  EXPECT_EQ(scheduler.Stats().requests_total, 9u);
}

TEST_F(SchedulerTest, BatchesMixSequences) {
  RecordingExecutor recording(engine_->executor());
  const int step_tokens = 8;
  Scheduler scheduler(*engine_, recording, SchedulerOptions{.max_active = 4, .step_tokens = step_tokens});
  std::vector<Tracked> tracked;
  for (int i = 0; i < 4; ++i) tracked.push_back(Submit(scheduler, kPrompts[i], Greedy(20)));
  for (int i = 0; i < 4; ++i) ExpectSameAsAlone(tracked[static_cast<size_t>(i)], kPrompts[i], Greedy(20));
  size_t mixed = 0, decode_only_mixed = 0;
  for (const std::vector<BatchEntry>& batch : recording.batches()) {
    EXPECT_LE(batch.size(), static_cast<size_t>(step_tokens));
    std::set<int32_t> seqs;
    for (const BatchEntry& e : batch) seqs.insert(e.seq);
    if (seqs.size() > 1) ++mixed;
    const bool all_decode = std::all_of(batch.begin(), batch.end(), [](const BatchEntry& e) { return e.want_logits; });
    if (seqs.size() > 1 && all_decode) ++decode_only_mixed;
    for (int32_t seq : seqs) EXPECT_GE(seq, 1);  // 0 stays Engine::Generate's
  }
  EXPECT_GT(mixed, 0u);
  EXPECT_GT(decode_only_mixed, 0u);  // decode steps of several sequences as one batch
}

TEST_F(SchedulerTest, ExecutorFailureEndsTheBatchWithTheError) {
  RecordingExecutor recording(engine_->executor());
  Scheduler scheduler(*engine_, recording, SchedulerOptions{.max_active = 2});
  recording.set_fail(true);
  const Tracked a = Submit(scheduler, kPrompts[0], Greedy(10));
  const Tracked b = Submit(scheduler, kPrompts[1], Greedy(10));
  for (const Tracked* t : {&a, &b}) {
    auto r = t->handle->Wait();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("the executor is broken"), std::string::npos);
    std::lock_guard lock(t->events->mu);
    EXPECT_EQ(t->events->errors, 1);
    EXPECT_EQ(t->events->done, 0);
  }
  recording.set_fail(false);  // the scheduler goes on: slots were freed, caches dropped
  const Tracked c = Submit(scheduler, kPrompts[2], Greedy(12));
  ExpectSameAsAlone(c, kPrompts[2], Greedy(12));
  EXPECT_EQ(scheduler.Stats().active, 0);
}

TEST_F(SchedulerTest, DestructorCancelsRunningAndQueuedRequests) {
  auto scheduler = std::make_unique<Scheduler>(*engine_, SchedulerOptions{.max_active = 1});
  GenerateOptions long_run = Greedy(400);
  long_run.stop_at_eos = false;
  // Slowed down (1 ms a token) so it is surely still running when the scheduler goes.
  const Tracked a = Submit(*scheduler, kPrompts[0], long_run, [](const RequestEvent& e) {
    if (e.kind == RequestEvent::Kind::kToken) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const Tracked b = Submit(*scheduler, kPrompts[1], Greedy(10));
  a.events->WaitTokens(1);
  scheduler.reset();
  EXPECT_EQ(MustWait(a).finish_reason, "cancelled");
  EXPECT_LT(MustWait(a).tokens.size(), 400u);
  EXPECT_EQ(MustWait(b).finish_reason, "cancelled");
  EXPECT_EQ(a.events->done, 1);
  EXPECT_EQ(b.events->done, 1);
}

TEST_F(SchedulerTest, SubmitFromManyThreads) {
  Scheduler scheduler(*engine_, SchedulerOptions{.max_active = 3, .max_queue = 16, .step_tokens = 24});
  std::vector<std::thread> threads;
  std::vector<Tracked> tracked(6);
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] { tracked[static_cast<size_t>(i)] = Submit(scheduler, kPrompts[i], Greedy(15)); });
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 6; ++i) ExpectSameAsAlone(tracked[static_cast<size_t>(i)], kPrompts[i], Greedy(15));
}

}  // namespace
}  // namespace plexus
