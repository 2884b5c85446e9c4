// Cross-process waiting for the shared-memory transport: sequence words in a
// shared segment, published with release stores and awaited spin-then-futex.
//
// A waiter first spins (the peer usually answers within microseconds), then
// sleeps on the peer's word with FUTEX_WAIT and a short timeout. Between
// sleeps it checks that the peer is still there (its pid, its state word, the
// TCP mesh's view of it), so a dead peer turns into an error naming it instead
// of a hang.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/status.h"
#include "comm/tcp/mesh.h"

namespace plexus::shm {

static_assert(std::atomic<uint32_t>::is_always_lock_free, "futex words must be plain lock-free u32s");
static_assert(sizeof(std::atomic<uint32_t>) == 4, "futex words must be plain u32s");

enum RankState : uint32_t { kJoining = 0, kReady = 1, kClosed = 2, kFailed = 3 };

// One rank's control words inside a segment. 128 bytes (two cache lines: the
// adjacent-line prefetcher pairs them) so one rank's publications never
// invalidate the line another rank is polling.
struct alignas(128) RankWord {
  std::atomic<uint32_t> epoch{0};     // futex word: how far this rank has got (phases, or ring cells)
  std::atomic<uint32_t> sleepers{0};  // > 0: someone may be asleep on `epoch`, so publishing must wake
  std::atomic<int32_t> pid{0};        // the process behind the rank (0 until it has joined)
  std::atomic<uint32_t> state{kJoining};
};
static_assert(sizeof(RankWord) == 128);

// Wrap-safe "value has reached target" for 32-bit sequence numbers.
inline bool Reached(uint32_t value, uint32_t target) { return static_cast<int32_t>(value - target) >= 0; }

// Stores `epoch` (release: the data written before it is visible to whoever
// sees it) and wakes sleepers, if any, with one futex syscall.
void Publish(RankWord& word, uint32_t epoch);

// Marks this rank's word closed/failed and wakes anyone asleep on it.
void SetState(RankWord& word, RankState state);

// Whether `pid` names a live process (zombies count as dead: a killed peer
// whose parent has not reaped it yet is gone for our purposes).
bool ProcessAlive(int pid);

// Waits for peers' words on behalf of one transport object.
class Waiter {
 public:
  Waiter(tcp::TcpMesh* mesh, int spin_iterations) : mesh_(mesh), spin_(spin_iterations) {}
  // Returns once word.epoch has reached `target`, or an error naming
  // `mesh_rank` if that peer died, left or failed. `what`: "all-reduce", ...
  Status WaitFor(RankWord& word, int mesh_rank, uint32_t target, const char* what);
  // The liveness check alone (also used before sleeping).
  Status CheckPeer(const RankWord& word, int mesh_rank, const char* what) const;

 private:
  tcp::TcpMesh* mesh_;
  int spin_;
};

}  // namespace plexus::shm
