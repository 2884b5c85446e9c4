#include "comm/local/local_collective.h"

#include <cstring>

namespace plexus {

LocalGroup::LocalGroup(int size)
    : size_(size), barrier_(size), inputs_(static_cast<size_t>(size)), input_bytes_(static_cast<size_t>(size)) {}

Status LocalCollective::AllReduceSum(void* data, size_t count, ElemType type) {
  if (type != ElemType::kF32) return Status::Errorf("local", "all-reduce supports f32 only");
  LocalGroup& g = *group_;
  g.inputs_[rank_] = data;
  g.barrier_.arrive_and_wait();  // every partial is published
  sum_.assign(count, 0.0f);
  for (int r = 0; r < g.size_; ++r) {
    const float* part = static_cast<const float*>(g.inputs_[r]);
    for (size_t i = 0; i < count; ++i) sum_[i] += part[i];
  }
  g.barrier_.arrive_and_wait();  // nobody reads the partials any more
  std::memcpy(data, sum_.data(), count * sizeof(float));
  return Status::Ok();
}

Status LocalCollective::AllGather(const void* in, size_t bytes, void* out) {
  std::vector<size_t> sizes(static_cast<size_t>(size()), bytes);
  return AllGatherV(in, sizes.data(), out);
}

Status LocalCollective::AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) {
  LocalGroup& g = *group_;
  g.inputs_[rank_] = in;
  g.barrier_.arrive_and_wait();
  auto* dst = static_cast<uint8_t*>(out);
  for (int r = 0; r < g.size_; ++r) {
    if (g.inputs_[r] != dst) std::memmove(dst, g.inputs_[r], bytes_per_rank[r]);
    dst += bytes_per_rank[r];
  }
  g.barrier_.arrive_and_wait();
  return Status::Ok();
}

void LocalChannel::Send(const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  {
    std::lock_guard<std::mutex> lock(mu_);
    messages_.emplace_back(p, p + bytes);
  }
  ready_.notify_one();
}

Status LocalChannel::Recv(void* data, size_t bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  ready_.wait(lock, [&] { return !messages_.empty(); });
  std::vector<uint8_t> msg = std::move(messages_.front());
  messages_.pop_front();
  if (msg.size() != bytes)
    return Status::Errorf("local", "pipeline message of {} bytes where {} were expected", msg.size(), bytes);
  std::memcpy(data, msg.data(), bytes);
  return Status::Ok();
}

Status LocalPipeLink::SendNext(const void* data, size_t bytes) {
  if (!next_) return Status::Errorf("local", "the last pipeline stage has no next stage");
  next_->Send(data, bytes);
  return Status::Ok();
}

Status LocalPipeLink::RecvPrev(void* data, size_t bytes) {
  if (!prev_) return Status::Errorf("local", "the first pipeline stage has no previous stage");
  return prev_->Recv(data, bytes);
}

}  // namespace plexus
