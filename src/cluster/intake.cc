#include "cluster/intake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "comm/tcp/crc32c.h"
#include "comm/tcp/frame.h"
#include "comm/tcp/handshake.h"

namespace plexus::cluster {
namespace {

int64_t DeadlineAfter(std::chrono::milliseconds timeout) {
  return tcp::NowNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
}

}  // namespace

std::string IntakeConnection::LocalHost() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  char text[INET_ADDRSTRLEN] = "127.0.0.1";
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    ::inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
  return text;
}

Result<IntakeConnection> IntakeConnection::Connect(const std::string& address, const std::string& secret,
                                                   std::chrono::milliseconds timeout) {
  PLEXUS_ASSIGN_OR_RETURN(tcp::Endpoint endpoint, tcp::ParseEndpoint(address));
  const int64_t deadline = DeadlineAfter(timeout);
  PLEXUS_ASSIGN_OR_RETURN(tcp::Fd fd, tcp::ConnectWithRetry(endpoint, deadline));
  tcp::TuneSocket(fd.get());
  tcp::HandshakeParams params{.world = 2, .my_rank = 0, .secret = &secret, .deadline_ns = deadline};
  Status st = tcp::HandshakeConnect(fd.get(), params, 1, tcp::LinkKind::kControl, address);
  if (!st.ok()) return st.WithContext(fmt::format("[cluster] node {}", address));
  return IntakeConnection(std::move(fd), address);
}

Result<IntakeConnection> IntakeConnection::Accept(tcp::Fd fd, const std::string& secret,
                                                  std::chrono::milliseconds timeout) {
  const std::string peer = tcp::PeerAddress(fd.get());
  tcp::TuneSocket(fd.get());
  tcp::HandshakeParams params{.world = 2, .my_rank = 1, .secret = &secret, .deadline_ns = DeadlineAfter(timeout)};
  auto accepted = tcp::HandshakeAccept(fd.get(), params, peer);
  if (!accepted.ok()) return accepted.status().WithContext(fmt::format("[cluster] coordinator {}", peer));
  if (accepted->kind != tcp::LinkKind::kControl || accepted->peer_rank != 0)
    return Status::Errorf("cluster", "coordinator {}: expected a control connection from rank 0", peer);
  return IntakeConnection(std::move(fd), peer);
}

Status IntakeConnection::Send(MsgType type, std::span<const uint8_t> payload) {
  if (payload.size() > tcp::kMaxFramePayload)
    return Status::Errorf("cluster", "message of {} bytes exceeds the frame limit", payload.size());
  return tcp::WriteFrameBlocking(fd_.get(), static_cast<uint16_t>(type), 0, payload.data(),
                                 static_cast<uint32_t>(payload.size()), DeadlineAfter(std::chrono::seconds(60)), peer_);
}

Result<Message> IntakeConnection::Recv(std::chrono::milliseconds timeout) {
  const int64_t deadline = DeadlineAfter(timeout);
  for (;;) {
    uint8_t raw[tcp::kFrameHeaderBytes];
    PLEXUS_RETURN_IF_ERROR(tcp::ReadFull(fd_.get(), raw, sizeof raw, deadline, peer_));
    auto header = tcp::DecodeHeader(raw);
    if (!header.ok()) return header.status().WithContext(fmt::format("[cluster] {}", peer_));
    std::vector<uint8_t> payload(header->length);
    PLEXUS_RETURN_IF_ERROR(tcp::ReadFull(fd_.get(), payload.data(), payload.size(), deadline, peer_));
    if (tcp::Crc32c(payload.data(), payload.size()) != header->payload_crc)
      return Status::Errorf("cluster", "{}: frame checksum mismatch", peer_);
    if (header->type == tcp::kHeartbeat) continue;
    if (header->type == tcp::kError)
      return Status::Errorf("cluster", "{} closed the connection: {}", peer_,
                            std::string(payload.begin(), payload.end()));
    if (header->type < tcp::kFirstUserType)
      return Status::Errorf("cluster", "{}: unexpected frame {}", peer_, tcp::FrameTypeName(header->type));
    return Message{static_cast<MsgType>(header->type), std::move(payload)};
  }
}

Result<std::vector<uint8_t>> IntakeConnection::Expect(MsgType type, std::chrono::milliseconds timeout) {
  PLEXUS_ASSIGN_OR_RETURN(Message m, Recv(timeout));
  if (m.type == MsgType::kError) {
    std::string reason;
    if (!DecodeText(m.payload, &reason).ok()) reason = "(unreadable reason)";
    return Status::Errorf("cluster", "{}: {}", peer_, reason);
  }
  if (m.type != type)
    return Status::Errorf("cluster", "{}: expected message 0x{:x}, got 0x{:x}", peer_, static_cast<unsigned>(type),
                          static_cast<unsigned>(m.type));
  return std::move(m.payload);
}

}  // namespace plexus::cluster
