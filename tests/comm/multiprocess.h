// Runs one function per rank in real forked processes on 127.0.0.1.
//
// The parent binds every rank's listening socket to an ephemeral port before
// forking, so ports are race-free; each child adopts its own (listen_fd) and
// reports one line of text back through a pipe. Children that outlive the
// timeout are killed, so a hang fails the test instead of stalling it.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "comm/tcp/mesh.h"
#include "comm/tcp/socket.h"

namespace plexus::tcp::testing {

struct RankContext {
  int rank = 0;
  std::vector<std::string> peers;
  int listen_fd = -1;
  // Options for this rank: loopback, short timeouts, logs collected in `log`.
  MeshOptions Options(const std::string& secret = "test-secret") const;
};

struct RankResult {
  int exit_status = -1;   // waitpid status
  bool killed = false;    // did not finish within the timeout
  std::string report;     // what the child's function returned
  std::string log;        // the mesh's log lines (via MeshOptions::log)
};

using RankFn = std::function<std::string(const RankContext&)>;

// The child-side log sink: MeshOptions::log of RankContext::Options appends here.
std::string& ChildLog();

// Listening sockets on 127.0.0.1:0, one per rank.
std::vector<Fd> BindListeners(int n, std::vector<std::string>* peers);

// Forks n children running fn(rank); waits up to timeout. `listeners` may be
// pre-bound by the caller (e.g. to attack one before the ranks start).
std::vector<RankResult> RunRanks(int n, const RankFn& fn, std::chrono::seconds timeout = std::chrono::seconds(30),
                                 std::vector<Fd>* listeners = nullptr, std::vector<std::string>* peers = nullptr);

}  // namespace plexus::tcp::testing
