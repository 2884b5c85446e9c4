// The UCP context, worker and endpoints of one process (see worker.h).
#include "comm/ucx/worker.h"

#if PLEXUS_HAVE_UCX

#include <poll.h>
#include <sched.h>
#include <ucs/config/global_opts.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "comm/tcp/socket.h"

namespace plexus::ucx {
namespace {

// Address frame payload: "PXU1", UCP API major and minor (u16 each, little
// endian), then the worker address bytes. The version guards against ranks
// built with different UCX APIs, whose addresses would not parse.
constexpr uint8_t kMagic[4] = {'P', 'X', 'U', '1'};
constexpr size_t kAddressHeader = 8;

std::vector<uint8_t> EncodeAddress(const ucp_address_t* address, size_t length) {
  std::vector<uint8_t> out(kAddressHeader + length);
  std::memcpy(out.data(), kMagic, 4);
  const uint16_t version[2] = {UCP_API_MAJOR, UCP_API_MINOR};
  for (int i = 0; i < 2; ++i) {
    out[4 + 2 * i] = static_cast<uint8_t>(version[i] & 0xFF);
    out[5 + 2 * i] = static_cast<uint8_t>(version[i] >> 8);
  }
  std::memcpy(out.data() + kAddressHeader, address, length);
  return out;
}

Status DecodeAddress(const std::string& from, const tcp::Frame& frame, std::vector<uint8_t>* address) {
  if (frame.type != kFrameWorkerAddress)
    return Status::Errorf("ucx", "{}: expected the UCX worker address (control frame {:#x}), got frame {:#x}; "
                          "every rank must create the UCX context at the same point", from, kFrameWorkerAddress,
                          frame.type);
  const auto& p = frame.payload;
  if (p.size() <= kAddressHeader || std::memcmp(p.data(), kMagic, 4) != 0)
    return Status::Errorf("ucx", "{}: malformed UCX worker address frame ({} bytes)", from, p.size());
  const unsigned major = p[4] | (p[5] << 8), minor = p[6] | (p[7] << 8);
  if (major != UCP_API_MAJOR || minor != UCP_API_MINOR)
    return Status::Errorf("ucx", "{} runs UCX API {}.{}, this rank {}.{}: install the same UCX version everywhere",
                          from, major, minor, UCP_API_MAJOR, UCP_API_MINOR);
  address->assign(p.begin() + kAddressHeader, p.end());
  return Status::Ok();
}

// Progresses until `req` (a UCX request or status pointer) completes or the
// deadline passes; frees it. Returns its status (UCS_ERR_TIMED_OUT: abandoned).
ucs_status_t WaitRequest(ucp_worker_h worker, ucs_status_ptr_t req, int64_t deadline_ns) {
  if (req == nullptr) return UCS_OK;
  if (UCS_PTR_IS_ERR(req)) return UCS_PTR_STATUS(req);
  ucs_status_t st;
  while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS) {
    ucp_worker_progress(worker);  // may report progress forever (e.g. reconnect attempts): the deadline rules
    if (tcp::NowNs() > deadline_ns) return UCS_ERR_TIMED_OUT;
  }
  ucp_request_free(req);
  return st;
}

}  // namespace

Worker::Worker(tcp::TcpMesh& mesh, UcxOptions options) : mesh_(mesh), opt_(std::move(options)) {}

Result<std::unique_ptr<Worker>> Worker::Create(tcp::TcpMesh& mesh, const UcxOptions& options) {
  if (mesh.size() > kMaxRanks)
    return Status::Errorf("ucx", "mesh of {} ranks: the UCX transport supports at most {}", mesh.size(), kMaxRanks);
  std::unique_ptr<Worker> w(new Worker(mesh, options));
  PLEXUS_RETURN_IF_ERROR(w->Init());
  std::vector<std::vector<uint8_t>> remote;
  PLEXUS_RETURN_IF_ERROR(w->ExchangeAddresses(&remote));
  for (int r = 0; r < mesh.size(); ++r)
    if (r != mesh.rank()) PLEXUS_RETURN_IF_ERROR(w->Connect(r, remote[static_cast<size_t>(r)]));
  PLEXUS_RETURN_IF_ERROR(w->SayHello());
  return w;
}

