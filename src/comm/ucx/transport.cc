// UcxStepTransport and UcxPipeLink over OpBatch (see transport.h).
#include "comm/ucx/transport.h"

#if PLEXUS_HAVE_UCX

#include <algorithm>

namespace plexus::ucx {

UcxStepTransport::UcxStepTransport(Worker* worker, std::vector<int> ranks, uint32_t tag)
    : w_(worker), ranks_(std::move(ranks)), tag_(tag), batch_(worker) {
  me_ = static_cast<int>(std::find(ranks_.begin(), ranks_.end(), w_->mesh().rank()) - ranks_.begin());
  send_seq_.assign(ranks_.size(), 0);
  recv_seq_.assign(ranks_.size(), 0);
}

void UcxStepTransport::Send(int peer, const void* data, size_t bytes) {
  PLEXUS_CHECK(peer >= 0 && peer < size() && peer != me_, "ucx: send to group index {} of {}", peer, size());
  const int mesh_peer = ranks_[static_cast<size_t>(peer)];
  batch_.AddSend(mesh_peer, MakeTag(TagKind::kCollective, tag_, w_->mesh().rank(), send_seq_[peer]++), data, bytes);
}

void UcxStepTransport::Recv(int peer, void* data, size_t bytes) {
  PLEXUS_CHECK(peer >= 0 && peer < size() && peer != me_, "ucx: receive from group index {} of {}", peer, size());
  const int mesh_peer = ranks_[static_cast<size_t>(peer)];
  batch_.AddRecv(mesh_peer, MakeTag(TagKind::kCollective, tag_, mesh_peer, recv_seq_[peer]++), data, bytes);
}

Status UcxStepTransport::Run(const char* what) {
  if (!broken_.ok()) {
    batch_.Clear();
    return broken_;
  }
  Status st = batch_.Run(what);
  batch_.Clear();
  if (!st.ok()) broken_ = st;
  return st;
}

UcxPipeLink::UcxPipeLink(Worker* worker, int prev_rank, int next_rank, uint32_t tag)
    : w_(worker), prev_(prev_rank), next_(next_rank), tag_(tag), batch_(worker) {}

Status UcxPipeLink::SendNext(const void* data, size_t bytes) {
  if (next_ < 0) return Status::Errorf("ucx", "pipeline send: rank {} has no next stage", w_->mesh().rank());
  if (!broken_.ok()) return broken_;
  batch_.Clear();
  batch_.AddSend(next_, MakeTag(TagKind::kPipe, tag_, w_->mesh().rank(), send_seq_++), data, bytes);
  Status st = batch_.Run("pipeline send");
  if (!st.ok()) broken_ = st;
  return st;
}

Status UcxPipeLink::RecvPrev(void* data, size_t bytes) {
  if (prev_ < 0) return Status::Errorf("ucx", "pipeline receive: rank {} has no previous stage", w_->mesh().rank());
  if (!broken_.ok()) return broken_;
  batch_.Clear();
  batch_.AddRecv(prev_, MakeTag(TagKind::kPipe, tag_, prev_, recv_seq_++), data, bytes);
  Status st = batch_.Run("pipeline receive");
  if (!st.ok()) broken_ = st;
  return st;
}

}  // namespace plexus::ucx

#endif  // PLEXUS_HAVE_UCX
