// The web dashboard's static files (src/server/dashboard/*), embedded in the
// binary at build time by cmake/embed_assets.cmake, so `plexus serve` needs no
// files on disk and works offline.
#pragma once

#include <cstddef>
#include <string_view>

namespace plexus::server {

struct Asset {
  const char* path;           // "/index.html", "/app.js", ...
  const char* mime;           // Content-Type to send, e.g. "text/javascript; charset=utf-8"
  const unsigned char* data;  // the file's bytes (NUL after the last, not counted in size)
  size_t size;
};

// The asset for a request path, or nullptr. "/" (and "/dashboard", "/dashboard/")
// is "/index.html"; a "/dashboard/" prefix is accepted ("/dashboard/app.js" is
// "/app.js"); a query string or fragment is ignored.
const Asset* FindDashboardAsset(std::string_view path);

}  // namespace plexus::server
