#include "bench_comm_group.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "bench_comm_floor.h"
#include "cluster/transports.h"
#include "comm/shm/collective.h"
#include "comm/tcp/secret.h"
#include "comm/ucx/context.h"

namespace plexus::cli {
namespace {

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  for (size_t b = 0, e; b <= s.size(); b = e + 1) {
    e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    out.push_back(s.substr(b, e - b));
  }
  return out;
}

Result<std::shared_ptr<tcp::TcpMesh>> OpenMesh(const BenchCommArgs& a, tcp::MeshOptions* used) {
  tcp::MeshOptions o;
  o.rank = a.rank;
  o.bind_host = a.bind;
  o.peers = SplitCommas(a.peers);
  PLEXUS_ASSIGN_OR_RETURN(o.secret, tcp::ReadSecretFile(a.secret_file, [](const std::string& w) {
                            fmt::print(stderr, "plexus: {}\n", w);
                          }));
  PLEXUS_ASSIGN_OR_RETURN(o.emulate, tcp::ParseLinkSpec(a.emulate));
  *used = o;
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<tcp::TcpMesh> created, tcp::TcpMesh::Create(o));
  return std::shared_ptr<tcp::TcpMesh>(std::move(created));
}

std::vector<int> AllRanks(int n) {
  std::vector<int> all;
  for (int r = 0; r < n; ++r) all.push_back(r);
  return all;
}

Result<BenchGroup> OpenTcp(const BenchCommArgs& a) {
  tcp::MeshOptions o;
  PLEXUS_ASSIGN_OR_RETURN(std::shared_ptr<tcp::TcpMesh> mesh, OpenMesh(a, &o));
  BenchGroup g;
  g.transport = "tcp";
  g.link = o.emulate.ToString();
  g.rank = mesh->rank();
  g.nodes = mesh->size();
  g.new_collective = [mesh](comm::AllReduceAlgo algo, uint32_t tag) -> Result<std::unique_ptr<Collective>> {
    PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<tcp::TcpCollective> coll,
                            mesh->NewCollective(AllRanks(mesh->size()), tcp::CollectiveOptions{.algo = algo, .tag = tag}));
    return std::unique_ptr<Collective>(std::move(coll));
  };
  g.floor = [mesh](size_t bytes, int iters) -> Result<std::vector<double>> {
    if (mesh->rank() > 1) return std::vector<double>{};
    return mesh->RawPingPong(1 - mesh->rank(), bytes, iters);
  };
  g.chosen = [](Collective& coll, size_t bytes) { return static_cast<tcp::TcpCollective&>(coll).ChooseAlgo(bytes); };
  g.floor_what = "raw tcp ping-pong round trip";
  return g;
}

// The floor of shm and ucx: a ping-pong over the transport's own pipeline
// link between ranks 0 and 1, set up on the first call (both call together);
// for ucx, ucx_perftest's tag latency instead when it is installed and every
// rank is on this host.
struct PingPongFloor {
  std::shared_ptr<tcp::TcpMesh> mesh;
  std::shared_ptr<cluster::Transports> transports;
  cluster::TransportKind kind;
  std::shared_ptr<PipeLink> link;  // shared: std::function copies its target
  Result<std::vector<double>> operator()(size_t bytes, int iters) {
    const int me = mesh->rank();
    if (me > 1) return std::vector<double>{};
    if (!link) {
      const int peer = 1 - me;
      if (kind == cluster::TransportKind::kShm) {
        PLEXUS_ASSIGN_OR_RETURN(link, shm::NewShmPipeLink(*mesh, peer, peer, kFloorTag));
      } else {
        PLEXUS_ASSIGN_OR_RETURN(link, transports->ucx()->NewPipeLink(peer, peer, kFloorTag));
      }
    }
    return PipePingPong(*link, me, bytes, iters);
  }
  static constexpr uint32_t kFloorTag = 0xF100;
};

// bench-comm --local measures ucx_perftest before it starts the ranks (two
// more processes beside busy ranks would measure the scheduler) and hands
// the floors down as "bytes:us,..." in this variable.
constexpr const char* kPerftestEnv = "PLEXUS_BENCH_UCX_PERFTEST";

std::map<size_t, double> PerftestFloorsFromEnv() {
  std::map<size_t, double> floors;
  const char* env = std::getenv(kPerftestEnv);
  if (!env) return floors;
  for (const std::string& item : SplitCommas(env)) {
    size_t bytes = 0;
    double us = 0;
    if (std::sscanf(item.c_str(), "%zu:%lf", &bytes, &us) == 2) floors[bytes] = us;
  }
  return floors;
}

