// The cluster options a coordinator command takes (generate, later serve and
// bench): --peers, --secret-file, --split, --shares, --stage-shares,
// --emulate-link, --bind.
#pragma once

#include <optional>
#include <string>

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
};

void AddClusterOptions(CLI::App* cmd, ClusterArgs& args);

// nullopt when no --peers were given (a single-node run).
Result<std::optional<cluster::ClusterOptions>> BuildClusterOptions(const ClusterArgs& args);

}  // namespace plexus::cli
