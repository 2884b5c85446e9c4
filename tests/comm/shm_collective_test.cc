// The shared-memory transport across real forked processes: all-reduce
// results against a local rank-order sum (bit for bit, on every rank),
// all-gathers, pipeline links, a peer killed mid-collective, and no segment
// left behind in /dev/shm.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include "comm/shm/collective.h"
#include "comm/shm/segment.h"
#include "multiprocess.h"

namespace plexus::shm {
namespace {

using tcp::TcpMesh;
using tcp::testing::RankContext;
using tcp::testing::RankResult;
using tcp::testing::RunRanks;

// A deterministic partial of `rank` at element i: varied magnitudes and signs,
// so the summation order shows in the last bits.
float Partial(int rank, size_t i, uint32_t salt) {
  uint64_t x = (static_cast<uint64_t>(rank + 1) << 40) ^ (i * 0x9E3779B97F4A7C15ull) ^ (uint64_t{salt} << 20);
  x ^= x >> 30, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 27, x *= 0x94D049BB133111EBull, x ^= x >> 31;
  const float unit = static_cast<float>(x & 0xFFFFFF) / 16777216.0f - 0.5f;
  return std::ldexp(unit, static_cast<int>((x >> 24) % 9) - 4);
}

uint64_t Hash(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const uint8_t*>(data)[i]) * 1099511628211ull;
  return h;
}

std::set<std::string> ShmEntries() {
  std::set<std::string> names;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d))
      if (std::strncmp(e->d_name, "plexus-", 7) == 0) names.insert(e->d_name);
    closedir(d);
  }
  return names;
}

// Every test checks that it left no segment behind. ctest runs other tests
// beside this one (cluster runs over shm among them), whose segments live for
// the milliseconds of their set-up: a new name counts as leaked only if it
// is still there two seconds later.
class Shm : public ::testing::Test {
 protected:
  void SetUp() override { before_ = ShmEntries(); }
  void TearDown() override {
    std::set<std::string> fresh;
    for (int attempt = 0; attempt < 40; ++attempt) {
      fresh.clear();
      for (const std::string& name : ShmEntries())
        if (!before_.count(name)) fresh.insert(name);
      if (fresh.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (const std::string& name : fresh) ADD_FAILURE() << "leaked /dev/shm/" << name;
  }
  std::set<std::string> before_;
};

class ShmRanks : public Shm, public ::testing::WithParamInterface<int> {};

std::string MeshOrError(const RankContext& ctx, std::unique_ptr<TcpMesh>* mesh) {
  auto m = TcpMesh::Create(ctx.Options());
  if (!m.ok()) return "ERROR " + m.status().message();
  *mesh = std::move(m).value();
  return "";
}

std::vector<int> AllRanks(int n) {
  std::vector<int> all(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) all[r] = r;
  return all;
}

void ExpectAllSame(const std::vector<RankResult>& results) {
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_FALSE(results[r].killed) << "rank " << r << " hung; log:\n" << results[r].log;
    EXPECT_EQ(results[r].report.find("ERROR"), std::string::npos) << "rank " << r << ": " << results[r].report;
    EXPECT_EQ(results[r].report, results[0].report) << "rank " << r << " differs from rank 0";
  }
}

// One all-reduce of `count` floats; rank 0 compares with 0 + p0 + p1 + ...
std::string OneAllReduce(Collective& coll, int rank, int n, size_t count) {
  const auto salt = static_cast<uint32_t>(count);
  std::vector<float> data(count);
  for (size_t i = 0; i < count; ++i) data[i] = Partial(rank, i, salt);
  Status st = coll.AllReduceSum(data.data(), count, ElemType::kF32);
  if (!st.ok()) return "ERROR " + st.message() + "\n";
  std::string verdict = "same";
  if (rank == 0)
    for (size_t i = 0; i < count; ++i) {
      float want = 0.0f;
      for (int r = 0; r < n; ++r) want += Partial(r, i, salt);
      if (std::memcmp(&want, &data[i], sizeof(float)) != 0) {
        verdict = fmt::format("MISMATCH at {}", i);
        break;
      }
    }
  return fmt::format("{}:{}:{:x}\n", count, verdict, Hash(data.data(), count * sizeof(float)));
}

std::string AllReduceCases(const RankContext& ctx) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  const int n = mesh->size();
  std::string report;
  // Default layout (1 MiB slots), then tiny slots so odd sizes span several
  // steps of both kinds (one-shot below 8 KiB, two-phase at and above).
  const ShmOptions tiny{.chunk_bytes = 4096 * 4, .two_phase_bytes = 8192, .two_phase_min_ranks = 2};
  for (const ShmOptions& opt : {ShmOptions{}, tiny}) {
    auto coll = NewShmCollective(*mesh, AllRanks(n), 7, opt);
    if (!coll.ok()) return "ERROR " + coll.status().message();
    for (size_t count : {size_t{1}, size_t{3}, size_t{4097}, size_t{65536}, size_t{(1 << 20) + 5}})
      report += OneAllReduce(**coll, ctx.rank, n, count);
    if (opt.chunk_bytes == ShmOptions{}.chunk_bytes) report += OneAllReduce(**coll, ctx.rank, n, size_t{16} << 20);
  }
  return report;
}

