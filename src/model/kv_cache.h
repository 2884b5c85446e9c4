// Per-sequence key/value cache for the layers and KV heads of one shard.
// Storage per sequence and layer: K and V each hold `heads` head-major blocks
// [heads][capacity, width / heads] of type() (f16 by default, as llama.cpp
// keeps it: half the memory and half the bytes read per decoded token; f32
// on request), kv_width = local KV heads * dh, grown by doubling as the
// sequence grows. Head-major, so that attention reads one head's positions
// as one contiguous run (a position-major row would put a whole cache row
// between a head's consecutive keys, which the hardware prefetchers, held to
// a 4 KiB page, follow poorly). MLA (deepseek2) keeps one row of the
// compressed latent per token in K ([kv_lora + rope], one "head") and no V
// (v_width 0): the values are recomputed from the latent.
// With key_tiles (standard attention), each head's K block is kept
// transposed in tiles of kernels::kKeyTile positions ([dh][kKeyTile] per
// tile, see kernels::KvHeadAttention), so attention scores a run of keys per
// vector; the capacity is then a multiple of the tile.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace plexus {

class KvCache {
 public:
  // v_width < 0: the same as kv_width. heads divides kv_width and v_width.
  KvCache(int64_t n_layers, int64_t kv_width, int64_t max_positions, DType type, int64_t v_width = -1,
          int64_t heads = 1, bool key_tiles = false);

  // Makes room to write position `pos` of `seq`. Positions must arrive in
  // order: pos == length appends; pos < length rewinds the sequence to pos
  // first (the cached entries after it are discarded).
  Status Prepare(int32_t seq, int64_t pos);

  // Writes k [kv_width] and v [v_width] floats at `pos`, converted to type()
  // (head h's slice of each into its own block).
  void Store(int32_t seq, int64_t layer, int64_t pos, const float* k, const float* v);
  // Rows [0, length) of head h of layer's K (or V) for seq: [length, kv_width
  // / heads] of type(), contiguous, head_row_bytes() (head_v_row_bytes()) apart.
  // With key_tiles(), Keys is the first of head h's K tiles instead:
  // [ceil(length / kKeyTile)][kv_width / heads][kKeyTile] of type().
  const uint8_t* Keys(int32_t seq, int64_t layer, int64_t head = 0) const {
    const Sequence& s = seqs_.at(seq);
    return s.k[layer].data() + static_cast<size_t>(head * s.capacity) * head_row_bytes_;
  }
  const uint8_t* Values(int32_t seq, int64_t layer, int64_t head = 0) const {
    const Sequence& s = seqs_.at(seq);
    return s.v[layer].data() + static_cast<size_t>(head * s.capacity) * head_v_row_bytes_;
  }
  DType type() const { return type_; }
  bool key_tiles() const { return key_tiles_; }
  int64_t heads() const { return heads_; }
  size_t row_bytes() const { return row_bytes_; }      // of a K row, all heads (memory per position)
  size_t v_row_bytes() const { return v_row_bytes_; }  // of a V row (0: no V)
  size_t head_row_bytes() const { return head_row_bytes_; }      // one head's K row
  size_t head_v_row_bytes() const { return head_v_row_bytes_; }  // one head's V row

  int64_t Length(int32_t seq) const;
  void Drop(int32_t seq) { seqs_.erase(seq); }
  size_t n_sequences() const { return seqs_.size(); }
  int64_t kv_width() const { return kv_width_; }
  size_t BytesUsed() const;

 private:
  struct Sequence {
    int64_t length = 0;
    int64_t capacity = 0;
    std::vector<std::vector<uint8_t>> k, v;  // [layer][heads][capacity, head_row_bytes]
  };
  void StoreKeyInTile(uint8_t* head_block, int64_t pos, const float* k);
  // Moves buffer's `heads` blocks of `old_capacity` rows to blocks of `capacity`.
  void Regrow(std::vector<uint8_t>& buffer, int64_t old_capacity, int64_t capacity, size_t head_bytes) const;

  int64_t n_layers_;
  int64_t kv_width_;
  int64_t v_width_;
  int64_t max_positions_;
  DType type_;
  int64_t heads_;
  bool key_tiles_;
  size_t row_bytes_;
  size_t v_row_bytes_;
  size_t head_row_bytes_;
  size_t head_v_row_bytes_;
  std::unordered_map<int32_t, Sequence> seqs_;
};

}  // namespace plexus
