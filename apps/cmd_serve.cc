// plexus serve: the OpenAI- and Ollama-compatible HTTP API and the dashboard,
// with continuous batching over one engine (a local model or a cluster).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "api_stack.h"
#include "cluster_args.h"
#include "commands.h"
#include "model_arg.h"

namespace plexus::cli {
namespace {

struct ServeArgs {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key_file;
  ServingArgs serving;
  ClusterArgs cluster;
};

// SIGINT/SIGTERM reach a handler that only writes the signal number to a
// pipe; a thread of its own reads it and runs the registered stop action
// outside signal context. A handler (not a blocked mask and sigwait) because
// libraries start threads before main: OpenBLAS's pool, whose threads would
// not have the signals blocked and would take the default action (exit -15).
int g_signal_pipe[2] = {-1, -1};

extern "C" void ForwardSignal(int sig) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &byte, 1);  // async-signal-safe
  errno = saved;
}

class SignalWatcher {
 public:
  SignalWatcher() {
    if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      fmt::print(stderr, "plexus serve: cannot watch signals: {}\n", std::strerror(errno));
      return;
    }
    struct sigaction sa {};
    sa.sa_handler = ForwardSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    thread_ = std::thread([this] { Loop(); });
  }
  ~SignalWatcher() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Null: a signal ends the process at once (nothing is serving yet).
  void OnSignal(std::function<void()> action) {
    std::lock_guard lock(mu_);
    action_ = std::move(action);
  }

 private:
  void Loop() {
    while (!done_) {
      pollfd p{g_signal_pipe[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      unsigned char sig = 0;
      if (::read(g_signal_pipe[0], &sig, 1) != 1) continue;
      std::lock_guard lock(mu_);
      if (!action_) {
        fmt::print(stderr, "plexus serve: interrupted while starting\n");
        std::_Exit(0);
      }
      action_();
    }
  }
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::function<void()> action_;
  std::thread thread_;
};

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string HostForUrl(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// Engine, scheduler and HTTP server, up to a stop; the exit code.
int Serve(const ServeArgs& a, SignalWatcher& signals, const std::string& api_key) {
  auto cluster = BuildClusterOptions(a.cluster);
  if (!cluster.ok()) {
    fmt::print(stderr, "plexus serve: {}\n", cluster.status().message());
    return 1;
  }
  EngineOptions engine_options;
  engine_options.cluster = std::move(cluster).value();
  // Serving outlives a lost node: the model is placed again on those left.
  engine_options.recover = true;
  if (engine_options.cluster) engine_options.find_peers = PeerFinder(a.cluster, engine_options.cluster->secret);
  // No --split: the planner places the model for the cluster that answered.
  engine_options.plan = engine_options.cluster.has_value() && a.cluster.split.empty();
  auto model_path = ResolveModelPath(a.model);
  if (!model_path.ok()) {
    fmt::print(stderr, "plexus serve: {}\n", model_path.status().message());
    return 1;
  }
  ApiStackOptions o;
  o.model_path = *model_path;
  o.engine = std::move(engine_options);
  ApplyServingArgs(a.serving, &o);
  o.http = server::HttpOptions{.host = a.host, .port = a.port, .api_key = api_key, .log_requests = !a.serving.quiet};
  o.join_check_s = o.engine.find_peers ? a.serving.join_check : 0;  // discovery lists live nodes only
  auto stack = ApiStack::Open(std::move(o));
  if (!stack.ok()) {
    fmt::print(stderr, "plexus serve: {}\n", stack.status().message());
    return 1;
  }
  ApiStack& api = **stack;
  if (!IsLoopback(a.host) && api_key.empty())
    fmt::print(stderr,
               "\nplexus serve: WARNING: listening on {} WITHOUT AN API KEY: anyone who can reach this machine can use "
               "the model and see the dashboard. Pass --api-key-file FILE, or --host 127.0.0.1.\n\n",
               a.host);
  signals.OnSignal([&] {
    fmt::print(stderr, "plexus serve: stopping\n");
    api.Stop();
  });
  fmt::print("plexus: serving {} at http://{}:{}/ (dashboard)\n", api.served().id, HostForUrl(a.host), api.port());
  std::fflush(stdout);
  const Status run = api.Run();
  signals.OnSignal([] {});  // a second signal while the scheduler winds down is ignored
  api.Stop();
  if (!run.ok()) {
    fmt::print(stderr, "plexus serve: {}\n", run.message());
    return 1;
  }
  return 0;
}

int RunServe(const ServeArgs& a) {
  SignalWatcher signals;  // first: every thread started later inherits the blocked mask
  std::signal(SIGPIPE, SIG_IGN);  // a client that went away is a failed write, not a crash
  std::string api_key;
  if (!a.api_key_file.empty()) {
    auto key = ReadApiKey(a.api_key_file);
    if (!key.ok()) {
      fmt::print(stderr, "plexus serve: {}\n", key.status().message());
      return 1;
    }
    api_key = std::move(key).value();
  }
  const int code = Serve(a, signals, api_key);
  signals.OnSignal([] {});
  return code;
}

}  // namespace

Runner AddServe(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI- and Ollama-compatible HTTP API");
  cmd->add_option("-m,--model", args->model, "GGUF model file, or hf:ORG/REPO/FILE.gguf / an https URL (pulled into the cache)")->required()->envname("PLEXUS_MODEL");
  cmd->add_option("--host", args->host, "Address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", args->port, "Port (0: any free port, printed)")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key-file", args->api_key_file, "File holding the API key clients must send as a bearer token");
  AddServingOptions(cmd, args->serving, "");
  AddClusterOptions(cmd, args->cluster);
  return [args] { return RunServe(*args); };
}

}  // namespace plexus::cli
