// plexus bench-comm: all-reduce latency per transport, algorithm and size,
// beside a raw ping-pong floor measured on the same links in the same run.
//
//   plexus bench-comm --local 4 --algo oneshot,rd,ring   # spawns 4 ranks on 127.0.0.1
//   plexus bench-comm --peers A:7000,B:7000 --rank 0 --secret-file s.key [--bind 0.0.0.0]
//   plexus bench-comm --local 2 --sizes 4,4k,1m --json
//
// Rows (text or --json): transport, link, nodes, bytes, algo (as asked),
// chosen (what kAuto resolved to), median_us, p99_us (rank 0's call times)
// and floor_us (median raw round trip between ranks 0 and 1 of `bytes`).
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_comm_group.h"
#include "commands.h"

namespace plexus::cli {
namespace {

struct Row {
  std::string algo, chosen;
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

// Times `coll` on a vector of `bytes` (whole f32 elements, at least one).
Result<Row> MeasureAllReduce(Collective& coll, size_t bytes) {
  std::vector<float> data(std::max<size_t>(1, bytes / sizeof(float)), 1.0f);
  const int iters = ItersFor(bytes), warmup = std::max(2, iters / 10);
  std::vector<double> times_us;
  times_us.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < warmup + iters; ++i) {
    std::fill(data.begin(), data.end(), 1.0f);
    const int64_t t0 = tcp::NowNs();
    PLEXUS_RETURN_IF_ERROR(coll.AllReduceSum(data.data(), data.size(), ElemType::kF32));
    if (i >= warmup) times_us.push_back(static_cast<double>(tcp::NowNs() - t0) / 1e3);
  }
  Row row;
  row.bytes = data.size() * sizeof(float);
  row.median_us = Percentile(times_us, 0.5);
  row.p99_us = Percentile(times_us, 0.99);
  return row;
}

Result<double> MeasureFloor(BenchGroup& group, size_t bytes) {
  const int iters = ItersFor(bytes), warmup = std::max(2, iters / 10);
  PLEXUS_ASSIGN_OR_RETURN(std::vector<double> rtt, group.floor(bytes, warmup + iters));
  if (rtt.size() > static_cast<size_t>(warmup)) rtt.erase(rtt.begin(), rtt.begin() + warmup);
  return Percentile(rtt, 0.5);
}

void PrintRows(const std::vector<Row>& rows, const BenchGroup& g, bool json) {
  if (json) {
    fmt::print("[\n");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      fmt::print(R"(  {{"transport": "{}", "link": "{}", "nodes": {}, "bytes": {}, "algo": "{}", "chosen": "{}", )"
                 R"("median_us": {:.1f}, "p99_us": {:.1f}, "floor_us": {:.1f}, "floor": "{}"}}{})"
                 "\n",
                 g.transport, g.link, g.nodes, r.bytes, r.algo, r.chosen, r.median_us, r.p99_us, r.floor_us, g.floor_what,
                 i + 1 < rows.size() ? "," : "");
    }
    fmt::print("]\n");
    return;
  }
  fmt::print("all-reduce over {}, {} nodes, link: {}; floor: {}\n", g.transport, g.nodes, g.link, g.floor_what);
  fmt::print("{:>10} {:>8} {:>8} {:>11} {:>11} {:>16} {:>7}\n", "bytes", "algo", "chosen", "median_us", "p99_us",
             "floor_us", "ratio");
  for (const Row& r : rows)
    fmt::print("{:>10} {:>8} {:>8} {:>11.1f} {:>11.1f} {:>16.1f} {:>7.2f}\n", r.bytes, r.algo, r.chosen, r.median_us,
               r.p99_us, r.floor_us, r.floor_us > 0 ? r.median_us / r.floor_us : 0.0);
}

int Fail(const Status& st) {
  fmt::print(stderr, "plexus bench-comm: {}\n", st.message());
  return 1;
}

int RunRank(const BenchCommArgs& a) {
  prctl(PR_SET_TIMERSLACK, 1UL);  // emulated latencies need precise sleeps
  auto algos = ParseAlgoList(a.algo);
  if (!algos.ok()) return Fail(algos.status());
  auto sizes = ParseSizeList(a.sizes);
  if (!sizes.ok()) return Fail(sizes.status());
  auto group = OpenBenchGroup(a);
  if (!group.ok()) return Fail(group.status());
  if (group->nodes < 2) return Fail(Status::Errorf("bench-comm", "needs at least 2 nodes"));
  // One collective per algorithm, each on its own tag, made up front.
  std::vector<std::unique_ptr<Collective>> colls;
  for (size_t i = 0; i < algos->size(); ++i) {
    auto coll = group->new_collective((*algos)[i], static_cast<uint32_t>(i));
    if (!coll.ok()) return Fail(coll.status());
    colls.push_back(std::move(coll).value());
  }
  std::vector<Row> rows;
  for (size_t bytes : *sizes) {
    double floor_us = 0;
    if (group->floor) {
      auto f = MeasureFloor(*group, bytes);
      if (!f.ok()) return Fail(f.status());
      floor_us = *f;
    }
    for (size_t i = 0; i < colls.size(); ++i) {
      auto row = MeasureAllReduce(*colls[i], bytes);
      if (!row.ok()) return Fail(row.status());
      row->algo = comm::AlgoName((*algos)[i]);
      row->chosen = group->chosen ? comm::AlgoName(group->chosen(*colls[i], row->bytes)) : row->algo;
      row->floor_us = floor_us;
      rows.push_back(*row);
    }
  }
  if (group->rank == 0) PrintRows(rows, *group, a.json);
  return 0;
}

std::vector<std::string> ChildArgv(const BenchCommArgs& a, const std::string& peers, int rank, const char* secret) {
  std::vector<std::string> argv = {"plexus", "bench-comm", "--peers", peers, "--rank", std::to_string(rank),
                                   "--secret-file", secret, "--algo", a.algo, "--transport", a.transport};
  if (!a.sizes.empty()) argv.insert(argv.end(), {"--sizes", a.sizes});
  if (!a.emulate.empty()) argv.insert(argv.end(), {"--emulate-link", a.emulate});
  if (a.json) argv.push_back("--json");
  return argv;
}

int RunLocal(const BenchCommArgs& a) {
  // Refuse bad arguments once here rather than once per spawned rank.
  if (Status st = CheckBenchArgs(a); !st.ok()) return Fail(st);
  if (Status st = MeasureUcxPerftestFloors(a); !st.ok()) return Fail(st);
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
    std::vector<std::string> argv = ChildArgv(a, peers, r, path);
    const pid_t pid = fork();
    if (pid == 0) {
      // One core per rank where there are enough: ranks that share a core
      // measure the scheduler (shm waits spin), not the transport.
      if (static_cast<int>(std::thread::hardware_concurrency()) >= a.local) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(r, &set);
        sched_setaffinity(0, sizeof set, &set);
      }
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
  CLI::App* cmd =
      app.add_subcommand("bench-comm", "All-reduce latency per transport and algorithm vs a raw ping-pong floor");
  cmd->add_option("--peers", args->peers, "HOST:PORT of every rank, comma-separated, in rank order");
  cmd->add_option("--rank", args->rank, "This process's rank (index in --peers)");
  cmd->add_option("--secret-file", args->secret_file, "File holding the shared cluster secret");
  cmd->add_option("--bind", args->bind, "Address to listen on (default 127.0.0.1; others need a secret)");
  cmd->add_option("--emulate-link", args->emulate, "Add one-way latency and a bandwidth cap, e.g. 300us,2.5gbit");
  cmd->add_option("--local", args->local, "Spawn this many ranks on 127.0.0.1 and benchmark across them")
      ->check(CLI::Range(2, 64));
  cmd->add_option("--algo", args->algo, "All-reduce algorithm(s), comma-separated: auto, oneshot, rd, ring");
  cmd->add_option("--transport", args->transport, "tcp, shm or ucx (default tcp)");
  cmd->add_option("--sizes", args->sizes, "Vector sizes in bytes, comma-separated, k/m suffixes (default 1k..16m x4)");
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
