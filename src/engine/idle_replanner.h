// Takes in nodes that join a serving cluster: while the scheduler is idle, a
// node found alive that the running placement never considered (a new
// discovery beacon, a node elected peers announce) triggers a re-plan, so the
// planner can use it without anyone asking (POST /v1/cluster/replan asks).
// Only for finders that list live nodes: with a static --peers list a dead
// node would look "new" on every check and cost a re-placement each time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "engine/recovering_executor.h"
#include "engine/scheduler.h"

namespace plexus {

struct IdleReplannerOptions {
  std::chrono::milliseconds every{10000};  // between checks
  std::function<Result<std::vector<std::string>>()> find_live;  // nodes alive now
  std::function<void(const std::string&)> log;                  // default: stderr
};

class IdleReplanner {
 public:
  // Checks from a thread of its own; the re-plan runs on the scheduler's
  // thread (Scheduler::RunWhenIdle) and is skipped while requests run.
  IdleReplanner(Scheduler& scheduler, RecoveringExecutor& executor, IdleReplannerOptions options);
  ~IdleReplanner();  // stops the thread (an in-flight check finishes first)
  IdleReplanner(const IdleReplanner&) = delete;
  IdleReplanner& operator=(const IdleReplanner&) = delete;

  // One check now, on the calling thread: true when a re-plan ran.
  bool CheckOnce();

 private:
  void Loop();
  void Log(const std::string& line) const;

  Scheduler& scheduler_;
  RecoveringExecutor& executor_;
  IdleReplannerOptions opt_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace plexus
