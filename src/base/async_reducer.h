// AsyncReducer: all-reduces on one dedicated communication thread, so that a
// prefill in tensor parallel can reduce one row chunk while the forward
// thread computes the next (LayerRun's chunked reduce, layer_ops.cc).
//
// Contract (Collective implementations are single-threaded):
//  - Jobs run one at a time, in submission order (FIFO), on the reducer's
//    own thread. Every rank submits the same chunks in the same order, so the
//    ranks' collective calls pair up exactly as a serial reduce's would.
//  - From the first Submit on a collective until Drain() returns, only the
//    reducer thread may call that collective: the submitter must not issue
//    any collective call of its own in between. ReduceScope (below) drains
//    on every exit path, so a caller cannot leave a job in flight.
//  - A job's buffer must stay valid and untouched until Wait(ticket) or
//    Drain() returns.
//  - After a job fails, later jobs queued before the next Drain() are not
//    run (the group is broken, and a peer may never answer): they complete
//    with the first job's error. Drain() returns that error and clears it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "base/collective.h"
#include "base/status.h"

namespace plexus {

class AsyncReducer {
 public:
  AsyncReducer();  // starts the communication thread
  // Waits for the queued jobs, then stops and joins the thread.
  ~AsyncReducer();
  AsyncReducer(const AsyncReducer&) = delete;
  AsyncReducer& operator=(const AsyncReducer&) = delete;

  // Queues an in-place tp.AllReduceSum(data, count, kF32); returns its ticket
  // (1, 2, ... in submission order).
  uint64_t Submit(Collective& tp, float* data, size_t count);
  // Waits until job `ticket` (and so every earlier one) has finished; its status.
  Status Wait(uint64_t ticket);
  // Waits for every submitted job; the first error since the last Drain, if any.
  Status Drain();
  // No job queued or running (for tests and assertions).
  bool idle() const;

 private:
  struct Job {
    Collective* tp;
    float* data;
    size_t count;
  };
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable work_;  // a job was queued, or stop_
  std::condition_variable done_;  // completed_ advanced
  std::deque<Job> queue_;
  uint64_t submitted_ = 0;        // tickets handed out
  uint64_t completed_ = 0;        // tickets finished (run or skipped)
  uint64_t failed_from_ = 0;      // first failed ticket since the last Drain; 0: none
  Status error_;                  // its error
  bool stop_ = false;
  std::thread thread_;
};

// Drains `reducer` when it goes out of scope, so an early return (an error in
// one chunk) never leaves a job in flight on a buffer or a collective that
// the caller is about to reuse.
class ReduceScope {
 public:
  explicit ReduceScope(AsyncReducer& reducer) : reducer_(reducer) {}
  ~ReduceScope() { (void)reducer_.Drain(); }
  ReduceScope(const ReduceScope&) = delete;
  ReduceScope& operator=(const ReduceScope&) = delete;
  AsyncReducer& reducer() { return reducer_; }

 private:
  AsyncReducer& reducer_;
};

}  // namespace plexus
