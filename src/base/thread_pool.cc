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

void ThreadPool::ParallelFor(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // About 8 chunks per thread: enough to balance, few enough to stay cheap.
  size_t chunk = std::max(grain, (n + 8 * n_threads_ - 1) / (8 * n_threads_));
  std::atomic<size_t> next{0};
  RunOnAll([&](int) {
    for (;;) {
      size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= n) return;
      fn(begin, std::min(n, begin + chunk));
    }
  });
}

}  // namespace plexus
