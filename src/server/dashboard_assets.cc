// Looks up the embedded dashboard files; the table itself is generated into
// the build dir (dashboard_assets_data.cc) from src/server/dashboard/.
#include "server/dashboard_assets.h"

namespace plexus::server {
namespace detail {
// Defined in the generated source: kDashboardAssetCount entries, then a null one.
extern const Asset kDashboardAssets[];
extern const size_t kDashboardAssetCount;
}  // namespace detail

const Asset* FindDashboardAsset(std::string_view path) {
  // Routing matches on the path alone: "/app.js?v=2" is "/app.js".
  path = path.substr(0, path.find_first_of("?#"));
  constexpr std::string_view kPrefix = "/dashboard";
  if (path.starts_with(kPrefix) && (path.size() == kPrefix.size() || path[kPrefix.size()] == '/')) {
    path.remove_prefix(kPrefix.size());
  }
  if (path.empty() || path == "/") path = "/index.html";
  for (size_t i = 0; i < detail::kDashboardAssetCount; ++i) {
    if (path == detail::kDashboardAssets[i].path) return &detail::kDashboardAssets[i];
  }
  return nullptr;
}

}  // namespace plexus::server
