// The routes of `plexus serve` (docs: the API contract, openai.h, ollama.h):
// OpenAI and Ollama generation, models, health, metrics, cluster and stats,
// and the embedded dashboard.
//
// A generation request: parse and validate (the HTTP worker), render the
// chat template and tokenize (still the worker: the scheduler thread only
// runs batches), Submit to the Scheduler, then follow the request's events
// (request_stream.h) and write them: as a stream, or one body at the end.
// Every 100 ms without an event the worker checks whether the client went
// away (http_server.h) and cancels the request if so.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "server/api_error.h"
#include "server/gen_request.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/model_facts.h"
#include "server/request_stream.h"
#include "server/response_writer.h"

namespace plexus::server {

class ApiServer {
 public:
  ApiServer(Engine& engine, Scheduler& scheduler, ServedModel served);

  // Adds the routes and the metrics observer.
  void Register(HttpServer& http);
  // In-flight requests end (an error event, or 503) and new ones get 503.
  void BeginShutdown() { stopping_ = true; }

  const ServedModel& served() const { return served_; }

  // The metrics label of a request path: a route, never the raw path.
  static std::string EndpointLabel(const std::string& path);

 private:
  using Clock = std::chrono::steady_clock;
  // What differs between the generation endpoints.
  struct Flavor {
    bool ollama = false;          // error bodies as {"error": "..."}
    const char* prompt_param;     // the field a too-long prompt is blamed on
    std::function<std::unique_ptr<ResponseWriter>(size_t prompt_tokens)> make_writer;
  };
  enum class Ending { kDone, kError, kClientGone, kShutdown };
  struct Run;  // one request being followed (generation.cc)

  void RegisterInfoRoutes(HttpServer& http);
  void RegisterGenerationRoutes(HttpServer& http);
  void RegisterOllamaRoutes(HttpServer& http);
  void Replan(httplib::Response& res);  // POST /v1/cluster/replan

  // generation.cc
  void Generate(const httplib::Request& req, httplib::Response& res, const GenRequest& r, const Flavor& flavor);
  ApiError BuildInput(const GenRequest& r, const char* prompt_param, std::vector<int32_t>* input) const;
  ApiError CheckContext(size_t n_tokens, bool at_least, const char* prompt_param) const;
  GenerateOptions MakeOptions(const GenRequest& r, size_t n_input) const;
  void Respond(httplib::Response& res, std::shared_ptr<Run> run);
  void RespondStreaming(httplib::Response& res, std::shared_ptr<Run> run);
  // Hands the request's items to on_item until it ends; cancels it when the
  // client goes away, on_item fails (a write) or the server stops.
  Ending Follow(Run& run, const std::function<bool(StreamItem&)>& on_item);
  void SendError(httplib::Response& res, const ApiError& e, bool ollama) const;
  void NoteOutcome(const StreamItem& item);
  std::string NewId(const char* prefix) const;

  Engine& engine_;
  Scheduler& scheduler_;
  ServedModel served_;
  ModelFacts facts_;
  std::optional<ChatTemplate> chat_;  // unset when the model's template does not parse
  std::string chat_error_;            // why
  size_t max_piece_bytes_ = 1;        // longest token text: bounds tokens from below by bytes
  Metrics metrics_;
  std::atomic<bool> stopping_{false};
  Clock::time_point started_ = Clock::now();
  mutable std::mutex health_mu_;
  std::string executor_error_;  // the last request's executor error; cleared by a success
};

}  // namespace plexus::server
