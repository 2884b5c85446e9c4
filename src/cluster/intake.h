// The intake connection: how a coordinator hands a job to a node before the
// job's mesh exists. One authenticated TCP connection (the transport's
// handshake, as a two-rank world: coordinator rank 0, node rank 1) carrying
// framed cluster messages with blocking, deadline-bounded I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/messages.h"
#include "comm/tcp/socket.h"

namespace plexus::cluster {

struct Message {
  MsgType type = MsgType::kError;
  std::vector<uint8_t> payload;
};

class IntakeConnection {
 public:
  // Coordinator side: connects to a node and authenticates.
  static Result<IntakeConnection> Connect(const std::string& address, const std::string& secret,
                                          std::chrono::milliseconds timeout);
  // Node side: authenticates a connection accepted on the node's listener.
  static Result<IntakeConnection> Accept(tcp::Fd fd, const std::string& secret, std::chrono::milliseconds timeout);

  Status Send(MsgType type, std::span<const uint8_t> payload);
  // The next cluster message, skipping heartbeats. An ERROR frame from the
  // peer becomes an error carrying its reason.
  Result<Message> Recv(std::chrono::milliseconds timeout);
  // Recv that insists on one type (an kError message becomes its reason).
  Result<std::vector<uint8_t>> Expect(MsgType type, std::chrono::milliseconds timeout);

  const std::string& peer() const { return peer_; }
  // This side's IP address on the connection: the address the peer can reach us at.
  std::string LocalHost() const;

 private:
  IntakeConnection(tcp::Fd fd, std::string peer) : fd_(std::move(fd)), peer_(std::move(peer)) {}
  tcp::Fd fd_;
  std::string peer_;
};

}  // namespace plexus::cluster
