// The UCX transport across real forked processes on 127.0.0.1, bootstrapped
// by the TCP mesh, once over UCX's tcp transport and once over shared memory
// (UCX_TLS set in each child before the context is created): all-reduce
// results equal a local sum in the algorithm's order and are bit-identical on
// every rank; pipeline hand-offs arrive intact; a killed peer is named.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "comm/tcp/socket.h"
#include "comm/ucx/context.h"
#include "multiprocess.h"

namespace plexus::ucx {
namespace {

using comm::AllReduceAlgo;
using tcp::TcpMesh;
using tcp::testing::RankContext;
using tcp::testing::RankResult;
using tcp::testing::RunRanks;

constexpr const char* kTcp = "tcp";
constexpr const char* kShm = "posix,sysv,self";

// A deterministic partial of `rank` at element i: varied magnitudes, so the
// summation order shows in the last bits.
float Partial(int rank, size_t i, uint32_t salt) {
  uint64_t x = (static_cast<uint64_t>(rank + 1) << 40) ^ (i * 0x9E3779B97F4A7C15ull) ^ (uint64_t{salt} << 20);
  x ^= x >> 30, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 27, x *= 0x94D049BB133111EBull, x ^= x >> 31;
  const float unit = static_cast<float>(x & 0xFFFFFF) / 16777216.0f - 0.5f;
  return std::ldexp(unit, static_cast<int>((x >> 24) % 9) - 4);
}

// The oracle. One-shot: 0 + p0 + p1 + ... in rank order. Ring: chunk c
// ([c*count/n, (c+1)*count/n)) summed along the ring from rank c.
std::vector<float> Expected(int n, size_t count, uint32_t salt, AllReduceAlgo algo) {
  std::vector<float> out(count);
  size_t c = 0;
  for (size_t i = 0; i < count; ++i) {
    float s = 0.0f;
    if (algo == AllReduceAlgo::kOneShot) {
      for (int r = 0; r < n; ++r) s += Partial(r, i, salt);
    } else {
      while (count * (c + 1) / static_cast<size_t>(n) <= i) ++c;
      s = Partial(static_cast<int>(c), i, salt);
      for (int k = 1; k < n; ++k) s = s + Partial((static_cast<int>(c) + k) % n, i, salt);
    }
    out[i] = s;
  }
  return out;
}

uint64_t Hash(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const uint8_t*>(data)[i]) * 1099511628211ull;
  return h;
}

// The mesh, then UCX over it with the given UCX_TLS; "" on success.
std::string Connect(const RankContext& ctx, const char* tls, std::unique_ptr<TcpMesh>* mesh,
                    std::unique_ptr<UcxContext>* ucx, UcxOptions options = {}) {
  setenv("UCX_TLS", tls, 1);
  auto m = TcpMesh::Create(ctx.Options());
  if (!m.ok()) return "ERROR " + m.status().message();
  *mesh = std::move(m).value();
  auto u = UcxContext::Create(**mesh, options);
  if (!u.ok()) return "ERROR " + u.status().message();
  *ucx = std::move(u).value();
  return "";
}

void ExpectAllSame(const std::vector<RankResult>& results) {
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_FALSE(results[r].killed) << "rank " << r << " hung; log:\n" << results[r].log;
    EXPECT_EQ(results[r].report.find("ERROR"), std::string::npos) << "rank " << r << ": " << results[r].report;
    EXPECT_EQ(results[r].report, results[0].report) << "rank " << r << " differs from rank 0";
  }
}

// One algorithm over the given sizes; rank 0 compares with the oracle when
// there is one (one-shot, ring), every rank reports hashes.
std::string ReduceSizes(const RankContext& ctx, UcxContext& ucx, int n, AllReduceAlgo algo, uint32_t tag,
                        std::initializer_list<size_t> counts) {
  std::vector<int> all(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) all[static_cast<size_t>(r)] = r;
  auto coll = ucx.NewCollective(all, tag, comm::AlgoOptions{.algo = algo});
  if (!coll.ok()) return "ERROR " + coll.status().message();
  std::string report;
  for (size_t count : counts) {
    const auto salt = static_cast<uint32_t>(count);
    std::vector<float> data(count);
    for (size_t i = 0; i < count; ++i) data[i] = Partial(ctx.rank, i, salt);
    Status st = (*coll)->AllReduceSum(data.data(), count, ElemType::kF32);
    if (!st.ok()) return "ERROR " + st.message();
    std::string verdict = "same";
    if (ctx.rank == 0 && algo != AllReduceAlgo::kRecursiveDoubling) {
      const std::vector<float> want = Expected(n, count, salt, algo);
      verdict = std::memcmp(want.data(), data.data(), count * sizeof(float)) == 0 ? "same" : "MISMATCH";
    }
    report += fmt::format("{}:{}:{}:{:x}\n", comm::AlgoName(algo), count, verdict,
                          Hash(data.data(), count * sizeof(float)));
  }
  return report;
}

