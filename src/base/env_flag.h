// On/off switches read from the environment (PLEXUS_BLAS, PLEXUS_NO_OVERLAP,
// PLEXUS_MLA_BATCHED, ...), all with one reading of the value.
#pragma once

#include <cstdlib>
#include <string_view>

namespace plexus {

// Unset or empty: `fallback`; "0": false; any other value: true.
inline bool EnvFlag(const char* name, bool fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return std::string_view(value) != "0";
}

}  // namespace plexus