Result<BenchGroup> OpenNegotiated(const BenchCommArgs& a, cluster::TransportKind kind) {
  tcp::MeshOptions o;
  PLEXUS_ASSIGN_OR_RETURN(std::shared_ptr<tcp::TcpMesh> mesh, OpenMesh(a, &o));
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<cluster::Transports> made, cluster::Transports::Negotiate(*mesh, kind));
  std::shared_ptr<cluster::Transports> transports = std::move(made);
  BenchGroup g;
  g.transport = a.transport;
  g.link = kind == cluster::TransportKind::kUcx ? transports->Describe(mesh->rank() == 0 ? 1 : 0) : "shared memory";
  g.rank = mesh->rank();
  g.nodes = mesh->size();
  g.new_collective = [mesh, transports](comm::AllReduceAlgo algo, uint32_t tag) {
    return transports->NewCollective(AllRanks(mesh->size()), tag, algo);
  };
  if (kind == cluster::TransportKind::kUcx)
    g.chosen = [](Collective& coll, size_t bytes) { return static_cast<comm::AlgoCollective&>(coll).ChooseAlgo(bytes); };
  const std::map<size_t, double> perftest = PerftestFloorsFromEnv();
  if (kind == cluster::TransportKind::kUcx && !perftest.empty()) {
    g.floor_what = "ucx_perftest tag_lat, one way";
    g.floor = [perftest, rank = mesh->rank()](size_t bytes, int iters) -> Result<std::vector<double>> {
      if (rank != 0) return std::vector<double>{};
      auto it = perftest.find(bytes);
      if (it == perftest.end()) return Status::Errorf("bench-comm", "no ucx_perftest floor for {} bytes", bytes);
      return std::vector<double>(static_cast<size_t>(iters), it->second);
    };
  } else {
    g.floor_what = fmt::format("raw {} ping-pong round trip", a.transport);
    g.floor = PingPongFloor{mesh, transports, kind, nullptr};
  }
  return g;
}

}  // namespace

Result<std::vector<comm::AllReduceAlgo>> ParseAlgoList(const std::string& list) {
  std::vector<comm::AllReduceAlgo> out;
  for (const std::string& name : SplitCommas(list)) {
    auto algo = comm::ParseAlgo(name);
    if (!algo.ok()) return algo.status().WithContext("--algo");
    out.push_back(*algo);
  }
  return out;
}

Result<std::vector<size_t>> ParseSizeList(const std::string& list) {
  std::vector<size_t> out;
  if (list.empty()) {
    for (size_t bytes = 1 << 10; bytes <= (16u << 20); bytes *= 4) out.push_back(bytes);
    return out;
  }
  for (const std::string& item : SplitCommas(list)) {
    size_t used = 0, value = 0;
    try {
      value = std::stoull(item, &used);
    } catch (...) {
      used = 0;
    }
    const std::string suffix = item.substr(used);
    const size_t scale = suffix.empty() ? 1 : suffix == "k" ? 1024 : suffix == "m" ? (1u << 20) : 0;
    if (used == 0 || scale == 0 || value == 0 || value > (size_t{1} << 32) / scale)
      return Status::Errorf("bench-comm", "--sizes: '{}' is not a size in bytes like 4, 64k or 16m (1 B .. 4 GiB)",
                            item);
    out.push_back(value * scale);
  }
  return out;
}

Status CheckBenchArgs(const BenchCommArgs& a) {
  if (auto algos = ParseAlgoList(a.algo); !algos.ok()) return algos.status();
  if (auto sizes = ParseSizeList(a.sizes); !sizes.ok()) return sizes.status();
  if (a.transport == "tcp" || a.transport == "shm") return Status::Ok();
  if (a.transport == "ucx")
    return ucx::Available() ? Status::Ok()
                            : Status::Errorf("bench-comm", "plexus was built without UCX (install libucx-dev and rebuild)");
  return Status::Errorf("bench-comm", "--transport '{}' is not one of tcp, shm, ucx", a.transport);
}

int FreePort() {
  auto fd = tcp::Listen("127.0.0.1", 0);
  return fd.ok() ? tcp::LocalPort(fd->get()) : 0;
}

Status MeasureUcxPerftestFloors(const BenchCommArgs& a) {
  if (a.transport != "ucx" || !HaveUcxPerftest()) return Status::Ok();
  PLEXUS_ASSIGN_OR_RETURN(std::vector<size_t> sizes, ParseSizeList(a.sizes));
  std::string floors;
  for (size_t bytes : sizes) {
    const int port = FreePort();  // released again for ucx_perftest's server
    PLEXUS_ASSIGN_OR_RETURN(double us, UcxPerftestLatencyUs(bytes, 1000, port > 0 ? port : 13337));
    floors += fmt::format("{}{}:{}", floors.empty() ? "" : ",", bytes, us);
  }
  ::setenv(kPerftestEnv, floors.c_str(), 1);
  return Status::Ok();
}

Result<BenchGroup> OpenBenchGroup(const BenchCommArgs& a) {
  PLEXUS_RETURN_IF_ERROR(CheckBenchArgs(a));
  if (a.transport == "tcp") return OpenTcp(a);
  return OpenNegotiated(a, a.transport == "shm" ? cluster::TransportKind::kShm : cluster::TransportKind::kUcx);
}

}  // namespace plexus::cli
