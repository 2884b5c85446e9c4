// kQ4_0R: Q4_0 rows rearranged at load, for the decode kernels. A Q4_0 row of
// nb blocks interleaves each block's half scale with its 16 nibble bytes
// (18 bytes a block); a kQ4_0R row holds the same bytes as
//   [nb half scales, side by side][nb x 16 nibble bytes, block by block]
// so RowBytes is the same and a row's 8 scales are one 16-byte load instead
// of eight loads and a tree of blends (~10% of the AVX-512 Q4_0 dot's vector
// instructions), and the nibbles of consecutive blocks are contiguous. Only
// weights copied into memory at load are repacked (model/weights.cc); the
// type never appears in a file (FindDType does not know its id).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/blocks.h"

namespace plexus {

// Block b's half scale, and its 16 nibble bytes, in a kQ4_0R row of n_blocks blocks.
inline const uint16_t* Q4_0RScales(const void* row) { return static_cast<const uint16_t*>(row); }
inline const uint8_t* Q4_0RQuants(const void* row, int64_t n_blocks) {
  return static_cast<const uint8_t*>(row) + sizeof(uint16_t) * static_cast<size_t>(n_blocks);
}

// Q4_0 row of n elements -> kQ4_0R (src and dst must not overlap), and back.
void RepackQ4_0Row(const void* src, void* dst, int64_t n);
void UnpackQ4_0RRow(const void* src, void* dst, int64_t n);

// Repacks `rows` Q4_0 rows of n elements at `data` (row_bytes apart) in place.
void RepackQ4_0RowsInPlace(uint8_t* data, int64_t rows, int64_t n, size_t row_bytes);

}  // namespace plexus
