// The scheduler's front: Submit (any thread), the thread's loop, admission
// into slots, shutdown and statistics. One step's batch is scheduler_step.cc.
#include "engine/scheduler.h"

#include <algorithm>
#include <optional>

#include "engine/scheduler_active.h"
#include "engine/stop.h"

namespace plexus {
namespace {

// decode_tps counts the generated tokens of the steps that ended this recently.
constexpr auto kRateWindow = std::chrono::seconds(5);

// GenerateResult::prompt_tokens: the input without a leading BOS.
std::vector<int32_t> WithoutBos(const std::vector<int32_t>& input, int32_t bos) {
  const bool has_bos = bos >= 0 && !input.empty() && input.front() == bos;
  return std::vector<int32_t>(input.begin() + (has_bos ? 1 : 0), input.end());
}

}  // namespace

Result<GenerateResult> RequestHandle::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return outcome_.has_value(); });
  return *outcome_;
}

void RequestHandle::Finish(Result<GenerateResult> r) {
  {
    std::lock_guard lock(mu_);
    outcome_.emplace(std::move(r));
  }
  cv_.notify_all();
}

struct Scheduler::IdleTask {
  std::function<Status()> run;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Status> outcome;
  bool busy = false;
  void Finish(Status st, bool was_busy) {
    {
      std::lock_guard lock(mu);
      outcome = std::move(st);
      busy = was_busy;
    }
    cv.notify_all();
  }
};

Status Scheduler::RunWhenIdle(std::function<Status()> task, bool* busy) {
  auto t = std::make_shared<IdleTask>();
  t->run = std::move(task);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Errorf("scheduler", "shutting down");
    tasks_.push_back(t);
  }
  cv_.notify_all();
  std::unique_lock lock(t->mu);
  t->cv.wait(lock, [&] { return t->outcome.has_value(); });
  if (busy != nullptr) *busy = t->busy;
  return *t->outcome;
}

void Scheduler::RunIdleTasks() {
  std::deque<std::shared_ptr<IdleTask>> tasks;
  {
    std::lock_guard lock(mu_);
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) {
    if (!active_.empty()) {
      t->Finish(Status::Errorf("scheduler", "{} request{} running; try again when idle", active_.size(),
                               active_.size() == 1 ? " is" : "s are"),
                true);
    } else {
      t->Finish(t->run(), false);
    }
  }
}

Scheduler::Scheduler(Engine& engine, const SchedulerOptions& options)
    : Scheduler(engine, engine.executor(), options) {}

Scheduler::Scheduler(Engine& engine, Executor& executor, const SchedulerOptions& options)
    : engine_(engine), executor_(executor), options_(options) {
  options_.max_active = std::max(options_.max_active, 1);
  options_.max_queue = std::max(options_.max_queue, 0);
  options_.step_tokens = std::max(options_.step_tokens, options_.max_active);
  // Read once here: Submit runs on other threads and must not touch the executor.
  n_vocab_ = executor_.config().n_vocab;
  max_context_ = executor_.max_context();
  // Popped from the back: 1 first. 0 is left to Engine::Generate.
  for (int32_t seq = options_.max_active; seq >= 1; --seq) free_seqs_.push_back(seq);
  thread_ = std::thread(&Scheduler::Loop, this);
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<Sampler> Scheduler::Validate(const RequestSpec& spec, int* max_tokens) const {
  const std::vector<int32_t>& input = spec.input;
  if (input.empty()) return Status::Errorf("scheduler", "the request has no input tokens");
  for (size_t i = 0; i < input.size(); ++i)
    if (input[i] < 0 || input[i] >= n_vocab_)
      return Status::Errorf("scheduler", "input token {} at position {} is outside the vocabulary of {}", input[i], i,
                            n_vocab_);
  if (static_cast<int64_t>(input.size()) >= max_context_)
    return Status::Errorf("scheduler", "the input has {} tokens but the context holds {} (room for at least one more is needed)",
                          input.size(), max_context_);
  PLEXUS_RETURN_IF_ERROR(ValidateStopStrings(spec.options.stop));
  SamplerParams params = spec.options.sampler;
  params.n_probs = std::max(params.n_probs, spec.options.top_logprobs);
  PLEXUS_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(params, n_vocab_));
  const int64_t room = max_context_ - static_cast<int64_t>(input.size());
  *max_tokens = static_cast<int>(std::min<int64_t>(spec.options.max_tokens, room));
  return sampler;
}

Result<std::shared_ptr<RequestHandle>> Scheduler::Submit(RequestSpec spec, SubmitError* why) {
  const auto refuse = [&](SubmitError kind, Status error) -> Result<std::shared_ptr<RequestHandle>> {
    if (why != nullptr) *why = kind;
    std::lock_guard lock(mu_);
    ++stats_.requests_rejected;
    return error;
  };
  if (why != nullptr) *why = SubmitError::kNone;
  int max_tokens = 0;
  Result<Sampler> sampler = Validate(spec, &max_tokens);
  if (!sampler.ok()) return refuse(SubmitError::kInvalid, sampler.status());
  std::shared_ptr<RequestHandle> handle;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      ++stats_.requests_rejected;
      if (why != nullptr) *why = SubmitError::kShuttingDown;
      return Status::Errorf("scheduler", "shutting down: no new requests");
    }
    // Free slots take queued requests at the next step, so the room is
    // max_active running plus max_queue waiting.
    const size_t in_system = queue_.size() + static_cast<size_t>(stats_.active);
    if (in_system >= static_cast<size_t>(options_.max_active + options_.max_queue)) {
      ++stats_.requests_rejected;
      if (why != nullptr) *why = SubmitError::kQueueFull;
      return Status::Errorf("scheduler", "the queue is full ({} requests waiting, {} running)", queue_.size(),
                            stats_.active);
    }
    handle.reset(new RequestHandle(next_id_++));
    ++stats_.requests_total;
    stats_.prompt_tokens_total += spec.input.size();
    queue_.push_back(Pending{std::move(spec), handle, std::move(sampler).value(), max_tokens, Clock::now()});
    stats_.queued = static_cast<int>(queue_.size());
  }
  cv_.notify_all();
  return handle;
}

