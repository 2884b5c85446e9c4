// plexus's own status routes (see the API contract):
//   GET /api/cluster: the model and who holds which part of it (Executor::Describe)
//   GET /api/stats:   the scheduler's counters
//   GET /api/plan:    the placement planner's plan for the cluster, runner-ups and why they lost
#pragma once

#include "engine/scheduler.h"
#include "model/executor.h"
#include "server/gen_request.h"
#include "server/model_facts.h"

namespace plexus::server {

// {"model": {...}, "split": "tp2", "nodes": [...], "links": [...]}; ranges are
// [begin, end); unknown measurements are null.
Json ClusterJson(const ModelFacts& facts, const ClusterView& view);
// The same, plus "plan": {"split", "tp", "pp", "ep", "predicted_tps",
// "alternatives": [{"split", "predicted_tps", "fits", "why"}]} when planned.
Json ClusterJson(const ModelFacts& facts, const Executor& executor);

// {"planned": true, "split", "tp", "pp", "ep", "predicted_tps", "nodes",
//  "reasons", "alternatives": [{..., "why"}], "inventory": {...}} when the
// planner placed the running cluster; {"planned": false, "why"} otherwise.
Json PlanStatusJson(const Executor& executor);

// {"active", "queued", "max_active", "max_queue", "requests_total", ...}
Json StatsJson(const SchedulerStats& stats, const SchedulerOptions& options, double uptime_s);

}  // namespace plexus::server
