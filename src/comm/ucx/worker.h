// Internal to src/comm/ucx (needs <ucp/api/ucp.h>; include only under
// PLEXUS_HAVE_UCX): the per-process UCP context, worker and endpoints, and
// OpBatch, the "post a few tagged sends/receives, complete them all" engine
// that the step transport and the pipe link share.
#pragma once

#if PLEXUS_HAVE_UCX

#include <ucp/api/ucp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "comm/tcp/mesh.h"
#include "comm/ucx/context.h"

namespace plexus::ucx {

// 64-bit UCX tags: | kind:2 | channel:24 | source mesh rank:12 | sequence:26 |.
// The full tag is matched (mask ~0), so messages of different kinds, groups
// (channel = the collective's tag), senders or steps never match each other.
// The sequence counts messages per (sender, receiver, kind, channel); both
// ends count the same messages in the same order, so it wraps harmlessly.
enum class TagKind : uint64_t { kHello = 0, kCollective = 1, kPipe = 2 };
inline constexpr uint32_t kMaxChannel = (1u << 24) - 1;
inline constexpr int kMaxRanks = 1 << 12;
inline ucp_tag_t MakeTag(TagKind kind, uint32_t channel, int src_rank, uint32_t seq) {
  return (static_cast<uint64_t>(kind) << 62) | (uint64_t{channel & kMaxChannel} << 38) |
         (static_cast<uint64_t>(src_rank & (kMaxRanks - 1)) << 26) | (seq & ((1u << 26) - 1));
}

class Worker {
 public:
  static Result<std::unique_ptr<Worker>> Create(tcp::TcpMesh& mesh, const UcxOptions& options);
  ~Worker();  // flushes and closes every endpoint (bounded), then the worker
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  tcp::TcpMesh& mesh() const { return mesh_; }
  const UcxOptions& options() const { return opt_; }
  ucp_worker_h handle() const { return worker_; }
  ucp_ep_h ep(int rank) const { return peers_[static_cast<size_t>(rank)].ep; }
  // Ok while both the mesh and the UCX endpoint consider `rank` healthy.
  Status PeerHealth(int rank) const;
  // Nothing moved for spin_us: sleeps on the event fd (at most max_ns) or yields.
  void Idle(int64_t max_ns);
  // Force-closes the endpoint so its outstanding sends complete (cancelled);
  // the peer stays failed for this context.
  void Abandon(int rank, const std::string& why);
  std::string TransportOf(int rank) const;
  std::string Version() const;

  // Called by UCX (inside ucp_worker_progress, on the data-plane thread).
  static void OnEndpointError(void* arg, ucp_ep_h ep, ucs_status_t status);

 private:
  struct PeerEp {
    Worker* owner = nullptr;
    int rank = -1;
    ucp_ep_h ep = nullptr;
    std::string failure;     // sticky; empty while healthy
  };
  Worker(tcp::TcpMesh& mesh, UcxOptions options);
  Status Init();
  Status ExchangeAddresses(std::vector<std::vector<uint8_t>>* remote);
  Status Connect(int rank, const std::vector<uint8_t>& address);
  Status SayHello();
  void CloseAll();

  tcp::TcpMesh& mesh_;
  UcxOptions opt_;
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  int efd_ = -1;  // the worker's event fd (wakeup), -1 without
  std::vector<PeerEp> peers_;  // [mesh size]; own entry unused
};

// One round of tagged operations: Add* records them, Run posts every receive,
// then every send, and drives UCX until all completed or one failed. On
// failure no operation is left referencing the caller's buffers (receives are
// cancelled, sends to failed peers force-closed) before Run returns.
class OpBatch {
 public:
  explicit OpBatch(Worker* worker) : w_(worker) {}
  void Clear() { ops_.clear(); }  // keeps capacity: no allocation in steady state
  void AddSend(int rank, ucp_tag_t tag, const void* data, size_t bytes);
  void AddRecv(int rank, ucp_tag_t tag, void* data, size_t bytes);
  // `what` names the operation in errors ("all-reduce", "pipeline send");
  // timeout 0: UcxOptions::step_timeout.
  Status Run(const char* what, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

 private:
  struct Op {
    int rank = -1;
    bool recv = false;
    ucp_tag_t tag = 0;
    void* data = nullptr;
    size_t bytes = 0;
    void* req = nullptr;   // UCX request while in flight
    bool done = false;
    ucs_status_t status = UCS_OK;
    size_t got = 0;        // receive: bytes that arrived
  };
  void Post(Op& op);
  bool PollOne(Op& op);  // true when op just completed
  Status CheckOp(const Op& op, const char* what) const;
  Status CheckPeers(const char* what) const;
  void Abort();  // after a failure: drain every in-flight request

  Worker* w_;
  std::vector<Op> ops_;
  size_t pending_ = 0;
};

}  // namespace plexus::ucx

#endif  // PLEXUS_HAVE_UCX
