// Collective and PipeLink over a TcpMesh (the interfaces of base/collective.h).
//
// The collective is comm::AlgoCollective (algo/collective.h: one-shot,
// recursive doubling and ring all-reduce, their summation orders and the
// kAuto table) over a TcpStepTransport; TcpCollective names it
// (mesh.h). This file keeps the pipeline link and the group channels.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/collective.h"
#include "comm/algo/collective.h"
#include "comm/tcp/exchange.h"
#include "comm/tcp/mesh.h"
#include "comm/tcp/step_transport.h"

namespace plexus::tcp {

// The channel of the collective over mesh `ranks` with `tag` (< 2^24): every
// member computes the same, two groups over the same ranks differ by tag.
uint32_t GroupChannel(const std::vector<int>& ranks, uint32_t tag);

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
