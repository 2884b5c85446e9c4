#include "comm/tcp/collective.h"

#include <algorithm>
#include <cstring>

namespace plexus::tcp {
namespace {

constexpr uint32_t kCollectiveChannel = 1u << 24;
constexpr uint32_t kPipeChannel = 2u << 24;

// 24-bit FNV-1a of the member list and tag: the channel of one group.
uint32_t GroupChannel(const std::vector<int>& ranks, uint32_t tag) {
  uint32_t h = 2166136261u;
  auto mix = [&h](uint32_t v) {
    for (int i = 0; i < 4; ++i) h = (h ^ ((v >> (8 * i)) & 0xFF)) * 16777619u;
  };
  for (int r : ranks) mix(static_cast<uint32_t>(r));
  mix(tag);
  return kCollectiveChannel | (h & 0xFFFFFF);
}

int GroupIndex(const std::vector<int>& ranks, int rank) {
  auto it = std::find(ranks.begin(), ranks.end(), rank);
  return it == ranks.end() ? -1 : static_cast<int>(it - ranks.begin());
}

size_t ChunkBegin(size_t count, int n, int c) { return count * static_cast<size_t>(c) / static_cast<size_t>(n); }

}  // namespace

Result<std::unique_ptr<TcpCollective>> TcpMesh::NewCollective(std::vector<int> ranks, CollectiveOptions options) {
  if (!std::is_sorted(ranks.begin(), ranks.end()) || std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end())
    return Status::Errorf("tcp", "collective ranks must be ascending and unique");
  if (ranks.empty() || ranks.front() < 0 || ranks.back() >= size())
    return Status::Errorf("tcp", "collective ranks must lie in [0, {})", size());
  if (GroupIndex(ranks, rank()) < 0) return Status::Errorf("tcp", "rank {} is not in the collective's ranks", rank());
  if (options.tag >= (1u << 24)) return Status::Errorf("tcp", "collective tag {} is over 2^24", options.tag);
  return std::make_unique<TcpCollective>(this, std::move(ranks), options);
}

Result<std::unique_ptr<TcpPipeLink>> TcpMesh::NewPipeLink(int prev_rank, int next_rank, uint32_t tag) {
  for (int r : {prev_rank, next_rank})
    if (r != -1 && (r < 0 || r >= size() || r == rank()))
      return Status::Errorf("tcp", "pipeline peer {} is not another rank of this {}-rank mesh", r, size());
  if (tag >= (1u << 24)) return Status::Errorf("tcp", "pipeline tag {} is over 2^24", tag);
  return std::make_unique<TcpPipeLink>(this, prev_rank, next_rank, kPipeChannel | tag);
}

TcpCollective::TcpCollective(TcpMesh* mesh, std::vector<int> ranks, CollectiveOptions options)
    : mesh_(mesh),
      ranks_(ranks),
      me_(GroupIndex(ranks, mesh->rank())),
      opt_(options),
      ex_(mesh, ranks, GroupChannel(ranks, options.tag)) {}

AllReduceAlgo TcpCollective::ChooseAlgo(size_t bytes) const {
  if (opt_.algo != AllReduceAlgo::kAuto) return opt_.algo;
  return bytes >= opt_.ring_threshold_bytes && size() > 2 ? AllReduceAlgo::kRing : AllReduceAlgo::kOneShot;
}

Status TcpCollective::Sticky(Status st) {
  if (!st.ok() && broken_.ok()) broken_ = st;
  return st;
}

Status TcpCollective::AllReduceSum(void* data, size_t count, ElemType type) {
  if (type != ElemType::kF32) return Status::Errorf("tcp", "all-reduce supports f32 only");
  if (!broken_.ok()) return broken_.WithContext("[tcp] all-reduce on a collective that failed earlier");
  if (size() == 1 || count == 0) return Status::Ok();
  auto* f = static_cast<float*>(data);
  return Sticky(ChooseAlgo(count * sizeof(float)) == AllReduceAlgo::kRing ? Ring(f, count) : OneShot(f, count));
}

Status TcpCollective::OneShot(float* data, size_t count) {
  const int n = size();
  const size_t need = static_cast<size_t>(n - 1) * count;
  if (scratch_.size() < need) scratch_.resize(need);
  if (sum_.size() < count) sum_.resize(count);
  auto slot = [&](int g) { return scratch_.data() + static_cast<size_t>(g < me_ ? g : g - 1) * count; };
  ex_.Clear();
  for (int g = 0; g < n; ++g) {
    if (g == me_) continue;
    ex_.Send(ranks_[g], data, count * sizeof(float));
    ex_.Recv(ranks_[g], slot(g), count * sizeof(float));
  }
  PLEXUS_RETURN_IF_ERROR(ex_.Run("all-reduce"));
  float* sum = sum_.data();
  std::fill(sum, sum + count, 0.0f);
  for (int g = 0; g < n; ++g) {
    const float* part = g == me_ ? data : slot(g);
    for (size_t i = 0; i < count; ++i) sum[i] += part[i];
  }
  std::memcpy(data, sum, count * sizeof(float));
  return Status::Ok();
}

Status TcpCollective::RingStep(const float* send, size_t send_count, float* recv, size_t recv_count,
                               const char* what) {
  const int n = size();
  ex_.Clear();
  ex_.Send(ranks_[(me_ + 1) % n], send, send_count * sizeof(float));
  ex_.Recv(ranks_[(me_ + n - 1) % n], recv, recv_count * sizeof(float));
  return ex_.Run(what);
}

Status TcpCollective::Ring(float* data, size_t count) {
  const int n = size();
  auto begin = [&](int c) { return ChunkBegin(count, n, ((c % n) + n) % n); };
  auto len = [&](int c) { return ChunkBegin(count, n, ((c % n) + n) % n + 1) - begin(c); };
  const size_t max_chunk = (count + static_cast<size_t>(n) - 1) / static_cast<size_t>(n);
  if (scratch_.size() < max_chunk) scratch_.resize(max_chunk);
  for (int s = 0; s < n - 1; ++s) {  // reduce-scatter: chunk c starts at rank c
    const int send_c = me_ - s, recv_c = me_ - s - 1;
    PLEXUS_RETURN_IF_ERROR(RingStep(data + begin(send_c), len(send_c), scratch_.data(), len(recv_c), "all-reduce"));
    float* acc = data + begin(recv_c);
    const float* in = scratch_.data();
    for (size_t i = 0, m = len(recv_c); i < m; ++i) acc[i] = in[i] + acc[i];
  }
  for (int s = 0; s < n - 1; ++s) {  // all-gather: the owner's bytes go round
    const int send_c = me_ + 1 - s, recv_c = me_ - s;
    PLEXUS_RETURN_IF_ERROR(RingStep(data + begin(send_c), len(send_c), data + begin(recv_c), len(recv_c), "all-reduce"));
  }
  return Status::Ok();
}

Status TcpCollective::AllGather(const void* in, size_t bytes, void* out) {
  gather_sizes_.assign(static_cast<size_t>(size()), bytes);
  return AllGatherV(in, gather_sizes_.data(), out);
}

Status TcpCollective::AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) {
  if (!broken_.ok()) return broken_.WithContext("[tcp] all-gather on a collective that failed earlier");
  auto* dst = static_cast<uint8_t*>(out);
  size_t my_off = 0;
  ex_.Clear();
  size_t off = 0;
  for (int g = 0; g < size(); off += bytes_per_rank[g], ++g) {
    if (g == me_) {
      my_off = off;
      continue;
    }
    if (bytes_per_rank[me_] > 0) ex_.Send(ranks_[g], in, bytes_per_rank[me_]);
    if (bytes_per_rank[g] > 0) ex_.Recv(ranks_[g], dst + off, bytes_per_rank[g]);
  }
  if (size() > 1) PLEXUS_RETURN_IF_ERROR(Sticky(ex_.Run("all-gather")));
  if (dst + my_off != in) std::memmove(dst + my_off, in, bytes_per_rank[me_]);
  return Status::Ok();
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
