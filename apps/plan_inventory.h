// The inventory file of `plexus plan --inventory` (docs/PLACEMENT.md):
// {"nodes": [{"name", "memory_bytes", "membw_gbs", "gflops"?, "max_fraction"?, "host"?, "threads"?}],
//  "links": [{"a", "b", "latency_us", "bandwidth_gbps"}],
//  "hosts"?: [{"name", "membw_gbs"?, "cores"?}]}
#pragma once

#include <string>

#include "base/status.h"
#include "placement/inventory.h"

namespace plexus::cli {

// Errors name the file and the field: "inventory.json: nodes[2].memory_bytes
// must be a positive number".
Result<placement::Inventory> ParseInventory(const std::string& text, const std::string& origin);
Result<placement::Inventory> ReadInventory(const std::string& path);

}  // namespace plexus::cli
