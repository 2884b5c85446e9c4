#include "comm/tcp/collective.h"

#include <algorithm>

namespace plexus::tcp {
namespace {

constexpr uint32_t kCollectiveChannel = 1u << 24;
constexpr uint32_t kPipeChannel = 2u << 24;

int GroupIndex(const std::vector<int>& ranks, int rank) {
  auto it = std::find(ranks.begin(), ranks.end(), rank);
  return it == ranks.end() ? -1 : static_cast<int>(it - ranks.begin());
}

}  // namespace

// 24-bit FNV-1a of the member list and tag.
uint32_t GroupChannel(const std::vector<int>& ranks, uint32_t tag) {
  uint32_t h = 2166136261u;
  auto mix = [&h](uint32_t v) {
    for (int i = 0; i < 4; ++i) h = (h ^ ((v >> (8 * i)) & 0xFF)) * 16777619u;
  };
  for (int r : ranks) mix(static_cast<uint32_t>(r));
  mix(tag);
  return kCollectiveChannel | (h & 0xFFFFFF);
}

Result<std::unique_ptr<TcpCollective>> TcpMesh::NewCollective(std::vector<int> ranks, CollectiveOptions options) {
  if (!std::is_sorted(ranks.begin(), ranks.end()) || std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end())
    return Status::Errorf("tcp", "collective ranks must be ascending and unique");
  if (ranks.empty() || ranks.front() < 0 || ranks.back() >= size())
    return Status::Errorf("tcp", "collective ranks must lie in [0, {})", size());
  if (GroupIndex(ranks, rank()) < 0) return Status::Errorf("tcp", "rank {} is not in the collective's ranks", rank());
  if (options.tag >= (1u << 24)) return Status::Errorf("tcp", "collective tag {} is over 2^24", options.tag);
  const uint32_t channel = GroupChannel(ranks, options.tag);
  return std::make_unique<TcpCollective>(std::make_unique<TcpStepTransport>(this, std::move(ranks), channel),
                                         comm::AlgoOptions{options.algo, options.table});
}

Result<std::unique_ptr<TcpPipeLink>> TcpMesh::NewPipeLink(int prev_rank, int next_rank, uint32_t tag) {
  for (int r : {prev_rank, next_rank})
    if (r != -1 && (r < 0 || r >= size() || r == rank()))
      return Status::Errorf("tcp", "pipeline peer {} is not another rank of this {}-rank mesh", r, size());
  if (tag >= (1u << 24)) return Status::Errorf("tcp", "pipeline tag {} is over 2^24", tag);
  return std::make_unique<TcpPipeLink>(this, prev_rank, next_rank, kPipeChannel | tag);
}

TcpPipeLink::TcpPipeLink(TcpMesh* mesh, int prev_rank, int next_rank, uint32_t channel)
    : prev_(prev_rank),
      next_(next_rank),
      send_ex_(mesh, next_rank >= 0 ? std::vector<int>{next_rank} : std::vector<int>{}, channel),
      recv_ex_(mesh, prev_rank >= 0 ? std::vector<int>{prev_rank} : std::vector<int>{}, channel) {}

Status TcpPipeLink::SendNext(const void* data, size_t bytes) {
  if (next_ < 0) return Status::Errorf("tcp", "the last pipeline stage has no next stage");
  send_ex_.Clear();
  send_ex_.Send(next_, data, bytes);
  return send_ex_.Run("pipeline send");
}

Status TcpPipeLink::RecvPrev(void* data, size_t bytes) {
  if (prev_ < 0) return Status::Errorf("tcp", "the first pipeline stage has no previous stage");
  recv_ex_.Clear();
  recv_ex_.Recv(prev_, data, bytes);
  return recv_ex_.Run("pipeline receive");
}

}  // namespace plexus::tcp
