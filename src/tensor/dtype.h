// Element and block types of weights, with ids exactly as GGUF (ggml) numbers them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace plexus {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
  // Internal (never in a file, unknown to FindDType): Q4_0 rows repacked at
  // load with their scales side by side (tensor/q4_0_repack.h).
  kQ4_0R = 0x10002,
};

struct DTypeInfo {
  DType type;
  const char* name;      // as llama.cpp spells it: "q4_K", "bf16", ...
  int block_size;        // elements per block (1 for plain floats)
  int block_bytes;       // bytes per block
};

// All file types plexus computes with, in id order (the internal kQ4_0R aside).
const DTypeInfo* AllDTypes(size_t* count);
// nullptr when `id` is not a GGUF type plexus supports (the caller reports the error).
const DTypeInfo* FindDType(uint32_t id);
const DTypeInfo& GetDTypeInfo(DType type);
// nullptr when the name is unknown; matching is case-insensitive.
const DTypeInfo* FindDTypeByName(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size.
size_t RowBytes(DType type, int64_t n);
inline int BlockSize(DType type) { return GetDTypeInfo(type).block_size; }
inline const char* DTypeName(DType type) { return GetDTypeInfo(type).name; }
// f32, f16 and bf16: rows of plain floats, no blocks or scales.
inline bool IsPlainFloat(DType type) { return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16; }

}  // namespace plexus
