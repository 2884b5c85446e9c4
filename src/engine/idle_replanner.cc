#include "engine/idle_replanner.h"

#include <fmt/format.h>

namespace plexus {

IdleReplanner::IdleReplanner(Scheduler& scheduler, RecoveringExecutor& executor, IdleReplannerOptions options)
    : scheduler_(scheduler), executor_(executor), opt_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

IdleReplanner::~IdleReplanner() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void IdleReplanner::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, opt_.every, [this] { return stop_; })) {
    lock.unlock();
    CheckOnce();
    lock.lock();
  }
}

bool IdleReplanner::CheckOnce() {
  if (!opt_.find_live) return false;
  Result<std::vector<std::string>> found = opt_.find_live();  // may listen for beacons: off the scheduler thread
  if (!found.ok()) return false;
  bool replanned = false, busy = false;
  const Status ran = scheduler_.RunWhenIdle(
      [&]() -> Status {
        if (!executor_.HasNewNodes(*found)) return Status::Ok();
        replanned = true;
        Result<Replacement> done = executor_.Replan();
        if (!done.ok()) return done.status();
        Log(fmt::format("a node joined while idle: {}", done->Summary()));
        return Status::Ok();
      },
      &busy);
  if (!ran.ok() && !busy) Log(fmt::format("re-planning for a node that joined failed: {}", ran.message()));
  return replanned && ran.ok();
}

void IdleReplanner::Log(const std::string& line) const {
  if (opt_.log) opt_.log(line);
  else fmt::print(stderr, "plexus: {}\n", line);
}

}  // namespace plexus
