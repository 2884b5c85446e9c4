// A latency probe for the shared-memory transport, run by hand (disabled by
// default: timings are for people, not assertions):
//   shm_collective_test --gtest_also_run_disabled_tests --gtest_filter='*ShmLatency*'
// Each iteration's time is taken on group rank 0; back-to-back all-reduces
// cannot overlap (each needs every rank's partial), so one iteration is one
// all-reduce latency. PLEXUS_PROBE_PIN=1 pins rank r to CPU r % ncpu: on a
// busy box the scheduler otherwise may stack both ranks on one core, and the
// probe then measures context switches.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "comm/shm/collective.h"
#include "multiprocess.h"

namespace plexus::shm {
namespace {

using tcp::testing::RankContext;
using tcp::testing::RunRanks;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

std::string Row(const std::string& what, const std::vector<double>& us) {
  return fmt::format("{:<34} median {:8.2f} us  p10 {:8.2f}  p90 {:8.2f}  ({} iters)\n", what, Percentile(us, 0.5),
                     Percentile(us, 0.1), Percentile(us, 0.9), us.size());
}

std::string ProbeSize(Collective& coll, int n, size_t bytes, const char* variant) {
  const size_t count = bytes / sizeof(float);
  std::vector<float> data(count, 1.0f);
  const int iters = bytes >= (256u << 10) ? 500 : 3000;
  std::vector<double> us;
  for (int it = -200; it < iters; ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = coll.AllReduceSum(data.data(), count, ElemType::kF32);
    const auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) return "ERROR " + st.message();
    std::fill(data.begin(), data.end(), 1.0f);  // keep the values finite
    if (it >= 0) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  return Row(fmt::format("all-reduce n={} {} B{}", n, bytes, variant), us);
}

void MaybePin(int rank) {
  const char* pin = std::getenv("PLEXUS_PROBE_PIN");
  if (!pin || std::string(pin) != "1") return;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(rank % static_cast<int>(std::thread::hardware_concurrency()), &cpus);
  sched_setaffinity(0, sizeof(cpus), &cpus);
}

std::string ProbeAllReduce(const RankContext& ctx) {
  MaybePin(ctx.rank);
  auto mesh = tcp::TcpMesh::Create(ctx.Options());
  if (!mesh.ok()) return "ERROR " + mesh.status().message();
  const int n = (*mesh)->size();
  std::vector<int> all;
  for (int r = 0; r < n; ++r) all.push_back(r);
  std::string report;
  // Defaults, then variants that show where the defaults come from.
  struct Variant {
    const char* name;
    ShmOptions opt;
    std::vector<size_t> sizes;
  };
  const std::vector<Variant> variants = {
      {"", {}, {4, 16 << 10, 64 << 10, 256 << 10, 1 << 20}},
      {" two-phase", {.two_phase_bytes = 0, .two_phase_min_ranks = 2}, {16 << 10, 64 << 10, 1 << 20}},
      {" one-shot", {.two_phase_bytes = size_t{1} << 40}, {16 << 10, 64 << 10, 1 << 20}},
  };
  for (const Variant& v : variants) {
    auto coll = NewShmCollective(**mesh, all, 0, v.opt);
    if (!coll.ok()) return "ERROR " + coll.status().message();
    for (size_t bytes : v.sizes) {
      const std::string row = ProbeSize(**coll, n, bytes, v.name);
      if (row.starts_with("ERROR")) return row;
      report += row;
    }
  }
  if (n == 2) {  // pipe ping-pong: half the round trip
    auto pipe = NewShmPipeLink(**mesh, 1 - ctx.rank, 1 - ctx.rank, 0);
    if (!pipe.ok()) return "ERROR " + pipe.status().message();
    for (size_t bytes : {size_t{4}, size_t{16} << 10}) {
      std::vector<uint8_t> buf(bytes);
      std::vector<double> us;
      for (int it = -200; it < 3000; ++it) {
        const auto t0 = std::chrono::steady_clock::now();
        Status st = ctx.rank == 0 ? (*pipe)->SendNext(buf.data(), bytes) : (*pipe)->RecvPrev(buf.data(), bytes);
        if (st.ok()) st = ctx.rank == 0 ? (*pipe)->RecvPrev(buf.data(), bytes) : (*pipe)->SendNext(buf.data(), bytes);
        if (!st.ok()) return "ERROR " + st.message();
        if (it >= 0)
          us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 2);
      }
      report += Row(fmt::format("pipe one-way (rtt/2) {} B", bytes), us);
    }
  }
  return report;
}

TEST(ShmLatency, DISABLED_PrintMedians) {
  for (int n : {2, 3, 4}) {
    auto results = RunRanks(n, ProbeAllReduce, std::chrono::seconds(120));
    std::printf("%s", results[0].report.c_str());
    for (const auto& r : results) EXPECT_EQ(r.report.find("ERROR"), std::string::npos) << r.report;
  }
}

}  // namespace
}  // namespace plexus::shm
