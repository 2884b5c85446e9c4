// `plexus node`: a worker that waits for a coordinator, takes its job (a
// shard of a model), gets the shard's bytes (local file, cache, or streamed
// from the coordinator), joins the job's mesh and runs forward steps until
// the job ends or fails; then frees everything and waits for the next job.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/model_store.h"
#include "comm/tcp/link_emulation.h"
#include "comm/tcp/socket.h"

namespace plexus::cluster {

struct NodeOptions {
  std::string listen = "127.0.0.1:7700";  // HOST:PORT (port 0: ephemeral)
  std::string secret;
  std::vector<std::string> model_files;    // local models it may map instead of being sent bytes
  std::string cache_dir;                   // empty: DefaultCacheDir()
  tcp::LinkSpec emulate;                   // --emulate-link for this node's sends
  // This machine's speed, measured by the caller at start (engine's
  // MeasureMachineSpeed, which cluster cannot call) and reported in READY; 0: unknown.
  double membw_gbs = 0;
  double gflops = 0;
  std::function<void(const std::string&)> log;  // default: stderr
  // The job mesh's failure detection (as ClusterOptions on the coordinator):
  // heartbeats this often, and a silent coordinator or peer ends the job.
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds peer_timeout{2500};
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Start(NodeOptions options);
  uint16_t port() const { return port_; }
  // Serves jobs one after another until *stop becomes true.
  void Serve(const std::atomic<bool>& stop);

 private:
  explicit Node(NodeOptions options) : opt_(std::move(options)), store_(opt_.cache_dir, opt_.model_files) {}
  Status RunJob(tcp::Fd connection);
  Status ServeSteps(class ShardRuntime& runtime);
  void Log(const std::string& line) const;

  NodeOptions opt_;
  ModelStore store_;
  tcp::Fd listener_;
  std::string host_;
  uint16_t port_ = 0;
};

}  // namespace plexus::cluster
