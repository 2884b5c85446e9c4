#include "cluster/transports.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "comm/shm/collective.h"
#include "comm/shm/segment.h"
#include "comm/tcp/collective.h"
#include "comm/ucx/context.h"

namespace plexus::cluster {
namespace {

constexpr uint16_t kOfferFrame = 0x220;  // control frame: one TransportOffer
constexpr uint8_t kOfferVersion = 1;
constexpr size_t kMaxHostBytes = 1024;
constexpr auto kOfferTimeout = std::chrono::seconds(10);

bool RdmaDevicePresent() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/sys/class/infiniband", ec);
  return !ec && it != std::filesystem::directory_iterator();
}

// Can the pair (a, b) use `kind`?
bool PairCan(const TransportOffer& a, const TransportOffer& b, TransportKind kind) {
  switch (kind) {
    case TransportKind::kShm: return a.host == b.host;
    case TransportKind::kUcx: return a.ucx && b.ucx;
    default: return true;
  }
}

std::string WhyNot(const TransportOffer& a, const TransportOffer& b, TransportKind kind) {
  if (kind == TransportKind::kShm) return fmt::format("they are on different hosts ({} / {})", a.host, b.host);
  return fmt::format("{} built without UCX", a.ucx ? "the second is" : "the first is");
}

// Splits a pipeline link whose two hops use different transports.
class SplitPipeLink final : public PipeLink {
 public:
  SplitPipeLink(std::unique_ptr<PipeLink> recv, std::unique_ptr<PipeLink> send)
      : recv_(std::move(recv)), send_(std::move(send)) {}
  Status SendNext(const void* data, size_t bytes) override {
    if (!send_) return Status::Errorf("cluster", "the last pipeline stage has no next stage");
    return send_->SendNext(data, bytes);
  }
  Status RecvPrev(void* data, size_t bytes) override {
    if (!recv_) return Status::Errorf("cluster", "the first pipeline stage has no previous stage");
    return recv_->RecvPrev(data, bytes);
  }

 private:
  std::unique_ptr<PipeLink> recv_, send_;
};

}  // namespace

const char* TransportName(TransportKind kind) {
  switch (kind) {
    case TransportKind::kTcp: return "tcp";
    case TransportKind::kShm: return "shm";
    case TransportKind::kUcx: return "ucx";
    default: return "auto";
  }
}

Result<TransportKind> ParseTransport(std::string_view name) {
  for (TransportKind k : {TransportKind::kAuto, TransportKind::kTcp, TransportKind::kShm, TransportKind::kUcx})
    if (name == TransportName(k)) return k;
  return Status::Errorf("cluster", "--transport '{}' is not one of auto, tcp, shm, ucx", name);
}

TransportOffer LocalTransportOffer() { return {shm::HostIdentity(), ucx::Available(), RdmaDevicePresent()}; }

std::vector<uint8_t> EncodeOffer(const TransportOffer& offer) {
  std::vector<uint8_t> out(3 + offer.host.size());  // version, has_ucx, has_rdma, host identity
  out[0] = kOfferVersion;
  out[1] = offer.ucx ? 1 : 0;
  out[2] = offer.rdma ? 1 : 0;
  std::copy(offer.host.begin(), offer.host.end(), out.begin() + 3);
  return out;
}

Status DecodeOffer(std::span<const uint8_t> bytes, TransportOffer* offer) {
  if (bytes.size() < 3) return Status::Errorf("cluster", "transport offer of {} bytes is truncated", bytes.size());
  if (bytes[0] != kOfferVersion)
    return Status::Errorf("cluster", "transport offer version {} (this build speaks {})", bytes[0], kOfferVersion);
  if (bytes[1] > 1 || bytes[2] > 1 || bytes.size() - 3 > kMaxHostBytes)
    return Status::Errorf("cluster", "malformed transport offer");
  offer->ucx = bytes[1] == 1;
  offer->rdma = bytes[2] == 1;
  offer->host.assign(bytes.begin() + 3, bytes.end());
  return Status::Ok();
}

Result<TransportKind> ChooseTransport(const std::vector<TransportOffer>& offers, TransportKind wanted) {
  auto all_pairs = [&](TransportKind kind, size_t* bad_a, size_t* bad_b) {
    for (size_t a = 0; a < offers.size(); ++a)
      for (size_t b = a + 1; b < offers.size(); ++b)
        if (!PairCan(offers[a], offers[b], kind)) {
          *bad_a = a, *bad_b = b;
          return false;
        }
    return true;
  };
  size_t a = 0, b = 0;
  if (wanted != TransportKind::kAuto) {
    if (!all_pairs(wanted, &a, &b))
      return Status::Errorf("cluster", "--transport {}: ranks {} and {} of the group cannot use it: {}",
                            TransportName(wanted), a, b, WhyNot(offers[a], offers[b], wanted));
    return wanted;
  }
  if (offers.size() < 2 || all_pairs(TransportKind::kShm, &a, &b)) return TransportKind::kShm;
  // Across hosts UCX only wins with RDMA under it: over plain TCP it measured
  // no faster than plexus's own TCP (docs/PERFORMANCE.md).
  const bool rdma_everywhere =
      std::all_of(offers.begin(), offers.end(), [](const TransportOffer& o) { return o.ucx && o.rdma; });
  return rdma_everywhere ? TransportKind::kUcx : TransportKind::kTcp;
}

