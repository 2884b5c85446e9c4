// EnvFlag: the one reading of PLEXUS_* on/off switches.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "base/env_flag.h"

namespace plexus {
namespace {

constexpr const char* kName = "PLEXUS_ENV_FLAG_TEST";

TEST(EnvFlagTest, UnsetOrEmptyIsTheFallback) {
  ::unsetenv(kName);
  EXPECT_TRUE(EnvFlag(kName, true));
  EXPECT_FALSE(EnvFlag(kName, false));
  ::setenv(kName, "", 1);
  EXPECT_TRUE(EnvFlag(kName, true));
  EXPECT_FALSE(EnvFlag(kName, false));
}

TEST(EnvFlagTest, ZeroIsOffAnythingElseOn) {
  ::setenv(kName, "0", 1);
  EXPECT_FALSE(EnvFlag(kName, true));
  for (const char* on : {"1", "yes", "00"}) {
    ::setenv(kName, on, 1);
    EXPECT_TRUE(EnvFlag(kName, false)) << on;
  }
  ::unsetenv(kName);
}

}  // namespace
}  // namespace plexus
