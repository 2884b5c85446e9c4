// Where plexus keeps what it downloads or derives: pulled models
// (models/), the shard cache of cluster nodes (shards/), file hashes (hashes).
#pragma once

#include <string>

namespace plexus {

// $PLEXUS_CACHE_DIR, else $XDG_CACHE_HOME/plexus, else ~/.cache/plexus
// (/tmp/.cache/plexus when HOME is unset).
std::string DefaultCacheDir();

}  // namespace plexus
