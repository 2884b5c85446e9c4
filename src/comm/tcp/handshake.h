// The connection handshake (docs/PROTOCOL.md, "Handshake"): HELLO both ways
// with fresh 32-byte nonces, then an HMAC-SHA256 proof from each side over
// both nonces, both ranks, the link kind and the protocol version. The secret
// never travels, and a proof cannot be replayed or reflected (fresh nonces,
// roles inside the MAC). The acceptor proves itself only after the connector
// has, so an unauthenticated client learns nothing.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace plexus::tcp {

enum class LinkKind : uint8_t { kData = 0, kControl = 1 };

struct HandshakeParams {
  int world = 0;
  int my_rank = 0;
  const std::string* secret = nullptr;
  int64_t deadline_ns = 0;
};

// Connector side, to `peer_rank` at `peer_name` (for messages).
Status HandshakeConnect(int fd, const HandshakeParams& p, int peer_rank, LinkKind kind, const std::string& peer_name);

struct AcceptedLink {
  int peer_rank = -1;
  LinkKind kind = LinkKind::kData;
};
// Acceptor side: the connector must be a lower rank. Errors are reasons to
// log and drop this connection; the peer has been told why where it is safe.
Result<AcceptedLink> HandshakeAccept(int fd, const HandshakeParams& p, const std::string& peer_name);

// Blocking frame I/O with a deadline, for the handshake and for ERROR frames.
Status WriteFrameBlocking(int fd, uint16_t type, uint32_t channel, const void* payload, uint32_t bytes,
                          int64_t deadline_ns, const std::string& what);
// Best effort: tells the peer why it is being dropped (ERROR frame), ignores failures.
void SendErrorFrame(int fd, const std::string& reason);

}  // namespace plexus::tcp
