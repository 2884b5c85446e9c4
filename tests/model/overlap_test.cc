// Prefill in tensor parallel with overlapped reductions (model/overlap.h):
// the reducer's contract, the chunking, and TP runs on threads whose logits
// must equal the unchunked run's (bit for bit with LocalCollective) and the
// single node's, and a rank failing mid-prefill.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "base/async_reducer.h"
#include "comm/algo/collective.h"
#include "comm/local/local_collective.h"
#include "comm/local/local_step_transport.h"
#include "model/model.h"
#include "kernels/matmul_bf16.h"
#include "kernels/matmul_blas.h"
#include "model/overlap.h"
#include "model/synth.h"
#include "../process_temp_dir.h"

namespace plexus {
namespace {

// ---- AsyncReducer and chunking ------------------------------------------

// A one-rank "collective" that adds its call number to every element and can
// fail on one call: enough to see order, thread and failure handling.
class ScriptedCollective final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status AllReduceSum(void* data, size_t count, ElemType) override {
    const int call = ++calls;
    thread = std::this_thread::get_id();
    for (size_t i = 0; i < count; ++i) static_cast<float*>(data)[i] += static_cast<float>(call);
    if (call == fail_call) return Status::Errorf("test", "call {} fails", call);
    return Status::Ok();
  }
  Status AllGather(const void*, size_t, void*) override { return Status::Ok(); }
  Status AllGatherV(const void*, const size_t*, void*) override { return Status::Ok(); }
  std::atomic<int> calls{0};
  int fail_call = -1;
  std::thread::id thread;
};

TEST(AsyncReducerTest, RunsInOrderOnItsOwnThread) {
  ScriptedCollective c;
  AsyncReducer reducer;
  std::vector<float> a(3, 0.0f), b(2, 10.0f);
  const uint64_t ta = reducer.Submit(c, a.data(), a.size());
  const uint64_t tb = reducer.Submit(c, b.data(), b.size());
  EXPECT_LT(ta, tb);
  EXPECT_TRUE(reducer.Wait(tb).ok());  // b is after a: both done
  EXPECT_TRUE(reducer.idle());
  EXPECT_EQ(a, std::vector<float>(3, 1.0f));   // first call
  EXPECT_EQ(b, std::vector<float>(2, 12.0f));  // second call
  EXPECT_NE(c.thread, std::this_thread::get_id());
  EXPECT_TRUE(reducer.Drain().ok());
}

TEST(AsyncReducerTest, AfterAFailureLaterJobsAreSkippedUntilDrain) {
  ScriptedCollective c;
  c.fail_call = 2;
  AsyncReducer reducer;
  std::vector<float> v1(1), v2(1), v3(1), v4(1);
  const uint64_t t1 = reducer.Submit(c, v1.data(), 1);
  const uint64_t t2 = reducer.Submit(c, v2.data(), 1);
  const uint64_t t3 = reducer.Submit(c, v3.data(), 1);
  EXPECT_TRUE(reducer.Wait(t1).ok());
  Status s2 = reducer.Wait(t2);
  EXPECT_FALSE(s2.ok());
  EXPECT_NE(s2.message().find("call 2 fails"), std::string::npos) << s2.message();
  Status s3 = reducer.Wait(t3);
  EXPECT_EQ(s3.message(), s2.message());  // the first error, not a call of its own
  EXPECT_EQ(c.calls.load(), 2);
  EXPECT_EQ(v3[0], 0.0f);
  EXPECT_FALSE(reducer.Drain().ok());
  // Drained: the reducer runs jobs again (call 3 of the collective).
  EXPECT_TRUE(reducer.Wait(reducer.Submit(c, v4.data(), 1)).ok());
  EXPECT_EQ(v4[0], 3.0f);
  EXPECT_TRUE(reducer.Drain().ok());
}

TEST(AsyncReducerTest, DestructorFinishesQueuedJobs) {
  ScriptedCollective c;
  std::vector<float> v(8, 0.0f);
  {
    AsyncReducer reducer;
    for (int i = 0; i < 8; ++i) (void)reducer.Submit(c, v.data() + i, 1);
  }
  EXPECT_EQ(c.calls.load(), 8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(v[i], static_cast<float>(i + 1));
}

TEST(OverlapChunksTest, DecodeIsOneReducePrefillTwoToFour) {
  EXPECT_EQ(OverlapChunks(1, 16), 1);
  EXPECT_EQ(OverlapChunks(15, 16), 1);
  EXPECT_EQ(OverlapChunks(15, 2), 1);  // never chunks under 2 * kOverlapMinChunkRows
  EXPECT_EQ(OverlapChunks(16, 16), 2);
  EXPECT_EQ(OverlapChunks(37, 16), 2);
  EXPECT_EQ(OverlapChunks(48, 16), 3);
  EXPECT_EQ(OverlapChunks(64, 16), 4);
  EXPECT_EQ(OverlapChunks(4096, 16), 4);
  EXPECT_EQ(OverlapChunks(64, 128), 1);
  EXPECT_EQ(OverlapChunkRows(37, 2), 20);
  EXPECT_EQ(OverlapChunkRows(64, 4), 16);
  EXPECT_EQ(OverlapChunkRows(16, 2), 8);
  EXPECT_EQ(OverlapChunkRows(50, 3) % 4, 0);
}

// ---- TP runs on threads ---------------------------------------------------

// Wraps a rank's collective: counts the calls of each step, notes those made
// off the forward thread and any two calls that overlap (the contract says
// never), and can fail the rank on its fail_at-th all-reduce.
class CheckedCollective final : public Collective {
 public:
  explicit CheckedCollective(std::unique_ptr<Collective> inner) : inner_(std::move(inner)) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  Status AllReduceSum(void* data, size_t count, ElemType type) override {
    Enter();
    const int call = ++reduces;
    Status st = call == fail_at ? on_fail() : inner_->AllReduceSum(data, count, type);
    --in_flight_;
    return st;
  }
  Status AllGather(const void* in, size_t bytes, void* out) override {
    Enter();
    Status st = inner_->AllGather(in, bytes, out);
    --in_flight_;
    return st;
  }
  Status AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) override {
    Enter();
    Status st = inner_->AllGatherV(in, bytes_per_rank, out);
    --in_flight_;
    return st;
  }
  Collective& inner() { return *inner_; }

  std::thread::id forward_thread;
  std::atomic<int> reduces{0}, off_thread{0};
  std::atomic<bool> overlapped_calls{false};
  int fail_at = -1;
  std::function<Status()> on_fail;

 private:
  void Enter() {
    if (in_flight_++ != 0) overlapped_calls = true;
    if (std::this_thread::get_id() != forward_thread) ++off_thread;
  }
  std::unique_ptr<Collective> inner_;
  std::atomic<int> in_flight_{0};
};

using Steps = std::vector<std::vector<BatchEntry>>;
using MakeGroup = std::function<std::vector<std::unique_ptr<Collective>>(int n)>;

std::vector<std::unique_ptr<Collective>> LocalGroupOf(int n) {
  auto group = std::make_shared<LocalGroup>(n);
  std::vector<std::unique_ptr<Collective>> out;
  for (int r = 0; r < n; ++r) out.push_back(std::make_unique<LocalCollective>(group, r));
  return out;
}

// The network algorithms (kAuto: picked by size) over in-process steps.
std::vector<std::unique_ptr<Collective>> AlgoGroupOf(int n) {
  auto group = std::make_shared<comm::LocalStepGroup>(n, std::chrono::milliseconds(20000));
  std::vector<std::unique_ptr<Collective>> out;
  for (int r = 0; r < n; ++r)
    out.push_back(std::make_unique<comm::AlgoCollective>(std::make_unique<comm::LocalStepTransport>(group, r),
                                                         comm::AlgoOptions{}));
  return out;
}

struct RankRun {
  std::vector<std::vector<float>> logits;  // [step][n * V]
  std::vector<int> reduces, off_thread;     // [step] all-reduce calls, those off the forward thread
  bool overlapped_calls = false;
  std::vector<Status> statuses;  // [step]
  Status status;                 // the first failure
};

// A prompt of n tokens (logits at every position), then 3 decode steps.
Steps PrefillThenDecode(int n, int vocab) {
  Steps steps(1);
  for (int i = 0; i < n; ++i) steps[0].push_back({0, i, (i * 37 + 11) % (vocab - 1) + 1, true});
  for (int i = 0; i < 3; ++i) steps.push_back({{0, n + i, (i * 101 + 5) % (vocab - 1) + 1, true}});
  return steps;
}

// Runs `steps` on n_tp equal TP shards (one stage), each on its own thread;
// `tweak` may arm a rank's CheckedCollective before the run.
std::vector<RankRun> RunTp(std::shared_ptr<const GgufFile> file, int n_tp, const Steps& steps, bool overlap,
                           const MakeGroup& make = LocalGroupOf,
                           const std::function<void(int, CheckedCollective&)>& tweak = nullptr) {
  auto config = ReadModelConfig(*file);
  EXPECT_TRUE(config.ok()) << config.status().message();
  auto granularity = FfnGranularity(*file);
  const std::vector<double> shares(static_cast<size_t>(n_tp), 1.0);
  auto inner = make(n_tp);
  std::vector<std::unique_ptr<Model>> models;
  std::vector<std::unique_ptr<CheckedCollective>> tps;
  for (int r = 0; r < n_tp; ++r) {
    auto shard = MakeShard(*config, shares, r, {0, config->n_layers}, *granularity);
    EXPECT_TRUE(shard.ok()) << shard.status().message();
    auto model = Model::Load(file, *shard, ModelOptions{.kv_type = DType::kF32, .overlap_reduce = overlap});
    EXPECT_TRUE(model.ok()) << model.status().message();
    models.push_back(std::move(model).value());
    tps.push_back(std::make_unique<CheckedCollective>(std::move(inner[r])));
    if (tweak) tweak(r, *tps.back());
  }
  std::vector<RankRun> runs(static_cast<size_t>(n_tp));
  std::vector<std::thread> threads;
  for (int r = 0; r < n_tp; ++r)
    threads.emplace_back([&, r] {
      ThreadPool pool(1);
      CheckedCollective& tp = *tps[r];
      tp.forward_thread = std::this_thread::get_id();
      for (const auto& batch : steps) {
        const int reduces = tp.reduces, off = tp.off_thread;
        std::vector<float> logits;
        Status st = models[r]->Forward(batch, tp, nullptr, pool, &logits);
        runs[r].statuses.push_back(st);
        if (!st.ok()) {
          if (runs[r].status.ok()) runs[r].status = st;
          continue;  // the next step must fail too, and fast
        }
        runs[r].logits.push_back(std::move(logits));
        runs[r].reduces.push_back(tp.reduces - reduces);
        runs[r].off_thread.push_back(tp.off_thread - off);
      }
      runs[r].overlapped_calls = tp.overlapped_calls;
    });
  for (auto& t : threads) t.join();
  return runs;
}

std::string Stories() { return std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf"; }

std::string Synthetic(const std::string& preset, const std::string& type) {
  const auto dir = testing::ProcessTempDir("overlap_test");
  std::string path = (dir / (preset + "-" + type + "-sharp.gguf")).string();
  SynthOptions o;
  o.arch = "";
  o.preset = preset;
  o.type = type;
  o.seed = 5;
  o.sharp = true;
  o.threads = 1;
  Status st = WriteSyntheticModel(o, path);
  EXPECT_TRUE(st.ok()) << st.message();
  return path;
}

std::shared_ptr<const GgufFile> Open(const std::string& path) {
  auto opened = GgufFile::Open(path);
  EXPECT_TRUE(opened.ok()) << opened.status().message();
  return std::shared_ptr<const GgufFile>(std::move(opened).value());
}

// Every test here compares chunked prefills with unchunked ones, which agree
// only while both take the same MatMul path: quantized batches of
// kernels::kBf16MinTokens+ tokens may multiply in bf16, and float ones of
// kernels::BlasMinTokens+ through sgemm, where a 12-row chunk does not
// (overlap.h). So this binary keeps both off.
class Bf16ProductsOff : public ::testing::Environment {
 public:
  void SetUp() override {
    kernels::SetBf16MatMulEnabled(false);
    kernels::SetBlasMatMulEnabled(false);
  }
};
[[maybe_unused]] const ::testing::Environment* const kBf16ProductsOff =
    ::testing::AddGlobalTestEnvironment(new Bf16ProductsOff);

// Per row of [n, V] logits: the greedy token.
std::vector<int> Greedy(const std::vector<float>& logits, size_t vocab) {
  std::vector<int> out;
  for (size_t i = 0; i < logits.size(); i += vocab)
    out.push_back(static_cast<int>(std::max_element(logits.begin() + i, logits.begin() + i + vocab) - logits.begin() - i));
  return out;
}

double RelativeError(const std::vector<float>& got, const std::vector<float>& want) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(static_cast<double>(got[i]) - want[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(want[i])));
  }
  return max_diff / max_ref;
}