TEST_P(ShmRanks, AllReduceMatchesRankOrderSumBitForBit) {
  auto results = RunRanks(GetParam(), AllReduceCases, std::chrono::seconds(60));
  ExpectAllSame(results);
  EXPECT_EQ(results[0].report.find("MISMATCH"), std::string::npos) << results[0].report;
  EXPECT_NE(results[0].report.find("16777216:same"), std::string::npos) << results[0].report;  // 64 MiB
}

INSTANTIATE_TEST_SUITE_P(Ranks, ShmRanks, ::testing::Values(2, 3, 4));

std::string GatherCases(const RankContext& ctx) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  std::string report;
  for (size_t chunk : {size_t{1} << 20, size_t{4096}}) {  // one window, then many
    auto coll = NewShmCollective(*mesh, {0, 1, 2}, 1, ShmOptions{.chunk_bytes = chunk});
    if (!coll.ok()) return "ERROR " + coll.status().message();
    const std::vector<size_t> sizes = {5, 0, 70001};  // unequal, one empty
    std::vector<uint8_t> mine(sizes[ctx.rank]), out(5 + 0 + 70001);
    for (size_t i = 0; i < mine.size(); ++i) mine[i] = static_cast<uint8_t>(i * 7 + ctx.rank);
    Status st = (*coll)->AllGatherV(mine.data(), sizes.data(), out.data());
    if (!st.ok()) return "ERROR " + st.message();
    for (size_t i = 0; i < 5; ++i)
      if (out[i] != static_cast<uint8_t>(i * 7)) return "ERROR rank 0's bytes";
    for (size_t i = 0; i < 70001; ++i)
      if (out[5 + i] != static_cast<uint8_t>(i * 7 + 2)) return "ERROR rank 2's bytes";
    const std::vector<size_t> none = {0, 0, 0};
    if (Status z = (*coll)->AllGatherV(nullptr, none.data(), nullptr); !z.ok()) return "ERROR " + z.message();
    // In place: each rank's part already sits in `three` at its own offset.
    std::vector<uint32_t> three(3);
    three[ctx.rank] = static_cast<uint32_t>(100 + ctx.rank);
    st = (*coll)->AllGather(&three[ctx.rank], sizeof(uint32_t), three.data());
    if (!st.ok()) return "ERROR " + st.message();
    report += fmt::format("{:x} {} {} {}\n", Hash(out.data(), out.size()), three[0], three[1], three[2]);
  }
  return report;
}

TEST_F(Shm, AllGatherVWithUnequalAndZeroSizes) {
  auto results = RunRanks(3, GatherCases);
  ExpectAllSame(results);
  EXPECT_NE(results[0].report.find("100 101 102"), std::string::npos) << results[0].report;
}

// 0 -> 1 -> 2 hand-offs of odd and large sizes, with small cells so big
// messages wrap the ring many times.
std::string PipeCases(const RankContext& ctx) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  const int r = ctx.rank;
  std::string report;
  for (size_t chunk : {size_t{1} << 20, size_t{4096}}) {
    auto pipe = NewShmPipeLink(*mesh, r > 0 ? r - 1 : -1, r < 2 ? r + 1 : -1, 3, ShmOptions{.chunk_bytes = chunk});
    if (!pipe.ok()) return "ERROR " + pipe.status().message();
    for (size_t bytes : {size_t{4}, size_t{0}, (size_t{3} << 20) + 7, size_t{12345}, size_t{1}, size_t{4096}}) {
      std::vector<uint8_t> buf(bytes);
      if (r == 0) {
        for (size_t i = 0; i < bytes; ++i) buf[i] = static_cast<uint8_t>(i * 31 + bytes);
      } else if (Status st = (*pipe)->RecvPrev(buf.data(), bytes); !st.ok()) {
        return "ERROR " + st.message();
      }
      if (r < 2)
        if (Status st = (*pipe)->SendNext(buf.data(), bytes); !st.ok()) return "ERROR " + st.message();
      report += fmt::format("{:x} ", Hash(buf.data(), bytes));
    }
  }
  return report;
}

