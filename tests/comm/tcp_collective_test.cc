// Collectives, pipeline links and control frames across real processes on
// 127.0.0.1: every result is compared with a local sum computed in the same
// order, and every rank must hold bit-identical bytes.
#include <gtest/gtest.h>

#include <cstring>

#include "comm/tcp/collective.h"
#include "multiprocess.h"

namespace plexus::tcp {
namespace {

using testing::RankContext;
using testing::RankResult;
using testing::RunRanks;

// A deterministic partial of `rank` at element i: varied magnitudes, so the
// summation order shows in the last bits.
float Partial(int rank, size_t i, uint32_t salt) {
  uint64_t x = (static_cast<uint64_t>(rank + 1) << 40) ^ (i * 0x9E3779B97F4A7C15ull) ^ (uint64_t{salt} << 20);
  x ^= x >> 30, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 27, x *= 0x94D049BB133111EBull, x ^= x >> 31;
  const float unit = static_cast<float>(x & 0xFFFFFF) / 16777216.0f - 0.5f;
  return std::ldexp(unit, static_cast<int>((x >> 24) % 9) - 4);
}

// The oracle: one-shot sums 0 + p0 + p1 + ...; the ring sums chunk c starting at rank c.
std::vector<float> Expected(int n, size_t count, uint32_t salt, AllReduceAlgo algo) {
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) {
    if (algo == AllReduceAlgo::kOneShot) {
      float s = 0.0f;
      for (int r = 0; r < n; ++r) s += Partial(r, i, salt);
      out[i] = s;
      continue;
    }
    int c = 0;
    while (count * static_cast<size_t>(c + 1) / static_cast<size_t>(n) <= i) ++c;
    float s = Partial(c, i, salt);
    for (int k = 1; k < n; ++k) s = Partial((c + k) % n, i, salt) + s;
    out[i] = s;
  }
  return out;
}

uint64_t Hash(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const uint8_t*>(data)[i]) * 1099511628211ull;
  return h;
}

std::string MeshOrError(const RankContext& ctx, std::unique_ptr<TcpMesh>* mesh) {
  auto m = TcpMesh::Create(ctx.Options());
  if (!m.ok()) return "ERROR " + m.status().message();
  *mesh = std::move(m).value();
  return "";
}

// Every rank ran without error and reported exactly the same text.
void ExpectAllSame(const std::vector<RankResult>& results) {
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_FALSE(results[r].killed) << "rank " << r << " hung; log:\n" << results[r].log;
    EXPECT_EQ(results[r].report.find("ERROR"), std::string::npos) << "rank " << r << ": " << results[r].report;
    EXPECT_EQ(results[r].report, results[0].report) << "rank " << r << " differs from rank 0";
  }
}

std::string AllReduceCases(const RankContext& ctx) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  const int n = mesh->size();
  std::vector<int> all(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) all[r] = r;
  std::string report;
  for (AllReduceAlgo algo : {AllReduceAlgo::kOneShot, AllReduceAlgo::kRing}) {
    auto coll = mesh->NewCollective(all, CollectiveOptions{.algo = algo});
    if (!coll.ok()) return "ERROR " + coll.status().message();
    for (size_t count : {size_t{1}, size_t{3}, size_t{255}, size_t{4097}, size_t{65537}, size_t{262143}, size_t{4} << 20}) {
      std::vector<float> data(count);
      for (size_t i = 0; i < count; ++i) data[i] = Partial(ctx.rank, i, static_cast<uint32_t>(count));
      Status st = (*coll)->AllReduceSum(data.data(), count, ElemType::kF32);
      if (!st.ok()) return "ERROR " + st.message();
      // Rank 0 checks against the oracle; the others must match rank 0 byte for byte.
      std::string verdict = "same";
      if (ctx.rank == 0) {
        const std::vector<float> want = Expected(n, count, static_cast<uint32_t>(count), algo);
        verdict = std::memcmp(want.data(), data.data(), count * sizeof(float)) == 0 ? "same" : "MISMATCH";
      }
      report += fmt::format("{}:{}:{}:{:x}\n", algo == AllReduceAlgo::kRing ? "ring" : "oneshot", count, verdict,
                            Hash(data.data(), count * sizeof(float)));
    }
  }
  return report;
}

class AllReduceTest : public ::testing::TestWithParam<int> {};

