// AlgoCollective: every all-reduce algorithm, in process (threads over
// LocalStepTransport) and across real processes over TCP. Each result must be
// bit-identical on every rank, equal bit for bit to the documented summation
// order (algo/collective.h), and within 1e-6 of the exact sum relative to the
// sum of magnitudes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "comm/algo/collective.h"
#include "comm/local/local_step_transport.h"
#include "comm/tcp/collective.h"
#include "multiprocess.h"

// Counts operator new on threads that ask for it: steady-state collective
// calls must not allocate. (In process only: over TCP the Exchange stashes a
// frame that arrives before its step in a new buffer, which is timing-bound.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
thread_local bool t_count_allocs = false;
thread_local int t_allocs = 0;
}  // namespace

void* operator new(size_t bytes) {
  if (t_count_allocs) ++t_allocs;
  if (void* p = std::malloc(bytes ? bytes : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace plexus::comm {
namespace {

// Allocations made by fn on this thread.
int AllocsIn(const std::function<void()>& fn) {
  t_allocs = 0;
  t_count_allocs = true;
  fn();
  t_count_allocs = false;
  return t_allocs;
}

constexpr AllReduceAlgo kAlgos[] = {AllReduceAlgo::kOneShot, AllReduceAlgo::kRecursiveDoubling, AllReduceAlgo::kRing};

// A deterministic partial of `rank` at element i: varied magnitudes and signs,
// so the summation order shows in the last bits.
float Partial(int rank, size_t i, uint32_t salt) {
  uint64_t x = (static_cast<uint64_t>(rank + 1) << 40) ^ (i * 0x9E3779B97F4A7C15ull) ^ (uint64_t{salt} << 20);
  x ^= x >> 30, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 27, x *= 0x94D049BB133111EBull, x ^= x >> 31;
  const float unit = static_cast<float>(x & 0xFFFFFF) / 16777216.0f - 0.5f;
  return std::ldexp(unit, static_cast<int>((x >> 24) % 9) - 4);
}

// The documented order of `algo` for element i of `count`; p[r] = rank r's partial.
float OrderedSum(AllReduceAlgo algo, const float* p, int n, size_t i, size_t count) {
  if (algo == AllReduceAlgo::kOneShot) {
    float s = 0.0f;
    for (int r = 0; r < n; ++r) s += p[r];
    return s;
  }
  if (algo == AllReduceAlgo::kRing) {
    int c = 0;
    while (count * static_cast<size_t>(c + 1) / static_cast<size_t>(n) <= i) ++c;
    float s = p[c];
    for (int k = 1; k < n; ++k) s = s + p[(c + k) % n];
    return s;
  }
  int m = 1;  // recursive doubling: fold the extras, then a pairwise tree
  while (m * 2 <= n) m *= 2;
  float v[64];
  for (int j = 0; j < m; ++j) v[j] = j + m < n ? p[j] + p[j + m] : p[j];
  for (int width = m; width > 1; width /= 2)
    for (int j = 0; j < width / 2; ++j) v[j] = v[2 * j] + v[2 * j + 1];
  return v[0];
}

// "" when `got` (rank 0's result) is the documented order bit for bit and
// close to the exact sum; else the first bad element.
std::string CheckSum(AllReduceAlgo algo, int n, size_t count, uint32_t salt, const float* got) {
  float p[64];
  for (size_t i = 0; i < count; ++i) {
    double exact = 0, magnitude = 0;
    for (int r = 0; r < n; ++r) {
      p[r] = Partial(r, i, salt);
      exact += p[r], magnitude += std::fabs(p[r]);
    }
    const float want = OrderedSum(algo, p, n, i, count);
    if (std::memcmp(&want, &got[i], sizeof(float)) != 0 || std::fabs(got[i] - exact) > 1e-6 * magnitude)
      return fmt::format("element {}: got {:a}, order says {:a}, exact {}", i, got[i], want, exact);
  }
  return "";
}

uint64_t Hash(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const uint8_t*>(data)[i]) * 1099511628211ull;
  return h;
}

// ---------------------------------------------------------------------------
// In process: n threads, one AlgoCollective each over a LocalStepTransport.

struct LocalGroupOfColls {
  std::shared_ptr<LocalStepGroup> group;
  std::vector<LocalStepTransport*> transports;  // owned by colls
  std::vector<std::unique_ptr<AlgoCollective>> colls;
};

LocalGroupOfColls MakeLocal(int n, AllReduceAlgo algo) {
  LocalGroupOfColls g;
  g.group = std::make_shared<LocalStepGroup>(n);
  for (int r = 0; r < n; ++r) {
    auto t = std::make_unique<LocalStepTransport>(g.group, r);
    g.transports.push_back(t.get());
    g.colls.push_back(std::make_unique<AlgoCollective>(std::move(t), AlgoOptions{.algo = algo}));
  }
  return g;
}

// Runs fn(rank) on one thread per rank and joins them.
void OnThreads(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back(fn, r);
  for (std::thread& t : threads) t.join();
}

// One all-reduce of `count` floats on every rank of g; checks everything.
void ExpectLocalAllReduce(LocalGroupOfColls& g, AllReduceAlgo algo, size_t count) {
  const int n = static_cast<int>(g.colls.size());
  const auto salt = static_cast<uint32_t>(count * 3 + static_cast<size_t>(n));
  std::vector<std::vector<float>> data(static_cast<size_t>(n), std::vector<float>(count));
  std::vector<Status> status(static_cast<size_t>(n));
  OnThreads(n, [&](int r) {
    for (size_t i = 0; i < count; ++i) data[r][i] = Partial(r, i, salt);
    status[r] = g.colls[r]->AllReduceSum(data[r].data(), count, ElemType::kF32);
  });
  const std::string what = fmt::format("{} ranks, {}, {} floats", n, AlgoName(algo), count);
  for (int r = 0; r < n; ++r) {
    ASSERT_TRUE(status[r].ok()) << what << ": rank " << r << ": " << status[r].message();
    ASSERT_EQ(std::memcmp(data[r].data(), data[0].data(), count * sizeof(float)), 0) << what << ": rank " << r;
  }
  EXPECT_EQ(CheckSum(algo, n, count, salt, data[0].data()), "") << what;
}

class LocalAllReduce : public ::testing::TestWithParam<std::tuple<int, AllReduceAlgo>> {};

TEST_P(LocalAllReduce, BitIdenticalOnEveryRankAndInTheDocumentedOrder) {
  const auto [n, algo] = GetParam();
  LocalGroupOfColls g = MakeLocal(n, algo);  // one collective for all sizes: buffers are reused
  for (size_t count : {size_t{1}, size_t{3}, size_t{4096}, size_t{4097}, (size_t{1} << 20) + 5, size_t{3}})
    ExpectLocalAllReduce(g, algo, count);
}

INSTANTIATE_TEST_SUITE_P(RanksAndAlgos, LocalAllReduce,
                         ::testing::Combine(::testing::Values(2, 3, 4), ::testing::ValuesIn(kAlgos)),
                         [](const auto& info) {
                           return fmt::format("{}_{}", std::get<0>(info.param), AlgoName(std::get<1>(info.param)));
                         });

TEST(LocalAllReduceBig, SixtyFourMiBRingOnThreeRanks) {
  LocalGroupOfColls g = MakeLocal(3, AllReduceAlgo::kRing);
  ExpectLocalAllReduce(g, AllReduceAlgo::kRing, size_t{16} << 20);
}

TEST(LocalAllGather, VariableSizesWithEmptyEntries) {
  const int n = 4;
  LocalGroupOfColls g = MakeLocal(n, AllReduceAlgo::kAuto);
  for (const std::vector<size_t>& sizes : {std::vector<size_t>{0, 5, 0, 70001}, std::vector<size_t>{0, 0, 0, 0},
                                           std::vector<size_t>{3, 0, 1, 0}}) {
    size_t total = 0;
    for (size_t s : sizes) total += s;
    std::vector<std::vector<uint8_t>> out(n, std::vector<uint8_t>(total, 0xEE));
    std::vector<Status> status(n);
    OnThreads(n, [&](int r) {
      std::vector<uint8_t> mine(sizes[r]);
      for (size_t i = 0; i < mine.size(); ++i) mine[i] = static_cast<uint8_t>(i * 7 + static_cast<size_t>(r));
      status[r] = g.colls[r]->AllGatherV(mine.data(), sizes.data(), out[r].data());
    });
    for (int r = 0; r < n; ++r) {
      ASSERT_TRUE(status[r].ok()) << status[r].message();
      size_t off = 0;
      for (int src = 0; src < n; off += sizes[src], ++src)
        for (size_t i = 0; i < sizes[src]; ++i)
          ASSERT_EQ(out[r][off + i], static_cast<uint8_t>(i * 7 + static_cast<size_t>(src))) << r << " " << src;
    }
  }
  std::vector<std::vector<uint32_t>> all(n, std::vector<uint32_t>(n));
  OnThreads(n, [&](int r) {
    all[r][r] = 100 + r;  // `in` is this rank's own slot of `out`
    EXPECT_TRUE(g.colls[r]->AllGather(&all[r][r], sizeof(uint32_t), all[r].data()).ok());
  });
  for (int r = 0; r < n; ++r) EXPECT_EQ(all[r], (std::vector<uint32_t>{100, 101, 102, 103}));
}

TEST(LocalAllReduceBig, SteadyStateCallsDoNotAllocate) {
  for (AllReduceAlgo algo : kAlgos) {
    LocalGroupOfColls g = MakeLocal(3, algo);
    std::vector<int> allocs(3, -1);
    OnThreads(3, [&](int r) {
      std::vector<float> data(100003, 1.0f), small(7, 1.0f), bytes(12);
      auto calls = [&] {
        EXPECT_TRUE(g.colls[r]->AllReduceSum(data.data(), data.size(), ElemType::kF32).ok());
        EXPECT_TRUE(g.colls[r]->AllReduceSum(small.data(), small.size(), ElemType::kF32).ok());
        EXPECT_TRUE(g.colls[r]->AllGather(&r, sizeof(int), bytes.data()).ok());
      };
      calls();  // first calls size the buffers
      allocs[r] = AllocsIn(calls);
    });
    EXPECT_EQ(allocs, (std::vector<int>{0, 0, 0})) << AlgoName(algo);
  }
}

TEST(LocalFailure, ALeavingRankIsNamedAndTheFailureSticks) {
  for (AllReduceAlgo algo : kAlgos) {
    LocalGroupOfColls g = MakeLocal(4, algo);
    std::vector<std::string> first(4), again(4);
    OnThreads(4, [&](int r) {
      std::vector<float> data(1000, 1.0f);
      if (r == 2) return g.transports[r]->Leave("killed by the test");
      Status st = g.colls[r]->AllReduceSum(data.data(), data.size(), ElemType::kF32);
      first[r] = st.message();
      again[r] = g.colls[r]->AllReduceSum(data.data(), data.size(), ElemType::kF32).message();
    });
    for (int r : {0, 1, 3}) {
      EXPECT_NE(first[r].find("rank 2 left during all-reduce"), std::string::npos) << AlgoName(algo) << first[r];
      EXPECT_NE(first[r].find("killed by the test"), std::string::npos) << first[r];
      EXPECT_NE(again[r].find("[local] all-reduce on a collective that failed earlier"), std::string::npos) << again[r];
    }
  }
}

TEST(AutoTable, PicksByNodesAndBytesAndParsesNames) {
  const AutoTable t = {{{2, 100, 1000}, {3, 50, 50}, {4, 10, 500}}};
  EXPECT_EQ(ChooseAlgo(t, 2, 99), AllReduceAlgo::kOneShot);
  EXPECT_EQ(ChooseAlgo(t, 2, 100), AllReduceAlgo::kRecursiveDoubling);
  EXPECT_EQ(ChooseAlgo(t, 2, 1000), AllReduceAlgo::kRing);
  EXPECT_EQ(ChooseAlgo(t, 3, 50), AllReduceAlgo::kRing);  // rd skipped
  EXPECT_EQ(ChooseAlgo(t, 8, 20), AllReduceAlgo::kRecursiveDoubling);  // the last row covers larger groups
  for (AllReduceAlgo a : {AllReduceAlgo::kAuto, AllReduceAlgo::kOneShot, AllReduceAlgo::kRecursiveDoubling,
                          AllReduceAlgo::kRing})
    EXPECT_EQ(*ParseAlgo(AlgoName(a)), a);
  EXPECT_NE(ParseAlgo("tree").status().message().find("'tree'"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Across processes over TCP.

using tcp::testing::RankContext;
using tcp::testing::RankResult;
using tcp::testing::RunRanks;

std::vector<int> AllRanks(int n) {
  std::vector<int> all(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) all[r] = r;
  return all;
}

// Each algorithm over sizes from 4 B up; 64 MiB once, with the algorithm
// `big` (a different one per node count). Reports one line per call.
std::string TcpAllReduceCases(const RankContext& ctx, AllReduceAlgo big) {
  auto mesh = tcp::TcpMesh::Create(ctx.Options());
  if (!mesh.ok()) return "ERROR " + mesh.status().message();
  const int n = (*mesh)->size();
  std::string report;
  uint32_t tag = 0;
  for (AllReduceAlgo algo : kAlgos) {
    auto coll = (*mesh)->NewCollective(AllRanks(n), tcp::CollectiveOptions{.algo = algo, .tag = ++tag});
    if (!coll.ok()) return "ERROR " + coll.status().message();
    std::vector<size_t> counts = {1, 3, 255, 4097, 65537, (size_t{1} << 20) + 3};
    if (algo == big) counts.push_back(size_t{16} << 20);
    for (size_t count : counts) {
      const auto salt = static_cast<uint32_t>(count + 7 * static_cast<size_t>(algo));
      std::vector<float> data(count);
      for (size_t i = 0; i < count; ++i) data[i] = Partial(ctx.rank, i, salt);
      Status st = (*coll)->AllReduceSum(data.data(), count, ElemType::kF32);
      if (!st.ok()) return "ERROR " + st.message();
      // Rank 0 checks the sum; the others must match rank 0 byte for byte.
      std::string verdict = ctx.rank == 0 ? CheckSum(algo, n, count, salt, data.data()) : "";
      if (!verdict.empty()) return fmt::format("ERROR {} {} floats: {}", AlgoName(algo), count, verdict);
      report += fmt::format("{}:{}:{:x}\n", AlgoName(algo), count, Hash(data.data(), count * sizeof(float)));
    }
  }
  return report;
}

void ExpectAllSame(const std::vector<RankResult>& results) {
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_FALSE(results[r].killed) << "rank " << r << " hung; log:\n" << results[r].log;
    EXPECT_EQ(results[r].report.find("ERROR"), std::string::npos) << "rank " << r << ": " << results[r].report;
    EXPECT_EQ(results[r].report, results[0].report) << "rank " << r << " differs from rank 0";
  }
}

TEST(TcpAlgoAllReduce, EveryAlgorithmOnTwoThreeAndFourProcesses) {
  const AllReduceAlgo big[] = {AllReduceAlgo::kOneShot, AllReduceAlgo::kRecursiveDoubling, AllReduceAlgo::kRing};
  for (int n : {2, 3, 4}) {
    auto results = RunRanks(n, [&](const RankContext& ctx) { return TcpAllReduceCases(ctx, big[n - 2]); });
    ExpectAllSame(results);
    EXPECT_NE(results[0].report.find(fmt::format("{}:16777216:", AlgoName(big[n - 2]))), std::string::npos)
        << results[0].report;
  }
}

// A transport that calls `act` before its `at`-th step runs (e.g. exits the
// process mid-collective with its sends posted, or stalls one step).
class ActAtStep final : public StepTransport {
 public:
  ActAtStep(std::unique_ptr<StepTransport> inner, int at, std::function<void()> act)
      : inner_(std::move(inner)), at_(at), act_(std::move(act)) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const char* name() const override { return inner_->name(); }
  void Clear() override { inner_->Clear(); }
  void Send(int peer, const void* data, size_t bytes) override { inner_->Send(peer, data, bytes); }
  void Recv(int peer, void* data, size_t bytes) override { inner_->Recv(peer, data, bytes); }
  Status Run(const char* what) override {
    if (++steps_ == at_) act_();
    return inner_->Run(what);
  }

 private:
  std::unique_ptr<StepTransport> inner_;
  int at_, steps_ = 0;
  std::function<void()> act_;
};

// A collective over every rank of `mesh` whose transport runs `act` at step `at` (-1: never).
std::unique_ptr<AlgoCollective> ActingCollective(tcp::TcpMesh* mesh, AllReduceAlgo algo, int at,
                                                 std::function<void()> act) {
  const std::vector<int> all = AllRanks(mesh->size());
  auto t = std::make_unique<tcp::TcpStepTransport>(mesh, all, tcp::GroupChannel(all, 0));
  return std::make_unique<AlgoCollective>(std::make_unique<ActAtStep>(std::move(t), at, std::move(act)),
                                          AlgoOptions{.algo = algo});
}

// Rank `victim` exits at its 5th step; the others loop all-reduces until one fails.
std::string SurviveExit(const RankContext& ctx, int victim, AllReduceAlgo algo) {
  auto mesh = tcp::TcpMesh::Create(ctx.Options());
  if (!mesh.ok()) return "ERROR " + mesh.status().message();
  auto coll = ActingCollective(mesh->get(), algo, ctx.rank == victim ? 5 : -1, [] { _exit(3); });
  std::vector<float> data(50000, 1.0f);
  for (int it = 0; it < 1000; ++it) {
    Status st = coll->AllReduceSum(data.data(), data.size(), ElemType::kF32);
    if (st.ok()) continue;
    Status again = coll->AllReduceSum(data.data(), data.size(), ElemType::kF32);
    return fmt::format("failed: {} | again: {}", st.message(), again.message());
  }
  return "ERROR never failed";
}

TEST(TcpAlgoFailure, ARankThatExitsMidCollectiveIsNamedAndNobodyHangs) {
  for (AllReduceAlgo algo : kAlgos) {
    const int n = 3, victim = 1;
    auto results = RunRanks(n, [&](const RankContext& ctx) { return SurviveExit(ctx, victim, algo); },
                            std::chrono::seconds(20));
    EXPECT_TRUE(WIFEXITED(results[victim].exit_status) && WEXITSTATUS(results[victim].exit_status) == 3);
    for (int r = 0; r < n; ++r) {
      if (r == victim) continue;
      const std::string& rep = results[r].report;
      EXPECT_FALSE(results[r].killed) << AlgoName(algo) << ": rank " << r << " hung";
      EXPECT_NE(rep.find("failed: [tcp]"), std::string::npos) << AlgoName(algo) << ": " << rep;
      EXPECT_NE(rep.find(fmt::format("rank {} (127.0.0.1:", victim)), std::string::npos) << AlgoName(algo) << rep;
      EXPECT_NE(rep.find("again: [tcp] all-reduce on a collective that failed earlier"), std::string::npos) << rep;
    }
  }
}

// Ring on 4: rank 2 stalls before its 5th of 6 steps, so rank 1 finishes and
// exits while rank 3 still has a step to go that does not involve rank 1.
// Rank 3 sees rank 1's EOF, and must not fail for it.
TEST(TcpAlgoFailure, ARankThatFinishesAndExitsFailsNobody) {
  auto results = RunRanks(4, [](const RankContext& ctx) -> std::string {
    auto mesh = tcp::TcpMesh::Create(ctx.Options());
    if (!mesh.ok()) return "ERROR " + mesh.status().message();
    auto stall = [] { std::this_thread::sleep_for(std::chrono::milliseconds(200)); };
    auto coll = ActingCollective(mesh->get(), AllReduceAlgo::kRing, ctx.rank == 2 ? 5 : -1, stall);
    std::vector<float> data(4001, 1.0f);
    Status st = coll->AllReduceSum(data.data(), data.size(), ElemType::kF32);
    if (!st.ok()) return "ERROR " + st.message();
    return data[0] == 4.0f && data[4000] == 4.0f ? "ok" : "ERROR wrong sum";
  });
  for (int r = 0; r < 4; ++r) EXPECT_EQ(results[r].report, "ok") << "rank " << r << "; log:\n" << results[r].log;
}

}  // namespace
}  // namespace plexus::comm
