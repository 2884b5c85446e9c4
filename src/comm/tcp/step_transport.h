// TcpStepTransport: the StepTransport of algo/collective.h over a TcpMesh.
//
// Group index g is mesh rank ranks[g]; one Exchange on the group's channel
// does the work (all posted ops progress together on the calling thread).
#pragma once

#include <cstdint>
#include <vector>

#include "comm/algo/step_transport.h"
#include "comm/tcp/exchange.h"

namespace plexus::tcp {

class TcpMesh;

class TcpStepTransport final : public comm::StepTransport {
 public:
  // `ranks`: mesh ranks of the group, ascending, containing this rank;
  // `channel`: the group's channel (every member passes the same).
  TcpStepTransport(TcpMesh* mesh, std::vector<int> ranks, uint32_t channel);
  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(ranks_.size()); }
  const char* name() const override { return "tcp"; }
  void Clear() override { ex_.Clear(); }
  void Send(int peer, const void* data, size_t bytes) override { ex_.Send(ranks_[peer], data, bytes); }
  void Recv(int peer, void* data, size_t bytes) override { ex_.Recv(ranks_[peer], data, bytes); }
  Status Run(const char* what) override { return ex_.Run(what); }

  const std::vector<int>& ranks() const { return ranks_; }  // mesh ranks, ascending

 private:
  std::vector<int> ranks_;
  int me_;
  Exchange ex_;
};

}  // namespace plexus::tcp