// AllGatherV with unequal sizes, one of them empty: every rank's bytes land in its slot.
std::string GatherCase(const RankContext& ctx, UcxContext& ucx, int n) {
  std::vector<int> all(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) all[static_cast<size_t>(r)] = r;
  auto coll = ucx.NewCollective(all, 4);
  if (!coll.ok()) return "ERROR " + coll.status().message();
  std::vector<size_t> sizes(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) sizes[static_cast<size_t>(r)] = r == 1 ? 0 : 70001 + 3 * static_cast<size_t>(r);
  std::vector<uint8_t> mine(sizes[static_cast<size_t>(ctx.rank)]), out;
  for (size_t b : sizes) out.resize(out.size() + b);
  for (size_t i = 0; i < mine.size(); ++i) mine[i] = static_cast<uint8_t>(i * 7 + ctx.rank);
  if (Status st = (*coll)->AllGatherV(mine.data(), sizes.data(), out.data()); !st.ok()) return "ERROR " + st.message();
  size_t off = 0;
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < sizes[static_cast<size_t>(r)]; ++i, ++off)
      if (out[off] != static_cast<uint8_t>(i * 7 + r)) return fmt::format("ERROR gathered byte {} of rank {}", i, r);
  return fmt::format("gather:{}:{:x}\n", out.size(), Hash(out.data(), out.size()));
}

std::string AllReduceCases(const RankContext& ctx, const char* tls) {
  std::unique_ptr<TcpMesh> mesh;
  std::unique_ptr<UcxContext> ucx;
  if (std::string err = Connect(ctx, tls, &mesh, &ucx); !err.empty()) return err;
  const int n = mesh->size();
  std::string report;
  for (int peer = 0; peer < n; ++peer)  // which UCX transport carried it, the same string on every rank
    if (peer != ctx.rank) report += "via " + ucx->TransportOf(peer) + "\n";
  // 4 B .. 1 MiB (odd sizes included) through one-shot; 64 MiB once, for two ranks.
  const size_t big = n == 2 ? size_t{16} << 20 : size_t{4097};
  report += ReduceSizes(ctx, *ucx, n, AllReduceAlgo::kOneShot, 1, {1, 3, 255, 4096, 65537, 262143, big});
  report += ReduceSizes(ctx, *ucx, n, AllReduceAlgo::kRing, 2, {5, 262143, size_t{1} << 20});
  report += ReduceSizes(ctx, *ucx, n, AllReduceAlgo::kRecursiveDoubling, 3, {1, 4097, 65537});
  return report + GatherCase(ctx, *ucx, n);
}

struct Case {
  int ranks;
  const char* tls;
};

class UcxAllReduceTest : public ::testing::TestWithParam<Case> {};

