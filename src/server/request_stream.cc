#include "server/request_stream.h"

namespace plexus::server {

void RequestStream::Channel::Push(StreamItem item) {
  {
    std::lock_guard lock(mu);
    if (item.kind == StreamItem::Kind::kToken && ttft_s.load() < 0)
      ttft_s.store(std::chrono::duration<double>(Clock::now() - arrived).count());
    items.push_back(std::move(item));
  }
  cv.notify_one();
}

std::optional<StreamItem> RequestStream::ToItem(const RequestEvent& e) {
  StreamItem item;
  switch (e.kind) {
    case RequestEvent::Kind::kStarted:
      return std::nullopt;
    case RequestEvent::Kind::kToken:
      item.kind = StreamItem::Kind::kToken;
      item.token = TokenInfo{e.token, e.text, e.logprob, e.top_logprobs};
      return item;
    case RequestEvent::Kind::kDone:
      item.kind = StreamItem::Kind::kDone;
      item.token.text = e.text;  // text held back until the end (a stop-string prefix, part of a character)
      if (e.result != nullptr) item.result = *e.result;
      return item;
    case RequestEvent::Kind::kError:
      item.kind = StreamItem::Kind::kError;
      item.error = e.error.ok() ? Status::Errorf("scheduler", "the request failed") : e.error;
      return item;
  }
  return std::nullopt;
}

std::shared_ptr<RequestStream> RequestStream::Start(Scheduler& scheduler, RequestSpec spec, Clock::time_point arrived,
                                                    ApiError* error) {
  auto channel = std::make_shared<Channel>();
  channel->arrived = arrived;
  // Runs on the scheduler thread: a copy and a push, nothing that blocks.
  spec.on_event = [channel](const RequestEvent& e) {
    if (std::optional<StreamItem> item = ToItem(e)) channel->Push(std::move(*item));
  };
  SubmitError why = SubmitError::kNone;
  Result<std::shared_ptr<RequestHandle>> handle = scheduler.Submit(std::move(spec), &why);
  if (!handle.ok()) {
    *error = SubmitErrorToApi(why, handle.status());
    return nullptr;
  }
  return std::shared_ptr<RequestStream>(new RequestStream(std::move(channel), std::move(handle).value()));
}

std::optional<StreamItem> RequestStream::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(channel_->mu);
  if (!channel_->cv.wait_for(lock, timeout, [&] { return !channel_->items.empty(); })) return std::nullopt;
  StreamItem item = std::move(channel_->items.front());
  channel_->items.pop_front();
  return item;
}

ApiError RequestStream::SubmitErrorToApi(SubmitError why, const Status& status) {
  switch (why) {
    case SubmitError::kQueueFull:
      return {429, "the server is busy: " + status.message() + "; retry later", "rate_limit_error", {},
              "rate_limit_exceeded"};
    case SubmitError::kShuttingDown:
      return ApiError::Server(503, "the server is shutting down", "shutting_down");
    case SubmitError::kInvalid:
      return ApiError::Invalid({}, status.message());
    case SubmitError::kNone:
      break;
  }
  return ApiError::Server(500, status.message());
}

}  // namespace plexus::server
