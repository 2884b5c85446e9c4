// The -m argument of the commands that load a model: a local path, or an
// hf:ORG/REPO/FILE.gguf reference or http(s) URL, pulled into the cache
// first when it is not there yet (with a progress display on stderr).
#pragma once

#include <string>

#include "base/status.h"

namespace plexus::cli {

Result<std::string> ResolveModelPath(const std::string& arg);

}  // namespace plexus::cli
