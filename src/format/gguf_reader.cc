// Parsing a GGUF file: header, metadata, tensor table, then the layout checks
// (alignment, bounds, overlaps) that let TensorData() trust the table.
// Every read is bounds-checked and every count is checked against the bytes
// left before anything is allocated.
#include <algorithm>
#include <limits>

#include <fmt/ranges.h>

#include "format/gguf_internal.h"

namespace plexus {

using gguf_internal::ByteCursor;

namespace {

// a + b + c for an error message, which must not wrap when a lying file
// gives offsets near 2^64.
std::string SumText(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum) || __builtin_add_overflow(sum, c, &sum)) return "2^64 or more";
  return std::to_string(sum);
}

}  // namespace

class GgufParser {
 public:
  explicit GgufParser(GgufFile* file) : f_(file), cur_(file->bytes_) {}

  Status Parse() {
    uint64_t n_tensors = 0, n_kv = 0;
    PLEXUS_RETURN_IF_ERROR(ParseHeader(&n_tensors, &n_kv));
    PLEXUS_RETURN_IF_ERROR(ParseMetadata(n_kv));
    PLEXUS_RETURN_IF_ERROR(ParseAlignment());
    PLEXUS_RETURN_IF_ERROR(ParseTensorTable(n_tensors));
    return CheckLayout();
  }

 private:
  template <typename... Args>
  Status Fail(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::Errorf("gguf", "{}: {}", f_->name_, fmt::format(f, std::forward<Args>(args)...));
  }
  Status Truncated(std::string_view field) const {
    return Fail("{} truncated at offset {} (file size {})", field, cur_.pos(), cur_.size());
  }

  Status ParseHeader(uint64_t* n_tensors, uint64_t* n_kv);
  Status ParseMetadata(uint64_t n_kv);
  Status ParseAlignment();
  Status ParseTensorTable(uint64_t n_tensors);
  Status ParseTensorInfo(uint64_t index, GgufTensorInfo* info);
  Status ParseShape(std::string_view where, GgufTensorInfo* info);
  Status ComputeSize(std::string_view where, const DTypeInfo& type, GgufTensorInfo* info);
  Status CheckLayout();

  GgufFile* f_;
  ByteCursor cur_;
};

Status GgufParser::ParseHeader(uint64_t* n_tensors, uint64_t* n_kv) {
  uint8_t magic[4] = {};
  if (!cur_.Read(&magic)) return Truncated("magic");
  if (std::memcmp(magic, gguf_internal::kMagic, 4) != 0)
    return Fail("bad magic {:02x} {:02x} {:02x} {:02x} (expected \"GGUF\")", magic[0], magic[1], magic[2], magic[3]);
  uint32_t version = 0;
  if (!cur_.Read(&version)) return Truncated("version");
  if (version == 0x02000000u || version == 0x03000000u)
    return Fail("version {} looks byte-swapped: big-endian GGUF is not supported", version);
  if (version != 2 && version != 3) return Fail("version {} is not supported (only 2 and 3)", version);
  f_->version_ = version;
  if (!cur_.Read(n_tensors)) return Truncated("n_tensors");
  if (!cur_.Read(n_kv)) return Truncated("n_kv");
  // Cheap early rejection of absurd counts; both are checked again, exactly,
  // just before their tables are allocated.
  if (*n_kv > cur_.remaining() / gguf_internal::kMinKvBytes)
    return Fail("n_kv {} cannot fit in the remaining {} bytes", *n_kv, cur_.remaining());
  if (*n_tensors > cur_.remaining() / gguf_internal::kMinTensorInfoBytes)
    return Fail("n_tensors {} cannot fit in the remaining {} bytes", *n_tensors, cur_.remaining());
  return Status::Ok();
}

