// The byte ranges of a GGUF file that one shard reads. A node that lacks the
// model file is sent exactly these (and caches them in a sparse copy), so its
// disk and memory hold its shard, not the model. Mirrors what LoadWeights
// touches: weights.cc and this file change together.
#pragma once

#include <cstdint>
#include <vector>

#include "format/gguf.h"
#include "model/config.h"
#include "model/shard.h"

namespace plexus {

struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
  bool operator==(const ByteRange&) const = default;
};

// Sorted, non-overlapping, adjacent ranges merged. Always includes the
// header [0, data_offset).
std::vector<ByteRange> ShardByteRanges(const GgufFile& file, const ModelConfig& config, const ShardSpec& shard);

// Sorts and merges overlapping or touching ranges.
std::vector<ByteRange> MergeRanges(std::vector<ByteRange> ranges);
uint64_t TotalBytes(const std::vector<ByteRange>& ranges);

}  // namespace plexus