// `on` must be bit-identical across ranks and within `tolerance` (relative
// to the largest logit) and greedy-equal to the single node; with
// `bitwise_vs_off`, bit-identical to `off` too.
void ExpectAgree(const std::vector<RankRun>& on, const std::vector<RankRun>& off, const RankRun& single, size_t vocab,
                 bool bitwise_vs_off, double tolerance) {
  for (size_t r = 0; r < on.size(); ++r) {
    ASSERT_TRUE(on[r].status.ok()) << on[r].status.message();
    ASSERT_TRUE(off[r].status.ok()) << off[r].status.message();
    ASSERT_EQ(on[r].logits.size(), single.logits.size());
    for (size_t s = 0; s < single.logits.size(); ++s) {
      EXPECT_EQ(on[r].logits[s], on[0].logits[s]) << "rank " << r << " step " << s;
      if (bitwise_vs_off) {
        EXPECT_EQ(on[r].logits[s], off[r].logits[s]) << "rank " << r << " step " << s;
      }
      EXPECT_LE(RelativeError(on[r].logits[s], single.logits[s]), tolerance) << "rank " << r << " step " << s;
      EXPECT_EQ(Greedy(on[r].logits[s], vocab), Greedy(single.logits[s], vocab)) << "rank " << r << " step " << s;
    }
  }
}

