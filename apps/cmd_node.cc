// plexus node: a worker that serves shards of models to a coordinator.
#include <csignal>

#include <fmt/format.h>

#include "cluster/node.h"
#include "comm/tcp/secret.h"
#include "commands.h"

namespace plexus::cli {
namespace {

std::atomic<bool> g_stop{false};

struct NodeArgs {
  std::string listen = "127.0.0.1:7700";
  std::string secret_file;
  std::vector<std::string> models;
  std::string cache_dir;
  std::string emulate;
};

int RunNode(const NodeArgs& a) {
  cluster::NodeOptions o;
  o.listen = a.listen;
  o.model_files = a.models;
  o.cache_dir = a.cache_dir;
  if (!a.secret_file.empty()) {
    auto secret = tcp::ReadSecretFile(a.secret_file, [](const std::string& w) { fmt::print(stderr, "plexus node: {}\n", w); });
    if (!secret.ok()) {
      fmt::print(stderr, "plexus node: {}\n", secret.status().message());
      return 1;
    }
    o.secret = *secret;
  }
  if (!a.emulate.empty()) {
    auto spec = tcp::ParseLinkSpec(a.emulate);
    if (!spec.ok()) {
      fmt::print(stderr, "plexus node: --emulate-link: {}\n", spec.status().message());
      return 1;
    }
    o.emulate = *spec;
  }
  auto node = cluster::Node::Start(o);
  if (!node.ok()) {
    fmt::print(stderr, "plexus node: {}\n", node.status().message());
    return 1;
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  (*node)->Serve(g_stop);
  return 0;
}

}  // namespace

Runner AddNode(CLI::App& app) {
  auto args = std::make_shared<NodeArgs>();
  CLI::App* cmd = app.add_subcommand("node", "Serve shards of models to a plexus coordinator");
  cmd->add_option("--listen", args->listen, "HOST:PORT to listen on (default loopback only; port 0: any free port)");
  cmd->add_option("--secret-file", args->secret_file, "File holding the shared cluster secret");
  cmd->add_option("-m,--model", args->models, "Local model files to map instead of receiving their bytes");
  cmd->add_option("--cache-dir", args->cache_dir, "Where received shards are cached (default ~/.cache/plexus)");
  cmd->add_option("--emulate-link", args->emulate, "Add latency and a bandwidth cap to sends, e.g. 300us,2.5gbit");
  return [args] { return RunNode(*args); };
}

}  // namespace plexus::cli
