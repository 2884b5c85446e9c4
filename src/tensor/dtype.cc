#include "tensor/dtype.h"

#include <strings.h>

#include <array>

#include "base/status.h"
#include "tensor/blocks.h"

namespace plexus {
namespace {

constexpr std::array<DTypeInfo, 11> kTypes = {{
    {DType::kF32, "f32", 1, 4},
    {DType::kF16, "f16", 1, 2},
    {DType::kQ4_0, "q4_0", kQK, sizeof(BlockQ4_0)},
    {DType::kQ4_1, "q4_1", kQK, sizeof(BlockQ4_1)},
    {DType::kQ5_0, "q5_0", kQK, sizeof(BlockQ5_0)},
    {DType::kQ5_1, "q5_1", kQK, sizeof(BlockQ5_1)},
    {DType::kQ8_0, "q8_0", kQK, sizeof(BlockQ8_0)},
    {DType::kQ4_K, "q4_K", kQKK, sizeof(BlockQ4_K)},
    {DType::kQ5_K, "q5_K", kQKK, sizeof(BlockQ5_K)},
    {DType::kQ6_K, "q6_K", kQKK, sizeof(BlockQ6_K)},
    {DType::kBF16, "bf16", 1, 2},
}};

// Layouts made at load, never read from or written to a file.
constexpr DTypeInfo kQ4_0RInfo = {DType::kQ4_0R, "q4_0r", kQK, sizeof(BlockQ4_0)};

}  // namespace

const DTypeInfo* AllDTypes(size_t* count) {
  *count = kTypes.size();
  return kTypes.data();
}

const DTypeInfo* FindDType(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

const DTypeInfo& GetDTypeInfo(DType type) {
  if (type == DType::kQ4_0R) return kQ4_0RInfo;
  const DTypeInfo* info = FindDType(static_cast<uint32_t>(type));
  PLEXUS_CHECK(info != nullptr, "unknown dtype {}", static_cast<uint32_t>(type));
  return *info;
}

const DTypeInfo* FindDTypeByName(std::string_view name) {
  for (const auto& t : kTypes) {
    std::string_view n(t.name);
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return &t;
  }
  return nullptr;
}

size_t RowBytes(DType type, int64_t n) {
  const DTypeInfo& info = GetDTypeInfo(type);
  PLEXUS_CHECK(n % info.block_size == 0, "row of {} {} elements is not whole blocks", n, info.name);
  return static_cast<size_t>(n / info.block_size) * static_cast<size_t>(info.block_bytes);
}

}  // namespace plexus
