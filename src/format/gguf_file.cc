// GgufFile accessors: metadata lookups with typed getters, and tensor data.
// Parsing (and every bounds check these accessors rely on) is in gguf_reader.cc.
#include <limits>

#include "format/gguf_internal.h"

namespace plexus {
namespace {

using gguf_internal::Kind;

Kind KindOf(GgufType type) { return gguf_internal::Traits(type).kind; }

std::string TypeText(const GgufValue& v) {
  if (v.type != GgufType::kArray) return GgufTypeName(v.type);
  return fmt::format("array of {}", GgufTypeName(v.elem_type));
}

bool IsString(GgufType t) { return t == GgufType::kString; }
bool IsInteger(GgufType t) { return KindOf(t) == Kind::kSigned || KindOf(t) == Kind::kUnsigned; }
bool IsFloat(GgufType t) { return KindOf(t) == Kind::kFloat; }
bool IsBool(GgufType t) { return t == GgufType::kBool; }

// Finds `key` and checks its type; the error names the key, the type found
// and the type wanted.
Result<const GgufValue*> Lookup(const GgufFile& file, std::string_view key, bool (*accepts)(GgufType),
                                const char* wanted) {
  const GgufValue* v = file.Find(key);
  if (v == nullptr) return Status::Errorf("gguf", "{}: key '{}' not found", file.name(), key);
  if (!accepts(v->type))
    return Status::Errorf("gguf", "{}: key '{}' has type {}, expected {}", file.name(), key, TypeText(*v), wanted);
  return v;
}

}  // namespace

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

Result<std::string> GgufFile::GetString(std::string_view key) const {
  PLEXUS_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key, IsString, "string"));
  return v->s;
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  PLEXUS_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key, IsInteger, "an integer"));
  if (KindOf(v->type) == Kind::kSigned) return v->i;
  if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return Status::Errorf("gguf", "{}: key '{}' = {} ({}) does not fit in int64", name_, key, v->u,
                          GgufTypeName(v->type));
  return static_cast<int64_t>(v->u);
}

Result<double> GgufFile::GetFloat(std::string_view key) const {
  PLEXUS_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key, IsFloat, "f32 or f64"));
  return v->f;
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  PLEXUS_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(*this, key, IsBool, "bool"));
  return v->i != 0;
}

Result<int64_t> GgufFile::GetInt(std::string_view key, int64_t fallback) const {
  return Find(key) == nullptr ? Result<int64_t>(fallback) : GetInt(key);
}

Result<double> GgufFile::GetFloat(std::string_view key, double fallback) const {
  return Find(key) == nullptr ? Result<double>(fallback) : GetFloat(key);
}

Result<bool> GgufFile::GetBool(std::string_view key, bool fallback) const {
  return Find(key) == nullptr ? Result<bool>(fallback) : GetBool(key);
}

Result<std::string> GgufFile::GetString(std::string_view key, std::string fallback) const {
  return Find(key) == nullptr ? Result<std::string>(std::move(fallback)) : GetString(key);
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t* GgufFile::TensorData(const GgufTensorInfo& info) const {
  // The parser proved this for its own tensors; an info from another file is
  // a programmer error, caught here rather than read out of bounds.
  PLEXUS_CHECK(data_offset_ <= bytes_.size() && info.offset <= bytes_.size() - data_offset_ &&
                   info.n_bytes <= bytes_.size() - data_offset_ - info.offset,
               "tensor '{}' is not inside {}", info.name, name_);
  return bytes_.data() + data_offset_ + info.offset;
}

TensorView GgufFile::View(const GgufTensorInfo& info) const {
  TensorView view;
  view.type = info.type;
  view.cols = info.shape.empty() ? 0 : info.shape[0];
  view.rows = 1;
  for (size_t d = 1; d < info.shape.size(); ++d) view.rows *= info.shape[d];
  view.data = TensorData(info);
  view.row_bytes = RowBytes(info.type, view.cols);
  return view;
}

}  // namespace plexus
