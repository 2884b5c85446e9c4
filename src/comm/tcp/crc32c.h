// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of
// every frame (docs/PROTOCOL.md). Uses the SSE4.2 crc32 instruction when the
// CPU has it, else a slicing-by-8 table; both give the same value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace plexus::tcp {

// Crc32c("123456789") == 0xE3069283. `crc` continues an earlier value.
uint32_t Crc32c(const void* data, size_t bytes, uint32_t crc = 0);
// The table version, always available: the oracle the fast one is tested against.
uint32_t Crc32cPortable(const void* data, size_t bytes, uint32_t crc = 0);

}  // namespace plexus::tcp
