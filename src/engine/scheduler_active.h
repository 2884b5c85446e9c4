// Internal to the scheduler (scheduler.cc, scheduler_step.cc): the state of
// one request that holds a slot.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "engine/scheduler.h"
#include "engine/stop.h"

namespace plexus {

inline double MillisBetween(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

struct Scheduler::Active {
  Active(Pending pending, int32_t seq_id)
      : spec(std::move(pending.spec)),
        context(spec.input),
        handle(std::move(pending.handle)),
        sampler(std::move(pending.sampler)),
        stream(spec.options.stop, [this](std::string_view text) { delta.append(text); }),
        seq(seq_id),
        max_tokens(pending.max_tokens),
        submitted(pending.submitted),
        admitted(Clock::now()) {}
  // The stream's callback points at `delta`: never moved (held by unique_ptr).
  Active(const Active&) = delete;
  Active& operator=(const Active&) = delete;

  bool prefilling() const { return prefilled < context.size(); }
  // Prefill done and a token sampled that the next step feeds back.
  bool decoding() const { return !prefilling() && !result.tokens.empty(); }

  void Emit(const RequestEvent& event) const {
    if (spec.on_event) spec.on_event(event);
  }

  RequestSpec spec;
  // What prefill runs: the input; after the executor was re-placed (every
  // cache lost), the input and the tokens generated so far, so that the
  // logits of its last token are those the next decode step would give.
  std::vector<int32_t> context;
  std::shared_ptr<RequestHandle> handle;
  Sampler sampler;
  StopStream stream;
  std::string delta;      // text the stream released for the token being handled
  int32_t seq;
  int max_tokens;
  size_t prefilled = 0;   // context tokens run (or in the batch being run)
  bool sampled = false;   // the first logits arrived (prefill over)
  bool done = false;      // ended; Sweep removes it
  GenerateResult result;
  Clock::time_point submitted, admitted, decode_start;
};

}  // namespace plexus
