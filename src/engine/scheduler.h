// Continuous batching: many requests share one Executor. A scheduler thread
// owns the executor; each step it runs ONE forward batch made of
//   - one decode entry for every active request that is generating, and
//   - prompt chunks of requests still prefilling, up to a token budget,
// so decode steps of all active sequences run as one matrix-matrix pass and
// a request that arrives while others generate joins at the next step.
// Each request has its own sequence id (its own KV cache), its own Sampler and
// its own StopStream. Greedy output of a request is the same whether it runs
// alone or beside others: the rows of a batched matmul are independent. Their
// values agree to rounding, not to the bit (a batch sums its dot products in
// another order than one token alone: kernels::MatMul vs MatVec), so only a
// near-tie between the two best tokens could tell them apart; alone with the
// whole prompt in one step, the batches are Engine::Generate's, bit for bit.
//
// Usage:
//   Scheduler scheduler(engine, {});            // starts the scheduler thread
//   RequestSpec spec;  spec.input = tokens;  spec.options = gen_options;
//   spec.on_event = [](const RequestEvent& e) { ... };   // runs on the scheduler thread
//   Result<std::shared_ptr<RequestHandle>> h = scheduler.Submit(std::move(spec));
//   ... (*h)->Cancel();   // client went away: the sequence is dropped at the next step
//   GenerateResult r = (*h)->Wait();            // or follow on_event
//
// Sequence ids 1..max_active are the scheduler's (0 stays Engine::Generate's);
// a slot's sequence is dropped when its request ends, so a reused id starts
// from an empty cache. Requests are admitted oldest first; prompts are
// prefilled oldest first within the step budget.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"

namespace plexus {

struct SchedulerOptions {
  int max_active = 8;          // sequences in the running batch at once (each its own KV cache)
  int max_queue = 64;          // waiting requests beyond max_active; more are refused (kQueueFull)
  int step_tokens = 512;       // token budget of one forward batch (decode entries + prefill chunks);
                               // raised to max_active so a prefilling request always gets a token
  std::function<void(const std::string&)> log = nullptr;  // recovery lines (Resume); default: stderr
};

// Why Submit refused a request. The server maps these to HTTP statuses.
enum class SubmitError { kNone, kQueueFull, kInvalid, kShuttingDown };

struct RequestEvent {
  enum class Kind { kStarted, kToken, kDone, kError };
  Kind kind = Kind::kToken;
  // kToken: the token just generated, its emitted text (may be empty while a
  // stop string or a UTF-8 character is pending) and its log-probabilities
  // when they were asked for.
  int32_t token = -1;
  std::string text;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top_logprobs;
  // kDone: the full result (finish_reason "stop", "length" or "cancelled"),
  // valid during the callback; `text` holds what was released only at the
  // end (text held back as a possible stop-string start or partial UTF-8).
  // The result's prompt_tokens are the input without a leading BOS;
  // prefill_ms runs from admission to the first logits, decode_ms from there
  // to the end.
  // kError: the error (the request's sequence is gone; others go on).
  // kStarted comes when the request gets a slot; a request that ends without
  // one (cancelled while queued, max_tokens <= 0) gets only kDone.
  const GenerateResult* result = nullptr;
  Status error;
};

struct RequestSpec {
  std::vector<int32_t> input;  // prompt tokens exactly as run (BOS included when wanted)
  GenerateOptions options;     // max_tokens, stop_at_eos, top_logprobs, sampler, stop (prefill_chunk ignored)
  std::function<void(const RequestEvent&)> on_event;  // called on the scheduler thread; must not block long
};

struct SchedulerStats {
  int active = 0;               // sequences in the running batch
  int queued = 0;               // waiting for a slot
  uint64_t requests_total = 0;  // submitted and accepted
  uint64_t requests_rejected = 0;
  uint64_t prompt_tokens_total = 0;     // input tokens of the accepted requests
  uint64_t generated_tokens_total = 0;  // kToken events (end-of-generation tokens are not counted)
  double decode_tps = 0;        // generated tokens/s over the last few seconds, all sequences together
  double last_ttft_ms = 0;      // submit -> first logits sampled, of the most recent request to get them
};

class RequestHandle {
 public:
  // Asks the scheduler to stop this request at its next step (kDone with
  // finish_reason "cancelled"). Safe from any thread, any number of times.
  void Cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  // Blocks until the request ends; its result or error.
  Result<GenerateResult> Wait();
  uint64_t id() const { return id_; }

