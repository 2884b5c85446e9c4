// Private to src/format: the GGUF wire constants, the per-type table shared by
// the reader and the writer, and the bounds-checked byte cursor the reader
// uses for every read of untrusted bytes.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "format/gguf.h"

namespace plexus::gguf_internal {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader copies little-endian scalars straight into memory");

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kWriteVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr const char* kAlignmentKey = "general.alignment";
constexpr uint32_t kMaxDims = 4;
// Keys and tensor names are identifiers; the spec caps them at 65535 bytes.
constexpr uint64_t kMaxNameBytes = 65535;
// Arrays of arrays are legal but nobody nests deeply; the cap stops a file of
// nested headers from recursing through the stack.
constexpr int kMaxArrayDepth = 8;
// Each inner array costs ~12 bytes of file but a whole GgufValue (~200 bytes)
// of memory; this cap keeps that amplification bounded for huge hostile files.
constexpr uint64_t kMaxNestedArrays = uint64_t{1} << 18;
// Smallest possible encodings, used to reject counts before allocating:
// key (u64 len) + u32 type + 1-byte value; name (u64 len) + u32 n_dims +
// one u64 dim + u32 type + u64 offset.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

enum class Kind : uint8_t { kUnsigned, kSigned, kFloat, kBool, kString, kArray };

// One row per GgufType id. `wire_bytes` is the exact size of a scalar and the
// minimum size of a string (its length) or an array (its type and count).
struct TypeTraits {
  const char* name;
  uint8_t wire_bytes;
  Kind kind;
};

// nullptr for ids past kF64.
const TypeTraits* FindTypeTraits(uint32_t id);
inline const TypeTraits& Traits(GgufType type) { return *FindTypeTraits(static_cast<uint32_t>(type)); }

// Rounds `n` up to a multiple of `alignment` (a power of two).
inline uint64_t AlignUp(uint64_t n, uint64_t alignment) { return (n + alignment - 1) & ~(alignment - 1); }
inline bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

// Reads little-endian scalars and strings from untrusted bytes. Reads return
// false (and consume nothing) when the bytes run out; the caller names the
// field in the error, so no message is built on the fast path.
class ByteCursor {
 public:
  explicit ByteCursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t size() const { return bytes_.size(); }
  size_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  bool Read(T* out) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  // Little-endian unsigned of 1..8 bytes, zero-extended.
  bool ReadRaw(size_t n_bytes, uint64_t* out) {
    if (remaining() < n_bytes) return false;
    *out = 0;
    std::memcpy(out, bytes_.data() + pos_, n_bytes);
    pos_ += n_bytes;
    return true;
  }
  // The u64 length must fit in what is left; `length` reports it either way.
  bool ReadString(std::string* out, uint64_t* length) {
    size_t start = pos_;
    if (!Read(length)) return false;
    if (*length > remaining()) {
      pos_ = start;
      return false;
    }
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(*length));
    pos_ += static_cast<size_t>(*length);
    return true;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// Parses one value of `type` (already read and checked) at the cursor.
// `where` names the key for error messages ("kv 3 'general.name'"), `file`
// is the file's name; `nested_budget` counts down arrays-of-arrays.
struct ValueReader {
  ByteCursor& cur;
  std::string_view file;
  std::string_view where;
  uint64_t nested_budget = kMaxNestedArrays;

  Status Read(GgufType type, GgufValue* out) { return ReadAt(type, 0, out); }

 private:
  Status ReadAt(GgufType type, int depth, GgufValue* out);
  Status ReadArray(int depth, GgufValue* out);
  Status ReadStringArray(uint64_t count, GgufValue* out);
  Status ReadNumberArray(GgufType elem, uint64_t count, GgufValue* out);
  Status ReadArrayOfArrays(uint64_t count, int depth, GgufValue* out);
  template <typename... Args>
  Status Fail(fmt::format_string<Args...> f, Args&&... args) const;
};

}  // namespace plexus::gguf_internal