Status GgufParser::ParseMetadata(uint64_t n_kv) {
  f_->kv_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    uint64_t length = 0;
    if (!cur_.ReadString(&key, &length))
      return Fail("kv {} key (length {}) at offset {} runs past end of file (size {})", k, length, cur_.pos(),
                  cur_.size());
    if (key.empty()) return Fail("kv {} has an empty key", k);
    if (length > gguf_internal::kMaxNameBytes) return Fail("kv {} key is {} bytes long (max 65535)", k, length);
    std::string where = fmt::format("kv {} '{}'", k, key);
    uint32_t type_id = 0;
    if (!cur_.Read(&type_id)) return Truncated(where + " value type");
    if (gguf_internal::FindTypeTraits(type_id) == nullptr) return Fail("{}: unknown value type {}", where, type_id);
    auto [it, inserted] = f_->kv_index_.try_emplace(key, f_->kv_.size());
    if (!inserted) return Fail("{}: duplicate key (first seen as kv {})", where, it->second);
    GgufValue value;
    gguf_internal::ValueReader reader{cur_, f_->name_, where};
    PLEXUS_RETURN_IF_ERROR(reader.Read(static_cast<GgufType>(type_id), &value));
    f_->kv_.emplace_back(std::move(key), std::move(value));
  }
  return Status::Ok();
}

Status GgufParser::ParseAlignment() {
  const GgufValue* v = f_->Find(gguf_internal::kAlignmentKey);
  if (v == nullptr) return Status::Ok();
  if (v->type != GgufType::kU32)
    return Fail("{} has type {}, expected u32", gguf_internal::kAlignmentKey, GgufTypeName(v->type));
  if (!gguf_internal::IsPowerOfTwo(v->u))
    return Fail("{} = {} is not a non-zero power of two", gguf_internal::kAlignmentKey, v->u);
  f_->alignment_ = v->u;
  return Status::Ok();
}

Status GgufParser::ParseTensorTable(uint64_t n_tensors) {
  if (n_tensors > cur_.remaining() / gguf_internal::kMinTensorInfoBytes)
    return Fail("n_tensors {} cannot fit in the remaining {} bytes after the metadata", n_tensors, cur_.remaining());
  f_->tensors_.resize(n_tensors);
  for (uint64_t t = 0; t < n_tensors; ++t) {
    GgufTensorInfo& info = f_->tensors_[t];
    PLEXUS_RETURN_IF_ERROR(ParseTensorInfo(t, &info));
    auto [it, inserted] = f_->tensor_index_.try_emplace(info.name, t);
    if (!inserted) return Fail("tensor {} '{}': duplicate tensor name (first seen as tensor {})", t, info.name, it->second);
  }
  return Status::Ok();
}

Status GgufParser::ParseTensorInfo(uint64_t index, GgufTensorInfo* info) {
  uint64_t length = 0;
  if (!cur_.ReadString(&info->name, &length))
    return Fail("tensor {} name (length {}) at offset {} runs past end of file (size {})", index, length, cur_.pos(),
                cur_.size());
  if (length > gguf_internal::kMaxNameBytes)
    return Fail("tensor {} name is {} bytes long (max 65535)", index, length);
  std::string where = fmt::format("tensor {} '{}'", index, info->name);
  PLEXUS_RETURN_IF_ERROR(ParseShape(where, info));
  uint32_t type_id = 0;
  if (!cur_.Read(&type_id)) return Truncated(where + " type");
  const DTypeInfo* type = FindDType(type_id);
  if (type == nullptr) return Fail("{}: unknown or unsupported ggml type id {}", where, type_id);
  info->type = type->type;
  if (!cur_.Read(&info->offset)) return Truncated(where + " offset");
  return ComputeSize(where, *type, info);
}

Status GgufParser::ParseShape(std::string_view where, GgufTensorInfo* info) {
  uint32_t n_dims = 0;
  if (!cur_.Read(&n_dims)) return Truncated(fmt::format("{} n_dims", where));
  if (n_dims == 0 || n_dims > gguf_internal::kMaxDims)
    return Fail("{}: n_dims {} is out of range (1..{})", where, n_dims, gguf_internal::kMaxDims);
  info->shape.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    if (!cur_.Read(&ne)) return Truncated(fmt::format("{} ne[{}]", where, d));
    if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Fail("{}: ne[{}] = {} is out of range (must be positive and fit in int64)", where, d, ne);
    info->shape[d] = static_cast<int64_t>(ne);
  }
  return Status::Ok();
}

