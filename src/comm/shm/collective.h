// The same-host transport: Collective and PipeLink (base/collective.h) over
// POSIX shared memory, set up over an existing TcpMesh's control channel.
//
//   auto tp = shm::NewShmCollective(*mesh, {0, 1}, /*tag=*/0);   // every member, together
//   auto pipe = shm::NewShmPipeLink(*mesh, prev_rank, next_rank, /*tag=*/0);
//
// Use it only between ranks with equal HostIdentity(). Creation consumes
// control frames from the peers, so no other control traffic with them may
// be in flight meanwhile. After creation the TCP mesh is used only to notice
// failed peers (it must outlive the returned objects); data never touches a
// socket. Like the TCP ones, each object is used by one thread at a time.
//
// All-reduce results are the same bytes as the TCP one-shot and
// LocalCollective: element i is 0 + p0[i] + p1[i] + ... in group-rank order,
// on every rank and for every size.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/collective.h"
#include "comm/tcp/mesh.h"

namespace plexus::shm {

struct ShmOptions {
  // Polls of a peer's word before sleeping on a futex. Spinning is what makes
  // small all-reduces take microseconds; sleeping frees the core when a peer is
  // slow (or when there are more ranks than cores).
  int spin_iterations = 20000;
  // Largest piece one step moves per rank (a slot of the collective, a cell
  // of a pipe link). Larger messages go in several steps.
  size_t chunk_bytes = 1 << 20;
  // Cap on one segment's size; chunks shrink to fit (min 4 KiB per slot).
  size_t segment_bytes = 64 << 20;
  // All-reduce steps of at least two_phase_bytes, in groups of at least
  // two_phase_min_ranks, are reduce-scattered in place: each rank sums 1/n and
  // copies the rest. Measured (ShmLatency probe): with 3-4 ranks it halves a
  // 16 KiB all-reduce; with 2 ranks it never beat one-shot.
  size_t two_phase_bytes = 16 << 10;
  int two_phase_min_ranks = 3;
  std::chrono::milliseconds setup_timeout{30000};  // creation: waiting for the other members
};

// A Collective over `ranks` (mesh ranks: ascending, unique, including this
// one). Every member calls it with the same ranks, tag and options.
Result<std::unique_ptr<Collective>> NewShmCollective(tcp::TcpMesh& mesh, std::vector<int> ranks, uint32_t tag,
                                                     ShmOptions opt = {});

// A PipeLink receiving from prev_rank and sending to next_rank (-1: none).
// Both ends of each link create theirs together, with the same tag.
Result<std::unique_ptr<PipeLink>> NewShmPipeLink(tcp::TcpMesh& mesh, int prev_rank, int next_rank, uint32_t tag,
                                                 ShmOptions opt = {});

}  // namespace plexus::shm
