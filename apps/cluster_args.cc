#include "cluster_args.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "base/thread_pool.h"
#include "cluster/discovery.h"
#include "comm/tcp/link_emulation.h"
#include "comm/tcp/secret.h"
#include "engine/bench.h"

namespace plexus::cli {
namespace {

void Log(const std::string& line) { fmt::print(stderr, "plexus: {}\n", line); }

Result<std::vector<std::string>> SplitPeers(const std::string& text) {
  std::vector<std::string> peers;
  for (size_t start = 0; start <= text.size();) {
    size_t comma = text.find(',', start);
    std::string peer = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (peer.empty()) return Status::Errorf("cli", "--peers '{}' has an empty entry", text);
    peers.push_back(peer);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return peers;
}

std::string Describe(const std::vector<cluster::DiscoveredNode>& nodes) {
  std::string text;
  for (const cluster::DiscoveredNode& n : nodes)
    text += fmt::format("{}{} (node {:016x}, {:.1f} GiB free, {} cores)", text.empty() ? "" : ", ", n.address(),
                        n.node_id, n.mem_available / double(1 << 30), n.cores);
  return text;
}

// How many nodes the run needs: --split's world minus this process, else
// --nodes (0: take whatever answers within the wait).
Result<size_t> NodesWanted(const ClusterArgs& a) {
  if (a.split.empty()) return static_cast<size_t>(a.nodes);
  PLEXUS_ASSIGN_OR_RETURN(cluster::Split split, cluster::ParseSplit(a.split, a.shares, a.stage_shares));
  const size_t want = static_cast<size_t>(split.world() - 1);
  if (a.nodes > 0 && static_cast<size_t>(a.nodes) != want)
    return Status::Errorf("cli", "--nodes {} disagrees with --split {} ({} nodes besides this coordinator)", a.nodes,
                          a.split, want);
  return want;
}

// Listens for node beacons; the nodes to use, in node-id order (empty: none
// found and none required, so the run stays on this machine).
Result<std::vector<std::string>> DiscoverPeers(const ClusterArgs& a, const std::string& secret) {
  cluster::DiscoveryOptions d;
  PLEXUS_RETURN_IF_ERROR(cluster::CheckClusterName(a.cluster));
  d.cluster = a.cluster;
  d.secret = secret;
  d.log = Log;
  if (!a.discovery.empty()) PLEXUS_RETURN_IF_ERROR(cluster::ParseDiscoveryAddress(a.discovery, &d));
  PLEXUS_ASSIGN_OR_RETURN(size_t want, NodesWanted(a));
  if (!a.split.empty() && want == 0) return std::vector<std::string>();  // --split 1: nothing to find
  const auto wait = std::chrono::milliseconds(static_cast<int64_t>(a.discover_wait * 1000));
  const std::string what = want > 0 ? fmt::format("{} node{}", want, want == 1 ? "" : "s") : "nodes";
  Log(fmt::format("discovery: looking for {} of cluster '{}' on {}:{} for up to {:.1f} s", what, a.cluster, d.group,
                  d.port, a.discover_wait));
  auto listener = cluster::Listener::Start(d);
  if (!listener.ok()) return listener.status().WithContext("discovery failed (pass --peers instead)");
  std::vector<cluster::DiscoveredNode> found = (*listener)->WaitFor(want, wait);
  if (const std::string rejected = (*listener)->RejectSummary(); !rejected.empty())
    Log(fmt::format("discovery: ignored datagrams on {}:{} that are not beacons of this cluster: {}", d.group, d.port,
                    rejected));
  if (found.size() < want)
    return Status::Errorf("cli",
                          "{} needs {} node{} but discovery found {} in {:.1f} s{}; start more `plexus node "
                          "--secret-file` with the same secret and --cluster, raise --discover-wait, or pass --peers",
                          a.split.empty() ? fmt::format("--nodes {}", a.nodes) : "--split " + a.split, want,
                          want == 1 ? "" : "s", found.size(), a.discover_wait,
                          found.empty() ? "" : ": " + Describe(found));
  if (found.empty()) {
    Log(fmt::format("discovery: no nodes found in {:.1f} s; running on this machine only", a.discover_wait));
    return std::vector<std::string>();
  }
  if (want > 0 && found.size() > want) {
    Log(fmt::format("discovery: {} nodes answered, using the {} with the lowest node ids; not using {}", found.size(),
                    want, Describe({found.begin() + static_cast<std::ptrdiff_t>(want), found.end()})));
    found.resize(want);
  }
  Log(fmt::format("discovery: found {} node{}: {}", found.size(), found.size() == 1 ? "" : "s", Describe(found)));
  std::vector<std::string> peers;
  for (const cluster::DiscoveredNode& n : found) peers.push_back(n.address());
  return peers;
}

}  // namespace

void AddClusterOptions(CLI::App* cmd, ClusterArgs& a) {
  cmd->add_option("--peers", a.peers, "Nodes to split the model across: HOST:PORT,... (rank 1, 2, ...); "
                                      "without it, nodes are found by discovery when --secret-file is given");
  cmd->add_option("--secret-file", a.secret_file, "File holding the shared cluster secret");
  cmd->add_option("--split", a.split,
                  "tpN, ppN, epN (MoE: whole experts per node) or products such as tp2xpp2, tp2xep2, "
                  "counting every process including this one");
  cmd->add_option("--shares", a.shares,
                  "Uneven shares of a stage's ranks, e.g. 3,1: tensor-parallel ones under tpN; with epN the "
                  "expert shares of all tp x ep ranks (default: experts by node memory)");
  cmd->add_option("--stage-shares", a.stage_shares, "Uneven pipeline stage shares (layers), e.g. 2,1");
  cmd->add_option("--emulate-link", a.emulate, "Add latency and a bandwidth cap to this process's sends, e.g. 300us,2.5gbit");
  cmd->add_option("--bind", a.bind, "Address the nodes reach this coordinator at (default: found from the first node)");
  cmd->add_option("--transport", a.transport,
                  "What carries all-reduces and pipeline hops: auto (shm on one host, ucx with RDMA, else tcp), "
                  "tcp, shm or ucx");
  cmd->add_option("--cluster", a.cluster, "Cluster name discovery looks for (default plexus)");
  cmd->add_option("--discovery", a.discovery, "Multicast group ADDR:PORT for discovery (default 239.255.77.77:7788)");
  cmd->add_flag("--no-discovery", a.no_discovery, "Without --peers, run on this machine only (do not look for nodes)");
  cmd->add_option("--discover-wait", a.discover_wait, "Seconds to listen for nodes (default 2)")
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--nodes", a.nodes, "Nodes to wait for; go on as soon as this many are found")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--link-refresh", a.link_refresh,
                  "Seconds between measurements of every link while the cluster is idle (default 30; 0: at join only)")
      ->check(CLI::Range(0.0, 86400.0));
}

Result<std::optional<cluster::ClusterOptions>> BuildClusterOptions(const ClusterArgs& a, bool measure_speed) {
  const bool discover = a.peers.empty() && !a.secret_file.empty() && !a.no_discovery;
  if (a.peers.empty() && !discover) {
    if (!a.split.empty() && a.split != "1")
      return Status::Errorf("cli", "--split {} needs --peers, or --secret-file to find nodes by discovery", a.split);
    if (a.nodes > 0) return Status::Errorf("cli", "--nodes {} needs --secret-file to find nodes by discovery", a.nodes);
    return std::optional<cluster::ClusterOptions>();
  }
  if (a.secret_file.empty()) return Status::Errorf("cli", "--peers needs --secret-file (the cluster secret)");
  cluster::ClusterOptions o;
  PLEXUS_ASSIGN_OR_RETURN(o.secret, tcp::ReadSecretFile(a.secret_file, Log));
  if (discover) {
    PLEXUS_ASSIGN_OR_RETURN(o.peers, DiscoverPeers(a, o.secret));
    if (o.peers.empty()) return std::optional<cluster::ClusterOptions>();
  } else {
    PLEXUS_ASSIGN_OR_RETURN(o.peers, SplitPeers(a.peers));
  }
  const std::string split = a.split.empty() ? fmt::format("tp{}", o.peers.size() + 1) : a.split;
  PLEXUS_ASSIGN_OR_RETURN(o.split, cluster::ParseSplit(split, a.shares, a.stage_shares));
  if (!a.emulate.empty()) {
    auto spec = tcp::ParseLinkSpec(a.emulate);
    if (!spec.ok()) return spec.status().WithContext("--emulate-link");
    o.emulate = *spec;
  }
  o.bind_host = a.bind;
  o.link_refresh = std::chrono::milliseconds(static_cast<int64_t>(a.link_refresh * 1000));
  o.link_idle = std::min(o.link_idle, o.link_refresh);
  PLEXUS_ASSIGN_OR_RETURN(o.transport, cluster::ParseTransport(a.transport));
  if (measure_speed) MeasureLocalSpeed(&o.membw_gbs, &o.gflops, Log);  // rank 0's inventory, as every node's
  return std::optional<cluster::ClusterOptions>(std::move(o));
}

void MeasureLocalSpeed(double* membw_gbs, double* gflops, const std::function<void(const std::string&)>& log) {
  const auto t0 = std::chrono::steady_clock::now();
  ThreadPool pool(0);
  const MachineSpeed speed = MeasureMachineSpeed(pool);
  *membw_gbs = speed.membw_gbs;
  *gflops = speed.gflops;
  const std::vector<std::string> gpus = NvidiaGpus();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const std::string gpu_list = gpus.empty() ? "none" : fmt::format("{}", fmt::join(gpus, ", "));
  log(fmt::format("this machine: {:.1f} GB/s read bandwidth, {:.1f} GFLOP/s decode (Q4_0 matvec), {} threads, "
                  "GPUs: {} (measured in {:.0f} ms)",
                  speed.membw_gbs, speed.gflops, pool.size(), gpu_list, ms));
}

std::function<Result<std::vector<std::string>>()> PeerFinder(const ClusterArgs& a, const std::string& secret) {
  if (!a.peers.empty() || a.secret_file.empty() || a.no_discovery) return nullptr;
  return [a, secret]() -> Result<std::vector<std::string>> {
    ClusterArgs any = a;  // whatever answers: the split is chosen from the survivors
    any.split.clear();
    any.shares.clear();
    any.stage_shares.clear();
    any.nodes = 0;
    return DiscoverPeers(any, secret);
  };
}

}  // namespace plexus::cli
