// plexus node: a worker that serves shards of models to a coordinator. With a
// cluster secret it also announces itself by multicast (discovery), so a
// coordinator without --peers can find it.
#include <csignal>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "cluster/discovery.h"
#include "cluster/node.h"
#include "comm/tcp/secret.h"
#include "comm/tcp/socket.h"
#include "commands.h"

namespace plexus::cli {
namespace {

std::atomic<bool> g_stop{false};

// Without --listen: every interface when the node is to be discovered (a
// loopback address is of no use to another machine), else loopback only.
constexpr char kDiscoverableListen[] = "0.0.0.0:7700";
constexpr char kLocalListen[] = "127.0.0.1:7700";

struct NodeArgs {
  std::string listen;  // empty: kDiscoverableListen or kLocalListen
  std::string secret_file;
  std::vector<std::string> models;
  std::string cache_dir;
  std::string emulate;
  std::string cluster = "plexus";
  std::string discovery;  // ADDR:PORT; empty: the default group
  bool no_discovery = false;
};

void Log(const std::string& line) { fmt::print(stderr, "plexus node: {}\n", line); }

// Starts the beacon for a node listening on `listen` (port `port`); null
// when discovery cannot or should not run (why is logged). A node that cannot
// announce still serves coordinators that name it in --peers.
std::unique_ptr<cluster::Announcer> StartAnnouncer(const cluster::DiscoveryOptions& d, const std::string& listen,
                                                   uint16_t port) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  auto endpoint = tcp::ParseEndpoint(host + ":1");  // resolves a name; the port is known already
  if (!endpoint.ok()) return nullptr;
  if (tcp::IsLoopback(endpoint->addr)) {
    Log(fmt::format("discovery: off: {} is loopback, which no other machine can reach; use --listen 0.0.0.0:7700",
                    host));
    return nullptr;
  }
  // A node bound to one address announces only from the interface that has it,
  // so the beacon's source address is one the node listens on.
  char text[INET_ADDRSTRLEN] = "";
  ::inet_ntop(AF_INET, &endpoint->addr.sin_addr, text, sizeof text);
  const std::string only_host = endpoint->addr.sin_addr.s_addr == htonl(INADDR_ANY) ? "" : text;
  cluster::Beacon beacon;
  beacon.cluster = d.cluster;
  beacon.node_id = cluster::RandomNodeId();
  beacon.port = port;
  beacon.cores = static_cast<uint32_t>(OnlineCores());
  auto announcer = cluster::Announcer::Start(d, beacon, only_host);
  if (!announcer.ok()) {
    Log(fmt::format("discovery: off: {}", announcer.status().message()));
    return nullptr;
  }
  return std::move(announcer).value();
}

// Discovery's options from the command line; bad ones are errors at start,
// even though a failure to announce later is only logged.
Status DiscoveryFromArgs(const NodeArgs& a, const std::string& secret, cluster::DiscoveryOptions* d) {
  PLEXUS_RETURN_IF_ERROR(cluster::CheckClusterName(a.cluster));
  d->cluster = a.cluster;
  d->secret = secret;
  d->log = Log;
  return a.discovery.empty() ? Status::Ok() : cluster::ParseDiscoveryAddress(a.discovery, d);
}

int RunNode(const NodeArgs& a) {
  const bool discovery = !a.no_discovery && !a.secret_file.empty();
  cluster::NodeOptions o;
  o.listen = !a.listen.empty() ? a.listen : discovery ? kDiscoverableListen : kLocalListen;
  o.model_files = a.models;
  o.cache_dir = a.cache_dir;
  if (!a.secret_file.empty()) {
    auto secret = tcp::ReadSecretFile(a.secret_file, Log);
    if (!secret.ok()) {
      fmt::print(stderr, "plexus node: {}\n", secret.status().message());
      return 1;
    }
    o.secret = *secret;
  }
  cluster::DiscoveryOptions d;
  if (Status st = discovery ? DiscoveryFromArgs(a, o.secret, &d) : Status::Ok(); !st.ok()) {
    fmt::print(stderr, "plexus node: {}\n", st.message());
    return 1;
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
  auto announcer = discovery ? StartAnnouncer(d, o.listen, (*node)->port()) : nullptr;
  (*node)->Serve(g_stop);
  return 0;
}

}  // namespace

Runner AddNode(CLI::App& app) {
  auto args = std::make_shared<NodeArgs>();
  CLI::App* cmd = app.add_subcommand("node", "Serve shards of models to a plexus coordinator");
  cmd->add_option("--listen", args->listen,
                  "HOST:PORT to listen on (port 0: any free port). Default: 0.0.0.0:7700 with --secret-file "
                  "(discoverable), else 127.0.0.1:7700");
  cmd->add_option("--secret-file", args->secret_file, "File holding the shared cluster secret");
  cmd->add_option("-m,--model", args->models, "Local model files to map instead of receiving their bytes");
  cmd->add_option("--cache-dir", args->cache_dir, "Where received shards are cached (default ~/.cache/plexus)");
  cmd->add_option("--emulate-link", args->emulate, "Add latency and a bandwidth cap to sends, e.g. 300us,2.5gbit");
  cmd->add_option("--cluster", args->cluster, "Cluster name to announce (default plexus)");
  cmd->add_option("--discovery", args->discovery, "Multicast group ADDR:PORT for discovery (default 239.255.77.77:7788)");
  cmd->add_flag("--no-discovery", args->no_discovery, "Do not announce this node (coordinators must name it in --peers)");
  return [args] { return RunNode(*args); };
}

}  // namespace plexus::cli