// The prefill (step 0) took the chunked path on the reducer thread, decode
// did not, and the forward thread never called the collective concurrently.
void ExpectOverlapUsed(const std::vector<RankRun>& on, const std::vector<RankRun>& off, int n_layers) {
  for (size_t r = 0; r < on.size(); ++r) {
    ASSERT_FALSE(on[r].reduces.empty());
    EXPECT_EQ(off[r].reduces[0], 2 * n_layers);
    EXPECT_EQ(off[r].off_thread[0], 0);
    EXPECT_GT(on[r].reduces[0], 2 * n_layers) << "prefill did not reduce in chunks";
    EXPECT_GT(on[r].off_thread[0], 0) << "no reduce ran on the reducer thread";
    for (size_t s = 1; s < on[r].reduces.size(); ++s) {
      EXPECT_EQ(on[r].reduces[s], 2 * n_layers) << "decode step " << s << " must use one reduce per block";
      EXPECT_EQ(on[r].off_thread[s], 0) << "decode step " << s << " handed a reduce off the forward thread";
    }
    EXPECT_FALSE(on[r].overlapped_calls);
  }
}

void ExpectOverlapExact(const std::string& path, int n_tp, const std::vector<int>& prompt_lengths,
                        const MakeGroup& make = LocalGroupOf, bool bitwise_vs_off = true, double tolerance = 1e-5) {
  auto file = Open(path);
  auto config = ReadModelConfig(*file);
  ASSERT_TRUE(config.ok());
  for (int n : prompt_lengths) {
    SCOPED_TRACE("prompt of " + std::to_string(n) + " tokens, tp" + std::to_string(n_tp));
    const Steps steps = PrefillThenDecode(n, static_cast<int>(config->n_vocab));
    auto single = RunTp(file, 1, steps, true);
    auto off = RunTp(file, n_tp, steps, false, make);
    auto on = RunTp(file, n_tp, steps, true, make);
    ASSERT_TRUE(single[0].status.ok()) << single[0].status.message();
    ExpectAgree(on, off, single[0], static_cast<size_t>(config->n_vocab), bitwise_vs_off, tolerance);
    ExpectOverlapUsed(on, off, static_cast<int>(config->n_layers));
  }
}

