// Which transport carries each group's collectives and each pipeline hop.
//
// Right after the TCP mesh has authenticated every pair, each rank sends
// every peer a TransportOffer (its host identity, whether it has UCX and an
// RDMA device) on the control channel. Every rank then holds the offers of all
// ranks and makes the same choices from them, with no further round:
//  - a pair on one host (same boot id, hostname and IPC namespace): shm;
//  - a pair where both have UCX and an RDMA device: ucx (UCX picks verbs,
//    RoCE or InfiniBand itself; UCX_TLS / UCX_NET_DEVICES steer it);
//  - otherwise: tcp.
// A collective group uses the best transport that every pair inside it
// shares (shm only when all members share a host). `--transport X` forces X
// where every pair can use it, and fails naming the pair that cannot.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/collective.h"
#include "base/status.h"
#include "comm/algo/collective.h"
#include "comm/tcp/mesh.h"
#include "comm/ucx/context.h"

namespace plexus::cluster {

enum class TransportKind : uint8_t { kAuto = 0, kTcp = 1, kShm = 2, kUcx = 3 };

const char* TransportName(TransportKind kind);  // "auto", "tcp", "shm", "ucx"
Result<TransportKind> ParseTransport(std::string_view name);  // error names --transport

struct TransportOffer {
  std::string host;   // shm::HostIdentity()
  bool ucx = false;   // plexus built with UCX
  bool rdma = false;  // an RDMA device is present (/sys/class/infiniband)
};

TransportOffer LocalTransportOffer();
std::vector<uint8_t> EncodeOffer(const TransportOffer& offer);
Status DecodeOffer(std::span<const uint8_t> bytes, TransportOffer* offer);

// The transport for a group whose members made `offers` (pure; tests use it).
// `wanted` kAuto picks the best; any other kind is checked: an error names
// the first pair (group indices) that cannot use it.
Result<TransportKind> ChooseTransport(const std::vector<TransportOffer>& offers, TransportKind wanted);

// One rank's transports over an authenticated mesh.
class Transports {
 public:
  // Every rank calls it together, right after the mesh is up and before any
  // other control traffic (offers, and then UCX's addresses, are read in order).
  static Result<std::unique_ptr<Transports>> Negotiate(tcp::TcpMesh& mesh, TransportKind wanted,
                                                       std::function<void(const std::string&)> log = {});
  ~Transports();

  // A collective over `ranks` (sorted mesh ranks including this one): every
  // member calls it together with the same ranks and tag.
  // `algo` applies to the message-passing transports (tcp, ucx); shm has its own.
  Result<std::unique_ptr<Collective>> NewCollective(const std::vector<int>& ranks, uint32_t tag,
                                                    comm::AllReduceAlgo algo = comm::AllReduceAlgo::kAuto);
  // The pipeline link of this rank (-1: none); both ends of a hop call it together.
  Result<std::unique_ptr<PipeLink>> NewPipeLink(int prev_rank, int next_rank, uint32_t tag);

  // What NewCollective would use, or why none can (a forced --transport).
  Result<TransportKind> Choose(const std::vector<int>& ranks) const;
  // For logs and the dashboard, e.g. "shm", "ucx (tcp/eth0)", "tcp", or
  // "none (why)" for a pair the forced transport cannot join.
  std::string Describe(int peer) const;
  std::string DescribeGroup(const std::vector<int>& ranks) const;
  ucx::UcxContext* ucx() { return ucx_.get(); }  // null unless some group uses UCX

 private:
  Transports(tcp::TcpMesh& mesh, TransportKind wanted, std::vector<TransportOffer> offers)
      : mesh_(mesh), wanted_(wanted), offers_(std::move(offers)) {}

  tcp::TcpMesh& mesh_;
  TransportKind wanted_;
  std::vector<TransportOffer> offers_;  // [mesh rank]
  std::unique_ptr<ucx::UcxContext> ucx_;  // when some group uses UCX
};

}  // namespace plexus::cluster
