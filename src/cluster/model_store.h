// Where a node finds the model bytes of a job: a local copy of the same file
// (same SHA-256), or its shard cache, a sparse copy of the file at full size
// holding only the byte ranges this node has been sent, with a sidecar list
// of those ranges. A second start with the same shard therefore needs
// nothing from the coordinator.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/cache_dir.h"
#include "base/status.h"
#include "cluster/messages.h"
#include "model/weight_ranges.h"

namespace plexus::cluster {

// SHA-256 (hex) of a whole file. Remembered in `cache_dir`/hashes by path,
// size and modification time, so a big model is hashed once.
Result<std::string> HashFile(const std::string& path, const std::string& cache_dir);

// DefaultCacheDir() (base/cache_dir.h) is the default for `cache_dir`.
using plexus::DefaultCacheDir;

class ModelStore {
 public:
  ModelStore(std::string cache_dir, std::vector<std::string> local_files)
      : cache_dir_(std::move(cache_dir)), local_files_(std::move(local_files)) {}

  // The file to map for `model`: a local file whose size and hash match, or
  // the shard cache (created sparse with `header` at its start when new).
  struct Located {
    std::string path;
    bool complete = false;            // a whole local copy: nothing is missing
    std::vector<ByteRange> present;   // cache: ranges already held
  };
  Result<Located> Locate(const ModelIdentity& model, std::span<const uint8_t> header);

  // Cache writes: bytes at `offset`, then Commit records them as present.
  Status Write(const ModelIdentity& model, uint64_t offset, std::span<const uint8_t> bytes);
  Status Commit(const ModelIdentity& model, const std::vector<ByteRange>& ranges);

  const std::string& cache_dir() const { return cache_dir_; }
  std::string CachePath(const ModelIdentity& model) const;

 private:
  Result<std::vector<ByteRange>> ReadPresent(const ModelIdentity& model) const;
  std::string cache_dir_;
  std::vector<std::string> local_files_;
};

// needed minus present (both sorted and merged).
std::vector<ByteRange> SubtractRanges(const std::vector<ByteRange>& needed, const std::vector<ByteRange>& present);

}  // namespace plexus::cluster