TEST(OverlapTest, StoriesTp2) { ExpectOverlapExact(Stories(), 2, {37, 64}); }
TEST(OverlapTest, StoriesTp3) { ExpectOverlapExact(Stories(), 3, {37, 64}); }
TEST(OverlapTest, SharpTinyLlamaQ8Tp3) { ExpectOverlapExact(Synthetic("tiny-llama", "q8_0"), 3, {37, 64}); }
// h * head_dim != d: o_proj's input rows are wider than the residual's.
TEST(OverlapTest, SharpTinyQwen3Tp2) { ExpectOverlapExact(Synthetic("tiny-qwen3", "f32"), 2, {64}); }
// MoE: the attention reduce is chunked, the expert FFN's stays whole.
TEST(OverlapTest, SharpTinyQwen3MoeTp2) { ExpectOverlapExact(Synthetic("tiny-qwen3moe", "f32"), 2, {37}); }
// The network algorithms (kAuto picks by size, so chunks may take another
// algorithm than the whole vector): ranks agree bit for bit, the single node
// within 1e-5 and on every greedy token.
TEST(OverlapTest, SharpTinyLlamaTp3AlgoCollective) {
  // The algorithm sums the ranks' parts in another order than one node does,
  // so the residual differs by float rounding. Q4_0 decode quantizes its
  // activations to int8, where such a difference can move one activation
  // by a whole step (1/127 of its block's largest): some logits then move
  // by ~1e-2 of the largest (measured: up to 0.0098). The greedy tokens
  // must still agree; f32 weights stay within 1e-5 under the same algorithm.
  ExpectOverlapExact(Synthetic("tiny-llama", "q4_0"), 3, {37, 64}, AlgoGroupOf, false, 2e-2);
  ExpectOverlapExact(Synthetic("tiny-llama", "f32"), 3, {37, 64}, AlgoGroupOf, false);
}

