// One authenticated TCP connection to a peer, with non-blocking framed I/O.
//
// The read side is a small state machine (header, then payload straight into
// the destination the caller names, then the checksum): no copy and no
// allocation when the caller expects the frame, a copy into the inbox when it
// does not. Callers hold read_mu to read and write_mu while a frame is being
// written; the heartbeat thread only ever try-locks write_mu between frames.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "comm/tcp/frame.h"
#include "comm/tcp/socket.h"

namespace plexus::tcp {

// A frame read before anyone asked for it.
struct StashedFrame {
  uint16_t type = 0;
  std::vector<uint8_t> payload;
};

// Decides where frames go while a Link reads.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Room for h.length bytes, or nullptr to have the link buffer the payload.
  // An error drops the connection (protocol violation).
  virtual Status Destination(const FrameHeader& h, uint8_t** dst) = 0;
  // A complete, checksum-verified frame. `owned` is the link's buffer when
  // Destination returned nullptr (the sink may move it away), else null.
  virtual Status Deliver(const FrameHeader& h, const uint8_t* payload, std::vector<uint8_t>* owned) = 0;
  // Stop reading after the current frame (RecvFrame wants exactly one).
  virtual bool done() const { return false; }
};

class Link {
 public:
  Link() = default;
  void Attach(Fd fd) {  // once, before any I/O; the peer was just heard
    fd_ = std::move(fd);
    last_heard_ns_.store(NowNs(), std::memory_order_relaxed);
  }
  int fd() const { return fd_.get(); }
  bool connected() const { return fd_.valid(); }
  void Shutdown();  // wakes every blocked reader/writer of this socket with EOF

  // --- read side (hold read_mu) ---
  // Reads until the socket would block or sink.done(). Errors are plain
  // reasons ("EOF (peer closed the connection)", "bad frame magic ...").
  Status ReadAvailable(FrameSink& sink);
  bool mid_frame() const { return hdr_got_ > 0; }
  std::map<uint32_t, std::deque<StashedFrame>>& inbox() { return inbox_; }  // by channel
  int64_t last_heard_ns() const { return last_heard_ns_.load(std::memory_order_relaxed); }

  // --- write side (BeginFrame locks write_mu; the frame's last byte unlocks it) ---
  void BeginFrame(uint16_t type, uint32_t channel, const uint8_t* payload, uint32_t bytes);
  // Writes what the socket takes; *done when the frame is out (write_mu released).
  Status WriteSome(bool* done);
  bool writing() const { return writing_; }
  // Finishes a frame in progress within the deadline (before an ABORT).
  Status FinishFrame(int64_t deadline_ns);
  void AbandonFrame();  // after Shutdown: forget the frame, release write_mu
  // Heartbeat thread: sends one if nothing was written for idle_ns and the
  // socket can take it without blocking. Never blocks on write_mu.
  Status MaybeHeartbeat(int64_t idle_ns);
  int64_t last_write_ns() const { return last_write_ns_.load(std::memory_order_relaxed); }

  std::mutex read_mu;
  std::mutex write_mu;

 private:
  Status ReadHeader(FrameSink& sink, bool* would_block);
  Status ReadPayload(FrameSink& sink, bool* would_block);

  Fd fd_;
  // read state
  uint8_t hdr_[kFrameHeaderBytes] = {};
  size_t hdr_got_ = 0;
  bool have_header_ = false;
  FrameHeader header_;
  uint8_t* dst_ = nullptr;
  bool dst_owned_ = false;
  size_t payload_got_ = 0;
  std::vector<uint8_t> stash_;
  std::map<uint32_t, std::deque<StashedFrame>> inbox_;
  std::atomic<int64_t> last_heard_ns_{0};
  // write state
  uint8_t out_hdr_[kFrameHeaderBytes] = {};
  const uint8_t* out_payload_ = nullptr;
  size_t out_len_ = 0, out_sent_ = 0;  // out_sent_ counts header + payload
  bool writing_ = false;
  std::atomic<int64_t> last_write_ns_{0};
};

}  // namespace plexus::tcp
