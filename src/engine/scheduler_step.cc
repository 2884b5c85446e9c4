// One step of the scheduler: build one forward batch from every active
// request (decode entries, then prompt chunks oldest first, within
// step_tokens), run it, and hand each logits row to its request's sampler and
// stop stream.
#include <algorithm>

#include "engine/scheduler.h"
#include "engine/scheduler_active.h"

namespace plexus {

void Scheduler::Step() {
  const Clock::time_point start = Clock::now();
  for (auto& a : active_)
    if (a->handle->cancelled()) Finish(*a, "cancelled");
  Sweep();
  if (active_.empty()) return;
  std::vector<BatchEntry> batch;
  std::vector<Active*> rows, members;
  BuildBatch(&batch, &rows, &members);
  // Every active request is prefilling or generating, and step_tokens >=
  // max_active leaves a prefilling one room: the batch is never empty.
  PLEXUS_CHECK(!batch.empty(), "[scheduler] {} active requests gave an empty batch", active_.size());
  const uint64_t placement = executor_.placement();
  Status forwarded = executor_.Forward(batch, &logits_);
  const size_t n_vocab = static_cast<size_t>(n_vocab_);
  if (forwarded.ok() && logits_.size() != rows.size() * n_vocab)
    forwarded = Status::Errorf("scheduler", "the executor returned {} logits for {} rows of {}", logits_.size(),
                               rows.size(), n_vocab);
  if (!forwarded.ok() && executor_.placement() != placement) {
    Resume(forwarded);
    return;
  }
  if (!forwarded.ok()) {
    // Their caches may hold part of this batch: every member ends; requests
    // outside the batch and in the queue go on (and meet the same executor).
    for (Active* a : members) Fail(*a, forwarded);
    Sweep();
    return;
  }
  int generated = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    Active& a = *rows[r];
    if (!a.sampled) {
      a.sampled = true;
      a.decode_start = Clock::now();
      a.result.prefill_ms = MillisBetween(a.admitted, a.decode_start);
      std::lock_guard lock(mu_);
      stats_.last_ttft_ms = MillisBetween(a.submitted, a.decode_start);
    }
    generated += OnLogits(a, std::span<const float>(logits_).subspan(r * n_vocab, n_vocab));
  }
  Sweep();
  RecordStep(start, generated);
}

void Scheduler::Resume(const Status& why) {
  // The executor was placed anew: no sequence has a cache any more. Each
  // prefills again from position 0 what it had run (input and generated
  // tokens); its sampler, stop stream and emitted text go on as they were,
  // so its client sees neither a repeat nor a gap.
  size_t resumed = 0;
  for (auto& p : active_) {
    Active& a = *p;
    if (a.done) continue;
    a.context = a.spec.input;
    a.context.insert(a.context.end(), a.result.tokens.begin(), a.result.tokens.end());
    a.prefilled = 0;
    ++resumed;
  }
  const std::string line = fmt::format("{}; resuming {} request{}", why.message(), resumed, resumed == 1 ? "" : "s");
  if (options_.log) options_.log(line);
  else fmt::print(stderr, "plexus: {}\n", line);
}

void Scheduler::BuildBatch(std::vector<BatchEntry>* batch, std::vector<Active*>* rows,
                           std::vector<Active*>* members) {
  size_t budget = static_cast<size_t>(options_.step_tokens);
  // Every generating request feeds back its last token. step_tokens >=
  // max_active, so while one prefills at most max_active - 1 of these leave
  // it room.
  for (auto& p : active_) {
    Active& a = *p;
    if (!a.decoding()) continue;
    const auto pos = static_cast<int32_t>(a.spec.input.size() + a.result.tokens.size() - 1);
    batch->push_back({a.seq, pos, a.result.tokens.back(), true});
    rows->push_back(&a);
    members->push_back(&a);
    budget -= std::min<size_t>(budget, 1);
  }
  // Prompt chunks, oldest request first; the prompt's last token wants logits.
  for (auto& p : active_) {
    Active& a = *p;
    if (!a.prefilling() || budget == 0) continue;
    const std::vector<int32_t>& input = a.context;
    const size_t end = a.prefilled + std::min(budget, input.size() - a.prefilled);
    for (size_t i = a.prefilled; i < end; ++i)
      batch->push_back({a.seq, static_cast<int32_t>(i), input[i], i + 1 == input.size()});
    budget -= end - a.prefilled;
    a.prefilled = end;
    if (!a.prefilling()) rows->push_back(&a);
    members->push_back(&a);
  }
}

int Scheduler::OnLogits(Active& a, std::span<const float> logits) {
  const Tokenizer& tokenizer = engine_.tokenizer();
  SampledToken next = a.sampler.Sample(logits);
  // As Engine::Decode: an end-of-generation token is not part of the result.
  if (a.spec.options.stop_at_eos && tokenizer.IsEog(next.id)) {
    Finish(a, "stop");
    return 0;
  }
  a.sampler.Accept(next.id);
  GenerateResult& r = a.result;
  r.tokens.push_back(next.id);
  const SamplerParams& params = a.sampler.params();
  if (params.logprobs || params.n_probs > 0) r.logprobs.push_back(next.logprob);
  if (params.n_probs > 0) r.top_logprobs.push_back(next.top);
  a.delta.clear();
  const bool stopped = a.stream.Push(tokenizer.TokenToPiece(next.id));
  const bool at_length = static_cast<int>(r.tokens.size()) >= a.max_tokens;
  if (!stopped && at_length) a.stream.Finish();  // the last token's text carries what was held back
  RequestEvent event;
  event.kind = RequestEvent::Kind::kToken;
  event.token = next.id;
  event.text = std::move(a.delta);
  event.logprob = next.logprob;
  event.top_logprobs = std::move(next.top);
  a.delta.clear();
  {
    // Counted before the request can end, so a caller back from Wait sees it.
    std::lock_guard lock(mu_);
    ++stats_.generated_tokens_total;
  }
  a.Emit(event);
  if (stopped) Finish(a, "stop");
  else if (at_length) Finish(a, "length");
  return 1;
}

void Scheduler::Finish(Active& a, const char* reason) {
  a.delta.clear();
  a.stream.Finish();  // text held back (stop-string start, partial UTF-8) is released
  GenerateResult& r = a.result;
  r.text = a.stream.text();
  r.stop_string = a.stream.matched();
  r.finish_reason = reason;
  if (a.sampled) r.decode_ms = MillisBetween(a.decode_start, Clock::now());
  RequestEvent done;
  done.kind = RequestEvent::Kind::kDone;
  done.text = std::move(a.delta);
  done.result = &r;
  a.Emit(done);
  Release(a);
  a.handle->Finish(std::move(r));
}

void Scheduler::Fail(Active& a, const Status& error) {
  RequestEvent failed;
  failed.kind = RequestEvent::Kind::kError;
  failed.error = error;
  a.Emit(failed);
  Release(a);
  a.handle->Finish(error);
}

void Scheduler::Release(Active& a) {
  executor_.DropSequence(a.seq);
  free_seqs_.push_back(a.seq);
  a.done = true;
  std::lock_guard lock(mu_);
  --stats_.active;  // before the handle finishes, so a caller back from Wait sees it
}

}  // namespace plexus