size_t ThreadsInProcess() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Rank 1 leaves the group in the middle of layer 0's chunked attention
// reduce (its 3rd all-reduce of 4): both ranks' Forward fail with the real
// cause instead of hanging, a second Forward fails at once (the group stays
// broken), and once the models are gone no thread of theirs is left.
TEST(OverlapTest, RankFailingMidPrefillFailsEveryRankWithoutHanging) {
  auto file = Open(Stories());
  const size_t threads_before = ThreadsInProcess();
  const auto prefill = PrefillThenDecode(64, 512)[0];
  const Steps steps = {prefill, prefill};
  auto runs = RunTp(file, 2, steps, true, AlgoGroupOf, [](int r, CheckedCollective& c) {
    if (r != 1) return;
    c.fail_at = 3;
    c.on_fail = [&c] {
      auto& algo = dynamic_cast<comm::AlgoCollective&>(c.inner());
      dynamic_cast<comm::LocalStepTransport&>(algo.transport()).Leave("injected failure");
      return Status::Errorf("test", "injected failure on rank 1");
    };
  });
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_FALSE(runs[1].status.ok());
  EXPECT_NE(runs[1].status.message().find("injected failure"), std::string::npos) << runs[1].status.message();
  EXPECT_FALSE(runs[0].status.ok());
  EXPECT_NE(runs[0].status.message().find("rank 1 left"), std::string::npos) << runs[0].status.message();
  EXPECT_TRUE(runs[0].logits.empty() && runs[1].logits.empty());
  for (const RankRun& run : runs) {
    ASSERT_EQ(run.statuses.size(), 2u);
    EXPECT_FALSE(run.statuses[1].ok());
  }
  EXPECT_NE(runs[0].statuses[1].message().find("failed earlier"), std::string::npos) << runs[0].statuses[1].message();
  // RunTp has destroyed the models: their reducer threads are joined.
  EXPECT_EQ(ThreadsInProcess(), threads_before);
}

}  // namespace
}  // namespace plexus
