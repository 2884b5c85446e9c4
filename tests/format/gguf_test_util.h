// Helpers shared by the GGUF tests: value builders, a structural equality for
// GgufValue, and byte patching for making hostile files out of valid ones.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "format/gguf.h"

namespace plexus::testing {

inline GgufValue MakeScalar(GgufType type) {
  GgufValue v;
  v.type = type;
  return v;
}

inline GgufValue MakeArray(GgufType elem) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.elem_type = elem;
  return v;
}

// Compares only the fields that the value's type uses.
inline bool SameValue(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case GgufType::kU8: case GgufType::kU16: case GgufType::kU32: case GgufType::kU64: return a.u == b.u;
    case GgufType::kF32: case GgufType::kF64: return a.f == b.f;
    case GgufType::kString: return a.s == b.s;
    case GgufType::kArray: break;
    default: return a.i == b.i;  // signed ints and bool
  }
  if (a.elem_type != b.elem_type || a.ints != b.ints || a.uints != b.uints || a.floats != b.floats ||
      a.strings != b.strings || a.items.size() != b.items.size())
    return false;
  for (size_t k = 0; k < a.items.size(); ++k)
    if (!SameValue(a.items[k], b.items[k])) return false;
  return true;
}

// Copies a parsed file into a writer: metadata in order, tensors with data.
inline GgufWriter CopyToWriter(const GgufFile& file) {
  GgufWriter w;
  for (const auto& [key, value] : file.metadata()) w.SetValue(key, value);
  w.set_alignment(static_cast<uint32_t>(file.alignment()));
  for (const GgufTensorInfo& t : file.tensors()) {
    const uint8_t* data = file.TensorData(t);
    Status st = w.AddTensor(t.name, t.type, t.shape, std::vector<uint8_t>(data, data + t.n_bytes));
    EXPECT_TRUE(st.ok()) << st.message();
  }
  return w;
}

inline std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> out(n);
  for (size_t k = 0; k < n; ++k) out[k] = static_cast<uint8_t>(seed + k * 31);
  return out;
}

// Offset of the first occurrence of `needle` in `bytes` (fails the test if absent).
inline size_t FindBytes(const std::vector<uint8_t>& bytes, const std::string& needle) {
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  EXPECT_NE(it, bytes.end()) << "'" << needle << "' not in the file";
  return static_cast<size_t>(it - bytes.begin());
}

// Offset just past a serialized string (key or tensor name) equal to `s`.
inline size_t AfterString(const std::vector<uint8_t>& bytes, const std::string& s) {
  return FindBytes(bytes, s) + s.size();
}

inline void PatchU32(std::vector<uint8_t>& bytes, size_t at, uint32_t v) { std::memcpy(&bytes[at], &v, 4); }
inline void PatchU64(std::vector<uint8_t>& bytes, size_t at, uint64_t v) { std::memcpy(&bytes[at], &v, 8); }
inline uint64_t ReadU64(const std::vector<uint8_t>& bytes, size_t at) {
  uint64_t v = 0;
  std::memcpy(&v, &bytes[at], 8);
  return v;
}

}  // namespace plexus::testing
