// Collective and PipeLink over a TcpMesh (the interfaces of base/collective.h).
//
// All-reduce, chosen by size (CollectiveOptions):
//  - one-shot, for decode-sized vectors: every rank sends its partial to every
//    other and each sums all partials in group-rank order, 0 + p0 + p1 + ...:
//    one round trip, bit-identical everywhere, and the same bytes as
//    LocalCollective.
//  - ring reduce-scatter + all-gather, for prefill-sized vectors: 2(n-1) steps
//    moving 2(n-1)/n of the vector per rank. Chunk c (elements
//    [c*count/n, (c+1)*count/n)) is accumulated along the ring starting at
//    group rank c, ((p_c + p_c+1) + ...) + p_c-1, by exactly one owner, and the
//    all-gather copies the owner's bytes to everyone: bit-identical on all
//    ranks (not necessarily equal to the one-shot sum in the last bit).
// Buffers grow only when a larger call arrives; steady-state calls allocate nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/collective.h"
#include "comm/tcp/exchange.h"
#include "comm/tcp/mesh.h"

namespace plexus::tcp {

class TcpCollective final : public Collective {
 public:
  TcpCollective(TcpMesh* mesh, std::vector<int> ranks, CollectiveOptions options);
  int rank() const override { return me_; }  // index in the group
  int size() const override { return static_cast<int>(ranks_.size()); }
  Status AllReduceSum(void* data, size_t count, ElemType type) override;
  Status AllGather(const void* in, size_t bytes, void* out) override;
  // `in` may be the slot of this rank inside `out`, or must not overlap it.
  Status AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) override;

  AllReduceAlgo ChooseAlgo(size_t bytes) const;
  const std::vector<int>& ranks() const { return ranks_; }  // mesh ranks, ascending

 private:
  Status OneShot(float* data, size_t count);
  Status Ring(float* data, size_t count);
  Status RingStep(const float* send, size_t send_count, float* recv, size_t recv_count, const char* what);
  Status Sticky(Status st);  // a failed collective stays failed

  TcpMesh* mesh_;
  std::vector<int> ranks_;
  int me_ = 0;
  CollectiveOptions opt_;
  Exchange ex_;
  std::vector<float> scratch_;  // one-shot: (n-1) partials; ring: one chunk
  std::vector<float> sum_;
  std::vector<size_t> gather_sizes_;
  Status broken_;
};

class TcpPipeLink final : public PipeLink {
 public:
  TcpPipeLink(TcpMesh* mesh, int prev_rank, int next_rank, uint32_t channel);
  // Returns once the bytes are handed to the kernel (emulated: released).
  Status SendNext(const void* data, size_t bytes) override;
  Status RecvPrev(void* data, size_t bytes) override;

 private:
  int prev_, next_;
  Exchange send_ex_, recv_ex_;
};

}  // namespace plexus::tcp
