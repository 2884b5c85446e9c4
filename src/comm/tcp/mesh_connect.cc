// Establishing a TcpMesh: validate options, listen, connect to every higher
// rank and accept every lower one (concurrently), authenticating each link.
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "comm/tcp/mesh.h"

namespace plexus::tcp {
namespace {

Status ValidateOptions(const MeshOptions& o, std::vector<Endpoint>* endpoints) {
  if (o.peers.empty()) return Status::Errorf("tcp", "no peers given");
  if (o.rank < 0 || o.rank >= static_cast<int>(o.peers.size()))
    return Status::Errorf("tcp", "rank {} is outside the {} listed peers", o.rank, o.peers.size());
  std::set<std::string> seen;
  for (const std::string& text : o.peers) {
    PLEXUS_ASSIGN_OR_RETURN(Endpoint ep, ParseEndpoint(text));
    if (!seen.insert(ep.ToString()).second) return Status::Errorf("tcp", "peer {} is listed twice", text);
    endpoints->push_back(std::move(ep));
  }
  if (o.peer_timeout <= o.heartbeat_interval)
    return Status::Errorf("tcp", "peer timeout ({} ms) must exceed the heartbeat interval ({} ms)",
                          o.peer_timeout.count(), o.heartbeat_interval.count());
  return Status::Ok();
}

int64_t Ms(std::chrono::milliseconds ms) { return ms.count() * 1'000'000; }

}  // namespace

Result<std::unique_ptr<TcpMesh>> TcpMesh::Create(MeshOptions options) {
  std::vector<Endpoint> endpoints;
  PLEXUS_RETURN_IF_ERROR(ValidateOptions(options, &endpoints));
  std::unique_ptr<TcpMesh> mesh(new TcpMesh(std::move(options)));
  for (size_t r = 0; r < endpoints.size(); ++r) mesh->peers_[r]->endpoint = endpoints[r];
  PLEXUS_RETURN_IF_ERROR(mesh->Establish());
  // Emulated latencies are slept out; the default 50 us timer slack would
  // stretch every emulated hop. Per thread: the one that builds the mesh is
  // the one that runs its collectives.
  if (mesh->emulated()) prctl(PR_SET_TIMERSLACK, 1UL);
  mesh->heartbeat_ = std::thread([m = mesh.get()] { m->HeartbeatLoop(); });
  return mesh;
}

Status TcpMesh::Establish() {
  if (opt_.listen_fd >= 0) {
    listener_.reset(opt_.listen_fd);
  } else {
    PLEXUS_ASSIGN_OR_RETURN(Endpoint bind, ParseEndpoint(opt_.bind_host + ":1"));
    if (!IsLoopback(bind.addr) && opt_.secret.empty())
      return Status::Errorf("tcp", "refusing to listen on {} (not loopback) without a cluster secret", opt_.bind_host);
    PLEXUS_ASSIGN_OR_RETURN(listener_, Listen(opt_.bind_host, peer(rank()).endpoint.port));
  }
  for (const auto& p : peers_)
    if (!IsLoopback(p->endpoint.addr) && opt_.secret.empty())
      return Status::Errorf("tcp", "peer {} is not on loopback: a cluster secret is required", p->endpoint.ToString());
  const int64_t deadline = NowNs() + Ms(opt_.connect_timeout);
  std::atomic<bool> stop{false};
  Status accepted;
  std::thread acceptor([&] { accepted = AcceptLoop(listener_, deadline, stop); });
  Status connected = ConnectUp(deadline);
  if (!connected.ok()) stop = true;
  acceptor.join();
  listener_.reset();  // the mesh is complete: no more inbound connections
  PLEXUS_RETURN_IF_ERROR(connected);
  return accepted;
}

// Connects the data and control links to every higher rank.
Status TcpMesh::ConnectUp(int64_t deadline_ns) {
  const HandshakeParams params{size(), rank(), &opt_.secret, deadline_ns};
  for (int r = rank() + 1; r < size(); ++r) {
    Peer& p = peer(r);
    for (LinkKind kind : {LinkKind::kData, LinkKind::kControl}) {
      PLEXUS_ASSIGN_OR_RETURN(Fd fd, ConnectWithRetry(p.endpoint, deadline_ns));
      Status st = HandshakeConnect(fd.get(), params, r, kind, p.endpoint.ToString());
      if (!st.ok()) {
        Log(st.message());
        return st;
      }
      (kind == LinkKind::kData ? p.data : p.control).Attach(std::move(fd));
    }
  }
  return Status::Ok();
}

// Accepts until every lower rank has both links, logging and dropping any
// connection that fails the handshake (garbage, wrong secret, wrong rank).
Status TcpMesh::AcceptLoop(Fd& listener, int64_t deadline_ns, std::atomic<bool>& stop) {
  int missing = 2 * rank();
  std::string last_rejection;
  while (missing > 0 && !stop) {
    if (NowNs() >= deadline_ns) {
      std::string waiting;
      for (int r = 0; r < rank(); ++r)
        if (!peer(r).data.connected() || !peer(r).control.connected()) waiting += (waiting.empty() ? "" : ", ") + std::to_string(r);
      return Status::Errorf("tcp", "rank {}: timed out waiting for rank(s) {} to connect{}", rank(), waiting,
                            last_rejection.empty() ? "" : " (last rejected connection: " + last_rejection + ")");
    }
    pollfd pfd{listener.get(), POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    Fd fd(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) continue;
    TuneSocket(fd.get());
    const std::string from = PeerAddress(fd.get());
    const HandshakeParams params{size(), rank(), &opt_.secret, std::min(deadline_ns, NowNs() + Ms(opt_.handshake_timeout))};
    auto link = HandshakeAccept(fd.get(), params, from);
    Status st = link.status();
    if (link.ok()) {
      Link& slot = link->kind == LinkKind::kData ? peer(link->peer_rank).data : peer(link->peer_rank).control;
      if (slot.connected()) {
        st = Status::Errorf("tcp", "peer {}: duplicate connection for rank {}", from, link->peer_rank);
      } else {
        slot.Attach(std::move(fd));
        --missing;
        continue;
      }
    }
    last_rejection = st.message();
    Log(fmt::format("rejected connection: {}", st.message()));
  }
  return Status::Ok();
}

}  // namespace plexus::tcp
