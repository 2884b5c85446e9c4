// UCX transport: collectives and pipeline links over UCX (Unified
// Communication X), which picks the fastest path to each peer by itself:
// shared memory on the same host, RDMA (InfiniBand/RoCE verbs) or TCP between
// hosts.
//
//   auto mesh = tcp::TcpMesh::Create(o);               // authenticates the cluster
//   auto ucx = ucx::UcxContext::Create(**mesh);         // every rank, at the same point
//   auto coll = (*ucx)->NewCollective({0, 1}, /*tag=*/0);
//   auto pipe = (*ucx)->NewPipeLink(-1, 1, /*tag=*/0);
//
// Bootstrap and trust: UCX worker addresses are exchanged over the TCP mesh's
// control channel after the mesh has authenticated every peer (HMAC over the
// cluster secret), so a UCX endpoint is only ever created to an address an
// authenticated rank sent. The mesh also stays the liveness oracle: a waiting
// UCX step polls mesh.PeerStatus(), so a vanished peer fails the step within
// about peer_timeout (a few seconds), whatever the UCX transport.
//
// Choosing the transport: UCX reads UCX_* environment variables itself.
//  - InfiniBand / RoCE (RDMA): UCX_TLS=rc,ud,sm,self (or the accelerated
//    rc_x / dc_x) and UCX_NET_DEVICES=mlx5_0:1 (the HCA port from
//    `ucx_info -d` / `ibv_devinfo`). Needs the rdma-core user libraries and
//    locked-memory limits (ulimit -l unlimited).
//  - plain TCP: UCX_TLS=tcp (UCX_NET_DEVICES=eth0 to pick the NIC).
//  - one host, many processes: UCX_TLS=posix,sysv,self (shared memory).
// TransportOf(peer) reports what each endpoint actually uses.
//
// Failure handling: endpoints ask UCX for peer-failure handling
// (UCP_ERR_HANDLING_MODE_PEER) where some transport offers it (tcp, rc, ud,
// dc); UCX 1.13's shared-memory transports do not, and for those endpoints
// UCX is asked for no error handling and the mesh liveness check alone
// notices a dead peer. With UCX_TLS unset, peer-failure handling makes UCX
// prefer tcp over shared memory between processes of one host; set
// UcxOptions::peer_failure_mode = kNever (or UCX_TLS=posix,sysv,self) to get
// shared memory there. Either way a killed peer is named within about a
// heartbeat (tests/comm/ucx_collective_test.cc). A peer that is alive but
// frozen (SIGSTOP, swapped out) is not seen by the mesh while nobody reads
// its links; such a step fails only after step_timeout.
//
// Lifetime: the context must outlive the collectives and links it made, and
// the mesh must outlive the context. The data plane (collectives, links) is
// used by one thread at a time, like TcpMesh's.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/collective.h"
#include "base/status.h"
#include "comm/algo/collective.h"
#include "comm/algo/step_transport.h"
#include "comm/tcp/mesh.h"

namespace plexus::ucx {

// Control frame types this transport uses on the mesh (0x210..0x21f reserved for UCX).
inline constexpr uint16_t kFrameWorkerAddress = 0x210;

enum class PeerFailureMode {
  kIfSupported,  // UCP_ERR_HANDLING_MODE_PEER where a transport supports it, else none
  kNever,        // never: lets UCX pick shared memory on one host
};

struct UcxOptions {
  PeerFailureMode peer_failure_mode = PeerFailureMode::kIfSupported;
  // Sleep on the worker's event fd (UCP_FEATURE_WAKEUP) once a step has made
  // no progress for spin_us: on shared cores a pure spin loop steals the CPU
  // the peer process needs. Without wakeup a waiting step spins with sched_yield.
  // On an idle 16-core host 16 KiB all-reduces took the same time with spin_us
  // 0..10000; on an oversubscribed host (load 10 on 2 cores) longer spins were
  // up to 20x faster, because a process that sleeps waits for a time slice.
  bool wakeup = true;
  std::chrono::microseconds spin_us{100};
  // How often a waiting step asks the mesh whether its peers are alive.
  std::chrono::milliseconds liveness_interval{50};
  // A step (or pipe hand-off) that waits longer fails even though its peers are
  // alive: a hung peer. Pipeline receives wait for the previous stage's compute,
  // so this is generous.
  std::chrono::milliseconds step_timeout{300000};
  // Address exchange and the first message to every peer in Create.
  std::chrono::milliseconds connect_timeout{15000};
};

// Whether this build has UCX (else Create fails with how to get it).
bool Available();

class UcxContext {
 public:
  // Collective over the mesh's ranks: every rank calls it at the same point of
  // its control-channel traffic (it consumes one control frame from each peer).
  static Result<std::unique_ptr<UcxContext>> Create(tcp::TcpMesh& mesh, UcxOptions options = {});
  virtual ~UcxContext() = default;

  // A collective over `ranks` (mesh ranks, sorted, unique, containing this
  // rank); every member passes the same ranks and tag (< 2^24). Two live
  // groups over overlapping ranks need different tags.
  virtual Result<std::unique_ptr<comm::AlgoCollective>> NewCollective(std::vector<int> ranks, uint32_t tag,
                                                                      comm::AlgoOptions options = {}) = 0;
  // The raw step transport the collective runs on (benchmarks, tests).
  virtual Result<std::unique_ptr<comm::StepTransport>> NewStepTransport(std::vector<int> ranks, uint32_t tag) = 0;
  // Receives from prev_rank and sends to next_rank (-1: none); tag < 2^24.
  virtual Result<std::unique_ptr<PipeLink>> NewPipeLink(int prev_rank, int next_rank, uint32_t tag = 0) = 0;
  // The UCX transport(s) the endpoint to `peer` uses, e.g. "tcp/lo",
  // "sysv/memory+cma/memory", "rc_mlx5/mlx5_0:1"; for logs and the dashboard.
  virtual std::string TransportOf(int peer) const = 0;
  // "ucx 1.13.1".
  virtual std::string Version() const = 0;
};

}  // namespace plexus::ucx
