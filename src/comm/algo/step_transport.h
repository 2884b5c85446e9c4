// StepTransport: the point-to-point layer every message-passing transport
// (tcp, ucx) offers to the collective algorithms of algo/collective.h.
//
// A collective is a sequence of steps. In one step the algorithm posts sends
// and receives, at most one of each per peer, and Run() completes them all
// together: a transport must make progress on every posted op at once, so
// that two ranks that send to each other in the same step never deadlock.
// Peers are GROUP indices (0 .. size()-1), not mesh ranks; the transport maps
// them. Posting allocates nothing in steady state (Clear keeps capacity).
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"

namespace plexus::comm {

class StepTransport {
 public:
  virtual ~StepTransport() = default;
  virtual int rank() const = 0;  // this process's index in the group
  virtual int size() const = 0;
  virtual const char* name() const = 0;  // "tcp", "ucx": for messages and benchmarks
  virtual void Clear() = 0;  // drops posted ops (a step starts with Clear)
  virtual void Send(int peer, const void* data, size_t bytes) = 0;
  virtual void Recv(int peer, void* data, size_t bytes) = 0;
  // Completes every posted op or fails naming the peer and `what`, e.g.
  // "[ucx] rank 2 (10.0.0.3:7000): peer vanished during all-reduce". After a
  // failure the transport may refuse further steps (a broken group stays broken).
  virtual Status Run(const char* what) = 0;
};

}  // namespace plexus::comm