TEST_P(UcxAllReduceTest, MatchesLocalSumBitForBitOnEveryRank) {
  const Case c = GetParam();
  auto results = RunRanks(c.ranks, [&](const RankContext& ctx) { return AllReduceCases(ctx, c.tls); },
                          std::chrono::seconds(40));
  // Reports list the transport to each peer: compare the rest across ranks.
  for (RankResult& r : results) {
    const std::string& rep = r.report;
    if (rep.find("ERROR") != std::string::npos) continue;
    const std::string want = c.tls == kTcp ? "tcp" : "memory";  // sysv/memory or posix/memory
    EXPECT_NE(rep.substr(0, rep.find("\noneshot")).find(want), std::string::npos) << rep;
    r.report = rep.substr(rep.find("oneshot:"));
  }
  ExpectAllSame(results);
  const std::string& rep = results[0].report;
  EXPECT_EQ(rep.find("MISMATCH"), std::string::npos) << rep;
  EXPECT_NE(rep.find("ring:1048576:same"), std::string::npos) << rep;
  if (c.ranks == 2) {
    EXPECT_NE(rep.find("oneshot:16777216:same"), std::string::npos) << rep;
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, UcxAllReduceTest,
                         ::testing::Values(Case{2, kTcp}, Case{3, kTcp}, Case{4, kTcp}, Case{2, kShm},
                                           Case{3, kShm}, Case{4, kShm}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return fmt::format("{}ranks_{}", info.param.ranks,
                                              info.param.tls == kTcp ? "tcp" : "shm");
                         });

// 0 -> 1 -> 2 pipeline hand-offs (a zero-byte one included).
std::string PipeCases(const RankContext& ctx, const char* tls) {
  std::unique_ptr<TcpMesh> mesh;
  std::unique_ptr<UcxContext> ucx;
  if (std::string err = Connect(ctx, tls, &mesh, &ucx); !err.empty()) return err;
  const int r = ctx.rank;
  auto pipe = ucx->NewPipeLink(r > 0 ? r - 1 : -1, r < 2 ? r + 1 : -1, 7);
  if (!pipe.ok()) return "ERROR " + pipe.status().message();
  std::string report;
  for (size_t bytes : {size_t{4}, size_t{0}, size_t{3} << 20, size_t{12345}}) {
    std::vector<uint8_t> buf(bytes);
    if (r == 0) {
      for (size_t i = 0; i < bytes; ++i) buf[i] = static_cast<uint8_t>(i * 31 + bytes);
    } else if (Status st = (*pipe)->RecvPrev(buf.data(), bytes); !st.ok()) {
      return "ERROR " + st.message();
    }
    if (r < 2) {
      if (Status st = (*pipe)->SendNext(buf.data(), bytes); !st.ok()) return "ERROR " + st.message();
    }
    report += fmt::format("{:x} ", Hash(buf.data(), bytes));
  }
  // A receive of the wrong size is an error naming the sender, not a silent truncation.
  if (r == 0) (void)(*pipe)->SendNext(report.data(), 16);
  if (r == 1) {
    char small[8];
    Status st = (*pipe)->RecvPrev(small, sizeof(small));
    report += st.ok() ? "ERROR no size error" : st.message().find("rank 0 (") != std::string::npos ? "sized" : st.message();
  } else {
    report += "sized";
  }
  if (Status st = mesh->SendFrame((r + 1) % 3, tcp::kFirstUserType, {}); !st.ok()) return "ERROR " + st.message();
  auto done = mesh->RecvFrame((r + 2) % 3, std::chrono::milliseconds(5000));  // nobody leaves early
  return done.ok() ? report : "ERROR " + done.status().message();
}

TEST(UcxPipeLink, SendsHiddenStatesDownThePipelineOverTcp) {
  ExpectAllSame(RunRanks(3, [](const RankContext& ctx) { return PipeCases(ctx, kTcp); }));
}

TEST(UcxPipeLink, SendsHiddenStatesDownThePipelineOverSharedMemory) {
  ExpectAllSame(RunRanks(3, [](const RankContext& ctx) { return PipeCases(ctx, kShm); }));
}

// Ranks loop one-shot all-reduces; rank 2 gets `signal` at iteration 3
// (SIGKILL: it dies; SIGSTOP: it freezes with its sockets open). The others
// fail naming it within 5 s, and fail fast afterwards.
std::string SurviveVictim(const RankContext& ctx, const char* tls, PeerFailureMode mode, int signal = SIGKILL) {
  std::unique_ptr<TcpMesh> mesh;
  std::unique_ptr<UcxContext> ucx;
  if (std::string err = Connect(ctx, tls, &mesh, &ucx, UcxOptions{.peer_failure_mode = mode}); !err.empty())
    return err;
  auto coll = ucx->NewCollective({0, 1, 2}, 0, comm::AlgoOptions{.algo = AllReduceAlgo::kOneShot});
  if (!coll.ok()) return "ERROR " + coll.status().message();
  std::vector<float> data(4096, 1.0f);
  for (int it = 0;; ++it) {
    if (ctx.rank == 2 && it == 3) raise(signal);
    const int64_t t0 = tcp::NowNs();
    Status st = (*coll)->AllReduceSum(data.data(), data.size(), ElemType::kF32);
    if (st.ok()) continue;
    const double waited_s = static_cast<double>(tcp::NowNs() - t0) / 1e9;
    const int64_t t1 = tcp::NowNs();
    Status again = (*coll)->AllReduceSum(data.data(), data.size(), ElemType::kF32);
    const double again_s = static_cast<double>(tcp::NowNs() - t1) / 1e9;
    return fmt::format("iteration {} failed after {:.2f}s: {} | again after {:.3f}s ok={}", it, waited_s,
                       st.message(), again_s, again.ok());
  }
}

void ExpectVictimNamed(const char* tls, PeerFailureMode mode = PeerFailureMode::kIfSupported, int signal = SIGKILL) {
  auto results = RunRanks(3, [&](const RankContext& ctx) { return SurviveVictim(ctx, tls, mode, signal); },
                          std::chrono::seconds(signal == SIGSTOP ? 5 : 20));  // the frozen rank is killed at the end
  for (int r = 0; r < 2; ++r) {
    const std::string& rep = results[static_cast<size_t>(r)].report;
    if (getenv("PLEXUS_UCX_VERBOSE")) std::printf("rank %d: %s\n", r, rep.c_str());
    EXPECT_FALSE(results[static_cast<size_t>(r)].killed) << "rank " << r << " hung";
    EXPECT_NE(rep.find("failed after"), std::string::npos) << rep;
    EXPECT_NE(rep.find("[ucx] rank 2 (127.0.0.1:"), std::string::npos) << "rank " << r << ": " << rep;
    double waited = 99, again = 99;
    std::sscanf(rep.c_str() + rep.find("after ") + 6, "%lfs", &waited);
    std::sscanf(rep.c_str() + rep.find("again after ") + 12, "%lfs", &again);
    EXPECT_LT(waited, 5.0) << rep;
    EXPECT_LT(again, 0.5) << rep;
    EXPECT_NE(rep.find("ok=false"), std::string::npos) << rep;
  }
}

TEST(UcxFailure, KilledPeerIsNamedOverTcp) { ExpectVictimNamed(kTcp); }
TEST(UcxFailure, KilledPeerIsNamedOverSharedMemory) { ExpectVictimNamed(kShm); }
// Without UCX's own peer-failure handling the mesh's heartbeats notice.
TEST(UcxFailure, KilledPeerIsNamedOverTcpWithoutUcxErrorHandling) { ExpectVictimNamed(kTcp, PeerFailureMode::kNever); }
// A frozen peer keeps its sockets open, so only the mesh's heartbeats (read
// off the idle TCP data link by the UCX wait loop) can tell.
TEST(UcxFailure, FrozenPeerIsNamedOverTcp) { ExpectVictimNamed(kTcp, PeerFailureMode::kIfSupported, SIGSTOP); }

TEST(UcxContext, RejectsBadGroupsAndTags) {
  auto results = RunRanks(2, [](const RankContext& ctx) -> std::string {
    std::unique_ptr<TcpMesh> mesh;
    std::unique_ptr<UcxContext> ucx;
    if (std::string err = Connect(ctx, kTcp, &mesh, &ucx); !err.empty()) return err;
    std::string out;
    out += ucx->NewCollective({1, 0}, 0).ok() ? "unsorted-ok " : "unsorted-rejected ";
    out += ucx->NewCollective({0, 1, 5}, 0).ok() ? "range-ok " : "range-rejected ";
    out += ucx->NewCollective({0, 1}, 1u << 24).ok() ? "tag-ok " : "tag-rejected ";
    out += ucx->NewPipeLink(ctx.rank, -1).ok() ? "self-ok" : "self-rejected";
    return out;
  });
  ExpectAllSame(results);
  EXPECT_EQ(results[0].report, "unsorted-rejected range-rejected tag-rejected self-rejected");
}

// Hand-run latency benchmark, skipped unless PLEXUS_UCX_BENCH is set:
//   PLEXUS_UCX_BENCH=1 ucx_collective_test --gtest_filter='UcxBench.*'
// prints the median 16 KiB one-shot all-reduce latency of 2 processes per UCX_TLS.
TEST(UcxBench, SixteenKiBAllReduceLatency) {
  if (!getenv("PLEXUS_UCX_BENCH")) GTEST_SKIP() << "set PLEXUS_UCX_BENCH=1 to run";
  for (const char* tls : {kTcp, kShm})
  for (bool wakeup : {true, false}) {
    auto results = RunRanks(2, [&](const RankContext& ctx) -> std::string {
      std::unique_ptr<TcpMesh> mesh;
      std::unique_ptr<UcxContext> ucx;
      UcxOptions o;
      o.wakeup = wakeup;
      if (const char* spin = getenv("PLEXUS_UCX_SPIN_US")) o.spin_us = std::chrono::microseconds(atoi(spin));
      if (std::string err = Connect(ctx, tls, &mesh, &ucx, o); !err.empty()) return err;
      auto coll = ucx->NewCollective({0, 1}, 0, comm::AlgoOptions{.algo = AllReduceAlgo::kOneShot});
      std::vector<float> data(4096, 1.0f);
      std::vector<double> us;
      for (int it = 0; it < 2200; ++it) {
        const int64_t t0 = tcp::NowNs();
        if (Status st = (*coll)->AllReduceSum(data.data(), data.size(), ElemType::kF32); !st.ok())
          return "ERROR " + st.message();
        std::fill(data.begin(), data.end(), 1.0f);
        if (it >= 200) us.push_back(static_cast<double>(tcp::NowNs() - t0) / 1e3);
      }
      std::sort(us.begin(), us.end());
      return fmt::format("{} wakeup={} via {}: median {:.1f} us, p90 {:.1f} us", tls, wakeup, ucx->TransportOf(1 - ctx.rank),
                         us[us.size() / 2], us[us.size() * 9 / 10]);
    });
    std::printf("rank 0: %s\nrank 1: %s\n", results[0].report.c_str(), results[1].report.c_str());
  }
}

}  // namespace
}  // namespace plexus::ucx
