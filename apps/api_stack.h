// The serving stack of `plexus serve` (and of an elected `plexus node
// --api-port` coordinator): the engine, the continuous-batching scheduler,
// the API routes and the HTTP server, built and torn down in that order.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "engine/engine.h"
#include "engine/idle_replanner.h"
#include "engine/scheduler.h"
#include "server/api_server.h"
#include "server/http_server.h"

namespace CLI {
class App;
}

namespace plexus::cli {

// The serving options `plexus serve` and `plexus node --api-port` share.
struct ServingArgs {
  int threads = 0;
  int64_t ctx = 0;
  std::string kv_type = "f16";
  std::string load = "auto";
  int parallel = 8;
  int queue = 64;
  std::string alias;
  bool quiet = false;
  double join_check = 10;  // seconds (ApiStackOptions::join_check_s)
};

// -t, --ctx, --kv-type, --load, --parallel, --queue, --alias, --quiet, --join-check;
// `when` ends each help text ("" or " when coordinating").
void AddServingOptions(CLI::App* cmd, ServingArgs& args, const std::string& when);

struct ApiStackOptions {
  std::string model_path;  // resolved (a local file)
  std::string alias;       // model id clients use; empty: the file stem
  EngineOptions engine;
  SchedulerOptions scheduler;
  server::HttpOptions http;
  // Seconds between checks for nodes that joined (engine.find_peers must list
  // live nodes only: discovery, election); one found while idle is taken in
  // by a re-plan. 0: off (a static --peers list).
  double join_check_s = 0;
};

// Engine threads/context/KV type, scheduler limits and the alias from `a`.
void ApplyServingArgs(const ServingArgs& a, ApiStackOptions* o);

// The API key in `path` (--api-key-file), surrounding whitespace trimmed.
Result<std::string> ReadApiKey(const std::string& path);

class ApiStack {
 public:
  // Opens the engine (a cluster job when engine.cluster is set) and binds the
  // HTTP server; errors name what failed.
  static Result<std::unique_ptr<ApiStack>> Open(ApiStackOptions options);
  ~ApiStack();

  const server::ServedModel& served() const { return api_->served(); }
  int port() const { return http_.port(); }
  // Serves until Stop(); returns after in-flight handlers have returned.
  Status Run() { return http_.Run(); }
  // Run's accept loop has begun (a Stop from then on cannot be missed).
  bool listening() const;
  // In-flight requests end, new ones get 503, and Run returns. Any thread.
  void Stop() {
    api_->BeginShutdown();
    http_.Stop();
  }

 private:
  ApiStack(std::unique_ptr<Engine> engine, const ApiStackOptions& o, server::ServedModel served);
  std::unique_ptr<Engine> engine_;
  Scheduler scheduler_;
  std::unique_ptr<server::ApiServer> api_;
  server::HttpServer http_;
  std::unique_ptr<IdleReplanner> replanner_;  // last: stops before the scheduler it uses
};

}  // namespace plexus::cli
