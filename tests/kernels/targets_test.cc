// Which Highway targets the kernel tests ran on, and that dispatch really
// follows the target each parametrised test selects.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "hwy/targets.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"

namespace plexus::kernels {
namespace {

TEST(TargetsTest, ListsTheTargetsUnderTest) {
  std::string names;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) names += std::string(" ") + hwy::TargetName(target);
  std::printf("[ targets  ] compiled and supported here:%s; best: %s\n", names.c_str(), BestTargetName());
  RecordProperty("targets", names);
  EXPECT_FALSE(hwy::SupportedAndGeneratedTargets().empty());
}

class DispatchTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(DispatchTest);

TEST_P(DispatchTest, KernelsRunOnTheSelectedTarget) {
  EXPECT_STREQ(BestTargetName(), hwy::TargetName(GetParam()));
}

}  // namespace
}  // namespace plexus::kernels
