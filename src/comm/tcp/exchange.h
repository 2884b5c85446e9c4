// Exchange: the progress engine under every collective and pipeline call.
//
// A step of an algorithm posts sends and receives (at most one of each per
// peer) over the data links of its group, then Run() drives them all at once
// on the calling thread with non-blocking sockets and poll(): no thread
// hand-off on the hot path, and no deadlock when two ranks send to each other
// at the same time. Frames for the awaited channel are read straight into the
// caller's buffer; anything else is stashed for later. Run() reads every
// member of the group, so an ABORT from any of them fails the step; a member
// that closed or died fails the steps that still need it (not the ones that
// don't: it may have finished its part and exited). On failure Run tells
// the other members (ABORT).
#pragma once

#include <poll.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "comm/tcp/link.h"

namespace plexus::tcp {

class TcpMesh;

class Exchange final : public FrameSink {
 public:
  // `members`: mesh ranks of the group (this rank may be among them).
  Exchange(TcpMesh* mesh, std::vector<int> members, uint32_t channel);

  void Clear();  // drops posted ops; keeps capacity (no allocation per step)
  void Send(int peer, const void* data, size_t bytes);
  void Recv(int peer, void* data, size_t bytes);
  // Completes every posted op, or fails naming the peer and the reason,
  // e.g. "[tcp] rank 2 (127.0.0.1:5002): connection reset during all-reduce".
  Status Run(const char* what);

  // FrameSink
  Status Destination(const FrameHeader& h, uint8_t** dst) override;
  Status Deliver(const FrameHeader& h, const uint8_t* payload, std::vector<uint8_t>* owned) override;
  bool done() const override { return !remote_abort_.ok(); }  // stop reading at an ABORT

 private:
  struct SendOp {
    int peer = -1;
    const uint8_t* data = nullptr;
    size_t bytes = 0, next_off = 0, frame_end = 0;
    int64_t wire_start_ns = 0;
    bool in_frame = false, blocked = false;
    bool done() const { return next_off == bytes && !in_frame; }
  };
  struct RecvOp {
    int peer = -1;
    uint8_t* dst = nullptr;
    size_t bytes = 0, got = 0;
    bool done() const { return got == bytes; }
  };

  bool Pending(int peer) const;  // this step still sends to or receives from `peer`
  Status PeerError(int peer, const std::string& reason) const;
  Status FailFast() const;
  Status TakeStashed();
  Status DrainInbox(RecvOp& op);
  Status ProgressSend(SendOp& op, int64_t now, int64_t* next_release);
  Status ProgressAll(int64_t now, int64_t* wake_ns, bool* all_done);
  Status CheckLiveness(int64_t now, int64_t start, int64_t* wake_ns);
  Status PollOnce(int64_t wake_ns, int64_t start);
  Status Fail(int peer, const std::string& reason, bool peer_is_dead);
  void SendAborts(const std::string& reason);

  TcpMesh* mesh_;
  std::vector<int> peers_;  // members other than this rank, ascending
  uint32_t channel_;
  const char* what_ = "";
  std::vector<SendOp> sends_;
  std::vector<RecvOp> recvs_;
  std::vector<int> send_of_, recv_of_;  // [mesh rank] -> op index or -1
  std::vector<pollfd> pollfds_;
  std::vector<std::unique_lock<std::mutex>> locks_;  // read locks held during Run
  int reading_peer_ = -1;  // whose link is being read (for the sink)
  Status remote_abort_;    // an ABORT received during Run
};

}  // namespace plexus::tcp
