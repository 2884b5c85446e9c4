#include "base/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace plexus {
namespace {

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() or kSpinUs pass; true when done() became true.
template <class Done>
bool SpinFor(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(ThreadPool::kSpinUs);
  for (int i = 0;; ++i) {
    if (done()) return true;
    CpuRelax();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

// Pins the calling thread to the slot-th CPU this process may run on, when
// there are at least `needed` of them (otherwise pinning would stack threads).
void PinToAllowedCpu(int slot, int needed) {
  const char* pin = std::getenv("PLEXUS_PIN_THREADS");
  if (pin == nullptr || pin[0] != '1') return;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < needed) return;
  int seen = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (seen++ != slot) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof(one), &one);  // best effort
    return;
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  ranges_ = std::vector<OwnedRange>(static_cast<size_t>(n_threads_));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

uint64_t ThreadPool::AwaitJob(uint64_t seen) {
  const auto published = [&] { return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
  if (!SpinFor(published)) {
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait(lock, published);
  }
  return stop_.load() ? seen : generation_.load(std::memory_order_acquire);
}

void ThreadPool::WorkerLoop(int index) {
  // Worker i on allowed CPU i; the caller (worker 0) stays where the OS puts it.
  PinToAllowedCpu(index, n_threads_);
  uint64_t seen = 0;
  for (;;) {
    const uint64_t generation = AwaitJob(seen);
    if (generation == seen) return;  // stop
    seen = generation;
    (*job_.load(std::memory_order_acquire))(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::RunOnAll(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_.store(&fn, std::memory_order_release);
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    // Under the lock, so a worker about to sleep sees the new generation.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  fn(0);
  const auto all_done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  while (!SpinFor(all_done)) std::this_thread::yield();
}

namespace {

constexpr uint64_t PackRange(uint64_t front, uint64_t back) { return front | back << 32; }
constexpr uint64_t RangeFront(uint64_t bounds) { return bounds & 0xFFFFFFFFu; }
constexpr uint64_t RangeBack(uint64_t bounds) { return bounds >> 32; }

}  // namespace

bool ThreadPool::TakeFront(int t, uint64_t* unit) {
  std::atomic<uint64_t>& bounds = ranges_[static_cast<size_t>(t)].bounds;
  uint64_t cur = bounds.load(std::memory_order_relaxed);
  while (RangeFront(cur) < RangeBack(cur)) {
    if (bounds.compare_exchange_weak(cur, PackRange(RangeFront(cur) + 1, RangeBack(cur)), std::memory_order_relaxed)) {
      *unit = RangeFront(cur);
      return true;
    }
  }
  return false;
}

bool ThreadPool::StealHalf(int t) {
  for (;;) {
    int victim = -1;
    uint64_t most = 0, seen = 0;
    for (int v = 0; v < n_threads_; ++v) {
      const uint64_t b = ranges_[static_cast<size_t>(v)].bounds.load(std::memory_order_relaxed);
      const uint64_t left = RangeFront(b) < RangeBack(b) ? RangeBack(b) - RangeFront(b) : 0;
      if (v != t && left > most) victim = v, most = left, seen = b;
    }
    if (victim < 0) return false;
    // The victim keeps the front half (it is reading there); a single chunk left goes to the thief.
    const uint64_t mid = RangeFront(seen) + most / 2;
    if (ranges_[static_cast<size_t>(victim)].bounds.compare_exchange_strong(
            seen, PackRange(RangeFront(seen), mid), std::memory_order_relaxed)) {
      // Only this thread knew of [mid, back) until now; t's own range was empty.
      ranges_[static_cast<size_t>(t)].bounds.store(PackRange(mid, RangeBack(seen)), std::memory_order_relaxed);
      return true;
    }
  }
}

void ThreadPool::ParallelFor(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // About 32 chunks per thread: the ranges are contiguous, so fine chunks
  // cost only their hand-out, and the last ones, split between threads,
  // leave little waiting at the end. Chunk indices fit the 32-bit halves.
  const size_t chunk = std::max({grain, (n + 32 * n_threads_ - 1) / (32 * n_threads_), n >> 31});
  const uint64_t units = (n + chunk - 1) / chunk;
  for (int t = 0; t < n_threads_; ++t) {
    const uint64_t begin = units * static_cast<uint64_t>(t) / static_cast<uint64_t>(n_threads_);
    const uint64_t end = units * static_cast<uint64_t>(t + 1) / static_cast<uint64_t>(n_threads_);
    ranges_[static_cast<size_t>(t)].bounds.store(PackRange(begin, end), std::memory_order_relaxed);
  }
  RunOnAll([&](int t) {  // RunOnAll's release publishes the ranges
    uint64_t unit;
    do {
      while (TakeFront(t, &unit)) fn(unit * chunk, std::min<size_t>(n, (unit + 1) * chunk));
    } while (StealHalf(t));
  });
}

}  // namespace plexus
