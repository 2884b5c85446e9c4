// TcpMesh: persistent, authenticated full-mesh TCP connections between the
// ranks of a cluster, and the collectives, pipeline links and control frames
// built on them. docs/PROTOCOL.md has the wire format.
//
//   MeshOptions o{.rank = r, .peers = {"10.0.0.1:7000", ...}, .secret = s};
//   auto mesh = TcpMesh::Create(o);                 // connects + authenticates
//   auto tp = (*mesh)->NewCollective({0, 1});      // a Collective over ranks 0,1
//   auto pipe = (*mesh)->NewPipeLink(-1, 2);        // this rank -> rank 2
//   (*mesh)->SendFrame(2, kFirstUserType, bytes);   // control channel
//
// Each pair of ranks shares two connections: a data link (collectives and
// pipeline bytes, used by one thread at a time) and a control link
// (SendFrame/RecvFrame, usable from another thread, e.g. the coordinator).
// The lower rank connects to the higher one. A heartbeat thread keeps idle
// links alive; a receive fails within `peer_timeout` once a peer goes silent.
// A failed peer stays failed: later calls that need it fail fast.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "comm/algo/collective.h"
#include "comm/tcp/handshake.h"
#include "comm/tcp/link.h"
#include "comm/tcp/link_emulation.h"
#include "comm/tcp/socket.h"

namespace plexus::tcp {

// The TCP collective is the generic one over a TcpStepTransport.
using TcpCollective = comm::AlgoCollective;
class TcpPipeLink;

struct MeshOptions {
  int rank = 0;
  std::vector<std::string> peers;  // HOST:PORT of every rank, in rank order (own entry included)
  std::string secret;              // shared cluster secret; may be empty only on loopback
  std::string bind_host = "127.0.0.1";  // where to listen; non-loopback needs a secret
  int listen_fd = -1;              // adopt this listening socket instead of binding (tests)
  LinkSpec emulate;                // --emulate-link
  std::chrono::milliseconds connect_timeout{30000};  // whole mesh establishment
  std::chrono::milliseconds handshake_timeout{3000};  // one inbound connection
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds peer_timeout{4000};  // silence after which a peer is dead
  std::chrono::microseconds spin_us{0};  // busy-poll this long per step before sleeping (hurts on shared cores)
  // Where log lines go (rejected connections, failed peers). Default: stderr.
  std::function<void(const std::string&)> log;
};

// A control message (SendFrame/RecvFrame); type >= kFirstUserType.
struct Frame {
  uint16_t type = 0;
  std::vector<uint8_t> payload;
};

using AllReduceAlgo = comm::AllReduceAlgo;

struct CollectiveOptions {
  AllReduceAlgo algo = AllReduceAlgo::kAuto;
  uint32_t tag = 0;  // distinguishes two groups over the same ranks (< 2^24)
  comm::AutoTable table = comm::DefaultAutoTable();  // kAuto: which algorithm for (nodes, bytes)
};

class TcpMesh {
 public:
  static Result<std::unique_ptr<TcpMesh>> Create(MeshOptions options);
  ~TcpMesh();
  TcpMesh(const TcpMesh&) = delete;
  TcpMesh& operator=(const TcpMesh&) = delete;

  int rank() const { return opt_.rank; }
  int size() const { return static_cast<int>(opt_.peers.size()); }
  // "rank 2 (127.0.0.1:5002)", for messages.
  std::string PeerName(int peer) const;
  // Ok while the peer is healthy; else why it failed (sticky).
  Status PeerStatus(int peer) const;
  // For transports whose data bypasses these links (UCX): nobody reads the
  // idle data link during a step, so silence would go unseen. This reads the
  // heartbeats waiting there (stashing any other frame for its reader) and
  // fails the peer, naming it, once both links have been silent for longer
  // than peer_timeout. Never blocks: it skips the read while another thread
  // reads that link, since that reader notices silence itself.
  Status CheckHeard(int peer);

  // --- data plane: one thread at a time per mesh ---
  // A collective over `ranks` (sorted, unique, containing this rank). Every
  // member must create it with the same ranks and tag.
  Result<std::unique_ptr<TcpCollective>> NewCollective(std::vector<int> ranks, CollectiveOptions options = {});
  // Pipeline link receiving from prev_rank and sending to next_rank (-1: none).
  Result<std::unique_ptr<TcpPipeLink>> NewPipeLink(int prev_rank, int next_rank, uint32_t tag = 0);

  // --- control channel: thread-safe against the data plane ---
  // Sends one frame (type >= kFirstUserType, payload <= kMaxFramePayload).
  // Returns once the bytes are in the kernel (emulated link: once released).
  Status SendFrame(int peer, uint16_t type, std::span<const uint8_t> payload);
  // Waits up to `timeout` for the next control frame from `peer`. Fails early,
  // naming the peer, on EOF, reset, protocol error or silence > peer_timeout.
  Result<Frame> RecvFrame(int peer, std::chrono::milliseconds timeout);

  // Raw TCP ping-pong on the data link, without framing (the benchmark's
  // floor). Both ends call it together; the lower rank measures and returns
  // round trips in microseconds, the other returns an empty vector.
  Result<std::vector<double>> RawPingPong(int peer, size_t bytes, int iters);

  // --- for the transport's own classes ---
  struct Peer {
    Endpoint endpoint;
    Link data, control;
    mutable std::mutex fail_mu;
    std::string failure;  // empty while healthy
    std::atomic<bool> failed{false};
  };
  Peer& peer(int r) { return *peers_[static_cast<size_t>(r)]; }
  const MeshOptions& options() const { return opt_; }
  // Marks a peer failed (first reason wins), logs it and shuts its sockets.
  void FailPeer(int peer, const std::string& reason);
  void Log(const std::string& line) const;
  // Link emulation: when the frames of one message (sizes summed in `bytes`)
  // start on this node's egress wire. Without emulation: 0.
  int64_t ScheduleOnWire(size_t bytes);
  int64_t VisibleAt(int64_t wire_start_ns, size_t bytes_through_frame) const;
  bool emulated() const { return opt_.emulate.enabled(); }

 private:
  explicit TcpMesh(MeshOptions options);
  Status Establish();  // mesh_connect.cc
  Status AcceptLoop(Fd& listener, int64_t deadline_ns, std::atomic<bool>& stop);
  Status ConnectUp(int64_t deadline_ns);
  void HeartbeatLoop();
  void CloseGracefully();
  Result<Frame> RecvFrameLocked(int peer, int64_t deadline_ns);

  MeshOptions opt_;
  std::vector<std::unique_ptr<Peer>> peers_;
  Fd listener_;
  std::mutex wire_mu_;
  EmulatedWire wire_;
  std::mutex hb_mu_;
  std::condition_variable hb_cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

}  // namespace plexus::tcp
