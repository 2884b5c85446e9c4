// One persistent pool of worker threads behind one ParallelFor.
//
// Created once per process (or per shard in tests) and reused for every
// forward pass; threads are never created on the hot path. The calling
// thread takes part as worker 0, so a pool of size 1 runs everything inline.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus {

class ThreadPool {
 public:
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
  // fn(begin, end) over them on all threads. Chunks are handed out
  // dynamically, so uneven work balances itself.
  void ParallelFor(size_t n, size_t grain, const std::function<void(size_t begin, size_t end)>& fn);

 private:
  void WorkerLoop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace plexus
