#include "cluster_args.h"

#include <fmt/format.h>

#include "comm/tcp/link_emulation.h"
#include "comm/tcp/secret.h"

namespace plexus::cli {

void AddClusterOptions(CLI::App* cmd, ClusterArgs& a) {
  cmd->add_option("--peers", a.peers, "Nodes to split the model across: HOST:PORT,... (rank 1, 2, ...)");
  cmd->add_option("--secret-file", a.secret_file, "File holding the shared cluster secret");
  cmd->add_option("--split", a.split, "tpN, ppN or tpNxppM, counting every process including this one");
  cmd->add_option("--shares", a.shares, "Uneven tensor-parallel shares, e.g. 3,1");
  cmd->add_option("--stage-shares", a.stage_shares, "Uneven pipeline stage shares (layers), e.g. 2,1");
  cmd->add_option("--emulate-link", a.emulate, "Add latency and a bandwidth cap to this process's sends, e.g. 300us,2.5gbit");
  cmd->add_option("--bind", a.bind, "Address the nodes reach this coordinator at (default: found from the first node)");
}

Result<std::optional<cluster::ClusterOptions>> BuildClusterOptions(const ClusterArgs& a) {
  if (a.peers.empty()) {
    if (!a.split.empty() && a.split != "1")
      return Status::Errorf("cli", "--split {} needs --peers", a.split);
    return std::optional<cluster::ClusterOptions>();
  }
  cluster::ClusterOptions o;
  for (size_t start = 0; start <= a.peers.size();) {
    size_t comma = a.peers.find(',', start);
    std::string peer = a.peers.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (peer.empty()) return Status::Errorf("cli", "--peers '{}' has an empty entry", a.peers);
    o.peers.push_back(peer);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const std::string split = a.split.empty() ? fmt::format("tp{}", o.peers.size() + 1) : a.split;
  PLEXUS_ASSIGN_OR_RETURN(o.split, cluster::ParseSplit(split, a.shares, a.stage_shares));
  if (a.secret_file.empty()) return Status::Errorf("cli", "--peers needs --secret-file (the cluster secret)");
  PLEXUS_ASSIGN_OR_RETURN(o.secret, tcp::ReadSecretFile(a.secret_file, [](const std::string& w) {
                            fmt::print(stderr, "plexus: {}\n", w);
                          }));
  if (!a.emulate.empty()) {
    auto spec = tcp::ParseLinkSpec(a.emulate);
    if (!spec.ok()) return spec.status().WithContext("--emulate-link");
    o.emulate = *spec;
  }
  o.bind_host = a.bind;
  return std::optional<cluster::ClusterOptions>(std::move(o));
}

}  // namespace plexus::cli
