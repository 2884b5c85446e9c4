// One generation request between two threads: the scheduler thread produces
// its events (RequestSpec::on_event must not block, so they are copied into a
// queue), the HTTP worker that serves the client takes them out and writes.
// The queue is shared with the callback, so it outlives either side.
//
//   ApiError error;
//   auto stream = RequestStream::Start(scheduler, std::move(spec), arrived, &error);
//   while (auto item = stream->Next(100ms)) ...   // kToken..., then kDone or kError
//   stream->Cancel();   // client gone: the scheduler drops it at its next step
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "engine/scheduler.h"
#include "server/api_error.h"
#include "server/openai.h"

namespace plexus::server {

struct StreamItem {
  enum class Kind { kToken, kDone, kError };
  Kind kind = Kind::kToken;
  TokenInfo token;        // kToken; kDone: token.text is the text released at the end (id -1)
  GenerateResult result;  // kDone (finish_reason "stop", "length" or "cancelled")
  Status error;           // kError
};

class RequestStream {
 public:
  using Clock = std::chrono::steady_clock;

  // Submits `spec` (its on_event is set here). On refusal returns null and
  // sets *error: 429 (queue full), 503 (shutting down) or 400 (invalid).
  static std::shared_ptr<RequestStream> Start(Scheduler& scheduler, RequestSpec spec, Clock::time_point arrived,
                                              ApiError* error);

  // The next item, or nullopt when none came within `timeout`.
  std::optional<StreamItem> Next(std::chrono::milliseconds timeout);
  void Cancel() { handle_->Cancel(); }
  // Seconds from the request's arrival to its first token; negative before one.
  double ttft_s() const { return channel_->ttft_s.load(); }

  // How a refusal maps to an API error.
  static ApiError SubmitErrorToApi(SubmitError why, const Status& status);

 private:
  struct Channel {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<StreamItem> items;
    Clock::time_point arrived;
    std::atomic<double> ttft_s{-1.0};
    void Push(StreamItem item);
  };
  RequestStream(std::shared_ptr<Channel> channel, std::shared_ptr<RequestHandle> handle)
      : channel_(std::move(channel)), handle_(std::move(handle)) {}
  // Copies a scheduler event (its pointers die with the callback) into an item.
  static std::optional<StreamItem> ToItem(const RequestEvent& e);

  std::shared_ptr<Channel> channel_;
  std::shared_ptr<RequestHandle> handle_;
};

}  // namespace plexus::server
