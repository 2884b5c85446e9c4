#include "comm/tcp/mesh.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace plexus::tcp {
namespace {

constexpr uint32_t kRawSyncChannel = 3u << 24;

// Reads control-link frames until one control frame has arrived.
class ControlSink final : public FrameSink {
 public:
  Status Destination(const FrameHeader& h, uint8_t** dst) override {
    *dst = nullptr;
    if (h.type == kHeartbeat || h.type >= kFirstUserType) return Status::Ok();
    if (h.type == kError && h.length <= kMaxErrorPayload) return Status::Ok();
    return Status::Error(fmt::format("unexpected {} frame on the control link", FrameTypeName(h.type)));
  }
  Status Deliver(const FrameHeader& h, const uint8_t* payload, std::vector<uint8_t>* owned) override {
    if (h.type == kError)
      return Status::Error(fmt::format("peer closed the connection: {}", std::string(payload, payload + h.length)));
    if (h.type == kHeartbeat) return Status::Ok();
    frame.type = h.type;
    frame.payload = std::move(*owned);
    owned->clear();
    got = true;
    return Status::Ok();
  }
  bool done() const override { return got; }
  Frame frame;
  bool got = false;
};

// Reads data-link frames, stashing them for their reader in the link's
// inbox: until the peer's raw-mode sync frame (stop_at_sync), or all that
// has arrived (a liveness check).
class StashSink final : public FrameSink {
 public:
  StashSink(Link* link, bool stop_at_sync) : link_(link), stop_at_sync_(stop_at_sync) {}
  Status Destination(const FrameHeader& h, uint8_t** dst) override {
    *dst = nullptr;
    if (h.type == kHeartbeat || h.type == kData || h.type == kAbort) return Status::Ok();
    if (h.type == kError && h.length <= kMaxErrorPayload) return Status::Ok();
    return Status::Error(fmt::format("unexpected {} frame on the data link", FrameTypeName(h.type)));
  }
  Status Deliver(const FrameHeader& h, const uint8_t* payload, std::vector<uint8_t>* owned) override {
    if (h.type == kHeartbeat) return Status::Ok();
    if (h.type == kError)
      return Status::Error(fmt::format("peer closed the connection: {}", std::string(payload, payload + h.length)));
    if (stop_at_sync_ && h.type == kData && h.channel == kRawSyncChannel) {
      got = true;
      return Status::Ok();
    }
    link_->inbox()[h.channel].push_back(StashedFrame{h.type, std::move(*owned)});
    owned->clear();
    return Status::Ok();
  }
  bool done() const override { return got; }
  bool got = false;

 private:
  Link* link_;
  bool stop_at_sync_;
};

int64_t Ms(std::chrono::milliseconds ms) { return ms.count() * 1'000'000; }

}  // namespace

TcpMesh::TcpMesh(MeshOptions options) : opt_(std::move(options)), wire_(opt_.emulate) {
  for (size_t i = 0; i < opt_.peers.size(); ++i) peers_.push_back(std::make_unique<Peer>());
}

TcpMesh::~TcpMesh() {
  {
    std::lock_guard<std::mutex> lock(hb_mu_);
    stopping_ = true;
  }
  hb_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  CloseGracefully();
}

