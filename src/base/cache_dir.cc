#include "base/cache_dir.h"

#include <cstdlib>

namespace plexus {

std::string DefaultCacheDir() {
  if (const char* d = std::getenv("PLEXUS_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/plexus";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/plexus";
}

}  // namespace plexus
