// JSON of a placement plan (placement/planner.h), shared by `plexus plan
// --json` and GET /api/plan: {"split", "tp", "pp", "ep", "predicted_tps",
// "nodes": [{"name", "layers": [first, last], "share", ...}], "stages",
// "reasons", "alternatives": [{..., "why"}]}. Ranges are inclusive.
#pragma once

#include <nlohmann/json.hpp>

#include "placement/planner.h"

namespace plexus::server {

// Fills `j` (an object, maybe holding keys already) with one plan.
void PlanJson(const placement::Plan& plan, nlohmann::ordered_json& j);

// The chosen plan (PlanJson's keys at the top), its reasons and the
// runner-ups, each with why it lost.
nlohmann::ordered_json PlacementJson(const placement::Placement& placement);

// The inventory planned for, in the --inventory file's format.
nlohmann::ordered_json InventoryJson(const placement::Inventory& inventory);

}  // namespace plexus::server
