#include "comm/shm/sync.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace plexus::shm {
namespace {

// How long one futex sleep lasts before the peer's liveness is checked again:
// a dead peer is noticed within about this long.
constexpr long kSleepNs = 50'000'000;

uint32_t* FutexAddr(std::atomic<uint32_t>& a) { return reinterpret_cast<uint32_t*>(&a); }

// Shared (not FUTEX_PRIVATE) futexes: the word lives in memory mapped by
// several processes. Returns on a wake-up, a changed word, a signal or after
// kSleepNs; the caller rechecks in every case.
void FutexWait(std::atomic<uint32_t>& word, uint32_t expected) {
  timespec ts{0, kSleepNs};
  syscall(SYS_futex, FutexAddr(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, FutexAddr(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

void Publish(RankWord& word, uint32_t epoch) {
  // seq_cst store then seq_cst load of `sleepers`: pairs with the waiter's
  // increment-then-recheck, so either the waiter sees the new epoch or we see
  // it registered and wake it (no lost wake-up).
  word.epoch.store(epoch, std::memory_order_seq_cst);
  if (word.sleepers.load(std::memory_order_seq_cst) != 0) FutexWakeAll(word.epoch);
}

void SetState(RankWord& word, RankState state) {
  word.state.store(state, std::memory_order_seq_cst);
  FutexWakeAll(word.epoch);  // sleepers recheck the state when they wake
}

namespace {

// The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), or 0 when it
// cannot be read (gone, or another PID namespace).
char ProcessState(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  const size_t paren = line.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos || paren + 2 >= line.size()) return 0;
  return line[paren + 2];
}

}  // namespace

bool ProcessAlive(int pid) {
  if (pid <= 0) return true;  // not joined yet: nothing to check
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  const char state = ProcessState(pid);  // 0: cannot tell, assume alive
  return state != 'Z' && state != 'X';
}

namespace {

// A stopped process (SIGSTOP, a debugger): alive, but it will not answer.
bool ProcessStopped(int pid) {
  if (pid <= 0) return false;
  const char state = ProcessState(pid);
  return state == 'T' || state == 't';
}

}  // namespace

Status Waiter::CheckPeer(const RankWord& word, int mesh_rank, const char* what) const {
  const int pid = word.pid.load(std::memory_order_acquire);
  switch (word.state.load(std::memory_order_acquire)) {
    case kClosed:
      return Status::Errorf("shm", "rank {} (pid {}) left the group during {}", mesh_rank, pid, what);
    case kFailed:
      return Status::Errorf("shm", "rank {} (pid {}) gave up after an earlier error during {}", mesh_rank, pid, what);
    default:
      break;
  }
  if (!ProcessAlive(pid)) return Status::Errorf("shm", "rank {} (pid {}) died during {}", mesh_rank, pid, what);
  if (Status st = mesh_->PeerStatus(mesh_rank); !st.ok())
    return Status::Errorf("shm", "rank {} (pid {}) failed during {}: {}", mesh_rank, pid, what, st.message());
  return Status::Ok();
}

Status Waiter::WaitFor(RankWord& word, int mesh_rank, uint32_t target, const char* what) {
  // Spin: the common case, a peer on another core, answers within a few
  // microseconds. Past the first 256 polls, yield every 64 so that with more
  // ranks than cores (or two ranks stacked on one core by the scheduler) the
  // rank we wait for gets to run; measured, this costs nothing when pinned.
  for (int i = 0; i < spin_; ++i) {
    if (Reached(word.epoch.load(std::memory_order_acquire), target)) return Status::Ok();
    if (i >= 256 && (i & 63) == 63) std::this_thread::yield();
  }
  // Nobody reads the TCP links during shm steps, so the mesh's silence
  // timeout cannot see a hung peer; a stopped one is caught here instead,
  // after the same peer_timeout.
  const auto stopped_limit = std::chrono::steady_clock::duration(mesh_->options().peer_timeout);
  std::chrono::steady_clock::time_point stopped_since{};
  for (;;) {
    word.sleepers.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seen = word.epoch.load(std::memory_order_seq_cst);
    if (!Reached(seen, target)) FutexWait(word.epoch, seen);
    word.sleepers.fetch_sub(1, std::memory_order_seq_cst);
    if (Reached(word.epoch.load(std::memory_order_acquire), target)) return Status::Ok();
    PLEXUS_RETURN_IF_ERROR(CheckPeer(word, mesh_rank, what));
    const int pid = word.pid.load(std::memory_order_acquire);
    if (!ProcessStopped(pid)) {
      stopped_since = {};
    } else if (stopped_since == std::chrono::steady_clock::time_point{}) {
      stopped_since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - stopped_since > stopped_limit) {
      mesh_->FailPeer(mesh_rank, "stopped (not running) beyond the peer timeout");
      return Status::Errorf("shm", "rank {} (pid {}) has been stopped for over {} ms during {}", mesh_rank, pid,
                            mesh_->options().peer_timeout.count(), what);
    }
  }
}

}  // namespace plexus::shm