 private:
  friend class Scheduler;
  explicit RequestHandle(uint64_t id) : id_(id) {}
  void Finish(Result<GenerateResult> r);

  uint64_t id_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Result<GenerateResult>> outcome_;
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const SchedulerOptions& options);
  // Runs the batches on `executor` (engine.executor() or a wrapper around
  // it); the engine gives the tokenizer. Both must outlive the scheduler.
  Scheduler(Engine& engine, Executor& executor, const SchedulerOptions& options);
  ~Scheduler();  // cancels everything pending, joins the thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Validates (sampler params, stop strings, input within the context) and
  // queues. On refusal returns an error and sets *why (may be null).
  Result<std::shared_ptr<RequestHandle>> Submit(RequestSpec spec, SubmitError* why = nullptr);

  SchedulerStats Stats() const;

  // Runs `task` on the scheduler thread between steps, when no request holds
  // a slot (queued ones are admitted after it), e.g. a cluster re-plan that
  // loses every cache. With requests running it does not run: *busy is set
  // and an error returned. Blocks until then.
  Status RunWhenIdle(std::function<Status()> task, bool* busy);
  const SchedulerOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Active;  // one running request: sequence id, sampler, stream, progress (scheduler_active.h)
  struct Pending {  // accepted, waiting for a slot
    RequestSpec spec;
    std::shared_ptr<RequestHandle> handle;
    Sampler sampler;      // created at Submit (its seed drawn then)
    int max_tokens = 0;   // clamped to the context left after the input
    Clock::time_point submitted;
  };
  struct StepTokens {  // one step's generated tokens, for decode_tps
    Clock::time_point start, end;
    int tokens = 0;
  };

  // Checks everything but capacity; the request's sampler and clamped max_tokens.
  Result<Sampler> Validate(const RequestSpec& spec, int* max_tokens) const;
  void Loop();
  // Under mu_: moves requests that get a slot to *admit and those that end
  // without one (cancelled, max_tokens <= 0) to *ended.
  void TakeFromQueue(std::vector<Pending>* admit, std::vector<Pending>* ended);
  void EndWithoutSlot(Pending pending, const char* reason);
  void Admit(Pending pending);
  void Shutdown();
  // Runs idle tasks (RunWhenIdle) or refuses them when a request holds a slot.
  void RunIdleTasks();
  // One forward batch over the active requests (scheduler_step.cc).
  void Step();
  // After a failed Forward that re-placed the executor: every active
  // sequence is prefilled again (input + generated) and goes on.
  void Resume(const Status& why);
  void BuildBatch(std::vector<BatchEntry>* batch, std::vector<Active*>* rows, std::vector<Active*>* members);
  // Samples from `logits` (one row, [V]) for `a`; the number of tokens generated (0 or 1).
  int OnLogits(Active& a, std::span<const float> logits);
  void Finish(Active& a, const char* reason);
  void Fail(Active& a, const Status& error);
  void Release(Active& a);  // drops the sequence, frees the slot
  void Sweep();             // removes ended requests from active_
  void RecordStep(Clock::time_point start, int tokens);  // for decode_tps

  Engine& engine_;
  Executor& executor_;
  SchedulerOptions options_;
  int64_t n_vocab_ = 0;
  int64_t max_context_ = 0;
  // Scheduler thread only:
  std::vector<std::unique_ptr<Active>> active_;  // admission order
  std::vector<int32_t> free_seqs_;
  std::vector<float> logits_;  // [rows, V] of the last step
  // Guarded by mu_:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  struct IdleTask;  // RunWhenIdle's task and its outcome
  std::deque<std::shared_ptr<IdleTask>> tasks_;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  SchedulerStats stats_;  // active counts the slots taken (queue_.size() is queued)
  std::deque<StepTokens> window_;  // steps of the last kRateWindow
  std::thread thread_;  // last: starts after everything above is built
};

}  // namespace plexus