Result<std::unique_ptr<Transports>> Transports::Negotiate(tcp::TcpMesh& mesh, TransportKind wanted,
                                                          std::function<void(const std::string&)> log) {
  const int n = mesh.size(), me = mesh.rank();
  std::vector<TransportOffer> offers(static_cast<size_t>(n));
  offers[static_cast<size_t>(me)] = LocalTransportOffer();
  const std::vector<uint8_t> mine = EncodeOffer(offers[static_cast<size_t>(me)]);
  for (int peer = 0; peer < n; ++peer)
    if (peer != me) PLEXUS_RETURN_IF_ERROR(mesh.SendFrame(peer, kOfferFrame, mine));
  for (int peer = 0; peer < n; ++peer) {
    if (peer == me) continue;
    PLEXUS_ASSIGN_OR_RETURN(tcp::Frame f, mesh.RecvFrame(peer, kOfferTimeout));
    if (f.type != kOfferFrame)
      return Status::Errorf("cluster", "{} sent control frame {:#x} where its transport offer belongs",
                            mesh.PeerName(peer), f.type);
    if (Status st = DecodeOffer(f.payload, &offers[static_cast<size_t>(peer)]); !st.ok())
      return st.WithContext(fmt::format("[cluster] from {}", mesh.PeerName(peer)));
  }
  std::unique_ptr<Transports> t(new Transports(mesh, wanted, std::move(offers)));
  // UCX's context is made by every rank or none: decided from the offers,
  // which every rank holds alike.
  std::vector<int> everyone(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) everyone[static_cast<size_t>(r)] = r;
  bool need_ucx = wanted == TransportKind::kUcx;
  for (int a = 0; a < n && !need_ucx; ++a)
    for (int b = a + 1; b < n && !need_ucx; ++b) {
      Result<TransportKind> kind = t->Choose({a, b});
      need_ucx = kind.ok() && *kind == TransportKind::kUcx;
    }
  if (need_ucx) {
    PLEXUS_ASSIGN_OR_RETURN(t->ucx_, ucx::UcxContext::Create(mesh));
  }
  if (log)
    for (int peer = 0; peer < n; ++peer)
      if (peer != me) log(fmt::format("link rank {} <-> {}: {}", me, mesh.PeerName(peer), t->Describe(peer)));
  return t;
}

Transports::~Transports() = default;

Result<TransportKind> Transports::Choose(const std::vector<int>& ranks) const {
  std::vector<TransportOffer> group;
  for (int r : ranks) {
    if (r < 0 || r >= static_cast<int>(offers_.size()))
      return Status::Errorf("cluster", "rank {} is outside the {}-rank mesh", r, offers_.size());
    group.push_back(offers_[static_cast<size_t>(r)]);
  }
  return ChooseTransport(group, wanted_);
}

std::string Transports::Describe(int peer) const {
  return DescribeGroup({std::min(peer, mesh_.rank()), std::max(peer, mesh_.rank())});
}

std::string Transports::DescribeGroup(const std::vector<int>& ranks) const {
  Result<TransportKind> chosen = Choose(ranks);
  if (!chosen.ok()) return fmt::format("none ({})", chosen.status().message());
  const TransportKind kind = *chosen;
  if (kind != TransportKind::kUcx || !ucx_ || ranks.size() < 2) return TransportName(kind);
  const int other = ranks[0] == mesh_.rank() ? ranks[1] : ranks[0];
  return fmt::format("ucx ({})", ucx_->TransportOf(other));
}

Result<std::unique_ptr<Collective>> Transports::NewCollective(const std::vector<int>& ranks, uint32_t tag,
                                                              comm::AllReduceAlgo algo) {
  PLEXUS_ASSIGN_OR_RETURN(TransportKind kind, Choose(ranks));
  if (ranks.size() < 2) kind = TransportKind::kTcp;  // a group of one moves nothing
  switch (kind) {
    case TransportKind::kShm: return shm::NewShmCollective(mesh_, ranks, tag);
    case TransportKind::kUcx: {
      comm::AlgoOptions o;
      o.algo = algo;
      PLEXUS_ASSIGN_OR_RETURN(auto c, ucx_->NewCollective(ranks, tag, o));
      return std::unique_ptr<Collective>(std::move(c));
    }
    default: {
      tcp::CollectiveOptions o;
      o.tag = tag;
      o.algo = algo;
      PLEXUS_ASSIGN_OR_RETURN(auto c, mesh_.NewCollective(ranks, o));
      return std::unique_ptr<Collective>(std::move(c));
    }
  }
}

Result<std::unique_ptr<PipeLink>> Transports::NewPipeLink(int prev_rank, int next_rank, uint32_t tag) {
  // Each hop on its own transport; the receiving side is set up first, so
  // the set-up handshakes run down the pipeline from stage 0 without a cycle.
  auto hop = [&](int peer, bool incoming) -> Result<std::unique_ptr<PipeLink>> {
    if (peer < 0) return std::unique_ptr<PipeLink>();
    const int prev = incoming ? peer : -1, next = incoming ? -1 : peer;
    PLEXUS_ASSIGN_OR_RETURN(TransportKind kind, Choose({std::min(peer, mesh_.rank()), std::max(peer, mesh_.rank())}));
    switch (kind) {
      case TransportKind::kShm: return shm::NewShmPipeLink(mesh_, prev, next, tag);
      case TransportKind::kUcx: return ucx_->NewPipeLink(prev, next, tag);
      default: {
        PLEXUS_ASSIGN_OR_RETURN(auto link, mesh_.NewPipeLink(prev, next, tag));
        return std::unique_ptr<PipeLink>(std::move(link));
      }
    }
  };
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<PipeLink> recv, hop(prev_rank, true));
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<PipeLink> send, hop(next_rank, false));
  return std::unique_ptr<PipeLink>(new SplitPipeLink(std::move(recv), std::move(send)));
}

}  // namespace plexus::cluster