Status Worker::Init() {
  ucp_config_t* config = nullptr;  // reads UCX_TLS, UCX_NET_DEVICES, ... from the environment
  ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
  if (st != UCS_OK) return Status::Errorf("ucx", "reading the UCX configuration (UCX_* variables): {}",
                                          ucs_status_string(st));
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_ESTIMATED_NUM_EPS | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_TAG | (opt_.wakeup ? UCP_FEATURE_WAKEUP : 0);
  params.estimated_num_eps = static_cast<size_t>(mesh_.size());
  params.name = "plexus";
  st = ucp_init(&params, config, &context_);
  ucp_config_release(config);
  if (st != UCS_OK) return Status::Errorf("ucx", "ucp_init: {} (check UCX_TLS / UCX_NET_DEVICES)", ucs_status_string(st));
  ucp_worker_params_t wp{};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE | UCP_WORKER_PARAM_FIELD_FLAGS;
  wp.thread_mode = UCS_THREAD_MODE_SERIALIZED;  // one data-plane thread at a time, not always the same one
  // An op with a dead peer that UCX cannot cancel is left behind (op_batch.cc
  // Abort); its request is then still allocated when the worker goes.
  wp.flags = UCP_WORKER_FLAG_IGNORE_REQUEST_LEAK;
  st = ucp_worker_create(context_, &wp, &worker_);
  if (st != UCS_OK) return Status::Errorf("ucx", "ucp_worker_create: {}", ucs_status_string(st));
  if (opt_.wakeup && ucp_worker_get_efd(worker_, &efd_) != UCS_OK) efd_ = -1;  // fall back to yielding
  peers_.resize(static_cast<size_t>(mesh_.size()));
  for (int r = 0; r < mesh_.size(); ++r) peers_[static_cast<size_t>(r)].owner = this, peers_[static_cast<size_t>(r)].rank = r;
  return Status::Ok();
}

Status Worker::ExchangeAddresses(std::vector<std::vector<uint8_t>>* remote) {
  ucp_address_t* address = nullptr;
  size_t length = 0;
  ucs_status_t st = ucp_worker_get_address(worker_, &address, &length);
  if (st != UCS_OK) return Status::Errorf("ucx", "ucp_worker_get_address: {}", ucs_status_string(st));
  const std::vector<uint8_t> mine = EncodeAddress(address, length);
  ucp_worker_release_address(worker_, address);
  // Send to everyone first, then receive: a frame is a few hundred bytes, so
  // SendFrame never waits on a peer that is itself still sending.
  for (int r = 0; r < mesh_.size(); ++r)
    if (r != mesh_.rank())
      PLEXUS_RETURN_IF_ERROR(mesh_.SendFrame(r, kFrameWorkerAddress, mine).WithContext("[ucx] sending the worker address"));
  remote->resize(static_cast<size_t>(mesh_.size()));
  for (int r = 0; r < mesh_.size(); ++r) {
    if (r == mesh_.rank()) continue;
    auto frame = mesh_.RecvFrame(r, opt_.connect_timeout);
    if (!frame.ok()) return frame.status().WithContext("[ucx] waiting for the worker address");
    PLEXUS_RETURN_IF_ERROR(DecodeAddress(mesh_.PeerName(r), *frame, &(*remote)[static_cast<size_t>(r)]));
  }
  return Status::Ok();
}

Status Worker::Connect(int rank, const std::vector<uint8_t>& address) {
  PeerEp& p = peers_[static_cast<size_t>(rank)];
  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                  UCP_EP_PARAM_FIELD_ERR_HANDLER;
  ep.address = reinterpret_cast<const ucp_address_t*>(address.data());
  ep.err_handler.cb = &Worker::OnEndpointError;
  ep.err_handler.arg = &p;
  ucs_status_t st = UCS_ERR_UNREACHABLE;
  if (opt_.peer_failure_mode == PeerFailureMode::kIfSupported) {
    // UCX logs an ERROR when no transport can detect peer failure (shared
    // memory only); that is an expected probe here, so it is silenced.
    const ucs_log_level_t level = ucs_global_opts.log_component.log_level;
    ucs_global_opts.log_component.log_level = UCS_LOG_LEVEL_FATAL;
    ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    st = ucp_ep_create(worker_, &ep, &p.ep);
    ucs_global_opts.log_component.log_level = level;
  }
  if (st == UCS_ERR_UNREACHABLE) {
    ep.err_mode = UCP_ERR_HANDLING_MODE_NONE;
    st = ucp_ep_create(worker_, &ep, &p.ep);
  }
  if (st != UCS_OK)
    return Status::Errorf("ucx", "{}: no UCX transport reaches this peer ({}); UCX_TLS={} UCX_NET_DEVICES={}",
                          mesh_.PeerName(rank), ucs_status_string(st), getenv("UCX_TLS") ? getenv("UCX_TLS") : "(all)",
                          getenv("UCX_NET_DEVICES") ? getenv("UCX_NET_DEVICES") : "(all)");
  return Status::Ok();
}

