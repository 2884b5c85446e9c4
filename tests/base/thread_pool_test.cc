// ThreadPool::ParallelFor: every index exactly once, chunks of at least
// `grain`, contiguous runs per thread, and work moving off a slow thread.
#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus {
namespace {

struct Call {
  std::thread::id thread;
  size_t begin, end;
};

// Runs ParallelFor(n, grain) recording every call, in each thread's order.
std::vector<Call> RecordCalls(ThreadPool& pool, size_t n, size_t grain, std::vector<int>* hits) {
  std::mutex mu;
  std::vector<Call> calls;
  hits->assign(n, 0);
  std::vector<std::atomic<int>> counts(n);
  pool.ParallelFor(n, grain, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) counts[i].fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back({std::this_thread::get_id(), begin, end});
  });
  for (size_t i = 0; i < n; ++i) (*hits)[i] = counts[i].load();
  return calls;
}

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnceInChunksOfAtLeastGrain) {
  for (int threads : {1, 2, 3, 7, 16}) {
    ThreadPool pool(threads);
    for (size_t n : {size_t{1}, size_t{5}, size_t{64}, size_t{1000}, size_t{4097}}) {
      for (size_t grain : {size_t{1}, size_t{3}, size_t{100}}) {
        std::vector<int> hits;
        const std::vector<Call> calls = RecordCalls(pool, n, grain, &hits);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "index " << i << " n " << n << " threads " << threads;
        for (const Call& c : calls) {
          ASSERT_LT(c.begin, c.end);
          ASSERT_LE(c.end, n);
          // Only the chunk ending at n may be short.
          if (c.end != n) {
            ASSERT_GE(c.end - c.begin, grain) << "n " << n << " threads " << threads;
          }
        }
      }
    }
  }
}

TEST(ThreadPoolTest, ParallelForZeroItemsCallsNothing) {
  ThreadPool pool(2);
  bool called = false;
  pool.ParallelFor(0, 1, [&](size_t, size_t) { called = true; });
  EXPECT_FALSE(called);
}

// Each thread reads its items in a few long runs (a decode matvec's prefetch
// restarts only where a run begins), not in chunks dealt out in turn.
TEST(ThreadPoolTest, ParallelForGivesEachThreadFewContiguousRuns) {
  ThreadPool pool(2);
  for (int rep = 0; rep < 20; ++rep) {
    std::vector<int> hits;
    const std::vector<Call> calls = RecordCalls(pool, 6400, 1, &hits);
    ASSERT_GE(calls.size(), 32u);  // fine chunks, yet...
    std::map<std::thread::id, size_t> last_end;
    size_t runs = 0;
    for (const Call& c : calls) {
      const auto it = last_end.find(c.thread);
      if (it == last_end.end() || it->second != c.begin) ++runs;
      last_end[c.thread] = c.end;
    }
    // Two starting runs and a run per steal; each steal halves what is left.
    EXPECT_LE(runs, 16u) << "calls " << calls.size();
  }
}

// A thread that is slowed down ends up with fewer items: the others take
// the back of its range.
TEST(ThreadPoolTest, ParallelForMovesWorkOffASlowThread) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<size_t> caller_items{0};
  const size_t n = 64;
  pool.ParallelFor(n, 1, [&](size_t begin, size_t end) {
    if (std::this_thread::get_id() != caller) return;
    caller_items += end - begin;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  // Its own range is half of them; the other thread, done with its half at
  // once, steals half of what the caller has left each time it runs dry.
  EXPECT_LT(caller_items.load(), n / 4);
}

}  // namespace
}  // namespace plexus