TEST_F(Shm, PipeLinkCarriesOddAndLargeSizes) {
  auto results = RunRanks(3, PipeCases);
  ExpectAllSame(results);
}

// Two ranks each other's prev and next: a ping-pong, then a size mismatch.
std::string PingPong(const RankContext& ctx) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  const int other = 1 - ctx.rank;
  auto pipe = NewShmPipeLink(*mesh, other, other, 0);
  if (!pipe.ok()) return "ERROR " + pipe.status().message();
  uint64_t v = 0;
  for (int i = 0; i < 1000; ++i) {
    if (ctx.rank == 0 && !(*pipe)->SendNext(&v, sizeof(v)).ok()) return "ERROR send";
    if (!(*pipe)->RecvPrev(&v, sizeof(v)).ok()) return "ERROR recv";
    ++v;
    if (ctx.rank == 1 && !(*pipe)->SendNext(&v, sizeof(v)).ok()) return "ERROR send";
  }
  std::vector<uint8_t> buf(12);
  if (ctx.rank == 0) {
    if (!(*pipe)->SendNext(buf.data(), 10).ok()) return "ERROR send";
    return fmt::format("{} ok", v);
  }
  Status st = (*pipe)->RecvPrev(buf.data(), 12);
  return fmt::format("{} {}", v, st.message());
}

TEST_F(Shm, PipeLinkBothWaysAndSizeMismatch) {
  auto results = RunRanks(2, PingPong);
  EXPECT_EQ(results[0].report, "2000 ok");
  EXPECT_EQ(results[1].report, "1999 [shm] rank 0 sent a 10-byte message, rank 1 expected 12 bytes");
}

// Ranks that disagree on the call fail with both calls named, not with mixed bytes.
TEST_F(Shm, MismatchedCallsFailClearly) {
  auto results = RunRanks(2, [](const RankContext& ctx) -> std::string {
    std::unique_ptr<TcpMesh> mesh;
    if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
    auto coll = NewShmCollective(*mesh, {0, 1}, 0);
    if (!coll.ok()) return "ERROR " + coll.status().message();
    std::vector<float> data(200, 1.0f);
    Status st = (*coll)->AllReduceSum(data.data(), ctx.rank == 0 ? 100 : 200, ElemType::kF32);
    auto again = NewShmCollective(*mesh, {0, 1}, 1);  // a fresh group: all-gather against all-reduce
    if (!again.ok()) return "ERROR " + again.status().message();
    Status st2 = ctx.rank == 0 ? (*again)->AllReduceSum(data.data(), 4, ElemType::kF32)
                               : (*again)->AllGather(data.data(), 16, data.data() + 4);
    return st.message() + " | " + st2.message();
  });
  EXPECT_EQ(results[0].report.rfind("[shm] rank 1 called an all-reduce of 200 floats, but rank 0 called an all-reduce "
                                    "of 100 floats | [shm] rank 1 called an all-gather of 32 bytes (sizes hash ",
                                    0),
            0u)
      << results[0].report;
  EXPECT_NE(results[0].report.find("), but rank 0 called an all-reduce of 4 floats"), std::string::npos);
  EXPECT_NE(results[1].report.find("[shm] rank 0 called an all-reduce of 100 floats, but rank 1 called an all-reduce "
                                   "of 200 floats | [shm] rank 0 called an all-reduce of 4 floats, but rank 1"),
            std::string::npos)
      << results[1].report;
}

