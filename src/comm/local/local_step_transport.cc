#include "comm/local/local_step_transport.h"

#include <cstring>

namespace plexus::comm {

LocalStepGroup::LocalStepGroup(int size, std::chrono::milliseconds timeout)
    : size_(size),
      timeout_(timeout),
      slots_(static_cast<size_t>(size) * static_cast<size_t>(size)),
      gone_(static_cast<size_t>(size)) {}

LocalStepTransport::LocalStepTransport(std::shared_ptr<LocalStepGroup> group, int rank)
    : group_(std::move(group)), rank_(rank) {
  sends_.reserve(static_cast<size_t>(group_->size()));
  recvs_.reserve(static_cast<size_t>(group_->size()));
}

void LocalStepTransport::Clear() {
  sends_.clear();
  recvs_.clear();
}

void LocalStepTransport::Send(int peer, const void* data, size_t bytes) {
  sends_.push_back(Op{peer, const_cast<void*>(data), bytes});
}

void LocalStepTransport::Recv(int peer, void* data, size_t bytes) { recvs_.push_back(Op{peer, data, bytes}); }

Status LocalStepTransport::Gone(int peer, const char* what) const {
  return Status::Errorf("local", "rank {} left during {}: {}", peer, what, group_->gone_[peer]);
}

Status LocalStepTransport::Fail(std::unique_lock<std::mutex>& lock, Status st) {
  lock.unlock();
  Leave(st.message());  // like a TCP ABORT: nobody keeps waiting on this rank
  return st;
}

// Copies the message from op.peer once it is posted (under the lock: a
// sender that leaves may not free its buffer under a reader).
Status LocalStepTransport::WaitRecv(std::unique_lock<std::mutex>& lock, const Op& op, const char* what) {
  LocalStepGroup& g = *group_;
  LocalStepGroup::Slot& slot = g.slots_[static_cast<size_t>(op.peer * g.size_ + rank_)];
  const bool ready = g.cv_.wait_for(lock, g.timeout_, [&] { return slot.posted || !g.gone_[op.peer].empty(); });
  if (!slot.posted && !g.gone_[op.peer].empty()) return Gone(op.peer, what);
  if (!ready) return Status::Errorf("local", "timed out waiting for rank {} during {}", op.peer, what);
  if (slot.bytes != op.bytes)
    return Status::Errorf("local", "rank {} sent {} bytes where {} were expected during {}", op.peer, slot.bytes,
                          op.bytes, what);
  std::memcpy(op.data, slot.data, op.bytes);
  slot.posted = false;
  g.cv_.notify_all();
  return Status::Ok();
}

Status LocalStepTransport::WaitTaken(std::unique_lock<std::mutex>& lock, const Op& op, const char* what) {
  LocalStepGroup& g = *group_;
  LocalStepGroup::Slot& slot = g.slots_[static_cast<size_t>(rank_ * g.size_ + op.peer)];
  const bool taken = g.cv_.wait_for(lock, g.timeout_, [&] { return !slot.posted || !g.gone_[op.peer].empty(); });
  if (slot.posted && !g.gone_[op.peer].empty()) return Gone(op.peer, what);
  if (!taken)
    return Status::Errorf("local", "timed out waiting for rank {} to take a message during {}", op.peer, what);
  return Status::Ok();
}

Status LocalStepTransport::Run(const char* what) {
  LocalStepGroup& g = *group_;
  std::unique_lock<std::mutex> lock(g.mu_);
  if (!g.gone_[rank_].empty()) return Status::Errorf("local", "rank {} already failed: {}", rank_, g.gone_[rank_]);
  for (const Op& op : sends_) {
    LocalStepGroup::Slot& slot = g.slots_[static_cast<size_t>(rank_ * g.size_ + op.peer)];
    slot = LocalStepGroup::Slot{op.data, op.bytes, true};
  }
  g.cv_.notify_all();
  for (const Op& op : recvs_)
    if (Status st = WaitRecv(lock, op, what); !st.ok()) return Fail(lock, st);
  for (const Op& op : sends_)
    if (Status st = WaitTaken(lock, op, what); !st.ok()) return Fail(lock, st);
  return Status::Ok();
}

void LocalStepTransport::Leave(const std::string& reason) {
  LocalStepGroup& g = *group_;
  std::lock_guard<std::mutex> lock(g.mu_);
  if (g.gone_[rank_].empty()) g.gone_[rank_] = reason.empty() ? "left" : reason;
  for (int to = 0; to < g.size_; ++to) g.slots_[static_cast<size_t>(rank_ * g.size_ + to)].posted = false;
  g.cv_.notify_all();
}

}  // namespace plexus::comm
