// Planning for the live cluster: the placement planner (src/placement/) fed
// with what the coordinator learnt when its nodes joined (ClusterView: each
// node's host, memory, cores, and the measured link to it) and this
// machine's measured read bandwidth. The plan becomes a cluster::Split and
// the peers in rank order. docs/PLACEMENT.md, "Live cluster", says how the
// inventory is derived and what is estimated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/plan.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/executor.h"
#include "placement/planner.h"

namespace plexus {

struct LivePlanOptions {
  int64_t context_tokens = 0;  // KV positions per sequence to hold (the serving context)
  int64_t sequences = 1;
  int threads = 0;             // threads per process (0: all of its cores)
  // Read bandwidth of one process with `threads` threads, and of the whole
  // machine (every core), GB/s; 0: measured once by MeasureBandwidth.
  double membw_gbs = 0, host_membw_gbs = 0;
  bool allow_ep = false;       // expert-parallel plans (only when the engine runs "epN")
  placement::CostParams cost;
  uint64_t margin_bytes = 512ull << 20;
};

// Measures this machine: one process's and all cores' read bandwidth (fills
// the zero fields of `o`).
void MeasureBandwidth(LivePlanOptions& o);

// What is known about one node from a job it was part of.
struct KnownNode {
  ShardView view;    // inventory and the link to the coordinator of that job
};

// The planner's view of `names` (rank 0's name first: "local"): memory is
// what each reported free plus the shard it held; nodes on one host
// (hostname) split the host's free memory and share its bandwidth; links
// between two nodes are estimated from their links to this machine.
Result<placement::Inventory> LiveInventory(const std::vector<std::string>& names,
                                           const std::map<std::string, KnownNode>& known, const LivePlanOptions& o);

struct LivePlan {
  placement::Placement placement;  // the chosen plan and the runner-ups
  placement::Inventory inventory;  // what was planned for
  cluster::Split split;
  std::vector<std::string> peers;  // the plan's nodes after rank 0, in rank order
};

// Plans for `names` (names[0] is this process, which must be rank 0) and
// turns the plan into a split. Errors: the planner's (no fit names the shortfall).
Result<LivePlan> PlanLive(const GgufFile& file, const ModelConfig& config, const std::vector<std::string>& names,
                          const std::map<std::string, KnownNode>& known, const LivePlanOptions& o);

// The runtime split of a plan: degrees, TP shares, layers per stage.
Result<cluster::Split> SplitOfPlan(const placement::Plan& plan);

// True when the engine's --split parser takes expert-parallel splits ("ep2").
bool EngineRunsExpertParallel();

}  // namespace plexus
