// The floors bench-comm puts next to each transport's all-reduce: what the
// transport itself can do, measured in the same run.
//  - a raw ping-pong of `bytes` over the transport's own pipeline link
//    between ranks 0 and 1 (shm: the shared-memory ring; ucx: tagged sends);
//  - for ucx, also `ucx_perftest -t tag_lat` (UCX's own benchmark, one-way
//    latency) when it is installed (Debian's ucx-utils), on this host.
#pragma once

#include <cstddef>
#include <vector>

#include "base/collective.h"
#include "base/status.h"

namespace plexus::cli {

// Round trips in microseconds measured on rank 0; rank 1 answers (empty).
Result<std::vector<double>> PipePingPong(PipeLink& link, int rank, size_t bytes, int iters);

bool HaveUcxPerftest();
// ucx_perftest's typical one-way tag latency for `bytes` between a server and
// a client on 127.0.0.1 (the environment's UCX_TLS applies to both).
Result<double> UcxPerftestLatencyUs(size_t bytes, int iters, int port);

}  // namespace plexus::cli
