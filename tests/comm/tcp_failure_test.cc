// What the TCP transport does when things go wrong, across real processes:
// a wrong secret, hostile connections, a killed or frozen peer mid-all-reduce,
// and the link emulation's added latency.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "comm/tcp/collective.h"
#include "comm/tcp/crc32c.h"
#include "comm/tcp/frame.h"
#include "multiprocess.h"

namespace plexus::tcp {
namespace {

using testing::RankContext;
using testing::RankResult;
using testing::RunRanks;

TEST(TcpAuth, WrongSecretIsRefusedWithAClearMessageOnBothSides) {
  auto results = RunRanks(2, [](const RankContext& ctx) {
    MeshOptions o = ctx.Options(ctx.rank == 0 ? "right-secret" : "wrong-secret");
    o.connect_timeout = std::chrono::milliseconds(2500);
    auto mesh = TcpMesh::Create(o);
    return mesh.ok() ? std::string("connected?!") : mesh.status().message();
  });
  // Rank 0 connected to rank 1: it names rank 1's address.
  EXPECT_NE(results[0].report.find("failed authentication: wrong cluster secret?"), std::string::npos)
      << results[0].report;
  EXPECT_NE(results[0].report.find("peer 127.0.0.1:"), std::string::npos) << results[0].report;
  // Rank 1 logged the rejected connection and gave up waiting for a good one.
  EXPECT_NE(results[1].log.find("failed authentication: wrong cluster secret?"), std::string::npos) << results[1].log;
  EXPECT_NE(results[1].report.find("wrong cluster secret?"), std::string::npos) << results[1].report;
}

std::string RawFrame(uint16_t type, const std::string& payload, uint32_t claimed_length, bool corrupt) {
  uint8_t h[kFrameHeaderBytes];
  uint32_t crc = Crc32c(payload.data(), payload.size()) ^ (corrupt ? 1u : 0u);
  EncodeHeader(FrameHeader{type, 0, claimed_length, crc}, h);
  return std::string(reinterpret_cast<char*>(h), sizeof(h)) + payload;
}

TEST(TcpHostile, GarbageOversizedAndCorruptConnectionsAreDroppedWithAReason) {
  std::vector<std::string> peers;
  std::vector<Fd> listeners = testing::BindListeners(2, &peers);
  auto ep = ParseEndpoint(peers[1]);
  ASSERT_TRUE(ep.ok());
  // Queue three hostile connections on rank 1's listener before the ranks start.
  const std::string attacks[] = {
      "GET / HTTP/1.1\r\nHost: plexus\r\n\r\n",
      RawFrame(kHello, "", 1u << 30, false),            // claims a 1 GiB frame
      RawFrame(kHello, std::string(48, 'x'), 48, true),  // payload checksum wrong
  };
  std::vector<Fd> raw;
  for (const std::string& bytes : attacks) {
    auto fd = ConnectWithRetry(*ep, NowNs() + 2'000'000'000);
    ASSERT_TRUE(fd.ok()) << fd.status().message();
    ASSERT_TRUE(WriteFull(fd->get(), bytes.data(), bytes.size(), NowNs() + 1'000'000'000, "attack").ok());
    raw.push_back(std::move(fd).value());
  }
  auto results = RunRanks(
      2,
      [](const RankContext& ctx) -> std::string {
        auto mesh = TcpMesh::Create(ctx.Options());
        if (!mesh.ok()) return "ERROR " + mesh.status().message();
        auto coll = (*mesh)->NewCollective({0, 1});
        float x[3] = {1, 2, 3};
        Status st = (*coll)->AllReduceSum(x, 3, ElemType::kF32);
        return st.ok() ? fmt::format("{} {} {}", x[0], x[1], x[2]) : "ERROR " + st.message();
      },
      std::chrono::seconds(30), &listeners, &peers);
  EXPECT_EQ(results[0].report, "2 4 6");
  EXPECT_EQ(results[1].report, "2 4 6");
  const std::string& log = results[1].log;
  EXPECT_NE(log.find("bad frame magic"), std::string::npos) << log;
  EXPECT_NE(log.find("oversized frame"), std::string::npos) << log;
  EXPECT_NE(log.find("payload checksum mismatch"), std::string::npos) << log;
  for (Fd& fd : raw) {  // each attacker was disconnected
    char buf[256];
    Status st = Status::Ok();
    while (st.ok()) st = ReadFull(fd.get(), buf, sizeof(buf), NowNs() + 2'000'000'000, "attacker");
    EXPECT_EQ(st.message().find("timed out"), std::string::npos) << st.message();
  }
}

// Ranks loop all-reduces; `victim` stops (signal) at iteration 3. The others
// must fail naming the victim within 5 s, and fail fast afterwards.
std::string SurviveVictim(const RankContext& ctx, int victim, int signal, AllReduceAlgo algo, size_t count) {
  auto mesh = TcpMesh::Create(ctx.Options());
  if (!mesh.ok()) return "ERROR " + mesh.status().message();
  std::vector<int> all;
  for (int r = 0; r < (*mesh)->size(); ++r) all.push_back(r);
  auto coll = (*mesh)->NewCollective(all, CollectiveOptions{.algo = algo});
  std::vector<float> data(count, 1.0f);
  for (int it = 0;; ++it) {
    if (ctx.rank == victim && it == 3) raise(signal);
    const int64_t t0 = NowNs();
    Status st = (*coll)->AllReduceSum(data.data(), count, ElemType::kF32);
    const double waited_s = static_cast<double>(NowNs() - t0) / 1e9;
    if (st.ok()) continue;
    const int64_t t1 = NowNs();
    Status again = (*coll)->AllReduceSum(data.data(), count, ElemType::kF32);
    const double again_s = static_cast<double>(NowNs() - t1) / 1e9;
    return fmt::format("iteration {} failed after {:.2f}s: {} | again after {:.3f}s ok={}", it, waited_s,
                       st.message(), again_s, again.ok());
  }
}

void ExpectNamedFailure(const std::vector<RankResult>& results, int victim, const std::string& why) {
  for (int r = 0; r < static_cast<int>(results.size()); ++r) {
    if (r == victim) continue;
    const std::string& rep = results[r].report;
    EXPECT_FALSE(results[r].killed) << "rank " << r << " hung";
    EXPECT_NE(rep.find("failed after"), std::string::npos) << rep;
    EXPECT_NE(rep.find("[tcp]"), std::string::npos) << rep;
    EXPECT_NE(rep.find(fmt::format("rank {} (127.0.0.1:", victim)), std::string::npos) << "rank " << r << ": " << rep;
    EXPECT_NE(rep.find(why), std::string::npos) << "rank " << r << ": " << rep;
    double waited = 99, again = 99;
    std::sscanf(rep.c_str() + rep.find("after ") + 6, "%lfs", &waited);
    std::sscanf(rep.c_str() + rep.find("again after ") + 12, "%lfs", &again);
    EXPECT_LT(waited, 5.0) << rep;
    EXPECT_LT(again, 0.5) << rep;
    EXPECT_NE(rep.find("ok=false"), std::string::npos) << rep;
  }
}

TEST(TcpFailure, KilledPeerMidOneShotAllReduceIsNamedQuickly) {
  auto results = RunRanks(3, [](const RankContext& ctx) {
    return SurviveVictim(ctx, 2, SIGKILL, AllReduceAlgo::kOneShot, 1024);
  });
  ExpectNamedFailure(results, 2, "during all-reduce");  // EOF or reset
}

TEST(TcpFailure, KilledPeerMidRingAllReduceIsNamedOrPropagated) {
  auto results = RunRanks(4, [](const RankContext& ctx) {
    return SurviveVictim(ctx, 3, SIGKILL, AllReduceAlgo::kRing, 1 << 20);
  });
  ExpectNamedFailure(results, 3, "rank 3");
}

TEST(TcpFailure, FrozenPeerTimesOutOnHeartbeats) {
  auto results = RunRanks(2, [](const RankContext& ctx) {
    std::string rep = SurviveVictim(ctx, 1, SIGSTOP, AllReduceAlgo::kOneShot, 16);
    return rep;
  }, std::chrono::seconds(5));  // the frozen rank is killed at the end
  ExpectNamedFailure(results, 1, "timed out");
}

TEST(TcpEmulation, TwoMillisecondLinkMakesPingPongAtLeastFourMilliseconds) {
  auto results = RunRanks(2, [](const RankContext& ctx) -> std::string {
    MeshOptions o = ctx.Options();
    o.emulate = LinkSpec{2'000'000, 0};
    auto mesh = TcpMesh::Create(o);
    if (!mesh.ok()) return "ERROR " + mesh.status().message();
    const int other = 1 - ctx.rank;
    auto pipe = (*mesh)->NewPipeLink(other, other);
    std::vector<uint8_t> buf(4096);
    double best_us = 1e30;
    for (int i = 0; i < 5; ++i) {
      const int64_t t0 = NowNs();
      Status st = ctx.rank == 0 ? (*pipe)->SendNext(buf.data(), buf.size()) : (*pipe)->RecvPrev(buf.data(), buf.size());
      if (st.ok()) st = ctx.rank == 0 ? (*pipe)->RecvPrev(buf.data(), buf.size()) : (*pipe)->SendNext(buf.data(), buf.size());
      if (!st.ok()) return "ERROR " + st.message();
      best_us = std::min(best_us, static_cast<double>(NowNs() - t0) / 1e3);
    }
    auto raw = (*mesh)->RawPingPong(other, 4096, 5);
    if (!raw.ok()) return "ERROR " + raw.status().message();
    const double raw_us = raw->empty() ? 1e30 : *std::min_element(raw->begin(), raw->end());
    return fmt::format("{:.0f} {:.0f}", best_us, raw_us);
  });
  double pipe_us = 0, raw_us = 0;
  ASSERT_EQ(std::sscanf(results[0].report.c_str(), "%lf %lf", &pipe_us, &raw_us), 2) << results[0].report;
  EXPECT_GE(pipe_us, 4000) << results[0].report;
  EXPECT_GE(raw_us, 4000) << results[0].report;
}

}  // namespace
}  // namespace plexus::tcp
