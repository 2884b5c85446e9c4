// Serving over a cluster that outlives its nodes. RecoveringExecutor owns the
// cluster::Coordinator and what it takes to start one again. When a step
// fails (a node was killed: EOF at once; or went silent: the mesh's
// peer_timeout), the job is over and every rank's KV cache is lost, so it
// tears the job down, asks which nodes still answer, and starts the model
// again on them: as the placement planner chooses for the survivors (with
// RecoveryOptions::plan), else tp over them, down to this process alone. The
// failed Forward then returns an error with placement() changed: the
// Scheduler sees that and prefills every active sequence again from its
// prompt plus the tokens it has generated, so clients see no break.
//
// Usage (Engine::Open does this when EngineOptions::recover is set):
//   RecoveryOptions o{.model_path = path, .cluster = cluster_options, ...};
//   auto executor = RecoveringExecutor::Start(std::move(o));
//   ... Scheduler(engine, **executor, ...)
//   (*executor)->Replan();   // on the scheduler thread, while idle
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/coordinator.h"
#include "engine/live_plan.h"
#include "format/gguf.h"
#include "model/executor.h"

namespace plexus {

struct RecoveryOptions {
  std::string model_path;
  cluster::ClusterOptions cluster;  // the first placement (peers and split)
  ModelOptions model_options;
  int threads = 0;
  // The nodes to try at a re-placement: the --peers list again, or discovery
  // run again. Null: cluster.peers. Nodes that do not answer are left out.
  std::function<Result<std::vector<std::string>>()> find_peers = nullptr;
  // How long a node may take to answer the probe (a busy survivor first
  // leaves the broken job; a stopped one never answers).
  std::chrono::milliseconds probe_timeout{2000};
  std::function<void(const std::string&)> log = nullptr;  // default: stderr
  // Let the placement planner choose the split, shares and rank order
  // (no --split): at start, once the nodes have reported their inventory
  // and links under cluster.split (a provisional placement), and at every
  // re-placement. Off: cluster.split at start, ChooseSplit's after.
  bool plan = false;
  LivePlanOptions plan_options;
};

// What a re-placement did, for the log and POST /v1/cluster/replan.
struct Replacement {
  std::vector<std::string> lost;  // nodes of the old placement that no longer answer
  std::vector<std::string> peers;  // the nodes of the new placement, rank 1 first
  std::string split;               // "tp2", "1", ...
  int ranks = 1;
  double seconds = 0;
  double predicted_tps = 0;        // the planner's prediction (0: not planned)
  std::string Summary() const;     // "node A lost; re-placed on 2 ranks (split tp2) in 1.3 s"
};

class RecoveringExecutor final : public Executor {
 public:
  static Result<std::unique_ptr<RecoveringExecutor>> Start(RecoveryOptions options);
  ~RecoveringExecutor() override;

  // On a failed step: re-places the model and returns an error whose message
  // is the Replacement's summary, with placement() one higher. A refused
  // batch (nothing ran) and a failed re-placement return their own errors
  // with placement() unchanged.
  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override;
  void DropSequence(int32_t seq) override;
  int64_t max_context() const override { return max_context_; }
  const ModelConfig& config() const override { return config_; }
  ClusterView Describe() const override;
  uint64_t placement() const override { return placement_.load(); }

  // Places the model again on the nodes that answer now: lost ones left
  // out, returned or newly found ones taken in. Only where Forward may run
  // (the scheduler thread) and with no sequence in flight: caches are lost.
  Result<Replacement> Replan();
  // Whether `found` (nodes known to be alive, e.g. from discovery beacons)
  // holds one the last placement did not consider, used or not: a node that
  // joined since. Same thread as Replan.
  bool HasNewNodes(const std::vector<std::string>& found) const;

  // The planner's last plan for the running placement (nullopt: not planned).
  std::optional<LivePlan> plan() const;

 private:
  explicit RecoveringExecutor(RecoveryOptions options) : opt_(std::move(options)) {}
  // Tears down the current job and starts the model on the nodes that answer.
  Result<Replacement> Replace();
  // The candidates that answer a probe, in candidate order.
  std::vector<std::string> Probe(const std::vector<std::string>& candidates) const;
  // Starts the model on `peers` with `split` (coordinator_ replaced) and
  // remembers the nodes' inventories for later plans.
  Status StartOn(const cluster::Split& split, const std::vector<std::string>& peers);
  // Plans for `alive` (all known) and starts the plan unless it is what runs.
  Status StartPlanned(const std::vector<std::string>& alive);
  bool AllKnown(const std::vector<std::string>& alive) const;
  bool SameShards(const cluster::Split& a, const cluster::Split& b) const;
  // The split of the first job when planning: one every given node joins.
  Result<cluster::Split> ProvisionalSplit() const;
  // ChooseSplit's split on the first of `alive` (not planned), memory checked.
  Status StartChosen(const std::vector<std::string>& alive);
  // The largest world of at most 1 + n_nodes ranks whose split fits the model.
  Result<cluster::Split> ChooseSplit(size_t n_nodes) const;
  // Every rank's shard bytes against the memory it reported (clear error if short).
  Status CheckMemory(const cluster::Split& split, const std::vector<std::string>& peers) const;
  void Log(const std::string& line) const;

  RecoveryOptions opt_;
  std::shared_ptr<const GgufFile> file_;
  ModelConfig config_;
  int64_t max_context_ = 0;
  std::vector<std::string> peers_;  // the current placement's nodes
  std::vector<std::string> considered_;  // the nodes that answered when it was made (a plan may leave some out)
  std::atomic<uint64_t> placement_{0};
  int failed_in_row_ = 0;  // re-placements without a good step since: bounds a crash loop
  Status down_;            // why there is no coordinator (a re-placement failed)
  mutable std::mutex mu_;  // guards the swap of coordinator_ against Describe
  std::unique_ptr<cluster::Coordinator> coordinator_;
  ClusterView last_view_;  // Describe while no coordinator runs
  std::map<std::string, KnownNode> known_;  // by node name ("local": this process), from the jobs so far
  cluster::Split split_;                    // what runs now
  std::optional<LivePlan> plan_;            // guarded by mu_
};

}  // namespace plexus
