// The cluster secret, read from a file (--secret-file).
#pragma once

#include <functional>
#include <string>

#include "base/status.h"

namespace plexus::tcp {

// Reads and trims (leading/trailing whitespace) the secret in `path`. Refuses
// a missing or empty secret; calls `warn` if the file is group- or
// world-readable.
Result<std::string> ReadSecretFile(const std::string& path, const std::function<void(const std::string&)>& warn);

}  // namespace plexus::tcp
