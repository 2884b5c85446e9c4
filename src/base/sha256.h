// SHA-256 of files, with a memo so a model that was verified once is not
// read again to answer "up to date".
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"

namespace plexus {

// Called while hashing with (bytes hashed, file size).
using HashProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Lower-case hex SHA-256 of the whole file.
Result<std::string> Sha256File(const std::string& path, const HashProgressFn& progress = nullptr);

// The memo is `cache_dir`/hashes, lines "<sha256> <absolute path> <size>
// <mtime sec>.<nsec>" (the format the cluster's model store keeps there too):
// a changed file has a new key and is hashed again.
Result<std::string> MemoizedSha256(const std::string& path, const std::string& cache_dir,
                                   const HashProgressFn& progress = nullptr);
// Records a digest computed elsewhere (a download just verified).
void RememberSha256(const std::string& path, const std::string& cache_dir, const std::string& sha256);

// 64 lowercase hex digits.
bool IsSha256Hex(const std::string& s);

}  // namespace plexus
