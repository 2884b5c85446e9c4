// plexus's own status routes (see the API contract):
//   GET /api/cluster: the model and who holds which part of it (Executor::Describe)
//   GET /api/stats:   the scheduler's counters
#pragma once

#include "engine/scheduler.h"
#include "model/executor.h"
#include "server/gen_request.h"
#include "server/model_facts.h"

namespace plexus::server {

// {"model": {...}, "split": "tp2", "nodes": [...], "links": [...]}; ranges are
// [begin, end); unknown measurements are null.
Json ClusterJson(const ModelFacts& facts, const ClusterView& view);

// {"active", "queued", "max_active", "max_queue", "requests_total", ...}
Json StatsJson(const SchedulerStats& stats, const SchedulerOptions& options, double uptime_s);

}  // namespace plexus::server
