// `plexus node --api-port P`: the same command on every machine, and any
// machine's API usable (docs/SERVING.md, "One command on every machine").
// Every such node serves HTTP on P and listens to the cluster's beacons. The
// live nodes elect one coordinator (cluster/election.h: among the nodes given
// the model, the incumbent, else the lowest node id). The elected node opens
// the model as a cluster job over the other live nodes (exactly what `plexus
// serve` does, on a loopback port of its own) and says so in its beacon;
// every node's HTTP server forwards each request to the coordinator
// (server/forward.h), the coordinator's own to its loopback server. When the
// coordinator's beacons stop (3 s), the next election result takes over.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_stack.h"
#include "cluster/discovery.h"
#include "server/forward.h"
#include "server/http_server.h"

namespace plexus::cli {

struct NodeApiOptions {
  std::string model_path;  // empty: this node only serves shards and forwards (not a candidate)
  std::string alias;
  server::HttpOptions http;  // the public API: host, port (0: any), key, logging
  EngineOptions engine;      // threads, context, KV type when coordinating
  SchedulerOptions scheduler;
  std::string secret;
  double link_refresh_s = 30;
  double membw_gbs = 0, gflops = 0;  // this machine's, measured at start: its inventory when it coordinates
  // The split when this node coordinates and enough nodes are live (e.g.
  // "tp3"); empty, or too few nodes: the planner places the model.
  std::string split;
  double join_check_s = 10;  // ApiStackOptions::join_check_s when coordinating
  // How long to listen before the first election, so every node that started
  // together is heard (beacons come every 500 ms).
  std::chrono::milliseconds settle{2000};
  std::chrono::milliseconds forward_timeout{600000};
  cluster::DiscoveryOptions discovery;
  uint64_t node_id = 0;
  std::function<void(const std::string&)> log;
};

class NodeApi {
 public:
  // Binds the public HTTP server (its port is then known for the beacon).
  static Result<std::unique_ptr<NodeApi>> Bind(NodeApiOptions options);
  ~NodeApi();
  int port() const { return http_.port(); }
  uint8_t flags() const;
  // Starts listening for beacons, electing and serving; `announcer` carries
  // this node's flags (candidate, coordinating) to the others.
  Status Start(cluster::Announcer* announcer);

 private:
  enum class Role { kNone, kStarting, kServing, kFailed };
  explicit NodeApi(NodeApiOptions options);
  void ElectionLoop();
  void Elect(std::vector<cluster::DiscoveredNode> live);
  void StartRole(std::vector<std::string> peers);
  void StopRole();
  void OpenStack(std::vector<std::string> peers);
  // *planned: whether the placement planner should then re-place it (no
  // forced --split applied).
  Result<std::optional<cluster::ClusterOptions>> ClusterFor(std::vector<std::string> peers, bool* planned) const;
  std::vector<std::string> OtherNodes() const;
  server::ForwardTarget Target() const;
  nlohmann::json ElectionJson() const;
  void SetFlags();
  void Log(const std::string& line) const;

  NodeApiOptions opt_;
  server::HttpServer http_;
  std::thread http_thread_;
  std::unique_ptr<cluster::Listener> listener_;
  cluster::Announcer* announcer_ = nullptr;
  std::chrono::steady_clock::time_point started_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::vector<cluster::DiscoveredNode> live_;       // as last heard, this node included
  std::optional<cluster::DiscoveredNode> elected_;  // unset: none (or not settled yet)
  bool settled_ = false;
  Role role_ = Role::kNone;
  std::string role_error_;
  std::chrono::steady_clock::time_point role_failed_at_;
  std::unique_ptr<ApiStack> stack_;
  std::thread starter_;    // OpenStack, then the stack's Run
  std::atomic<bool> run_returned_{false};
  std::thread election_;
};

}  // namespace plexus::cli