void Scheduler::Loop() {
  // Slots start from empty caches whatever ran on this executor before.
  for (int32_t seq : free_seqs_) executor_.DropSequence(seq);
  for (;;) {
    std::vector<Pending> admit, ended;
    {
      std::unique_lock lock(mu_);
      // Idle (nothing queued or running): sleep until Submit or shutdown.
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active_.empty() || !tasks_.empty(); });
      if (stopping_) break;
    }
    // Before admission: requests queued behind a task start after it.
    RunIdleTasks();
    {
      std::lock_guard lock(mu_);
      TakeFromQueue(&admit, &ended);
    }
    for (Pending& p : ended) {
      const char* reason = p.handle->cancelled() ? "cancelled" : "length";
      EndWithoutSlot(std::move(p), reason);
    }
    for (Pending& p : admit) Admit(std::move(p));
    if (!active_.empty()) Step();
  }
  Shutdown();
}

void Scheduler::TakeFromQueue(std::vector<Pending>* admit, std::vector<Pending>* ended) {
  size_t free_slots = free_seqs_.size();
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->handle->cancelled() || it->max_tokens <= 0) {
      ended->push_back(std::move(*it));
    } else if (free_slots > 0) {
      --free_slots;
      admit->push_back(std::move(*it));
    } else {
      ++it;
      continue;
    }
    it = queue_.erase(it);
  }
  stats_.active += static_cast<int>(admit->size());
  stats_.queued = static_cast<int>(queue_.size());
}

void Scheduler::EndWithoutSlot(Pending pending, const char* reason) {
  GenerateResult result;
  result.prompt_tokens = WithoutBos(pending.spec.input, engine_.tokenizer().bos());
  result.finish_reason = reason;
  result.seed = pending.sampler.seed();
  RequestEvent done;
  done.kind = RequestEvent::Kind::kDone;
  done.result = &result;
  if (pending.spec.on_event) pending.spec.on_event(done);
  pending.handle->Finish(std::move(result));
}

void Scheduler::Admit(Pending pending) {
  PLEXUS_CHECK(!free_seqs_.empty(), "[scheduler] admitted a request without a free slot");
  const int32_t seq = free_seqs_.back();
  free_seqs_.pop_back();
  auto active = std::make_unique<Active>(std::move(pending), seq);
  Active& a = *active;
  active_.push_back(std::move(active));
  a.result.prompt_tokens = WithoutBos(a.spec.input, engine_.tokenizer().bos());
  a.result.seed = a.sampler.seed();
  for (int32_t id : a.spec.input) a.sampler.Accept(id);  // the penalties see the prompt too, as in Engine::Generate
  RequestEvent started;
  started.kind = RequestEvent::Kind::kStarted;
  a.Emit(started);
}

void Scheduler::Shutdown() {
  std::deque<Pending> queued;
  std::deque<std::shared_ptr<IdleTask>> tasks;
  {
    std::lock_guard lock(mu_);
    queued.swap(queue_);
    tasks.swap(tasks_);
    stats_.queued = 0;
  }
  for (auto& t : tasks) t->Finish(Status::Errorf("scheduler", "shutting down"), false);
  for (auto& a : active_)
    if (!a->done) Finish(*a, "cancelled");
  Sweep();
  for (Pending& p : queued) EndWithoutSlot(std::move(p), "cancelled");
}

void Scheduler::Sweep() {
  std::erase_if(active_, [](const std::unique_ptr<Active>& a) { return a->done; });
}

void Scheduler::RecordStep(Clock::time_point start, int tokens) {
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mu_);
  if (tokens > 0) window_.push_back({start, now, tokens});
  while (!window_.empty() && window_.front().end < now - kRateWindow) window_.pop_front();
}

SchedulerStats Scheduler::Stats() const {
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mu_);
  SchedulerStats stats = stats_;
  stats.queued = static_cast<int>(queue_.size());
  // Tokens of the steps that ended in the window over the time since the
  // first of them began (at most the window): no burst reads as a spike.
  int64_t tokens = 0;
  Clock::time_point first = now;
  for (const StepTokens& s : window_) {
    if (s.end < now - kRateWindow) continue;
    tokens += s.tokens;
    first = std::min(first, s.start);
  }
  first = std::max(first, now - std::chrono::duration_cast<Clock::duration>(kRateWindow));
  const double seconds = MillisBetween(first, now) / 1000.0;
  stats.decode_tps = tokens > 0 && seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0;
  return stats;
}

}  // namespace plexus
