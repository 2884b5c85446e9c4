#include "comm/tcp/link.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

#include "comm/tcp/crc32c.h"

namespace plexus::tcp {
namespace {

// recv(); sets *would_block on EAGAIN; an error Status on EOF or failure.
Status RecvSome(int fd, uint8_t* dst, size_t bytes, size_t* got, bool* would_block) {
  while (true) {
    const ssize_t n = recv(fd, dst, bytes, 0);
    if (n > 0) {
      *got = static_cast<size_t>(n);
      return Status::Ok();
    }
    if (n == 0) return Status::Error(DescribeErrno(0));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      *got = 0;
      return Status::Ok();
    }
    return Status::Error(DescribeErrno(errno));
  }
}

}  // namespace

void Link::Shutdown() {
  if (fd_.valid()) ::shutdown(fd_.get(), SHUT_RDWR);
}

Status Link::ReadHeader(FrameSink& sink, bool* would_block) {
  size_t got = 0;
  PLEXUS_RETURN_IF_ERROR(RecvSome(fd(), hdr_ + hdr_got_, kFrameHeaderBytes - hdr_got_, &got, would_block));
  if (got == 0) return Status::Ok();
  last_heard_ns_.store(NowNs(), std::memory_order_relaxed);
  hdr_got_ += got;
  if (hdr_got_ < kFrameHeaderBytes) return Status::Ok();
  auto h = DecodeHeader(hdr_);
  if (!h.ok()) return Status::Error(h.status().message().substr(6));  // drop "[tcp] ": the caller tags
  header_ = *h;
  have_header_ = true;
  payload_got_ = 0;
  dst_ = nullptr;
  PLEXUS_RETURN_IF_ERROR(sink.Destination(header_, &dst_));
  dst_owned_ = dst_ == nullptr;
  if (dst_owned_) {
    stash_.resize(header_.length);
    dst_ = stash_.data();
  }
  return Status::Ok();
}

Status Link::ReadPayload(FrameSink& sink, bool* would_block) {
  if (payload_got_ < header_.length) {
    size_t got = 0;
    PLEXUS_RETURN_IF_ERROR(RecvSome(fd(), dst_ + payload_got_, header_.length - payload_got_, &got, would_block));
    if (got > 0) last_heard_ns_.store(NowNs(), std::memory_order_relaxed);
    payload_got_ += got;
    if (payload_got_ < header_.length) return Status::Ok();
  }
  have_header_ = false;
  hdr_got_ = 0;
  if (Crc32c(dst_, header_.length) != header_.payload_crc)
    return Status::Error(fmt::format("payload checksum mismatch in a {} frame of {} bytes",
                                     FrameTypeName(header_.type), header_.length));
  return sink.Deliver(header_, dst_, dst_owned_ ? &stash_ : nullptr);
}

Status Link::ReadAvailable(FrameSink& sink) {
  if (!connected()) return Status::Error("not connected");
  bool would_block = false;
  while (!would_block && !sink.done()) {
    if (!have_header_) {
      PLEXUS_RETURN_IF_ERROR(ReadHeader(sink, &would_block));
      if (!have_header_) continue;
    }
    PLEXUS_RETURN_IF_ERROR(ReadPayload(sink, &would_block));
  }
  return Status::Ok();
}

void Link::BeginFrame(uint16_t type, uint32_t channel, const uint8_t* payload, uint32_t bytes) {
  write_mu.lock();
  EncodeHeader(FrameHeader{type, channel, bytes, Crc32c(payload, bytes)}, out_hdr_);
  out_payload_ = payload;
  out_len_ = bytes;
  out_sent_ = 0;
  writing_ = true;
}

Status Link::WriteSome(bool* done) {
  *done = false;
  const size_t total = kFrameHeaderBytes + out_len_;
  while (out_sent_ < total) {
    iovec iov[2];
    int n_iov = 0;
    if (out_sent_ < kFrameHeaderBytes)
      iov[n_iov++] = {out_hdr_ + out_sent_, kFrameHeaderBytes - out_sent_};
    const size_t pay_off = out_sent_ > kFrameHeaderBytes ? out_sent_ - kFrameHeaderBytes : 0;
    if (out_len_ > pay_off) iov[n_iov++] = {const_cast<uint8_t*>(out_payload_) + pay_off, out_len_ - pay_off};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n_iov);
    const ssize_t n = sendmsg(fd(), &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::Ok();
    return Status::Error(DescribeErrno(errno));
  }
  writing_ = false;
  last_write_ns_.store(NowNs(), std::memory_order_relaxed);
  write_mu.unlock();
  *done = true;
  return Status::Ok();
}

Status Link::FinishFrame(int64_t deadline_ns) {
  while (writing_) {
    bool done = false;
    PLEXUS_RETURN_IF_ERROR(WriteSome(&done));
    if (!done) PLEXUS_RETURN_IF_ERROR(WaitFd(fd(), POLLOUT, deadline_ns, "finishing a frame"));
  }
  return Status::Ok();
}

void Link::AbandonFrame() {
  if (!writing_) return;
  writing_ = false;
  write_mu.unlock();
}

Status Link::MaybeHeartbeat(int64_t idle_ns) {
  const int64_t now = NowNs();
  if (!connected() || now - last_write_ns() < idle_ns) return Status::Ok();
  std::unique_lock<std::mutex> lock(write_mu, std::try_to_lock);
  if (!lock.owns_lock()) return Status::Ok();  // a frame is being written: that is traffic
  pollfd p{fd(), POLLOUT, 0};
  if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) return Status::Ok();  // full: the peer is not reading
  uint8_t hdr[kFrameHeaderBytes];
  EncodeHeader(FrameHeader{kHeartbeat, 0, 0, Crc32c(nullptr, 0)}, hdr);
  PLEXUS_RETURN_IF_ERROR(WriteFull(fd(), hdr, sizeof(hdr), now + 1'000'000'000, "heartbeat"));
  last_write_ns_.store(now, std::memory_order_relaxed);
  return Status::Ok();
}

}  // namespace plexus::tcp
