// The cluster options a coordinator command takes (generate, serve):
// --peers, --secret-file, --split, --shares, --stage-shares, --emulate-link,
// --bind, and discovery's --cluster, --discovery, --no-discovery,
// --discover-wait, --nodes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "cluster/coordinator.h"

namespace plexus::cli {

struct ClusterArgs {
  std::string peers;
  std::string secret_file;
  std::string split;
  std::string shares;
  std::string stage_shares;
  std::string emulate;
  std::string bind;
  std::string transport = "auto";  // auto | tcp | shm | ucx (cluster/transports.h)
  // Discovery: used when a secret is given but no --peers.
  std::string cluster = "plexus";
  std::string discovery;     // ADDR:PORT of the multicast group; empty: 239.255.77.77:7788
  bool no_discovery = false;
  double discover_wait = 2;  // seconds to listen for beacons
  int nodes = 0;             // stop listening once this many nodes are found (0: listen the whole wait)
  double link_refresh = 30;  // seconds between idle-time link measurements (0: at join only)
};

void AddClusterOptions(CLI::App* cmd, ClusterArgs& args);

// nullopt for a single-node run: no --peers, and either no secret (no
// discovery) or discovery found no node. With a secret and no --peers, the
// peers are the nodes discovery finds (sorted by node id); errors name how
// many were found when --split or --nodes asks for more.
// measure_speed: this machine's speed (MeasureLocalSpeed, ~0.2 s) goes into
// the options as rank 0's inventory; a one-shot run that never shows or
// plans with it (generate without --describe, bench) skips it.
Result<std::optional<cluster::ClusterOptions>> BuildClusterOptions(const ClusterArgs& args, bool measure_speed = true);

// Measures this machine once with all its cores (engine/bench.h
// MeasureMachineSpeed: read bandwidth, decode GFLOP/s; ~0.2 s), logs it with
// the GPUs found, and stores it in *membw_gbs and *gflops.
void MeasureLocalSpeed(double* membw_gbs, double* gflops, const std::function<void(const std::string&)>& log);

// For a serving coordinator's re-placements (EngineOptions::find_peers): with
// discovery, the nodes discovery finds then (any number, over the whole
// --discover-wait); null with --peers (the same list is probed again).
std::function<Result<std::vector<std::string>>()> PeerFinder(const ClusterArgs& args, const std::string& secret);

}  // namespace plexus::cli
