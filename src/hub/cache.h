// What the cache holds (`plexus ls`), and turning a model argument into a
// file to open: a local path as it is, an hf: reference or URL into its
// cached file, pulled first when it is not there yet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "hub/pull.h"

namespace plexus::hub {

struct CachedModel {
  std::string rel_path;  // relative to the cache dir: "models/ORG/REPO/FILE.gguf"
  std::string path;      // absolute
  std::string ref;       // "hf:ORG/REPO/FILE.gguf" for hub downloads, "" for URL downloads
  uint64_t size = 0;     // bytes on disk, all parts of a split model together
  bool partial = false;  // a download that has not finished (FILE.gguf.part)
  uint64_t done = 0;     // partial: bytes held
  uint64_t total = 0;    // partial: bytes expected, 0 when unknown
  int parts = 1;         // split models: parts expected ...
  int parts_present = 1; // ... and parts in the cache
  std::string arch;      // general.architecture
  std::string quant;     // general.file_type as llama.cpp names it ("Q4_K_M"), else the commonest weight type
  uint64_t n_params = 0; // elements of all tensors
  std::string error;     // why the file could not be read (then arch/quant/n_params are empty)
};

// Every model under `cache_dir`/models, sorted by rel_path. A missing
// folder is an empty cache, not an error.
Result<std::vector<CachedModel>> ListCached(const std::string& cache_dir);

// "Q4_K_M" for general.file_type 15; "" for an unknown number.
std::string FileTypeName(int64_t file_type);

// A local path comes back unchanged; an hf: reference or http(s) URL comes
// back as its cached file, pulled with `options` (its ref is set here)
// when not all of it is in the cache yet.
Result<std::string> ResolveModelArg(const std::string& text, PullRequest options = {},
                                    const ProgressFn& progress = nullptr);

}  // namespace plexus::hub
