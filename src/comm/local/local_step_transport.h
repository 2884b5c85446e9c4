// LocalStepTransport: a StepTransport whose ranks are threads of one process,
// for testing AlgoCollective without sockets.
//
// A step is a rendezvous: Run() publishes this rank's sends (pointers, no
// copy), copies each posted receive out of the sender's buffer as soon as it
// is published, then waits until its own sends have been taken, so the
// caller's buffers may change again when Run returns. Every rank publishes
// before it waits, so ranks that send to each other never deadlock.
// A rank that fails or Leave()s is marked gone: steps waiting on it fail
// naming it, the way a TCP ABORT does.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "comm/algo/step_transport.h"

namespace plexus::comm {

// State shared by the ranks of one local group.
class LocalStepGroup {
 public:
  explicit LocalStepGroup(int size, std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));
  int size() const { return size_; }

 private:
  friend class LocalStepTransport;
  struct Slot {  // one message in flight from one rank to another
    const void* data = nullptr;
    size_t bytes = 0;
    bool posted = false;
  };
  int size_;
  std::chrono::milliseconds timeout_;  // a wait this long is a bug: fail instead of hanging the test
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;         // [from * size + to]
  std::vector<std::string> gone_;   // [rank] why it left; empty while present
};

class LocalStepTransport final : public StepTransport {
 public:
  LocalStepTransport(std::shared_ptr<LocalStepGroup> group, int rank);
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  const char* name() const override { return "local"; }
  void Clear() override;
  void Send(int peer, const void* data, size_t bytes) override;
  void Recv(int peer, void* data, size_t bytes) override;
  Status Run(const char* what) override;
  // Leaves the group (e.g. a rank that "dies" in a test): the others' steps
  // that wait on it fail naming it and `reason`.
  void Leave(const std::string& reason);

 private:
  struct Op {
    int peer = -1;
    void* data = nullptr;
    size_t bytes = 0;
  };
  Status WaitRecv(std::unique_lock<std::mutex>& lock, const Op& op, const char* what);
  Status WaitTaken(std::unique_lock<std::mutex>& lock, const Op& op, const char* what);
  Status Fail(std::unique_lock<std::mutex>& lock, Status st);
  Status Gone(int peer, const char* what) const;

  std::shared_ptr<LocalStepGroup> group_;
  int rank_;
  std::vector<Op> sends_, recvs_;  // this step's posted ops; capacity kept
};

}  // namespace plexus::comm
