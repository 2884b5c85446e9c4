#include "model/kv_cache.h"

#include <algorithm>

#include "base/status.h"
#include "tensor/quant.h"

namespace plexus {

KvCache::KvCache(int64_t n_layers, int64_t kv_width, int64_t max_positions, DType type, int64_t v_width)
    : n_layers_(n_layers),
      kv_width_(kv_width),
      v_width_(v_width < 0 ? kv_width : v_width),
      max_positions_(max_positions),
      type_(type),
      row_bytes_(RowBytes(type, kv_width)),
      v_row_bytes_(RowBytes(type, v_width_)) {
  PLEXUS_CHECK(type == DType::kF32 || type == DType::kF16, "KV cache type {} unsupported", DTypeName(type));
}

void KvCache::Store(int32_t seq, int64_t layer, int64_t pos, const float* k, const float* v) {
  Sequence& s = seqs_.at(seq);
  QuantizeRow(type_, k, s.k[layer].data() + static_cast<size_t>(pos) * row_bytes_, kv_width_);
  if (v_row_bytes_ > 0)
    QuantizeRow(type_, v, s.v[layer].data() + static_cast<size_t>(pos) * v_row_bytes_,
                v_width_);
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
    s.capacity = std::min(max_positions_, std::max<int64_t>(64, s.capacity * 2));
    for (auto& b : s.k) b.resize(static_cast<size_t>(s.capacity) * row_bytes_);
    for (auto& b : s.v) b.resize(static_cast<size_t>(s.capacity) * v_row_bytes_);
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
