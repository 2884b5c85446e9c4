// Internal to src/comm/ucx (include only under PLEXUS_HAVE_UCX): the
// StepTransport that AlgoCollective runs on, and the pipeline link.
#pragma once

#if PLEXUS_HAVE_UCX

#include <cstdint>
#include <vector>

#include "base/collective.h"
#include "comm/algo/step_transport.h"
#include "comm/ucx/worker.h"

namespace plexus::ucx {

// Peers are group indices; ranks_ maps them to mesh ranks. Tags carry the
// sender's MESH rank (unique per UCX worker, whatever the group) and a
// per-peer message count on each side (send_seq_/recv_seq_ [group size]),
// so algorithms where ranks run different numbers of steps (recursive
// doubling's fold-in) still match message for message.
class UcxStepTransport final : public comm::StepTransport {
 public:
  UcxStepTransport(Worker* worker, std::vector<int> ranks, uint32_t tag);
  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(ranks_.size()); }
  const char* name() const override { return "ucx"; }
  void Clear() override { batch_.Clear(); }
  void Send(int peer, const void* data, size_t bytes) override;
  void Recv(int peer, void* data, size_t bytes) override;
  Status Run(const char* what) override;

 private:
  Worker* w_;
  std::vector<int> ranks_;  // mesh ranks, ascending
  int me_ = 0;
  uint32_t tag_;
  std::vector<uint32_t> send_seq_, recv_seq_;
  OpBatch batch_;
  Status broken_;  // a failed group stays failed
};

// SendNext returns once UCX is done with the buffer (small messages: copied
// out; large ones: the next stage has received them).
class UcxPipeLink final : public PipeLink {
 public:
  UcxPipeLink(Worker* worker, int prev_rank, int next_rank, uint32_t tag);
  Status SendNext(const void* data, size_t bytes) override;
  Status RecvPrev(void* data, size_t bytes) override;

 private:
  Worker* w_;
  int prev_, next_;
  uint32_t tag_;
  uint32_t send_seq_ = 0, recv_seq_ = 0;
  OpBatch batch_;
  Status broken_;
};

}  // namespace plexus::ucx

#endif  // PLEXUS_HAVE_UCX