// Ranks loop all-reduces; `victim` SIGKILLs itself at iteration 3. The
// others must fail naming it within seconds, and fail fast afterwards.
std::string SurviveVictim(const RankContext& ctx, int victim, size_t count) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  auto coll = NewShmCollective(*mesh, AllRanks(mesh->size()), 0);
  if (!coll.ok()) return "ERROR " + coll.status().message();
  std::vector<float> data(count, 1.0f);
  for (int it = 0;; ++it) {
    if (ctx.rank == victim && it == 3) raise(SIGKILL);
    const int64_t t0 = tcp::NowNs();
    Status st = (*coll)->AllReduceSum(data.data(), count, ElemType::kF32);
    if (st.ok()) continue;
    const double waited_s = static_cast<double>(tcp::NowNs() - t0) / 1e9;
    Status again = (*coll)->AllReduceSum(data.data(), count, ElemType::kF32);
    return fmt::format("iteration {} failed after {:.2f}s: {} | again ok={}: {}", it, waited_s, st.message(),
                       again.ok(), again.message());
  }
}

void ExpectVictimNamed(const std::vector<RankResult>& results, int victim) {
  for (int r = 0; r < static_cast<int>(results.size()); ++r) {
    if (r == victim) continue;
    const std::string& rep = results[r].report;
    EXPECT_FALSE(results[r].killed) << "rank " << r << " hung";
    const size_t at = rep.find("iteration 3 failed after ");
    ASSERT_NE(at, std::string::npos) << rep;
    EXPECT_LT(std::stod(rep.substr(at + 25)), 3.0) << rep;  // typically ~0.05 s: one futex timeout
    EXPECT_NE(rep.find(fmt::format("[shm] rank {} (pid ", victim)), std::string::npos) << rep;
    EXPECT_NE(rep.find(") died during all-reduce"), std::string::npos) << rep;
    EXPECT_NE(rep.find("again ok=false: [shm] all-reduce on a collective that failed earlier"), std::string::npos)
        << rep;
  }
}

TEST_F(Shm, KilledPeerIsNamedQuickly) {
  ExpectVictimNamed(RunRanks(2, [](const RankContext& c) { return SurviveVictim(c, 1, 4096); }), 1);
  ExpectVictimNamed(RunRanks(3, [](const RankContext& c) { return SurviveVictim(c, 0, 1 << 20); }), 0);
}

TEST_F(Shm, KilledPipeSenderIsNamed) {
  auto results = RunRanks(2, [](const RankContext& ctx) -> std::string {
    std::unique_ptr<TcpMesh> mesh;
    if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
    auto pipe = NewShmPipeLink(*mesh, ctx.rank == 1 ? 0 : -1, ctx.rank == 0 ? 1 : -1, 0);
    if (!pipe.ok()) return "ERROR " + pipe.status().message();
    if (ctx.rank == 0) raise(SIGKILL);
    char byte;
    return (*pipe)->RecvPrev(&byte, 1).message();
  });
  EXPECT_NE(results[1].report.find("[shm] rank 0 (pid "), std::string::npos) << results[1].report;
  EXPECT_NE(results[1].report.find(") died during pipeline receive"), std::string::npos) << results[1].report;
}

// Rank 2 asks for another tag: it refuses, rank 0 fails naming it and calls
// the group off for rank 1, who would otherwise wait for the setup timeout.
TEST_F(Shm, MismatchedTagsAreRefusedEverywhere) {
  auto results = RunRanks(
      3,
      [](const RankContext& ctx) -> std::string {
        std::unique_ptr<TcpMesh> mesh;
        if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
        auto coll = NewShmCollective(*mesh, {0, 1, 2}, ctx.rank == 2 ? 2 : 1);
        return coll.ok() ? "created?!" : coll.status().message();
      },
      std::chrono::seconds(10));
  const std::string why =
      "offered a collective 0,1,2 segment with tag 1, rank 2 expected a collective 0,1,2 with tag 2";
  EXPECT_NE(results[0].report.find("rank 2 refused the segment"), std::string::npos) << results[0].report;
  for (const RankResult& r : results) {
    EXPECT_FALSE(r.killed);
    EXPECT_NE(r.report.find(why), std::string::npos) << r.report;
  }
  EXPECT_NE(results[1].report.find("rank 0 refused the segment"), std::string::npos) << results[1].report;
}

TEST(ShmHost, IdentityNamesBootHostAndIpcNamespace) {
  const std::string id = HostIdentity();
  EXPECT_EQ(id, HostIdentity());
  EXPECT_NE(id.find("ipc:["), std::string::npos) << id;
  EXPECT_GT(id.size(), 36u + 2 + 5) << id;  // boot id UUID, separators, namespace
}

}  // namespace
}  // namespace plexus::shm
