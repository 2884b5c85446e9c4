#include "comm/tcp/exchange.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "comm/tcp/handshake.h"
#include "comm/tcp/mesh.h"

namespace plexus::tcp {
namespace {

constexpr size_t kSegmentBytes = 1 << 20;  // data messages go out in frames of at most this
constexpr int64_t kAbortDeadlineNs = 200'000'000;

}  // namespace

Exchange::Exchange(TcpMesh* mesh, std::vector<int> members, uint32_t channel)
    : mesh_(mesh), channel_(channel) {
  for (int r : members)
    if (r != mesh->rank()) peers_.push_back(r);
  std::sort(peers_.begin(), peers_.end());
  send_of_.assign(static_cast<size_t>(mesh->size()), -1);
  recv_of_.assign(static_cast<size_t>(mesh->size()), -1);
  pollfds_.reserve(peers_.size());
  locks_.reserve(peers_.size());
}

void Exchange::Clear() {
  for (const SendOp& op : sends_) send_of_[op.peer] = -1;
  for (const RecvOp& op : recvs_) recv_of_[op.peer] = -1;
  sends_.clear();
  recvs_.clear();
}

void Exchange::Send(int peer, const void* data, size_t bytes) {
  PLEXUS_CHECK(send_of_[peer] < 0, "one send per peer per step");
  SendOp op;
  op.peer = peer;
  op.data = static_cast<const uint8_t*>(data);
  op.bytes = bytes;
  if (mesh_->emulated() && bytes > 0) op.wire_start_ns = mesh_->ScheduleOnWire(bytes);
  send_of_[peer] = static_cast<int>(sends_.size());
  sends_.push_back(op);
}

void Exchange::Recv(int peer, void* data, size_t bytes) {
  PLEXUS_CHECK(recv_of_[peer] < 0, "one receive per peer per step");
  recv_of_[peer] = static_cast<int>(recvs_.size());
  recvs_.push_back(RecvOp{peer, static_cast<uint8_t*>(data), bytes, 0});
}

bool Exchange::Pending(int peer) const {
  return (send_of_[peer] >= 0 && !sends_[send_of_[peer]].done()) ||
         (recv_of_[peer] >= 0 && !recvs_[recv_of_[peer]].done());
}

Status Exchange::PeerError(int peer, const std::string& reason) const {
  return Status::Errorf("tcp", "{}: {} during {}", mesh_->PeerName(peer), reason, what_);
}

// Only the ops this step still needs: a member that finished its part of a
// multi-step collective (ring, recursive doubling) and exited is no error for
// the steps that no longer need it, nor for a receive its stashed frames
// already filled. A member that died while others still need it fails their
// step, and they ABORT the rest of the group.
Status Exchange::FailFast() const {
  auto check = [this](int p) {
    Status st = mesh_->PeerStatus(p);
    return st.ok() ? st : st.WithContext(fmt::format("[tcp] cannot start {}", what_));
  };
  for (const SendOp& op : sends_) PLEXUS_RETURN_IF_ERROR(check(op.peer));
  for (const RecvOp& op : recvs_)
    if (!op.done()) PLEXUS_RETURN_IF_ERROR(check(op.peer));
  return Status::Ok();
}

Status Exchange::Destination(const FrameHeader& h, uint8_t** dst) {
  *dst = nullptr;
  switch (h.type) {
    case kHeartbeat: return Status::Ok();
    case kError:
    case kAbort:
      if (h.length > kMaxErrorPayload) return Status::Error(fmt::format("{} text of {} bytes", FrameTypeName(h.type), h.length));
      return Status::Ok();
    case kData: break;
    default: return Status::Error(fmt::format("unexpected {} frame on the data link", FrameTypeName(h.type)));
  }
  const int idx = recv_of_[reading_peer_];
  if (h.channel != channel_ || idx < 0 || recvs_[idx].done()) return Status::Ok();  // stash
  auto& inbox = mesh_->peer(reading_peer_).data.inbox();
  if (auto it = inbox.find(channel_); it != inbox.end() && !it->second.empty()) return Status::Ok();  // keep order
  RecvOp& op = recvs_[idx];
  if (h.length > op.bytes - op.got)
    return Status::Error(fmt::format("sent {} more bytes than the {} this rank expects (mismatched call sizes?)",
                                     op.got + h.length - op.bytes, op.bytes));
  *dst = op.dst + op.got;
  return Status::Ok();
}

Status Exchange::Deliver(const FrameHeader& h, const uint8_t* payload, std::vector<uint8_t>* owned) {
  if (h.type == kHeartbeat) return Status::Ok();
  if (h.type == kError)
    return Status::Error(fmt::format("peer closed the connection: {}", std::string(payload, payload + h.length)));
  if (h.type == kAbort && h.channel == channel_) {
    if (remote_abort_.ok())
      remote_abort_ = Status::Errorf("tcp", "{} aborted the {}: {}", mesh_->PeerName(reading_peer_), what_,
                                     std::string(payload, payload + h.length));
    return Status::Ok();
  }
  if (!owned) {
    recvs_[recv_of_[reading_peer_]].got += h.length;
    return Status::Ok();
  }
  Link& link = mesh_->peer(reading_peer_).data;
  link.inbox()[h.channel].push_back(StashedFrame{h.type, std::move(*owned)});
  owned->clear();
  // A frame that began before its receive was posted ends here: keep the order.
  const int idx = recv_of_[reading_peer_];
  if (h.channel == channel_ && idx >= 0) return DrainInbox(recvs_[idx]);
  return Status::Ok();
}

// Frames that arrived before their receive was posted, in order (read lock held).
Status Exchange::DrainInbox(RecvOp& op) {
  auto& inbox = mesh_->peer(op.peer).data.inbox();
  auto it = inbox.find(channel_);
  if (it == inbox.end()) return Status::Ok();
  auto& queue = it->second;
  while (!queue.empty() && !op.done()) {
    StashedFrame& f = queue.front();
    if (f.type == kAbort)
      return Status::Errorf("tcp", "{} aborted the {}: {}", mesh_->PeerName(op.peer), what_,
                            std::string(f.payload.begin(), f.payload.end()));
    if (f.payload.size() > op.bytes - op.got)
      return Fail(op.peer, "sent more bytes than this rank expects (mismatched call sizes?)", false);
    std::memcpy(op.dst + op.got, f.payload.data(), f.payload.size());
    op.got += f.payload.size();
    queue.pop_front();
  }
  return Status::Ok();
}

Status Exchange::TakeStashed() {
  for (RecvOp& op : recvs_) PLEXUS_RETURN_IF_ERROR(DrainInbox(op));
  return Status::Ok();
}

Status Exchange::ProgressSend(SendOp& op, int64_t now, int64_t* next_release) {
  Link& link = mesh_->peer(op.peer).data;
  while (!op.done()) {
    if (!op.in_frame) {
      const size_t seg = std::min(kSegmentBytes, op.bytes - op.next_off);
      if (mesh_->emulated()) {
        const int64_t visible = mesh_->VisibleAt(op.wire_start_ns, op.next_off + seg);
        if (visible > now) {
          *next_release = std::min(*next_release, visible);
          return Status::Ok();
        }
      }
      link.BeginFrame(kData, channel_, op.data + op.next_off, static_cast<uint32_t>(seg));
      op.in_frame = true;
      op.frame_end = op.next_off + seg;
    }
    bool frame_done = false;
    Status st = link.WriteSome(&frame_done);
    if (!st.ok()) return Fail(op.peer, st.message(), true);
    op.blocked = !frame_done;
    if (!frame_done) return Status::Ok();
    op.in_frame = false;
    op.next_off = op.frame_end;
  }
  return Status::Ok();
}

Status Exchange::ProgressAll(int64_t now, int64_t* wake_ns, bool* all_done) {
  *all_done = true;
  for (SendOp& op : sends_) {
    if (!op.blocked) PLEXUS_RETURN_IF_ERROR(ProgressSend(op, now, wake_ns));
    *all_done &= op.done();
  }
  for (const RecvOp& op : recvs_) *all_done &= op.done();
  return Status::Ok();
}

// A peer this step still needs that has been silent past peer_timeout is dead.
Status Exchange::CheckLiveness(int64_t now, int64_t start, int64_t* wake_ns) {
  const int64_t timeout_ns = mesh_->options().peer_timeout.count() * 1'000'000;
  for (int p : peers_) {
    if (!Pending(p)) continue;
    const int64_t heard = std::max(start, mesh_->peer(p).data.last_heard_ns());
    if (now - heard > timeout_ns)
      return Fail(p, fmt::format("timed out: nothing received for {} ms (no data, no heartbeat)", (now - heard) / 1'000'000),
                  true);
    *wake_ns = std::min(*wake_ns, heard + timeout_ns + 1'000'000);
  }
  return Status::Ok();
}

Status Exchange::PollOnce(int64_t wake_ns, int64_t start) {
  pollfds_.clear();
  for (int p : peers_) {
    short events = mesh_->peer(p).failed.load() ? 0 : POLLIN;  // a closed member we no longer need
    if (send_of_[p] >= 0 && sends_[send_of_[p]].blocked) events |= POLLOUT;
    pollfds_.push_back(pollfd{mesh_->peer(p).data.fd(), events, 0});
  }
  // Spin (non-blocking polls) briefly before sleeping: a decode-sized reply
  // usually lands within microseconds, sooner than a sleeping thread wakes.
  const int64_t now = NowNs();
  const int64_t spin_end = start + mesh_->options().spin_us.count() * 1000;
  const int64_t wait_ns = now < spin_end ? 0 : std::max<int64_t>(0, wake_ns - now);
  const timespec wait{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
  const int rc = ppoll(pollfds_.data(), pollfds_.size(), &wait, nullptr);  // ns resolution: emulated latencies
  if (rc < 0 && errno != EINTR) return Status::Errorf("tcp", "poll during {}: {}", what_, std::strerror(errno));
  for (size_t i = 0; i < peers_.size() && rc > 0; ++i) {
    const int p = peers_[i];
    const short ev = pollfds_[i].revents;
    if (ev & POLLOUT) sends_[send_of_[p]].blocked = false;
    if (ev & (POLLERR | POLLHUP) && send_of_[p] >= 0) sends_[send_of_[p]].blocked = false;  // surface the error
    if (!(ev & (POLLIN | POLLERR | POLLHUP))) continue;
    if (pollfds_[i].events == 0) continue;
    reading_peer_ = p;
    Status st = mesh_->peer(p).data.ReadAvailable(*this);
    if (!remote_abort_.ok()) return remote_abort_;  // the root cause, even if EOF follows it
    if (!st.ok()) {
      // Fatal for this step only if it still needs the peer (a member that
      // finished and exited is not an error yet); later steps fail fast.
      Status err = Fail(p, st.message(), true);
      if (Pending(p)) return err;
    }
  }
  return Status::Ok();
}

Status Exchange::Run(const char* what) {
  what_ = what;
  for (int p : peers_) locks_.emplace_back(mesh_->peer(p).data.read_mu);
  remote_abort_ = Status::Ok();
  // Stashed frames first, then the failed-peer check: a peer that sent its
  // part of this step early and then exited is no error. On failure the
  // live members, which may be waiting on this rank, get an ABORT below.
  Status st = TakeStashed();
  if (st.ok()) st = FailFast();
  const int64_t start = NowNs();
  while (st.ok()) {
    const int64_t now = NowNs();
    int64_t wake_ns = now + 1'000'000'000;
    bool all_done = false;
    st = ProgressAll(now, &wake_ns, &all_done);
    if (!st.ok() || all_done) break;
    st = CheckLiveness(now, start, &wake_ns);
    if (st.ok()) st = PollOnce(wake_ns, start);
  }
  if (!st.ok()) SendAborts(st.message());
  locks_.clear();  // unlocks; keeps capacity
  return st;
}

Status Exchange::Fail(int peer, const std::string& reason, bool peer_is_dead) {
  Status st = PeerError(peer, reason);
  if (peer_is_dead) mesh_->FailPeer(peer, st.message());
  return st;
}

// Best effort: finish any half-written frame, then tell each live member why
// this rank gave up, so nobody waits on it until its timeout.
void Exchange::SendAborts(const std::string& reason) {
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(reason.size(), kMaxErrorPayload));
  for (int p : peers_) {
    Link& link = mesh_->peer(p).data;
    const bool healthy = mesh_->PeerStatus(p).ok();
    if (link.writing()) {
      Status st = healthy ? link.FinishFrame(NowNs() + kAbortDeadlineNs) : Status::Error("peer failed");
      if (!st.ok()) {
        link.Shutdown();  // the stream is cut mid-frame: unusable
        mesh_->FailPeer(p, PeerError(p, "stream cut mid-frame while aborting").message());
        link.AbandonFrame();
        continue;
      }
    }
    if (!healthy) continue;
    std::lock_guard<std::mutex> lock(link.write_mu);
    Status st = WriteFrameBlocking(link.fd(), kAbort, channel_, reason.data(), n, NowNs() + kAbortDeadlineNs, "abort");
    if (!st.ok()) mesh_->FailPeer(p, PeerError(p, "could not send ABORT: " + st.message()).message());
  }
  for (SendOp& op : sends_) op.in_frame = false;
}

}  // namespace plexus::tcp
