// plexus bench-comm: all-reduce latency over the TCP transport, beside a raw
// TCP ping-pong floor measured on the same sockets in the same run.
//
//   plexus bench-comm --local 2                      # spawns 2 ranks on 127.0.0.1
//   plexus bench-comm --peers A:7000,B:7000 --rank 0 --secret-file s.key [--bind 0.0.0.0]
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "comm/tcp/collective.h"
#include "comm/tcp/secret.h"

namespace plexus::cli {
namespace {

struct BenchCommArgs {
  std::string peers, secret_file, emulate, bind = "127.0.0.1";
  int rank = -1, local = 0;
  bool json = false;
};

struct Row {
  size_t bytes = 0;
  double median_us = 0, p99_us = 0, floor_us = 0;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

int ItersFor(size_t bytes) {
  if (bytes <= (64 << 10)) return 300;
  if (bytes <= (1 << 20)) return 60;
  return bytes <= (4 << 20) ? 15 : 6;
}

Result<Row> MeasureSize(tcp::TcpMesh& mesh, tcp::TcpCollective& coll, size_t bytes) {
  std::vector<float> data(bytes / sizeof(float), 1.0f);
  const int iters = ItersFor(bytes), warmup = std::max(2, iters / 10);
  std::vector<double> times_us;
  for (int i = 0; i < warmup + iters; ++i) {
    std::fill(data.begin(), data.end(), 1.0f);
    const int64_t t0 = tcp::NowNs();
    PLEXUS_RETURN_IF_ERROR(coll.AllReduceSum(data.data(), data.size(), ElemType::kF32));
    if (i >= warmup) times_us.push_back(static_cast<double>(tcp::NowNs() - t0) / 1e3);
  }
  Row row{bytes, Percentile(times_us, 0.5), Percentile(times_us, 0.99), 0};
  if (mesh.rank() <= 1) {  // the floor: ranks 0 and 1, raw bytes both ways
    PLEXUS_ASSIGN_OR_RETURN(std::vector<double> rtt, mesh.RawPingPong(1 - mesh.rank(), bytes, warmup + iters));
    if (!rtt.empty()) rtt.erase(rtt.begin(), rtt.begin() + warmup);
    row.floor_us = Percentile(rtt, 0.5);
  }
  return row;
}

void PrintRows(const std::vector<Row>& rows, int nodes, const std::string& link, bool json) {
  if (json) {
    fmt::print("[\n");
    for (size_t i = 0; i < rows.size(); ++i)
      fmt::print(R"(  {{"transport": "tcp", "link": "{}", "nodes": {}, "bytes": {}, "median_us": {:.1f}, "p99_us": {:.1f}, "floor_us": {:.1f}}}{})"
                 "\n",
                 link, nodes, rows[i].bytes, rows[i].median_us, rows[i].p99_us, rows[i].floor_us,
                 i + 1 < rows.size() ? "," : "");
    fmt::print("]\n");
    return;
  }
  fmt::print("all-reduce over tcp, {} nodes, emulated link: {}\n", nodes, link);
  fmt::print("{:>10} {:>11} {:>11} {:>16} {:>7}\n", "bytes", "median_us", "p99_us", "ping-pong_us", "ratio");
  for (const Row& r : rows)
    fmt::print("{:>10} {:>11.1f} {:>11.1f} {:>16.1f} {:>7.2f}\n", r.bytes, r.median_us, r.p99_us, r.floor_us,
               r.floor_us > 0 ? r.median_us / r.floor_us : 0.0);
}

int RunRank(const BenchCommArgs& a) {
  auto fail = [](const Status& st) {
    fmt::print(stderr, "plexus bench-comm: {}\n", st.message());
    return 1;
  };
  prctl(PR_SET_TIMERSLACK, 1UL);  // emulated latencies need precise sleeps
  tcp::MeshOptions o;
  o.rank = a.rank;
  o.bind_host = a.bind;
  for (size_t b = 0, e; b < a.peers.size(); b = e + 1) {
    e = a.peers.find(',', b);
    if (e == std::string::npos) e = a.peers.size();
    o.peers.push_back(a.peers.substr(b, e - b));
  }
  auto secret = tcp::ReadSecretFile(a.secret_file, [](const std::string& w) { fmt::print(stderr, "plexus: {}\n", w); });
  if (!secret.ok()) return fail(secret.status());
  o.secret = *secret;
  auto spec = tcp::ParseLinkSpec(a.emulate);
  if (!spec.ok()) return fail(spec.status());
  o.emulate = *spec;
  auto mesh = tcp::TcpMesh::Create(o);
  if (!mesh.ok()) return fail(mesh.status());
  if ((*mesh)->size() < 2) return fail(Status::Errorf("bench-comm", "needs at least 2 peers"));
  std::vector<int> all;
  for (int r = 0; r < (*mesh)->size(); ++r) all.push_back(r);
  auto coll = (*mesh)->NewCollective(all);
  if (!coll.ok()) return fail(coll.status());
  std::vector<Row> rows;
  for (size_t bytes = 1 << 10; bytes <= (16u << 20); bytes *= 4) {
    auto row = MeasureSize(**mesh, **coll, bytes);
    if (!row.ok()) return fail(row.status());
    rows.push_back(*row);
  }
  if (a.rank == 0) PrintRows(rows, (*mesh)->size(), o.emulate.ToString(), a.json);
  return 0;
}

// A free loopback port (bound, read, released: good enough for a local run).
int FreePort() {
  auto fd = tcp::Listen("127.0.0.1", 0);
  return fd.ok() ? tcp::LocalPort(fd->get()) : 0;
}

int RunLocal(const BenchCommArgs& a) {
  char path[] = "/tmp/plexus-bench-secret-XXXXXX";
  const int fd = mkstemp(path);  // 0600
  if (fd < 0) return fmt::print(stderr, "plexus bench-comm: cannot create a secret file\n"), 1;
  std::random_device rd;
  const std::string secret = fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
  if (write(fd, secret.data(), secret.size()) != static_cast<ssize_t>(secret.size())) return close(fd), unlink(path), 1;
  close(fd);
  std::string peers;
  for (int r = 0; r < a.local; ++r) peers += fmt::format("{}127.0.0.1:{}", r ? "," : "", FreePort());
  std::vector<pid_t> pids;
  for (int r = 0; r < a.local; ++r) {
    std::vector<std::string> argv = {"plexus", "bench-comm", "--peers", peers, "--rank", std::to_string(r),
                                     "--secret-file", path};
    if (!a.emulate.empty()) argv.insert(argv.end(), {"--emulate-link", a.emulate});
    if (a.json) argv.push_back("--json");
    const pid_t pid = fork();
    if (pid == 0) {
      std::vector<char*> cargv;
      for (std::string& s : argv) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      execv("/proc/self/exe", cargv.data());
      _exit(127);
    }
    pids.push_back(pid);
  }
  int rc = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
  }
  unlink(path);
  return rc;
}

}  // namespace

Runner AddBenchComm(CLI::App& app) {
  auto args = std::make_shared<BenchCommArgs>();
  CLI::App* cmd = app.add_subcommand("bench-comm", "All-reduce latency over TCP vs a raw ping-pong floor");
  cmd->add_option("--peers", args->peers, "HOST:PORT of every rank, comma-separated, in rank order");
  cmd->add_option("--rank", args->rank, "This process's rank (index in --peers)");
  cmd->add_option("--secret-file", args->secret_file, "File holding the shared cluster secret");
  cmd->add_option("--bind", args->bind, "Address to listen on (default 127.0.0.1; others need a secret)");
  cmd->add_option("--emulate-link", args->emulate, "Add one-way latency and a bandwidth cap, e.g. 300us,2.5gbit");
  cmd->add_option("--local", args->local, "Spawn this many ranks on 127.0.0.1 and benchmark across them")
      ->check(CLI::Range(2, 64));
  cmd->add_flag("--json", args->json, "Print JSON rows");
  return [args] {
    if (args->local > 0) return RunLocal(*args);
    if (args->peers.empty() || args->rank < 0 || args->secret_file.empty()) {
      fmt::print(stderr, "plexus bench-comm: give --local N, or --peers, --rank and --secret-file\n");
      return 2;
    }
    return RunRank(*args);
  };
}

}  // namespace plexus::cli
