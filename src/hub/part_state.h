// A download in progress: `<file>.part` holds the bytes fetched so far (at
// their final offsets; a parallel download leaves holes) and
// `<file>.part.state` says which, for what source, size and digest:
//   plexus-part 1
//   source <url as the user gave it>
//   size <bytes, or ->
//   sha256 <hex, or ->
//   have <begin> <end>       one line per byte range [begin, end) held
// A `.part` without a state file is taken as a prefix of the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace plexus::hub {

struct ByteSpan {
  uint64_t begin = 0;
  uint64_t end = 0;  // exclusive
  uint64_t size() const { return end - begin; }
  bool operator==(const ByteSpan&) const = default;
};

// Sorted, with overlapping or touching spans joined and empty ones dropped.
std::vector<ByteSpan> MergeSpans(std::vector<ByteSpan> spans);
// [0, size) minus `have` (merged).
std::vector<ByteSpan> MissingSpans(uint64_t size, const std::vector<ByteSpan>& have);
uint64_t TotalBytes(const std::vector<ByteSpan>& spans);

struct PartState {
  std::string source;
  uint64_t size = 0;
  bool size_known = false;
  std::string sha256;          // empty: none reported
  std::vector<ByteSpan> have;  // merged
};

inline std::string PartPath(const std::string& file) { return file + ".part"; }
inline std::string StatePath(const std::string& file) { return file + ".part.state"; }

// nullopt when there is no state file; errors name the file and line.
Result<std::optional<PartState>> ReadPartState(const std::string& state_path);
// Written to a temporary file and renamed, so a crash leaves the old or the new.
Status WritePartState(const std::string& state_path, const PartState& state);

}  // namespace plexus::hub
