// The planner tests' one helper: PlanPlacement that must succeed (a failure
// is a test failure naming the planner's error, and an empty Placement).
#pragma once

#include <gtest/gtest.h>

#include "placement/planner.h"

namespace plexus::placement {

inline Placement MustPlan(const ModelShape& shape, const Inventory& inv, const Request& req = {},
                          const SearchOptions& search = {}) {
  auto placement = PlanPlacement(shape, inv, req, {}, search);
  EXPECT_TRUE(placement.ok()) << placement.status().message();
  if (!placement.ok()) return {};
  return *placement;
}

}  // namespace plexus::placement