// Every pair exchanges one small tagged message: UCX wires endpoints up
// lazily, so this makes Create fail (naming the peer) when UCX cannot
// actually talk to someone, instead of the first collective.
Status Worker::SayHello() {
  OpBatch batch(this);
  const int n = mesh_.size(), me = mesh_.rank();
  std::vector<uint64_t> in(static_cast<size_t>(n), ~uint64_t{0});
  const uint64_t mine = static_cast<uint64_t>(me);
  for (int r = 0; r < n; ++r) {
    if (r == me) continue;
    batch.AddRecv(r, MakeTag(TagKind::kHello, 0, r, 0), &in[static_cast<size_t>(r)], sizeof(uint64_t));
    batch.AddSend(r, MakeTag(TagKind::kHello, 0, me, 0), &mine, sizeof(uint64_t));
  }
  PLEXUS_RETURN_IF_ERROR(batch.Run("connection set-up", opt_.connect_timeout));
  for (int r = 0; r < n; ++r)
    if (r != me && in[static_cast<size_t>(r)] != static_cast<uint64_t>(r))
      return Status::Errorf("ucx", "{}: wrong hello over UCX ({})", mesh_.PeerName(r), in[static_cast<size_t>(r)]);
  return Status::Ok();
}

void Worker::OnEndpointError(void* arg, ucp_ep_h, ucs_status_t status) {
  auto* p = static_cast<PeerEp*>(arg);
  if (p->failure.empty()) p->failure = fmt::format("UCX endpoint failed: {}", ucs_status_string(status));
}

Status Worker::PeerHealth(int rank) const {
  const PeerEp& p = peers_[static_cast<size_t>(rank)];
  if (!p.failure.empty()) return Status::Error(p.failure);  // callers name the peer
  return mesh_.CheckHeard(rank);  // the TCP links carry no data now: read their heartbeats
}

void Worker::Idle(int64_t max_ns) {
  if (efd_ < 0) {
    sched_yield();
    return;
  }
  if (ucp_worker_arm(worker_) != UCS_OK) return;  // UCS_ERR_BUSY: events pending, progress again
  pollfd pfd{efd_, POLLIN, 0};
  const int ms = static_cast<int>(std::max<int64_t>(1, max_ns / 1'000'000));
  (void)poll(&pfd, 1, ms);
}

void Worker::Abandon(int rank, const std::string& why) {
  PeerEp& p = peers_[static_cast<size_t>(rank)];
  if (p.failure.empty()) p.failure = why;
  if (!p.ep) return;
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  param.flags = UCP_EP_CLOSE_FLAG_FORCE;  // cancels outstanding sends without asking the peer
  ucs_status_ptr_t req = ucp_ep_close_nbx(p.ep, &param);
  p.ep = nullptr;
  (void)WaitRequest(worker_, req, tcp::NowNs() + 2'000'000'000);
}

std::string Worker::TransportOf(int rank) const {
  if (rank < 0 || rank >= mesh_.size()) return "none";
  if (rank == mesh_.rank()) return "self";
  const PeerEp& p = peers_[static_cast<size_t>(rank)];
  if (!p.ep) return "closed";
  // UCX 1.13 has no query for an endpoint's transports; ucp_ep_print_info
  // prints its lanes as "lane[0]:  2:tcp/lo.0 md[1] -> ...".
  char* text = nullptr;
  size_t size = 0;
  FILE* f = open_memstream(&text, &size);
  if (!f) return "unknown";
  ucp_ep_print_info(p.ep, f);
  fclose(f);
  std::string out;
  const std::string all(text, size);
  free(text);
  for (size_t pos = all.find("lane["); pos != std::string::npos; pos = all.find("lane[", pos + 1)) {
    const size_t colon = all.find("]:", pos);
    if (colon == std::string::npos) break;
    size_t start = all.find_first_not_of(' ', colon + 2);
    const size_t end = all.find_first_of(" \n", start);
    std::string lane = all.substr(start, end - start);     // "2:tcp/lo.0"
    lane = lane.substr(lane.find(':') + 1);                 // "tcp/lo.0"
    if (size_t dot = lane.rfind('.'); dot != std::string::npos && lane.find('/') < dot) lane.resize(dot);
    if (("+" + out + "+").find("+" + lane + "+") == std::string::npos) out += (out.empty() ? "" : "+") + lane;
  }
  return out.empty() ? "unknown" : out;
}

std::string Worker::Version() const { return std::string("ucx ") + ucp_get_version_string(); }

// Flush-closes healthy endpoints (their last messages reach the peer), force-
// closes failed ones; a peer that stops answering costs at most 3 s.
void Worker::CloseAll() {
  std::vector<ucs_status_ptr_t> reqs;
  for (PeerEp& p : peers_) {
    if (!p.ep) continue;
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = PeerHealth(p.rank).ok() ? 0 : UCP_EP_CLOSE_FLAG_FORCE;  // a dead peer cannot confirm a flush
    reqs.push_back(ucp_ep_close_nbx(p.ep, &param));
    p.ep = nullptr;
  }
  const int64_t deadline = tcp::NowNs() + 3'000'000'000;
  for (ucs_status_ptr_t req : reqs) (void)WaitRequest(worker_, req, deadline);
}

Worker::~Worker() {
  if (worker_) {
    CloseAll();
    ucp_worker_destroy(worker_);
  }
  if (context_) ucp_cleanup(context_);
}

}  // namespace plexus::ucx

#endif  // PLEXUS_HAVE_UCX
