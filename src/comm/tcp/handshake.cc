#include "comm/tcp/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "comm/tcp/crc32c.h"
#include "comm/tcp/frame.h"
#include "comm/tcp/socket.h"

namespace plexus::tcp {
namespace {

constexpr size_t kNonceBytes = 32;
constexpr size_t kMacBytes = 32;
constexpr size_t kHelloBytes = 16 + kNonceBytes;
using Nonce = std::array<uint8_t, kNonceBytes>;
using Mac = std::array<uint8_t, kMacBytes>;

struct Hello {
  LinkKind kind = LinkKind::kData;
  uint32_t world = 0, from_rank = 0, to_rank = 0;
  Nonce nonce{};
};

void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = (v >> (8 * i)) & 0xFF;
}
uint32_t Get32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

std::array<uint8_t, kHelloBytes> EncodeHello(const Hello& h) {
  std::array<uint8_t, kHelloBytes> b{};
  b[0] = static_cast<uint8_t>(h.kind);
  Put32(b.data() + 4, h.world);
  Put32(b.data() + 8, h.from_rank);
  Put32(b.data() + 12, h.to_rank);
  std::memcpy(b.data() + 16, h.nonce.data(), kNonceBytes);
  return b;
}

// Reads one small frame of the expected type; an ERROR frame becomes the peer's reason.
Result<std::vector<uint8_t>> ReadSmallFrame(int fd, uint16_t want, int64_t deadline, const std::string& what) {
  uint8_t hdr[kFrameHeaderBytes];
  PLEXUS_RETURN_IF_ERROR(ReadFull(fd, hdr, sizeof(hdr), deadline, what));
  PLEXUS_ASSIGN_OR_RETURN(FrameHeader h, DecodeHeader(hdr, kMaxErrorPayload));
  std::vector<uint8_t> payload(h.length);
  PLEXUS_RETURN_IF_ERROR(ReadFull(fd, payload.data(), payload.size(), deadline, what));
  if (Crc32c(payload.data(), payload.size()) != h.payload_crc)
    return Status::Errorf("tcp", "{}: payload checksum mismatch in {}", what, FrameTypeName(h.type));
  if (h.type == kError)
    return Status::Errorf("tcp", "{} refused the connection: {}", what, std::string(payload.begin(), payload.end()));
  if (h.type != want)
    return Status::Errorf("tcp", "{}: expected {} during the handshake, got {}", what, FrameTypeName(want),
                          FrameTypeName(h.type));
  return payload;
}

Result<Hello> ReadHello(int fd, int64_t deadline, const std::string& what) {
  PLEXUS_ASSIGN_OR_RETURN(std::vector<uint8_t> b, ReadSmallFrame(fd, kHello, deadline, what));
  if (b.size() != kHelloBytes) return Status::Errorf("tcp", "{}: HELLO of {} bytes (want {})", what, b.size(), kHelloBytes);
  if (b[0] > 1) return Status::Errorf("tcp", "{}: unknown link kind {}", what, b[0]);
  Hello h;
  h.kind = static_cast<LinkKind>(b[0]);
  h.world = Get32(b.data() + 4), h.from_rank = Get32(b.data() + 8), h.to_rank = Get32(b.data() + 12);
  std::memcpy(h.nonce.data(), b.data() + 16, kNonceBytes);
  return h;
}

Result<Nonce> FreshNonce() {
  Nonce n;
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) return Status::Errorf("tcp", "RAND_bytes failed");
  return n;
}

// HMAC-SHA256(secret, "plexus-auth" | role | version | kind | world | ranks | nonces).
Mac Proof(const std::string& secret, const char* role, LinkKind kind, uint32_t world, uint32_t connector_rank,
          uint32_t acceptor_rank, const Nonce& nc, const Nonce& na) {
  std::vector<uint8_t> msg;
  auto append = [&msg](const void* p, size_t n) {
    msg.insert(msg.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  append("plexus-auth", 11);
  append(role, std::strlen(role) + 1);
  const uint8_t v[2] = {kProtocolVersion, static_cast<uint8_t>(kind)};
  append(v, 2);
  uint8_t ranks[12];
  Put32(ranks, world), Put32(ranks + 4, connector_rank), Put32(ranks + 8, acceptor_rank);
  append(ranks, 12);
  append(nc.data(), nc.size());
  append(na.data(), na.size());
  Mac mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(), mac.data(), &len);
  return mac;
}

bool SameMac(const std::vector<uint8_t>& got, const Mac& want) {
  return got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

}  // namespace

Status WriteFrameBlocking(int fd, uint16_t type, uint32_t channel, const void* payload, uint32_t bytes,
                          int64_t deadline_ns, const std::string& what) {
  FrameHeader h{type, channel, bytes, Crc32c(payload, bytes)};
  uint8_t hdr[kFrameHeaderBytes];
  EncodeHeader(h, hdr);
  PLEXUS_RETURN_IF_ERROR(WriteFull(fd, hdr, sizeof(hdr), deadline_ns, what));
  return WriteFull(fd, payload, bytes, deadline_ns, what);
}

void SendErrorFrame(int fd, const std::string& reason) {
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(reason.size(), kMaxErrorPayload));
  (void)WriteFrameBlocking(fd, kError, 0, reason.data(), n, NowNs() + 200'000'000, "error frame");
}

