#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "base/status.h"
#include "kernels/ops.h"
#include "tensor/quant.h"

namespace plexus {

KvCache::KvCache(int64_t n_layers, int64_t kv_width, int64_t max_positions, DType type, int64_t v_width,
                 int64_t heads, bool key_tiles)
    : n_layers_(n_layers),
      kv_width_(kv_width),
      v_width_(v_width < 0 ? kv_width : v_width),
      max_positions_(max_positions),
      type_(type),
      heads_(heads),
      key_tiles_(key_tiles),
      row_bytes_(RowBytes(type, kv_width)),
      v_row_bytes_(RowBytes(type, v_width_)) {
  PLEXUS_CHECK(type == DType::kF32 || type == DType::kF16, "KV cache type {} unsupported", DTypeName(type));
  PLEXUS_CHECK(heads >= 1 && kv_width % heads == 0 && v_width_ % heads == 0,
               "KV cache widths {} and {} do not split into {} heads", kv_width, v_width_, heads);
  head_row_bytes_ = RowBytes(type, kv_width / heads);
  head_v_row_bytes_ = RowBytes(type, v_width_ / heads);
}

void KvCache::Store(int32_t seq, int64_t layer, int64_t pos, const float* k, const float* v) {
  Sequence& s = seqs_.at(seq);
  const int64_t kw = kv_width_ / heads_, vw = v_width_ / heads_;
  const size_t capacity = static_cast<size_t>(s.capacity), at = static_cast<size_t>(pos);
  for (int64_t h = 0; h < heads_; ++h) {
    const size_t block = static_cast<size_t>(h) * capacity;  // rows before head h's block
    if (key_tiles_) {
      StoreKeyInTile(s.k[layer].data() + block * head_row_bytes_, pos, k + h * kw);
    } else {
      QuantizeRow(type_, k + h * kw, s.k[layer].data() + (block + at) * head_row_bytes_, kw);
    }
    if (v_row_bytes_ > 0) QuantizeRow(type_, v + h * vw, s.v[layer].data() + (block + at) * head_v_row_bytes_, vw);
  }
}

// Element i of the key goes to lane pos % kKeyTile of row i of its tile.
void KvCache::StoreKeyInTile(uint8_t* head_block, int64_t pos, const float* k) {
  const int64_t kw = kv_width_ / heads_;
  const size_t elem = type_ == DType::kF32 ? sizeof(float) : sizeof(uint16_t);
  thread_local std::vector<uint8_t> converted;
  converted.resize(head_row_bytes_);
  QuantizeRow(type_, k, converted.data(), kw);
  uint8_t* tile = head_block + static_cast<size_t>(pos / kernels::kKeyTile) * head_row_bytes_ * kernels::kKeyTile;
  const size_t lane = static_cast<size_t>(pos % kernels::kKeyTile);
  for (int64_t i = 0; i < kw; ++i)
    std::memcpy(tile + (static_cast<size_t>(i) * kernels::kKeyTile + lane) * elem, converted.data() + static_cast<size_t>(i) * elem,
                elem);
}

void KvCache::Regrow(std::vector<uint8_t>& buffer, int64_t old_capacity, int64_t capacity, size_t head_bytes) const {
  if (heads_ == 1 || old_capacity == 0) {  // one block: it keeps its place
    buffer.resize(static_cast<size_t>(capacity) * head_bytes * static_cast<size_t>(heads_));
    return;
  }
  std::vector<uint8_t> grown(static_cast<size_t>(capacity) * head_bytes * static_cast<size_t>(heads_));
  const size_t old_block = static_cast<size_t>(old_capacity) * head_bytes;
  const size_t block = static_cast<size_t>(capacity) * head_bytes;
  for (size_t h = 0; h < static_cast<size_t>(heads_); ++h)
    std::copy_n(buffer.data() + h * old_block, old_block, grown.data() + h * block);
  buffer.swap(grown);
}

Status KvCache::Prepare(int32_t seq, int64_t pos) {
  if (pos < 0 || pos >= max_positions_)
    return Status::Errorf("kv", "sequence {}: position {} outside the context of {}", seq, pos, max_positions_);
  Sequence& s = seqs_[seq];
  if (s.k.empty()) {
    s.k.resize(static_cast<size_t>(n_layers_));
    s.v.resize(static_cast<size_t>(n_layers_));
  }
  if (pos > s.length)
    return Status::Errorf("kv", "sequence {}: position {} skips ahead of its length {}", seq, pos, s.length);
  s.length = pos + 1;
  if (s.length > s.capacity) {
    const int64_t old_capacity = s.capacity;
    s.capacity = std::min(max_positions_, std::max<int64_t>(64, s.capacity * 2));
    if (key_tiles_) s.capacity = (s.capacity + kernels::kKeyTile - 1) / kernels::kKeyTile * kernels::kKeyTile;
    for (auto& b : s.k) Regrow(b, old_capacity, s.capacity, head_row_bytes_);
    for (auto& b : s.v) Regrow(b, old_capacity, s.capacity, head_v_row_bytes_);
  }
  return Status::Ok();
}

int64_t KvCache::Length(int32_t seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.length;
}

size_t KvCache::BytesUsed() const {
  size_t total = 0;
  for (const auto& [id, s] : seqs_) total += static_cast<size_t>(s.capacity * n_layers_) * (row_bytes_ + v_row_bytes_);
  return total;
}

}  // namespace plexus
