// POSIX shared-memory segments for the same-host transport, and how ranks
// agree on one over the TCP mesh's control channel.
//
// Bootstrap (every member at once):
//   creator: Segment::Create (random name, O_EXCL, 0600) -> SendOffer to each member
//   member:  AcceptOffer (checks host identity, opens + maps) -> SendAck
//   creator: RecvAck from each -> Unlink (the name is gone; the mapping lives
//            on until the last process unmaps or exits, so a crash leaks nothing)
// Control frame types 0x200..0x20f belong to this transport.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "comm/tcp/mesh.h"

namespace plexus::shm {

enum ShmFrameType : uint16_t {
  kOfferFrame = 0x200,   // creator -> member: "map this segment" (Offer, as text)
  kAckFrame = 0x201,     // member -> creator: mapped and joined
  kRefuseFrame = 0x202,  // member -> creator: cannot join; payload: reason
  kGoFrame = 0x203,      // creator -> member: everyone has joined
};

// Who can share /dev/shm with whom: boot id (same kernel), hostname, and the
// IPC namespace inode (containers on one kernel may not see each other's
// /dev/shm). Equal strings: same-host transport possible.
std::string HostIdentity();

// A mapped segment; unmaps on destruction and unlinks if still named.
class Segment {
 public:
  // A fresh segment of `bytes` (zero-filled), with a random unguessable name.
  static Result<Segment> Create(size_t bytes);
  // Maps an existing segment, which must be exactly `bytes` long.
  static Result<Segment> Open(const std::string& name, size_t bytes);

  Segment() = default;
  Segment(Segment&& o) noexcept { *this = std::move(o); }
  Segment& operator=(Segment&& o) noexcept;
  ~Segment();

  uint8_t* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  const std::string& name() const { return name_; }
  // Removes the name from /dev/shm (idempotent); the mapping stays valid.
  void Unlink();

 private:
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  std::string name_;
  bool owner_named_ = false;  // we created it and have not unlinked it yet
};

// What the creator tells members. `kind` and `tag` must match what the member
// expects, so two groups set up over the same peers cannot be confused.
struct Offer {
  std::string kind;  // "collective" or "pipe"
  uint32_t tag = 0;
  uint64_t bytes = 0;
  std::string name;
  std::string host;  // the creator's HostIdentity()
};

Status SendOffer(tcp::TcpMesh& mesh, int peer, const Offer& offer);
// Receives the creator's offer, checks kind/tag/host and maps the segment. On
// a mismatch it tells the creator why (kRefuseFrame) and fails.
Result<Segment> AcceptOffer(tcp::TcpMesh& mesh, int creator, const std::string& kind, uint32_t tag,
                            std::chrono::milliseconds timeout);
// Waits for a frame of `type` from `peer`; a refusal becomes an error carrying its reason.
Status ExpectFrame(tcp::TcpMesh& mesh, int peer, uint16_t type, std::chrono::milliseconds timeout, const char* what);

}  // namespace plexus::shm
