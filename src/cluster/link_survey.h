// Measuring every pair of a job's ranks, driven by rank 0: its own links to
// each node, then each pair of nodes (both ends get a kProbe naming the other;
// the lower rank measures and reports to rank 0). At join rank 0's links are
// measured by the join probe (the nodes run it without being asked); while
// idle the coordinator runs the whole survey again (ClusterOptions::link_refresh).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/runtime.h"
#include "comm/tcp/link_emulation.h"
#include "model/executor.h"

namespace plexus::cluster {

int64_t UnixMillis();

// Rank 0's side. `emulate` is each rank's --emulate-link (sizes the probes);
// `from_zero` also measures rank 0's links (false right after the join probe
// did). Appends one LinkView per pair measured, in (a, b) order. Any failure
// leaves the mesh in an unknown state: the job is over.
Status SurveyLinks(ShardRuntime& rt, const std::vector<tcp::LinkSpec>& emulate, bool from_zero,
                   std::vector<LinkView>* out);

// A node's side of one kProbe: runs the plan with the named peer and, when
// it is the lower rank of a pair of nodes, reports the numbers to rank 0.
Status AnswerProbe(ShardRuntime& rt, std::span<const uint8_t> payload);

}  // namespace plexus::cluster