TEST_P(AllReduceTest, MatchesLocalSumBitForBitOnEveryRank) {
  auto results = RunRanks(GetParam(), AllReduceCases);
  ExpectAllSame(results);
  EXPECT_EQ(results[0].report.find("MISMATCH"), std::string::npos) << results[0].report;
  EXPECT_NE(results[0].report.find("ring:4194304:same"), std::string::npos) << results[0].report;
}

INSTANTIATE_TEST_SUITE_P(Ranks, AllReduceTest, ::testing::Values(2, 3, 4));

std::string GatherCases(const RankContext& ctx) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  auto coll = mesh->NewCollective({0, 1, 2});
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
  std::vector<uint32_t> one = {static_cast<uint32_t>(100 + ctx.rank)}, three(3);
  st = (*coll)->AllGather(one.data(), sizeof(uint32_t), three.data());
  if (!st.ok()) return "ERROR " + st.message();
  return fmt::format("{:x} {} {} {}", Hash(out.data(), out.size()), three[0], three[1], three[2]);
}

TEST(TcpCollective, AllGatherVWithUnequalSizes) {
  auto results = RunRanks(3, GatherCases);
  ExpectAllSame(results);
  EXPECT_NE(results[0].report.find("100 101 102"), std::string::npos) << results[0].report;
}

// 0 -> 1 -> 2 pipeline hand-offs, with control frames and a subgroup
// all-reduce on the same links in between.
std::string PipeCases(const RankContext& ctx) {
  std::unique_ptr<TcpMesh> mesh;
  if (std::string err = MeshOrError(ctx, &mesh); !err.empty()) return err;
  const int r = ctx.rank;
  auto pipe = mesh->NewPipeLink(r > 0 ? r - 1 : -1, r < 2 ? r + 1 : -1);
  if (!pipe.ok()) return "ERROR " + pipe.status().message();
  std::string report;
  for (size_t bytes : {size_t{4}, size_t{0}, size_t{3} << 20, size_t{12345}}) {
    std::vector<uint8_t> buf(bytes);
    if (r == 0) {
      for (size_t i = 0; i < bytes; ++i) buf[i] = static_cast<uint8_t>(i * 31 + bytes);
    } else {
      Status st = (*pipe)->RecvPrev(buf.data(), bytes);
      if (!st.ok()) return "ERROR " + st.message();
    }
    if (r < 2) {
      Status st = (*pipe)->SendNext(buf.data(), bytes);
      if (!st.ok()) return "ERROR " + st.message();
    }
    report += fmt::format("{:x} ", Hash(buf.data(), bytes));
  }
  if (r == 2) {  // control: rank 2 tells rank 0 the token, rank 0 answers
    const uint8_t token[] = {42, 0, 0, 0};
    Status st = mesh->SendFrame(0, kFirstUserType + 7, token);
    if (!st.ok()) return "ERROR " + st.message();
    auto back = mesh->RecvFrame(0, std::chrono::milliseconds(5000));
    if (!back.ok()) return "ERROR " + back.status().message();
    report += fmt::format("ack {} {}", back->type, back->payload.size());
  } else if (r == 0) {
    auto f = mesh->RecvFrame(2, std::chrono::milliseconds(5000));
    if (!f.ok()) return "ERROR " + f.status().message();
    Status st = mesh->SendFrame(2, kFirstUserType + 8, {});
    if (!st.ok()) return "ERROR " + st.message();
    auto none = mesh->RecvFrame(1, std::chrono::milliseconds(300));  // nothing comes: a clean timeout
    if (none.ok() || none.status().message().find("alive") == std::string::npos)
      return "ERROR no clean timeout: " + none.status().message();
    if (Status done = mesh->SendFrame(1, kFirstUserType, {}); !done.ok()) return "ERROR " + done.message();
    report += fmt::format("ack {} {}", kFirstUserType + 8, 0);
  } else {  // rank 1 stays until rank 0 is done with it
    auto done = mesh->RecvFrame(0, std::chrono::milliseconds(5000));
    if (!done.ok()) return "ERROR " + done.status().message();
    report += fmt::format("ack {} {}", kFirstUserType + 8, 0);
  }
  return report;
}

TEST(TcpPipeLink, SendsHiddenStatesDownThePipeline) {
  auto results = RunRanks(3, PipeCases);
  ExpectAllSame(results);
}

}  // namespace
}  // namespace plexus::tcp
