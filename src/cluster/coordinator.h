// The coordinator side of a cluster job: rank 0, itself a shard. It hands
// every node its job (streaming the shard's bytes to nodes that lack them),
// joins the mesh, and then runs each forward batch on all ranks at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "cluster/messages.h"
#include "cluster/plan.h"
#include "cluster/runtime.h"
#include "comm/tcp/link_emulation.h"
#include "model/executor.h"

namespace plexus::cluster {

struct ClusterOptions {
  std::vector<std::string> peers;  // HOST:PORT of each node, in rank order (rank 1, 2, ...)
  std::string secret;
  Split split;
  // Where the coordinator's mesh listener binds; empty: the local address of
  // its connection to the first node (the one the nodes can reach).
  std::string bind_host;
  tcp::LinkSpec emulate;
  TransportKind transport = TransportKind::kAuto;  // --transport: sent to every node with the mesh
  std::string cache_dir;                // for the model hash; empty: DefaultCacheDir()
  std::function<void(const std::string&)> log;  // progress lines; default: stderr
  // The job mesh's failure detection: a node silent this long is dead, so a
  // hung node fails the step within ~peer_timeout (a killed one at once).
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds peer_timeout{2500};
  // While idle (no forward for link_idle), every pair of ranks is measured
  // again this often (link_survey.h); 0: only at join. A running job is never
  // interrupted: a due refresh is skipped while forwards run.
  std::chrono::milliseconds link_refresh{30000};
  std::chrono::milliseconds link_idle{1000};
  // This machine's speed (rank 0's ShardView), measured by the caller
  // (engine's MeasureMachineSpeed); 0: unknown.
  double membw_gbs = 0;
  double gflops = 0;
};

class Coordinator final : public Executor {
 public:
  static Result<std::unique_ptr<Coordinator>> Start(const std::string& model_path, const ClusterOptions& options,
                                                    const ModelOptions& model_options, int threads);
  ~Coordinator() override;

  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override;
  void DropSequence(int32_t seq) override;
  int64_t max_context() const override { return runtime_->model().max_context(); }
  const ModelConfig& config() const override { return runtime_->model().config(); }
  ClusterView Describe() const override;
  // A step failed (a node died or went silent): the job is over and every
  // rank's KV cache is in an unknown state.
  bool broken() const {
    std::lock_guard lock(step_mu_);  // a link refresh may set it from its thread
    return !broken_.ok();
  }
  // Measures every pair of ranks again now, unless a forward ran within
  // link_idle or is running (then it returns Ok and measures nothing). The
  // refresher thread calls it every link_refresh; tests may call it.
  Status RefreshLinks();

 private:
  Coordinator() = default;
  Status ReceiveLogits(size_t rows, std::vector<float>* logits);
  void RefreshLoop(std::chrono::milliseconds interval);

  std::unique_ptr<ShardRuntime> runtime_;
  ClusterOptions options_;
  std::vector<tcp::LinkSpec> emulate_;  // each rank's --emulate-link, for sizing link probes
  // Held by Forward, DropSequence and a link refresh: they share the mesh.
  mutable std::mutex step_mu_;
  std::atomic<int64_t> last_step_ns_{0};  // when the last forward ended (tcp::NowNs)
  Status broken_;  // a failed job stays failed
  mutable std::mutex view_mu_;
  ClusterView view_;  // filled at Start (inventories as the nodes reported them); links change on refresh
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread refresher_;
};

}  // namespace plexus::cluster
