#include "tensor/q4_0_repack.h"

#include <cstring>
#include <vector>

#include "base/status.h"

namespace plexus {

void RepackQ4_0Row(const void* src, void* dst, int64_t n) {
  PLEXUS_CHECK(n % kQK == 0, "[tensor] q4_0 row of {} elements is not whole blocks", n);
  const int64_t nb = n / kQK;
  const auto* blocks = static_cast<const BlockQ4_0*>(src);
  auto* scales = static_cast<uint8_t*>(dst);
  uint8_t* quants = scales + sizeof(uint16_t) * static_cast<size_t>(nb);
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(scales + sizeof(uint16_t) * b, &blocks[b].d, sizeof(uint16_t));
    std::memcpy(quants + sizeof(blocks[b].qs) * b, blocks[b].qs, sizeof(blocks[b].qs));
  }
}

void UnpackQ4_0RRow(const void* src, void* dst, int64_t n) {
  PLEXUS_CHECK(n % kQK == 0, "[tensor] q4_0r row of {} elements is not whole blocks", n);
  const int64_t nb = n / kQK;
  const uint16_t* scales = Q4_0RScales(src);
  const uint8_t* quants = Q4_0RQuants(src, nb);
  auto* blocks = static_cast<BlockQ4_0*>(dst);
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(&blocks[b].d, scales + b, sizeof(uint16_t));
    std::memcpy(blocks[b].qs, quants + sizeof(blocks[b].qs) * b, sizeof(blocks[b].qs));
  }
}

void RepackQ4_0RowsInPlace(uint8_t* data, int64_t rows, int64_t n, size_t row_bytes) {
  std::vector<uint8_t> row(static_cast<size_t>(n / kQK) * sizeof(BlockQ4_0));
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* at = data + static_cast<size_t>(r) * row_bytes;
    std::memcpy(row.data(), at, row.size());
    RepackQ4_0Row(row.data(), at, n);
  }
}

}  // namespace plexus
