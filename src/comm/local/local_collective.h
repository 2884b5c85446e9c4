// In-process collectives: ranks are threads of one process, joined by shared
// memory and barriers. Used by tests to run several shards side by side, and
// as the exactness oracle for the network transports.
#pragma once

#include <barrier>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "base/collective.h"

namespace plexus {

// State shared by the ranks of one local group.
class LocalGroup {
 public:
  explicit LocalGroup(int size);
  int size() const { return size_; }

 private:
  friend class LocalCollective;
  int size_;
  std::barrier<> barrier_;
  std::vector<const void*> inputs_;   // [size] what each rank contributes
  std::vector<size_t> input_bytes_;   // [size]
};

class LocalCollective final : public Collective {
 public:
  LocalCollective(std::shared_ptr<LocalGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  // Every rank sums the partials in rank order, so all ranks agree bit for bit.
  Status AllReduceSum(void* data, size_t count, ElemType type) override;
  Status AllGather(const void* in, size_t bytes, void* out) override;
  Status AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) override;

 private:
  std::shared_ptr<LocalGroup> group_;
  int rank_;
  std::vector<float> sum_;  // [count] scratch, reused across calls
};

// A one-way byte channel between two threads.
class LocalChannel {
 public:
  void Send(const void* data, size_t bytes);
  Status Recv(void* data, size_t bytes);

 private:
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::vector<uint8_t>> messages_;
};

// Pipeline link of one rank: receives from `prev` and sends on `next`
// (either may be null at the ends of the pipeline).
class LocalPipeLink final : public PipeLink {
 public:
  LocalPipeLink(std::shared_ptr<LocalChannel> prev, std::shared_ptr<LocalChannel> next)
      : prev_(std::move(prev)), next_(std::move(next)) {}
  Status SendNext(const void* data, size_t bytes) override;
  Status RecvPrev(void* data, size_t bytes) override;

 private:
  std::shared_ptr<LocalChannel> prev_, next_;
};

}  // namespace plexus
