// The embedded dashboard: every file of src/server/dashboard/ is in the
// binary byte for byte, with its Content-Type, under the paths the server uses.
#include "server/dashboard_assets.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace plexus::server {
namespace {

const std::filesystem::path kAssetDir = std::filesystem::path(PLEXUS_SOURCE_DIR) / "src/server/dashboard";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(DashboardAssets, RootIsIndex) {
  const Asset* index = FindDashboardAsset("/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_STREQ(index->mime, "text/html; charset=utf-8");
  for (const char* path : {"/", "/dashboard", "/dashboard/", "/dashboard/index.html", "/?x=1", "/#top"}) {
    EXPECT_EQ(FindDashboardAsset(path), index) << path;
  }
}

TEST(DashboardAssets, PrefixAndQueryAreIgnored) {
  const Asset* app = FindDashboardAsset("/app.js");
  ASSERT_NE(app, nullptr);
  EXPECT_STREQ(app->path, "/app.js");
  EXPECT_STREQ(app->mime, "text/javascript; charset=utf-8");
  EXPECT_EQ(FindDashboardAsset("/dashboard/app.js"), app);
  EXPECT_EQ(FindDashboardAsset("/app.js?v=3"), app);
  const Asset* css = FindDashboardAsset("/dashboard/style.css");
  ASSERT_NE(css, nullptr);
  EXPECT_STREQ(css->mime, "text/css; charset=utf-8");
}

TEST(DashboardAssets, UnknownPathsAreNotFound) {
  for (const char* path : {"/nope.js", "/dashboardx/app.js", "/dashboard/nope", "app.js", "/APP.JS",
                           "/dashboard/../app.js", "/api/cluster", "/index.html/"}) {
    EXPECT_EQ(FindDashboardAsset(path), nullptr) << path;
  }
}

TEST(DashboardAssets, EveryFileIsEmbeddedAsItIsOnDisk) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kAssetDir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.starts_with(".") || name.ends_with("~")) continue;
    ++files;
    const Asset* asset = FindDashboardAsset("/" + name);
    ASSERT_NE(asset, nullptr) << name << " is not embedded (rebuild?)";
    const std::string disk = ReadFile(entry.path());
    ASSERT_EQ(asset->size, disk.size()) << name << " differs from the file: stale embed";
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(asset->data), asset->size), disk) << name;
    EXPECT_EQ(asset->data[asset->size], 0) << name << " lacks its trailing NUL";
  }
  EXPECT_GE(files, 3);  // index.html, style.css, app.js at least
}

}  // namespace
}  // namespace plexus::server
