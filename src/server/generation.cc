// A generation request from parsed fields to the last byte: prompt tokens,
// Submit, then the request's events written as a stream or as one body.
#include <httplib.h>

#include <random>

#include <fmt/format.h>

#include "server/api_server.h"

namespace plexus::server {
namespace {

constexpr auto kPoll = std::chrono::milliseconds(100);  // how often a silent request checks its client

ApiError ShuttingDown() { return ApiError::Server(503, "the server is shutting down", "shutting_down"); }

ApiError GenerationFailed(const Status& error) {
  return ApiError::Server(500, "generation failed: " + error.message(), "generation_failed");
}

}  // namespace

struct ApiServer::Run {
  std::shared_ptr<RequestStream> stream;
  std::unique_ptr<ResponseWriter> writer;
  Clock::time_point arrived;
  size_t prompt_tokens = 0;
  int fd = -1;  // the client's socket (-1: unknown, then only failed writes notice a departure)
  bool ollama = false;
  bool saw_token = false;

  RunStats Stats() const {
    return {prompt_tokens, std::chrono::duration<double, std::milli>(Clock::now() - arrived).count()};
  }
};

void ApiServer::Generate(const httplib::Request& req, httplib::Response& res, const GenRequest& r,
                         const Flavor& flavor) {
  const Clock::time_point arrived = Clock::now();
  if (stopping_) return SendError(res, ShuttingDown(), flavor.ollama);
  std::vector<int32_t> input;
  if (ApiError e = BuildInput(r, flavor.prompt_param, &input); !e.ok()) return SendError(res, e, flavor.ollama);
  auto run = std::make_shared<Run>();
  run->prompt_tokens = input.size();
  RequestSpec spec;
  spec.options = MakeOptions(r, input.size());
  spec.input = std::move(input);
  ApiError error;
  run->stream = RequestStream::Start(scheduler_, std::move(spec), arrived, &error);
  if (run->stream == nullptr) return SendError(res, error, flavor.ollama);
  run->writer = flavor.make_writer(run->prompt_tokens);
  run->arrived = arrived;
  run->ollama = flavor.ollama;
  run->fd = ConnectionSocket(req);
  if (r.stream) {
    RespondStreaming(res, std::move(run));
  } else {
    Respond(res, std::move(run));
  }
}

ApiError ApiServer::CheckContext(size_t n_tokens, bool at_least, const char* prompt_param) const {
  const int64_t context = engine_.max_context();
  if (static_cast<int64_t>(n_tokens) < context) return {};
  return {400,
          fmt::format("This model's maximum context length is {} tokens, but the prompt has {}{} tokens (room for at "
                      "least one generated token is needed)",
                      context, at_least ? "at least " : "", n_tokens),
          "invalid_request_error", prompt_param, "context_length_exceeded"};
}

ApiError ApiServer::BuildInput(const GenRequest& r, const char* prompt_param, std::vector<int32_t>* input) const {
  if (!r.prompt_ids.empty()) {
    *input = r.prompt_ids;
    return CheckContext(input->size(), false, prompt_param);
  }
  std::string text;
  if (r.chat) {
    if (!chat_) return ApiError::Server(500, "the model's chat template cannot be used: " + chat_error_);
    Result<std::string> rendered = chat_->Render(r.messages, true, JsonToTemplateValue(r.template_extra));
    if (!rendered.ok()) return ApiError::Invalid(prompt_param, "the chat template failed: " + rendered.status().message());
    text = std::move(rendered).value();
  } else {
    text = r.prompt;
  }
  // A token is at most max_piece_bytes_ of text (halved for normalization
  // that shrinks text): a prompt that cannot fit is refused before the
  // tokenizer spends time on it.
  const size_t at_least = text.size() / (2 * max_piece_bytes_);
  if (ApiError e = CheckContext(at_least, true, prompt_param); !e.ok()) return e;
  Result<std::vector<int32_t>> tokens = engine_.PromptTokens(text, /*add_bos=*/true, /*parse_special=*/r.chat);
  if (!tokens.ok()) return ApiError::Invalid(prompt_param, tokens.status().message());
  *input = std::move(tokens).value();
  return CheckContext(input->size(), false, prompt_param);
}

GenerateOptions ApiServer::MakeOptions(const GenRequest& r, size_t n_input) const {
  GenerateOptions o;
  const int64_t room = engine_.max_context() - static_cast<int64_t>(n_input);
  // Clamped to the room left, as llama-server does (the result says "length").
  o.max_tokens = static_cast<int>(std::min<int64_t>(r.max_tokens.value_or(INT32_MAX), room));
  o.stop_at_eos = true;
  o.top_logprobs = r.logprobs ? r.top_logprobs : 0;
  o.sampler = r.sampler;
  o.sampler.logprobs = r.logprobs;
  o.sampler.n_probs = o.top_logprobs;
  o.stop = r.stop;
  return o;
}

ApiServer::Ending ApiServer::Follow(Run& run, const std::function<bool(StreamItem&)>& on_item) {
  Clock::time_point next_check = Clock::now() + kPoll;
  for (;;) {
    std::optional<StreamItem> item = run.stream->Next(kPoll);
    if (item) {
      NoteOutcome(*item);
      if (item->kind == StreamItem::Kind::kToken && !run.saw_token) {
        run.saw_token = true;
        metrics_.ObserveTtft(run.stream->ttft_s());
      }
      // Only the scheduler's shutdown ends a request we did not cancel this way.
      if (item->kind == StreamItem::Kind::kDone && item->result.finish_reason == "cancelled") return Ending::kShutdown;
      const StreamItem::Kind kind = item->kind;
      if (!on_item(*item)) {
        run.stream->Cancel();
        return Ending::kClientGone;
      }
      if (kind == StreamItem::Kind::kDone) return Ending::kDone;
      if (kind == StreamItem::Kind::kError) return Ending::kError;
    }
    // Shutdown is an atomic load, checked every item, so a stream that never
    // falls silent still ends at once; the client check is a syscall, so
    // it waits for a silence or kPoll.
    if (stopping_) {
      run.stream->Cancel();
      return Ending::kShutdown;
    }
    if (!item || Clock::now() >= next_check) {
      next_check = Clock::now() + kPoll;
      if (PeerClosed(run.fd)) {
        run.stream->Cancel();
        return Ending::kClientGone;
      }
    }
  }
}

void ApiServer::Respond(httplib::Response& res, std::shared_ptr<Run> run) {
  GenerateResult result;
  Status error;
  const Ending end = Follow(*run, [&](StreamItem& item) {
    if (item.kind == StreamItem::Kind::kDone) result = std::move(item.result);
    if (item.kind == StreamItem::Kind::kError) error = item.error;
    return true;
  });
  ApiError failure;
  switch (end) {
    case Ending::kDone:
      res.status = 200;
      res.set_content(run->writer->Body(result, run->Stats()), "application/json");
      return;
    case Ending::kClientGone:
      res.status = 499;  // nginx's "client closed request": for the log; nobody reads it
      return;
    case Ending::kError:
      failure = GenerationFailed(error);
      break;
    case Ending::kShutdown:
      failure = ShuttingDown();
      res.set_header("Retry-After", "1");
      break;
  }
  res.status = failure.status;
  res.set_content(run->writer->ErrorBody(failure), "application/json");
}

void ApiServer::RespondStreaming(httplib::Response& res, std::shared_ptr<Run> run) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // proxies: do not hold the stream back
  const char* mime = run->writer->stream_mime();
  res.set_chunked_content_provider(
      mime,
      [this, run](size_t, httplib::DataSink& sink) {
        const auto write = [&sink](const std::string& s) { return s.empty() || sink.write(s.data(), s.size()); };
        ResponseWriter& w = *run->writer;
        if (!write(w.Begin())) {
          run->stream->Cancel();
          return false;
        }
        const Ending end = Follow(*run, [&](StreamItem& item) {
          switch (item.kind) {
            case StreamItem::Kind::kToken: return write(w.Token(item.token));
            case StreamItem::Kind::kDone:
              return write(w.Token(item.token)) && write(w.End(item.result, run->Stats()));
            case StreamItem::Kind::kError: return write(w.StreamError(GenerationFailed(item.error)));
          }
          return true;
        });
        if (end == Ending::kClientGone) return false;  // httplib drops the connection
        if (end == Ending::kShutdown) write(w.StreamError(ShuttingDown()));
        sink.done();
        return true;
      },
      // Runs when the response is destroyed, however it ended: a request
      // whose client vanished before the first write is cancelled here.
      [run](bool) { run->stream->Cancel(); });
}

void ApiServer::NoteOutcome(const StreamItem& item) {
  if (item.kind == StreamItem::Kind::kToken) return;
  std::lock_guard lock(health_mu_);
  if (item.kind == StreamItem::Kind::kError) {
    executor_error_ = item.error.message();
  } else if (item.result.finish_reason != "cancelled") {
    executor_error_.clear();
  }
}

std::string ApiServer::NewId(const char* prefix) const {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

}  // namespace plexus::server
