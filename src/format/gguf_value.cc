// GGUF metadata values: the per-type table, and parsing one value (scalar,
// string or array, arrays nested to a bounded depth) from untrusted bytes.
#include <array>
#include <bit>

#include "format/gguf_internal.h"

namespace plexus {
namespace gguf_internal {
namespace {

// Indexed by GgufType id, which the spec numbers 0..12 without gaps.
constexpr std::array<TypeTraits, 13> kTraits = {{
    {"u8", 1, Kind::kUnsigned},
    {"i8", 1, Kind::kSigned},
    {"u16", 2, Kind::kUnsigned},
    {"i16", 2, Kind::kSigned},
    {"u32", 4, Kind::kUnsigned},
    {"i32", 4, Kind::kSigned},
    {"f32", 4, Kind::kFloat},
    {"bool", 1, Kind::kBool},
    {"string", 8, Kind::kString},
    {"array", 12, Kind::kArray},
    {"u64", 8, Kind::kUnsigned},
    {"i64", 8, Kind::kSigned},
    {"f64", 8, Kind::kFloat},
}};

int64_t SignExtend(uint64_t raw, int n_bytes) {
  int shift = 64 - 8 * n_bytes;
  return static_cast<int64_t>(raw << shift) >> shift;
}

double DecodeFloat(uint64_t raw, int n_bytes) {
  if (n_bytes == 4) return std::bit_cast<float>(static_cast<uint32_t>(raw));
  return std::bit_cast<double>(raw);
}

}  // namespace

const TypeTraits* FindTypeTraits(uint32_t id) { return id < kTraits.size() ? &kTraits[id] : nullptr; }

template <typename... Args>
Status ValueReader::Fail(fmt::format_string<Args...> f, Args&&... args) const {
  return Status::Errorf("gguf", "{}: {}: {}", file, where, fmt::format(f, std::forward<Args>(args)...));
}

Status ValueReader::ReadAt(GgufType type, int depth, GgufValue* out) {
  const TypeTraits& t = Traits(type);
  out->type = type;
  if (t.kind == Kind::kArray) return ReadArray(depth, out);
  if (t.kind == Kind::kString) {
    uint64_t length = 0;
    if (!cur.ReadString(&out->s, &length))
      return Fail("string value (length {}) at offset {} runs past end of file (size {})", length, cur.pos(),
                  cur.size());
    return Status::Ok();
  }
  uint64_t raw = 0;
  if (!cur.ReadRaw(t.wire_bytes, &raw))
    return Fail("{} value truncated at offset {} (file size {})", t.name, cur.pos(), cur.size());
  switch (t.kind) {
    case Kind::kUnsigned: out->u = raw; break;
    case Kind::kSigned: out->i = SignExtend(raw, t.wire_bytes); break;
    case Kind::kFloat: out->f = DecodeFloat(raw, t.wire_bytes); break;
    default:  // kBool: only 0 and 1 are booleans; anything else is corruption.
      if (raw > 1) return Fail("bool value {} is not 0 or 1", raw);
      out->i = static_cast<int64_t>(raw);
  }
  return Status::Ok();
}

Status ValueReader::ReadArray(int depth, GgufValue* out) {
  if (depth >= kMaxArrayDepth) return Fail("arrays nested deeper than {} levels", kMaxArrayDepth);
  uint32_t elem_id = 0;
  uint64_t count = 0;
  if (!cur.Read(&elem_id)) return Fail("array element type truncated at offset {}", cur.pos());
  const TypeTraits* elem = FindTypeTraits(elem_id);
  if (elem == nullptr) return Fail("unknown array element type {}", elem_id);
  if (!cur.Read(&count)) return Fail("array count truncated at offset {}", cur.pos());
  // Every element takes at least wire_bytes, so a count that cannot fit is
  // rejected here, before anything is reserved.
  if (count > cur.remaining() / elem->wire_bytes)
    return Fail("array count {} of {} cannot fit in the remaining {} bytes", count, elem->name, cur.remaining());
  out->elem_type = static_cast<GgufType>(elem_id);
  switch (elem->kind) {
    case Kind::kString: return ReadStringArray(count, out);
    case Kind::kArray: return ReadArrayOfArrays(count, depth, out);
    default: return ReadNumberArray(out->elem_type, count, out);
  }
}

Status ValueReader::ReadStringArray(uint64_t count, GgufValue* out) {
  out->strings.resize(count);
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t length = 0;
    if (!cur.ReadString(&out->strings[k], &length))
      return Fail("array element {} (string, length {}) at offset {} runs past end of file (size {})", k, length,
                  cur.pos(), cur.size());
  }
  return Status::Ok();
}

Status ValueReader::ReadNumberArray(GgufType elem, uint64_t count, GgufValue* out) {
  const TypeTraits& t = Traits(elem);
  if (t.kind == Kind::kUnsigned) out->uints.reserve(count);
  if (t.kind == Kind::kFloat) out->floats.reserve(count);
  if (t.kind == Kind::kSigned || t.kind == Kind::kBool) out->ints.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t raw = 0;
    if (!cur.ReadRaw(t.wire_bytes, &raw)) return Fail("array element {} truncated at offset {}", k, cur.pos());
    switch (t.kind) {
      case Kind::kUnsigned: out->uints.push_back(raw); break;
      case Kind::kSigned: out->ints.push_back(SignExtend(raw, t.wire_bytes)); break;
      case Kind::kFloat: out->floats.push_back(DecodeFloat(raw, t.wire_bytes)); break;
      default:
        if (raw > 1) return Fail("array element {}: bool value {} is not 0 or 1", k, raw);
        out->ints.push_back(static_cast<int64_t>(raw));
    }
  }
  return Status::Ok();
}

Status ValueReader::ReadArrayOfArrays(uint64_t count, int depth, GgufValue* out) {
  if (count > nested_budget)
    return Fail("{} nested arrays exceed the limit of {} per file", count, kMaxNestedArrays);
  nested_budget -= count;
  out->items.resize(count);
  for (uint64_t k = 0; k < count; ++k) {
    out->items[k].type = GgufType::kArray;
    PLEXUS_RETURN_IF_ERROR(ReadArray(depth + 1, &out->items[k]));
  }
  return Status::Ok();
}

}  // namespace gguf_internal

const char* GgufTypeName(GgufType type) {
  const gguf_internal::TypeTraits* t = gguf_internal::FindTypeTraits(static_cast<uint32_t>(type));
  return t != nullptr ? t->name : "unknown";
}

size_t GgufValue::array_size() const {
  if (type != GgufType::kArray) return 0;
  const gguf_internal::TypeTraits* t = gguf_internal::FindTypeTraits(static_cast<uint32_t>(elem_type));
  if (t == nullptr) return 0;
  switch (t->kind) {
    case gguf_internal::Kind::kUnsigned: return uints.size();
    case gguf_internal::Kind::kSigned:
    case gguf_internal::Kind::kBool: return ints.size();
    case gguf_internal::Kind::kFloat: return floats.size();
    case gguf_internal::Kind::kString: return strings.size();
    case gguf_internal::Kind::kArray: return items.size();
  }
  return 0;
}

int64_t GgufTensorInfo::n_elements() const {
  // The reader rejects shapes whose product overflows, so this cannot wrap
  // for parsed tensors.
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace plexus