Status HandshakeConnect(int fd, const HandshakeParams& p, int peer_rank, LinkKind kind, const std::string& peer_name) {
  const std::string what = fmt::format("peer {} (rank {})", peer_name, peer_rank);
  Hello mine{kind, static_cast<uint32_t>(p.world), static_cast<uint32_t>(p.my_rank), static_cast<uint32_t>(peer_rank)};
  PLEXUS_ASSIGN_OR_RETURN(mine.nonce, FreshNonce());
  auto hello = EncodeHello(mine);
  PLEXUS_RETURN_IF_ERROR(WriteFrameBlocking(fd, kHello, 0, hello.data(), hello.size(), p.deadline_ns, what));
  PLEXUS_ASSIGN_OR_RETURN(Hello theirs, ReadHello(fd, p.deadline_ns, what));
  if (theirs.from_rank != static_cast<uint32_t>(peer_rank) || theirs.to_rank != static_cast<uint32_t>(p.my_rank) ||
      theirs.world != mine.world || theirs.kind != kind)
    return Status::Errorf("tcp", "{} answered as rank {} of {} (expected rank {} of {}): wrong --peers list?", what,
                          theirs.from_rank, theirs.world, peer_rank, p.world);
  const uint32_t me = mine.from_rank, them = mine.to_rank;
  const Mac proof = Proof(*p.secret, "connector", kind, mine.world, me, them, mine.nonce, theirs.nonce);
  PLEXUS_RETURN_IF_ERROR(WriteFrameBlocking(fd, kAuth, 0, proof.data(), proof.size(), p.deadline_ns, what));
  auto their_proof = ReadSmallFrame(fd, kAuth, p.deadline_ns, what);
  if (!their_proof.ok() && their_proof.status().message().find("authentication failed") != std::string::npos)
    return Status::Errorf("tcp", "peer {} failed authentication: wrong cluster secret? (it rejected our proof)",
                          peer_name);
  if (!their_proof.ok()) return their_proof.status();
  if (!SameMac(*their_proof, Proof(*p.secret, "acceptor", kind, mine.world, me, them, mine.nonce, theirs.nonce))) {
    SendErrorFrame(fd, "authentication failed: wrong cluster secret?");
    return Status::Errorf("tcp", "peer {} failed authentication: wrong cluster secret?", peer_name);
  }
  return Status::Ok();
}

Result<AcceptedLink> HandshakeAccept(int fd, const HandshakeParams& p, const std::string& peer_name) {
  const std::string what = fmt::format("peer {}", peer_name);
  PLEXUS_ASSIGN_OR_RETURN(Hello theirs, ReadHello(fd, p.deadline_ns, what));
  const uint32_t me = static_cast<uint32_t>(p.my_rank);
  if (theirs.world != static_cast<uint32_t>(p.world) || theirs.to_rank != me || theirs.from_rank >= me) {
    const std::string why = fmt::format("claims rank {} of {} connecting to rank {}; this is rank {} of {}",
                                        theirs.from_rank, theirs.world, theirs.to_rank, me, p.world);
    SendErrorFrame(fd, why);
    return Status::Errorf("tcp", "{}: {}", what, why);
  }
  Hello mine{theirs.kind, theirs.world, me, theirs.from_rank};
  PLEXUS_ASSIGN_OR_RETURN(mine.nonce, FreshNonce());
  auto hello = EncodeHello(mine);
  PLEXUS_RETURN_IF_ERROR(WriteFrameBlocking(fd, kHello, 0, hello.data(), hello.size(), p.deadline_ns, what));
  PLEXUS_ASSIGN_OR_RETURN(std::vector<uint8_t> their_proof, ReadSmallFrame(fd, kAuth, p.deadline_ns, what));
  const uint32_t them = theirs.from_rank;
  if (!SameMac(their_proof, Proof(*p.secret, "connector", theirs.kind, theirs.world, them, me, theirs.nonce, mine.nonce))) {
    SendErrorFrame(fd, "authentication failed: wrong cluster secret?");
    return Status::Errorf("tcp", "peer {} (claims rank {}) failed authentication: wrong cluster secret?", peer_name, them);
  }
  const Mac proof = Proof(*p.secret, "acceptor", theirs.kind, theirs.world, them, me, theirs.nonce, mine.nonce);
  PLEXUS_RETURN_IF_ERROR(WriteFrameBlocking(fd, kAuth, 0, proof.data(), proof.size(), p.deadline_ns, what));
  return AcceptedLink{static_cast<int>(them), theirs.kind};
}

}  // namespace plexus::tcp
