// One persistent pool of worker threads behind one ParallelFor.
//
// Created once per process (or per shard in tests) and reused for every
// forward pass; threads are never created on the hot path. The calling
// thread takes part as worker 0, so a pool of size 1 runs everything inline.
//
// Waking: a forward pass hands out jobs every few microseconds (one per
// matrix), too often for a condition-variable wake-up each time. So after a
// job a worker spins on the job counter for up to kSpinUs before it goes to
// sleep on the condition variable: workers spin while a forward pass runs and
// sleep between requests. The spin is short (kSpinUs) because on a machine
// shared with other busy processes a spinning thread takes CPU time from the
// thread it waits for. With PLEXUS_PIN_THREADS=1 workers are pinned to the
// allowed CPUs, one each (off by default: pinning every process's worker 1
// to the same CPU made concurrent runs crawl).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus {

class ThreadPool {
 public:
  // How long an idle worker (and a caller waiting for workers) spins before
  // sleeping: longer than the gaps between the ops of one forward pass.
  static constexpr int64_t kSpinUs = 100;

  // n_threads counts the caller; 0 means "all hardware threads".
  explicit ThreadPool(int n_threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index) once on each of the size() threads and waits for
  // all of them. Use when every thread must do its own share (for example a
  // row range computed from thread_index).
  void RunOnAll(const std::function<void(int thread_index)>& fn);

  // Splits [0, n) into contiguous chunks of at least `grain` items and runs
  // fn(begin, end) over them on all threads. Each thread starts on a range
  // of its own, one contiguous slice of [0, n), and walks it front to back
  // a chunk at a time; a thread whose range runs out takes the back half of
  // the largest range left and walks that. So uneven work balances itself
  // (a thread slowed by another process simply ends up with less), and
  // each thread reads memory in long runs: a decode matvec's prefetch
  // stream restarts only where a thread steals, not at every chunk.
  void ParallelFor(size_t n, size_t grain, const std::function<void(size_t begin, size_t end)>& fn);

 private:
  void WorkerLoop(int index);
  // Waits until generation_ differs from `seen`; returns it, or `seen` on stop.
  uint64_t AwaitJob(uint64_t seen);

  // ParallelFor's hand-out, in units of one chunk: thread t's range
  // [front, back) of chunk indices, front in the low 32 bits of `bounds`
  // and back in the high 32, a cache line per thread.
  struct alignas(64) OwnedRange {
    std::atomic<uint64_t> bounds{0};
  };
  // The next chunk index of thread t's range, or false when it is empty.
  bool TakeFront(int t, uint64_t* unit);
  // Moves the back half of the largest other range into thread t's (empty)
  // one; false when every range is empty.
  bool StealHalf(int t);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<const std::function<void(int)>*> job_{nullptr};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::vector<OwnedRange> ranges_;  // n_threads_ of them
};

}  // namespace plexus