// FIN after the queued bytes, then read until the peers close too (bounded):
// closing with unread input would send a reset that can destroy data the
// peer has not read yet.
void TcpMesh::CloseGracefully() {
  std::vector<pollfd> open;
  for (int r = 0; r < size(); ++r) {
    if (r == rank() || peer(r).failed.load()) continue;
    for (Link* link : {&peer(r).data, &peer(r).control}) {
      if (!link->connected()) continue;
      ::shutdown(link->fd(), SHUT_WR);
      open.push_back(pollfd{link->fd(), POLLIN, 0});
    }
  }
  const int64_t deadline = NowNs() + 500'000'000;
  char junk[4096];
  while (!open.empty() && NowNs() < deadline) {
    if (poll(open.data(), open.size(), 50) <= 0) continue;
    for (size_t i = 0; i < open.size();) {
      const ssize_t n = open[i].revents ? recv(open[i].fd, junk, sizeof(junk), 0) : 1;
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        open.erase(open.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
  }
}

std::string TcpMesh::PeerName(int peer) const {
  if (peer < 0 || peer >= size()) return fmt::format("rank {} (no such rank)", peer);
  return fmt::format("rank {} ({})", peer, opt_.peers[static_cast<size_t>(peer)]);
}

Status TcpMesh::PeerStatus(int peer) const {
  if (peer < 0 || peer >= size() || peer == rank())
    return Status::Errorf("tcp", "rank {} is not a peer of rank {} (mesh of {})", peer, rank(), size());
  const Peer& p = *peers_[static_cast<size_t>(peer)];
  if (!p.failed.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard<std::mutex> lock(p.fail_mu);
  return Status::Error(p.failure);
}

Status TcpMesh::CheckHeard(int peer_rank) {
  PLEXUS_RETURN_IF_ERROR(PeerStatus(peer_rank));
  Peer& p = peer(peer_rank);
  if (std::unique_lock<std::mutex> lock(p.data.read_mu, std::try_to_lock); lock.owns_lock() && !p.data.mid_frame()) {
    StashSink heartbeats(&p.data, /*stop_at_sync=*/false);
    if (Status st = p.data.ReadAvailable(heartbeats); !st.ok()) {
      FailPeer(peer_rank, fmt::format("[tcp] {}: {} on the idle data link", PeerName(peer_rank), st.message()));
      return PeerStatus(peer_rank);
    }
  }
  const int64_t heard = std::max(p.data.last_heard_ns(), p.control.last_heard_ns());
  const int64_t silent_ns = NowNs() - heard;
  if (silent_ns > Ms(opt_.peer_timeout))
    FailPeer(peer_rank, fmt::format("[tcp] {}: timed out: no heartbeat for {} ms (the process is frozen or "
                                    "its host unreachable)", PeerName(peer_rank), silent_ns / 1'000'000));
  return PeerStatus(peer_rank);
}

void TcpMesh::FailPeer(int peer, const std::string& reason) {
  Peer& p = *peers_[static_cast<size_t>(peer)];
  {
    std::lock_guard<std::mutex> lock(p.fail_mu);
    if (p.failed.load()) return;
    p.failure = reason;
    p.failed.store(true, std::memory_order_release);
  }
  Log(fmt::format("{}; {} is marked failed", reason, PeerName(peer)));
  p.data.Shutdown();
  p.control.Shutdown();
}

void TcpMesh::Log(const std::string& line) const {
  if (opt_.log) return opt_.log(line);
  fmt::print(stderr, "plexus: rank {}: {}\n", opt_.rank, line);
}

int64_t TcpMesh::ScheduleOnWire(size_t bytes) {
  // EmulatedWire::Schedule answers when the last byte is visible; callers
  // want the start, to which VisibleAt adds serialization and latency per frame.
  const LinkSpec& s = opt_.emulate;
  const int64_t serialize_ns =
      s.bits_per_second > 0 ? static_cast<int64_t>(static_cast<double>(bytes) * 8e9 / s.bits_per_second) : 0;
  std::lock_guard<std::mutex> lock(wire_mu_);
  return wire_.Schedule(bytes, NowNs()) - serialize_ns - s.latency_ns;
}

int64_t TcpMesh::VisibleAt(int64_t wire_start_ns, size_t bytes_through_frame) const {
  const LinkSpec& s = opt_.emulate;
  const double serialize_ns = s.bits_per_second > 0 ? static_cast<double>(bytes_through_frame) * 8e9 / s.bits_per_second : 0;
  return wire_start_ns + static_cast<int64_t>(serialize_ns) + s.latency_ns;
}

void TcpMesh::HeartbeatLoop() {
  const int64_t idle_ns = Ms(opt_.heartbeat_interval);
  std::unique_lock<std::mutex> lock(hb_mu_);
  while (!hb_cv_.wait_for(lock, opt_.heartbeat_interval / 4, [this] { return stopping_; })) {
    for (int r = 0; r < size(); ++r) {
      if (r == rank() || peers_[static_cast<size_t>(r)]->failed.load()) continue;
      for (Link* link : {&peer(r).data, &peer(r).control}) {
        Status st = link->MaybeHeartbeat(idle_ns);
        if (!st.ok()) FailPeer(r, fmt::format("[tcp] {}: {} while sending a heartbeat", PeerName(r), st.message()));
      }
    }
  }
}

Status TcpMesh::SendFrame(int peer_rank, uint16_t type, std::span<const uint8_t> payload) {
  PLEXUS_RETURN_IF_ERROR(PeerStatus(peer_rank));
  if (type < kFirstUserType)
    return Status::Errorf("tcp", "control frame type {} is reserved (use >= {})", type, int(kFirstUserType));
  if (payload.size() > kMaxFramePayload)
    return Status::Errorf("tcp", "control frame of {} bytes exceeds the {} byte limit", payload.size(), kMaxFramePayload);
  Link& link = peer(peer_rank).control;
  if (emulated()) {
    const int64_t visible = VisibleAt(ScheduleOnWire(payload.size()), payload.size());
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(0, visible - NowNs())));
  }
  std::lock_guard<std::mutex> lock(link.write_mu);
  Status st = WriteFrameBlocking(link.fd(), type, 0, payload.data(), static_cast<uint32_t>(payload.size()),
                                 NowNs() + Ms(opt_.peer_timeout), "control frame");
  if (st.ok()) return st;
  Status err = Status::Errorf("tcp", "{}: {} during send-frame", PeerName(peer_rank), st.message().substr(6));
  FailPeer(peer_rank, err.message());
  return err;
}

Result<Frame> TcpMesh::RecvFrame(int peer_rank, std::chrono::milliseconds timeout) {
  PLEXUS_RETURN_IF_ERROR(PeerStatus(peer_rank));
  std::lock_guard<std::mutex> lock(peer(peer_rank).control.read_mu);
  return RecvFrameLocked(peer_rank, NowNs() + Ms(timeout));
}

Result<Frame> TcpMesh::RecvFrameLocked(int peer_rank, int64_t deadline_ns) {
  Link& link = peer(peer_rank).control;
  const int64_t start = NowNs(), timeout_ns = Ms(opt_.peer_timeout);
  ControlSink sink;
  while (true) {
    Status st = link.ReadAvailable(sink);
    if (sink.done()) return std::move(sink.frame);
    const int64_t now = NowNs();
    const int64_t heard = std::max(start, link.last_heard_ns());
    if (st.ok() && now - heard > timeout_ns)
      st = Status::Error(fmt::format("timed out: nothing received for {} ms (no heartbeat)", (now - heard) / 1'000'000));
    if (!st.ok()) {
      Status err = Status::Errorf("tcp", "{}: {} during recv-frame", PeerName(peer_rank), st.message());
      FailPeer(peer_rank, err.message());
      return err;
    }
    PLEXUS_RETURN_IF_ERROR(PeerStatus(peer_rank));
    if (now >= deadline_ns)
      return Status::Errorf("tcp", "{}: no control frame within the timeout (the peer is alive)", PeerName(peer_rank));
    const int64_t wake = std::min(deadline_ns, heard + timeout_ns + 1'000'000);
    pollfd p{link.fd(), POLLIN, 0};
    poll(&p, 1, static_cast<int>(std::max<int64_t>(0, wake - now + 999'999) / 1'000'000));
  }
}

Result<std::vector<double>> TcpMesh::RawPingPong(int peer_rank, size_t bytes, int iters) {
  PLEXUS_RETURN_IF_ERROR(PeerStatus(peer_rank));
  Link& link = peer(peer_rank).data;
  std::lock_guard<std::mutex> read_lock(link.read_mu);
  std::lock_guard<std::mutex> write_lock(link.write_mu);  // no heartbeat may cut into raw bytes
  const std::string what = fmt::format("{} raw ping-pong", PeerName(peer_rank));
  const int64_t timeout_ns = Ms(opt_.peer_timeout);
  PLEXUS_RETURN_IF_ERROR(WriteFrameBlocking(link.fd(), kData, kRawSyncChannel, nullptr, 0, NowNs() + timeout_ns, what));
  StashSink sync(&link, /*stop_at_sync=*/true);
  auto& early = link.inbox()[kRawSyncChannel];  // read by an exchange that was still running
  if (!early.empty()) {
    early.pop_front();
    sync.got = true;
  }
  while (!sync.done()) {
    PLEXUS_RETURN_IF_ERROR(link.ReadAvailable(sync));
    if (!sync.done()) PLEXUS_RETURN_IF_ERROR(WaitFd(link.fd(), POLLIN, NowNs() + timeout_ns, what));
  }
  std::vector<uint8_t> buf(std::max<size_t>(bytes, 1));
  std::vector<double> rtt_us;
  const bool measurer = rank() < peer_rank;
  auto send = [&]() -> Status {
    if (emulated()) {
      const int64_t visible = VisibleAt(ScheduleOnWire(bytes), bytes);
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(0, visible - NowNs())));
    }
    return WriteFull(link.fd(), buf.data(), bytes, NowNs() + timeout_ns, what);
  };
  for (int i = 0; i < iters; ++i) {
    const int64_t t0 = NowNs();
    if (measurer) PLEXUS_RETURN_IF_ERROR(send());
    PLEXUS_RETURN_IF_ERROR(ReadFull(link.fd(), buf.data(), bytes, NowNs() + timeout_ns, what));
    if (!measurer) PLEXUS_RETURN_IF_ERROR(send());
    if (measurer) rtt_us.push_back(static_cast<double>(NowNs() - t0) / 1e3);
  }
  return rtt_us;
}

}  // namespace plexus::tcp