Status GgufParser::ComputeSize(std::string_view where, const DTypeInfo& type, GgufTensorInfo* info) {
  int64_t ne0 = info->shape[0];
  if (ne0 % type.block_size != 0)
    return Fail("{}: ne[0] = {} is not a multiple of the {} block size {}", where, ne0, type.name, type.block_size);
  int64_t n_elements = 1;
  uint64_t n_bytes = static_cast<uint64_t>(ne0 / type.block_size);
  bool overflow = __builtin_mul_overflow(n_bytes, static_cast<uint64_t>(type.block_bytes), &n_bytes);
  for (size_t d = 0; d < info->shape.size(); ++d) {
    overflow |= __builtin_mul_overflow(n_elements, info->shape[d], &n_elements);
    if (d > 0) overflow |= __builtin_mul_overflow(n_bytes, static_cast<uint64_t>(info->shape[d]), &n_bytes);
  }
  if (overflow) return Fail("{}: shape {} overflows the element or byte count", where, fmt::join(info->shape, "x"));
  info->n_bytes = n_bytes;
  return Status::Ok();
}

Status GgufParser::CheckLayout() {
  uint64_t file_size = cur_.size();
  f_->data_offset_ = gguf_internal::AlignUp(cur_.pos(), f_->alignment_);
  if (f_->tensors_.empty()) {
    // Vocab-only files often end without the padding; clamp so that
    // bytes().subspan(data_offset()) stays valid.
    f_->data_offset_ = std::min(f_->data_offset_, file_size);
    return Status::Ok();
  }
  if (f_->data_offset_ > file_size)
    return Fail("data section at offset {} (after alignment to {}) starts past end of file (size {})",
                f_->data_offset_, f_->alignment_, file_size);
  uint64_t data_bytes = file_size - f_->data_offset_;
  std::vector<size_t> order(f_->tensors_.size());
  for (size_t t = 0; t < order.size(); ++t) {
    order[t] = t;
    const GgufTensorInfo& info = f_->tensors_[t];
    if (info.offset % f_->alignment_ != 0)
      return Fail("tensor {} '{}': offset {} is not a multiple of the alignment {}", t, info.name, info.offset,
                  f_->alignment_);
    if (info.offset > data_bytes || info.n_bytes > data_bytes - info.offset)
      return Fail("tensor {} '{}': data [{}, {}) extends past end of file (size {})", t, info.name,
                  SumText(f_->data_offset_, info.offset, 0), SumText(f_->data_offset_, info.offset, info.n_bytes),
                  file_size);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return f_->tensors_[a].offset < f_->tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& prev = f_->tensors_[order[k - 1]];
    const GgufTensorInfo& next = f_->tensors_[order[k]];
    if (prev.offset + prev.n_bytes > next.offset)
      return Fail("tensor {} '{}': data [{}, {}) overlaps tensor {} '{}' starting at {} (offsets relative to the data "
                  "section)", order[k - 1], prev.name, prev.offset, prev.offset + prev.n_bytes, order[k], next.name,
                  next.offset);
  }
  return Status::Ok();
}

Result<std::unique_ptr<GgufFile>> GgufFile::Parse(std::span<const uint8_t> bytes, std::string name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->bytes_ = bytes;
  file->name_ = std::move(name);
  GgufParser parser(file.get());
  PLEXUS_RETURN_IF_ERROR(parser.Parse());
  return file;
}

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  auto mapped = MappedFile::Open(path);
  if (!mapped.ok()) return Status::Errorf("gguf", "{}: {}", path, mapped.status().message());
  std::unique_ptr<MappedFile> map = std::move(mapped).value();
  std::span<const uint8_t> bytes(map->data(), map->size());
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, Parse(bytes, path));
  file->file_ = std::move(map);
  return file;
}

}  // namespace plexus
