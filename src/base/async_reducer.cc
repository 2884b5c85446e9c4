#include "base/async_reducer.h"

#include <pthread.h>

namespace plexus {

AsyncReducer::AsyncReducer() {
  // Created on the forward thread, the new thread inherits its settings
  // (e.g. the 1 ns timer slack an emulated link sets on that thread).
  thread_ = std::thread([this] { Loop(); });
  pthread_setname_np(thread_.native_handle(), "plexus-reduce");
}

AsyncReducer::~AsyncReducer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_.notify_one();
  thread_.join();
}

uint64_t AsyncReducer::Submit(Collective& tp, float* data, size_t count) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({&tp, data, count});
    ticket = ++submitted_;
  }
  work_.notify_one();
  return ticket;
}

Status AsyncReducer::Wait(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return completed_ >= ticket; });
  if (failed_from_ != 0 && ticket >= failed_from_) return error_;
  return Status::Ok();
}

Status AsyncReducer::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return completed_ == submitted_; });
  Status st = std::move(error_);
  error_ = Status::Ok();
  failed_from_ = 0;
  return st;
}

bool AsyncReducer::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return completed_ == submitted_;
}

// Runs queued jobs until stop_ with an empty queue: the destructor lets the
// queued jobs finish (or be skipped after a failure) before the join.
void AsyncReducer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    const Job job = queue_.front();
    queue_.pop_front();
    const uint64_t ticket = completed_ + 1;
    if (failed_from_ == 0) {
      lock.unlock();  // the collective runs without the lock: Submit and Wait stay free
      Status st = job.tp->AllReduceSum(job.data, job.count, ElemType::kF32);
      lock.lock();
      if (!st.ok()) {
        failed_from_ = ticket;
        error_ = std::move(st);
      }
    }
    completed_ = ticket;
    done_.notify_all();
  }
}

}  // namespace plexus
