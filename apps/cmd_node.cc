// plexus node: a worker that serves shards of models to a coordinator. With a
// cluster secret it also announces itself by multicast (discovery), so a
// coordinator without --peers can find it.
#include <csignal>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "cluster/discovery.h"
#include "cluster/plan.h"
#include "cluster/node.h"
#include "comm/tcp/secret.h"
#include "comm/tcp/socket.h"
#include "api_stack.h"
#include "cluster_args.h"
#include "commands.h"
#include "model_arg.h"
#include "node_api.h"

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
  // The HTTP API and coordinator election (node_api.h); api_port < 0: off.
  int api_port = -1;
  std::string api_host;  // empty: the --listen host
  std::string api_key_file;
  ServingArgs serving;  // when coordinating
  double link_refresh = 30;
  std::string split;  // when coordinating
  double discover_wait = 2;
  double forward_timeout = 600;
};

void Log(const std::string& line) { fmt::print(stderr, "plexus node: {}\n", line); }

// Starts the beacon for a node listening on `listen` (port `port`); null
// when discovery cannot or should not run (why is logged). A node that cannot
// announce still serves coordinators that name it in --peers.
std::unique_ptr<cluster::Announcer> StartAnnouncer(const cluster::DiscoveryOptions& d, const std::string& listen,
                                                   uint16_t port, uint64_t node_id, uint16_t api_port, uint8_t flags) {
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
  beacon.node_id = node_id;
  beacon.port = port;
  beacon.api_port = api_port;
  beacon.flags = flags;
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

// The public API server of a node (bound, not yet serving) for --api-port.
Result<std::unique_ptr<NodeApi>> BindApi(const NodeArgs& a, const cluster::NodeOptions& o,
                                         const cluster::DiscoveryOptions& d, uint64_t node_id) {
  if (o.secret.empty() || a.no_discovery)
    return Status::Errorf("node", "--api-port needs --secret-file and discovery (the nodes elect a coordinator from "
                                  "their beacons); without them use `plexus serve --peers`");
  NodeApiOptions n;
  if (!a.models.empty()) {
    PLEXUS_ASSIGN_OR_RETURN(n.model_path, ResolveModelPath(a.models[0]));
  }
  std::string key;
  if (!a.api_key_file.empty()) {
    PLEXUS_ASSIGN_OR_RETURN(key, ReadApiKey(a.api_key_file));
  }
  const std::string host = !a.api_host.empty() ? a.api_host : o.listen.substr(0, o.listen.rfind(':'));
  n.http = server::HttpOptions{.host = host, .port = a.api_port, .api_key = key, .log_requests = !a.serving.quiet};
  ApiStackOptions serving;
  ApplyServingArgs(a.serving, &serving);
  n.engine = serving.engine;
  n.scheduler = serving.scheduler;
  n.alias = serving.alias;
  n.secret = o.secret;
  n.link_refresh_s = a.link_refresh;
  n.membw_gbs = o.membw_gbs;
  n.gflops = o.gflops;
  if (!a.split.empty()) {
    PLEXUS_RETURN_IF_ERROR(cluster::ParseSplit(a.split).status());
  }
  n.split = a.split;
  n.join_check_s = a.serving.join_check;
  n.settle = std::chrono::milliseconds(static_cast<int64_t>(a.discover_wait * 1000));
  n.forward_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.forward_timeout * 1000));
  n.discovery = d;
  n.node_id = node_id;
  n.log = Log;
  if (key.empty() && host != "127.0.0.1" && host != "localhost")
    Log(fmt::format("WARNING: the API listens on {} WITHOUT AN API KEY: anyone who can reach this machine can use the "
                    "model; pass --api-key-file FILE (the same on every node)",
                    host));
  std::signal(SIGPIPE, SIG_IGN);  // a client that went away is a failed write, not a crash
  return NodeApi::Bind(std::move(n));
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
  cli::MeasureLocalSpeed(&o.membw_gbs, &o.gflops, Log);  // reported in every READY
  auto node = cluster::Node::Start(o);
  if (!node.ok()) {
    fmt::print(stderr, "plexus node: {}\n", node.status().message());
    return 1;
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  const uint64_t node_id = cluster::RandomNodeId();
  std::unique_ptr<NodeApi> api;
  if (a.api_port >= 0) {
    auto bound = BindApi(a, o, d, node_id);
    if (!bound.ok()) {
      fmt::print(stderr, "plexus node: {}\n", bound.status().message());
      return 1;
    }
    api = std::move(bound).value();
  }
  auto announcer = discovery ? StartAnnouncer(d, o.listen, (*node)->port(), node_id,
                                              api ? static_cast<uint16_t>(api->port()) : 0, api ? api->flags() : 0)
                             : nullptr;
  if (api && !announcer) {
    fmt::print(stderr, "plexus node: --api-port needs discovery to elect a coordinator, and this node cannot announce "
                       "itself (see the discovery line above)\n");
    return 1;
  }
  if (api) {
    if (Status st = api->Start(announcer.get()); !st.ok()) {
      fmt::print(stderr, "plexus node: {}\n", st.message());
      return 1;
    }
  }
  (*node)->Serve(g_stop);
  api.reset();  // steps down first: its cluster job ends before the announcer goes quiet
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
  // The same command on every machine: each node serves the API, one coordinates (node_api.h).
  cmd->add_option("--api-port", args->api_port,
                  "Serve the HTTP API and dashboard on this port (0: any free port, logged) and take part in the "
                  "coordinator election; the first -m is the model this node can coordinate")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-host", args->api_host, "Address the API listens on (default: the --listen host)");
  cmd->add_option("--api-key-file", args->api_key_file, "File holding the API key clients send as a bearer token");
  AddServingOptions(cmd, args->serving, " when coordinating");
  cmd->add_option("--split", args->split,
                  "Split when this node coordinates and enough nodes are live, e.g. tp3 (default: the placement "
                  "planner chooses for the live nodes)");
  cmd->add_option("--link-refresh", args->link_refresh,
                  "When coordinating: seconds between idle-time measurements of every link (0: at join only)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--discover-wait", args->discover_wait, "Seconds to listen for the other nodes before the first "
                                                          "election (default 2)")
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--forward-timeout", args->forward_timeout,
                  "Seconds a forwarded request may wait on the coordinator without a byte (default 600)")
      ->check(CLI::Range(1.0, 86400.0));
  return [args] { return RunNode(*args); };
}

}  // namespace plexus::cli
