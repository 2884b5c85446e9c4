// The group a bench-comm rank measures: one transport's collectives, plus the
// raw floor of its links. tcp runs on the mesh itself; shm and ucx are set
// up over it by cluster::Transports, as a cluster would.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/collective.h"
#include "comm/algo/collective.h"
#include "comm/tcp/collective.h"

namespace plexus::cli {

struct BenchCommArgs {
  std::string peers, secret_file, emulate, bind = "127.0.0.1";
  std::string algo = "auto", transport = "tcp", sizes;
  int rank = -1, local = 0;
  bool json = false;
};

struct BenchGroup {
  std::string transport, link;  // "tcp", "none" / "300us,2.5gbit"
  int rank = 0, nodes = 0;
  // A collective over every rank using `algo` (transports without a choice ignore it).
  std::function<Result<std::unique_ptr<Collective>>(comm::AllReduceAlgo algo, uint32_t tag)> new_collective;
  // Raw round trips (us) of `bytes` both ways between ranks 0 and 1: rank 0
  // gets them, the others an empty vector. Unset: the transport has no floor.
  std::function<Result<std::vector<double>>(size_t bytes, int iters)> floor;
  // What a collective made by new_collective runs for `bytes` (unset: as asked).
  std::function<comm::AllReduceAlgo(Collective& coll, size_t bytes)> chosen;
  // What the floor measures, for the report ("tcp ping-pong round trip", ...).
  std::string floor_what = "ping-pong round trip";
};

// "oneshot,rd,ring" -> the algorithms, in order.
Result<std::vector<comm::AllReduceAlgo>> ParseAlgoList(const std::string& list);
// "4,4k,1m" -> bytes; empty -> 1 KiB .. 16 MiB in steps of x4.
Result<std::vector<size_t>> ParseSizeList(const std::string& list);
// Algorithms, sizes and transport all valid (and the transport built).
Status CheckBenchArgs(const BenchCommArgs& a);
// A free loopback port (bound, read, released: good enough for a local run); 0 if none.
int FreePort();
// For --local ucx runs: ucx_perftest's latency per size, measured on this
// host before the ranks start and passed to them in the environment (a no-op
// without ucx_perftest or for other transports).
Status MeasureUcxPerftestFloors(const BenchCommArgs& a);
// Connects this rank (a.rank of a.peers) over a.transport.
Result<BenchGroup> OpenBenchGroup(const BenchCommArgs& a);

}  // namespace plexus::cli
