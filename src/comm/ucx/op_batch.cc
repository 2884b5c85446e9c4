// OpBatch: posts one round of tagged sends/receives and drives UCX until all
// complete, checking peer liveness while it waits (see worker.h).
#include "comm/ucx/worker.h"

#if PLEXUS_HAVE_UCX

#include "comm/tcp/socket.h"

namespace plexus::ucx {
namespace {

constexpr int64_t kMs = 1'000'000;

int64_t Ns(std::chrono::nanoseconds d) { return static_cast<int64_t>(d.count()); }

}  // namespace

void OpBatch::AddSend(int rank, ucp_tag_t tag, const void* data, size_t bytes) {
  Op op;
  op.rank = rank;
  op.tag = tag;
  op.data = const_cast<void*>(data);  // UCX only reads it
  op.bytes = bytes;
  ops_.push_back(op);
}

void OpBatch::AddRecv(int rank, ucp_tag_t tag, void* data, size_t bytes) {
  Op op;
  op.rank = rank;
  op.recv = true;
  op.tag = tag;
  op.data = data;
  op.bytes = bytes;
  ops_.push_back(op);
}

void OpBatch::Post(Op& op) {
  ucp_request_param_t param{};
  ucs_status_ptr_t r;
  if (op.recv) {
    // Always a request: UCX 1.13 completes a receive that finds its message
    // already queued immediately but leaves recv_info.tag_info->length at 0,
    // and the length is how a size mismatch between ranks is caught.
    param.op_attr_mask = UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    r = ucp_tag_recv_nbx(w_->handle(), op.data, op.bytes, op.tag, ~ucp_tag_t{0}, &param);
  } else {
    // FAST_CMPL: UCX copies the message out eagerly up to its rndv_nbr
    // threshold (256 KiB in 1.13) instead of a rendezvous from 8-20 KiB on;
    // decode-sized all-reduces then cost one trip, not three.
    param.op_attr_mask = UCP_OP_ATTR_FLAG_FAST_CMPL;
    ucp_ep_h ep = w_->ep(op.rank);
    r = ep ? ucp_tag_send_nbx(ep, op.data, op.bytes, op.tag, &param) : UCS_STATUS_PTR(UCS_ERR_NOT_CONNECTED);
  }
  if (r != nullptr && !UCS_PTR_IS_ERR(r)) {
    op.req = r;
    ++pending_;
    return;
  }
  op.done = true;
  op.status = r == nullptr ? UCS_OK : UCS_PTR_STATUS(r);
  op.got = op.recv ? 0 : op.bytes;
}

bool OpBatch::PollOne(Op& op) {
  ucs_status_t st;
  if (op.recv) {
    ucp_tag_recv_info_t info{};
    st = ucp_tag_recv_request_test(op.req, &info);
    op.got = info.length;
  } else {
    st = ucp_request_check_status(op.req);
    op.got = op.bytes;
  }
  if (st == UCS_INPROGRESS) return false;
  ucp_request_free(op.req);
  op.req = nullptr;
  op.done = true;
  op.status = st;
  --pending_;
  return true;
}

Status OpBatch::CheckOp(const Op& op, const char* what) const {
  const std::string peer = w_->mesh().PeerName(op.rank);
  if (op.status == UCS_ERR_MESSAGE_TRUNCATED)
    return Status::Errorf("ucx", "{}: sent more than the {} bytes expected during {} (ranks disagree on sizes)", peer,
                          op.bytes, what);
  if (op.status != UCS_OK) {
    Status health = w_->PeerHealth(op.rank);
    return Status::Errorf("ucx", "{}: {} failed during {}: {}", peer, op.recv ? "receive" : "send", what,
                          health.ok() ? ucs_status_string(op.status) : health.message());
  }
  if (op.recv && op.got != op.bytes)
    return Status::Errorf("ucx", "{}: sent {} bytes, {} expected during {} (ranks disagree on sizes)", peer, op.got,
                          op.bytes, what);
  return Status::Ok();
}

Status OpBatch::CheckPeers(const char* what) const {
  for (const Op& op : ops_) {
    if (op.done) continue;
    Status health = w_->PeerHealth(op.rank);
    if (!health.ok())
      return Status::Errorf("ucx", "{}: peer vanished during {} ({})", w_->mesh().PeerName(op.rank), what,
                            health.message());
  }
  return Status::Ok();
}

Status OpBatch::Run(const char* what, std::chrono::milliseconds timeout) {
  pending_ = 0;
  // Receives first: a message that finds its receive posted lands in place
  // instead of being staged in UCX's unexpected queue.
  for (Op& op : ops_)
    if (op.recv) Post(op);
  for (Op& op : ops_)
    if (!op.recv) Post(op);
  const UcxOptions& o = w_->options();
  const int64_t start = tcp::NowNs();
  const int64_t limit = start + Ns(timeout.count() > 0 ? timeout : o.step_timeout);
  int64_t next_check = start + Ns(o.liveness_interval), last_move = start;
  Status failure;
  while (failure.ok()) {
    for (const Op& op : ops_)  // completed ops (also immediate ones) must have succeeded
      if (op.done && !(failure = CheckOp(op, what)).ok()) break;
    if (!failure.ok() || pending_ == 0) break;
    bool moved = false;
    for (int i = 0; i < 64 && ucp_worker_progress(w_->handle()) != 0; ++i) moved = true;  // bounded: see deadlines
    for (Op& op : ops_)
      if (!op.done && PollOne(op)) moved = true;
    const int64_t now = tcp::NowNs();
    if (moved) last_move = now;
    if (now >= next_check) {
      failure = CheckPeers(what);
      if (failure.ok() && now >= limit)
        for (const Op& op : ops_)
          if (!op.done) {
            failure = Status::Errorf("ucx", "{}: no {} completed within {} ms during {} (the peer is alive but not "
                                     "answering)", w_->mesh().PeerName(op.rank), op.recv ? "receive" : "send",
                                     (now - start) / kMs, what);
            break;
          }
      next_check = now + Ns(o.liveness_interval);
    }
    if (failure.ok() && moved == false && now - last_move >= Ns(o.spin_us)) w_->Idle(next_check - now);
  }
  if (!failure.ok() && pending_ > 0) Abort();
  return failure;
}

// UCX may still write into a receive buffer or read a send buffer of an op
// in flight, so none may outlive Run while its peer lives: receives are
// cancelled, endpoints to dead peers force-closed, and an op that a live peer
// does not finish within a grace period costs that peer's endpoint too (the
// group is broken anyway). A dead peer writes and reads nothing more, so its
// ops (e.g. a receive already matched mid-rendezvous, which UCX cannot
// cancel) are waited for only briefly and then left to UCX.
void OpBatch::Abort() {
  for (Op& op : ops_)
    if (!op.done && op.recv) ucp_request_cancel(w_->handle(), op.req);
  for (Op& op : ops_)
    if (!op.done)
      if (Status health = w_->PeerHealth(op.rank); !health.ok()) w_->Abandon(op.rank, health.message());
  // Drains until every op of a live peer completed, or `until`.
  auto drain = [&](int64_t until) {
    for (;;) {
      ucp_worker_progress(w_->handle());
      bool live_pending = false;
      for (Op& op : ops_)
        if (!op.done && !PollOne(op) && w_->PeerHealth(op.rank).ok()) live_pending = true;
      if (!live_pending || tcp::NowNs() >= until) return live_pending;
    }
  };
  if (!drain(tcp::NowNs() + 1000 * kMs)) return;
  for (Op& op : ops_)
    if (!op.done) w_->Abandon(op.rank, "endpoint closed: an operation with it was still pending after a failed step");
  drain(tcp::NowNs() + 1000 * kMs);
}

}  // namespace plexus::ucx

#endif  // PLEXUS_HAVE_UCX
