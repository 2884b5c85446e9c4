// GgufWriter: builds a GGUF v3 file in memory. The layout matches what the
// reader expects byte for byte, so Parse(Serialize()) copied back through a
// writer reproduces the same bytes.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "format/gguf_internal.h"

namespace plexus {
namespace {

using gguf_internal::Kind;
using gguf_internal::Traits;

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>* out) : out_(out) {}

  // The low `n_bytes` bytes of `raw`, little endian.
  void Raw(uint64_t raw, size_t n_bytes) {
    Bytes(&raw, n_bytes);  // the host is little endian (checked in gguf_internal.h)
  }
  // resize + memcpy rather than vector::insert, which trips a GCC 12
  // -Wstringop-overflow false positive.
  void Bytes(const void* data, size_t n_bytes) {
    size_t at = out_->size();
    out_->resize(at + n_bytes);
    if (n_bytes > 0) std::memcpy(out_->data() + at, data, n_bytes);
  }
  void U32(uint32_t v) { Raw(v, 4); }
  void U64(uint64_t v) { Raw(v, 8); }
  void String(const std::string& s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
  void PadTo(uint64_t alignment) { out_->resize(gguf_internal::AlignUp(out_->size(), alignment), 0); }

  void Scalar(GgufType type, int64_t i, uint64_t u, double f);
  void Value(const GgufValue& v);
  void Array(const GgufValue& v);

 private:
  std::vector<uint8_t>* out_;
};

void ByteSink::Scalar(GgufType type, int64_t i, uint64_t u, double f) {
  const gguf_internal::TypeTraits& t = Traits(type);
  switch (t.kind) {
    case Kind::kUnsigned: Raw(u, t.wire_bytes); break;
    case Kind::kSigned: Raw(static_cast<uint64_t>(i), t.wire_bytes); break;
    case Kind::kBool: Raw(i != 0 ? 1 : 0, 1); break;
    case Kind::kFloat:
      if (t.wire_bytes == 4) Raw(std::bit_cast<uint32_t>(static_cast<float>(f)), 4);
      else Raw(std::bit_cast<uint64_t>(f), 8);
      break;
    default: PLEXUS_CHECK(false, "{} is not a scalar type", t.name);
  }
}

void ByteSink::Value(const GgufValue& v) {
  if (v.type == GgufType::kString) return String(v.s);
  if (v.type == GgufType::kArray) return Array(v);
  Scalar(v.type, v.i, v.u, v.f);
}

void ByteSink::Array(const GgufValue& v) {
  const gguf_internal::TypeTraits* elem = gguf_internal::FindTypeTraits(static_cast<uint32_t>(v.elem_type));
  PLEXUS_CHECK(elem != nullptr, "array element type {} is not a GGUF type", static_cast<uint32_t>(v.elem_type));
  U32(static_cast<uint32_t>(v.elem_type));
  U64(v.array_size());
  switch (elem->kind) {
    case Kind::kUnsigned: for (uint64_t u : v.uints) Scalar(v.elem_type, 0, u, 0); break;
    case Kind::kSigned:
    case Kind::kBool: for (int64_t i : v.ints) Scalar(v.elem_type, i, 0, 0); break;
    case Kind::kFloat: for (double f : v.floats) Scalar(v.elem_type, 0, 0, f); break;
    case Kind::kString: for (const std::string& s : v.strings) String(s); break;
    case Kind::kArray: for (const GgufValue& item : v.items) Array(item); break;
  }
}

GgufValue Scalar(GgufType type) {
  GgufValue v;
  v.type = type;
  return v;
}

GgufValue ArrayOf(GgufType elem) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.elem_type = elem;
  return v;
}

}  // namespace

void GgufWriter::SetValue(const std::string& key, const GgufValue& v) {
  // Setting the alignment key sets the layout too, so a file copied through
  // keeps its alignment; set_alignment() afterwards still wins.
  if (key == gguf_internal::kAlignmentKey && v.type == GgufType::kU32) alignment_ = static_cast<uint32_t>(v.u);
  for (auto& [k, existing] : kv_) {
    if (k == key) {  // replacing keeps the first position (and no duplicate keys)
      existing = v;
      return;
    }
  }
  kv_.emplace_back(key, v);
}

void GgufWriter::SetU32(const std::string& key, uint32_t v) {
  GgufValue val = Scalar(GgufType::kU32);
  val.u = v;
  SetValue(key, val);
}

void GgufWriter::SetI32(const std::string& key, int32_t v) {
  GgufValue val = Scalar(GgufType::kI32);
  val.i = v;
  SetValue(key, val);
}

void GgufWriter::SetU64(const std::string& key, uint64_t v) {
  GgufValue val = Scalar(GgufType::kU64);
  val.u = v;
  SetValue(key, val);
}

void GgufWriter::SetF32(const std::string& key, float v) {
  GgufValue val = Scalar(GgufType::kF32);
  val.f = v;
  SetValue(key, val);
}

void GgufWriter::SetBool(const std::string& key, bool v) {
  GgufValue val = Scalar(GgufType::kBool);
  val.i = v ? 1 : 0;
  SetValue(key, val);
}

void GgufWriter::SetString(const std::string& key, const std::string& v) {
  GgufValue val = Scalar(GgufType::kString);
  val.s = v;
  SetValue(key, val);
}

void GgufWriter::SetStringArray(const std::string& key, const std::vector<std::string>& v) {
  GgufValue val = ArrayOf(GgufType::kString);
  val.strings = v;
  SetValue(key, val);
}

void GgufWriter::SetF32Array(const std::string& key, const std::vector<float>& v) {
  GgufValue val = ArrayOf(GgufType::kF32);
  val.floats.assign(v.begin(), v.end());
  SetValue(key, val);
}

void GgufWriter::SetI32Array(const std::string& key, const std::vector<int32_t>& v) {
  GgufValue val = ArrayOf(GgufType::kI32);
  val.ints.assign(v.begin(), v.end());
  SetValue(key, val);
}

Result<uint64_t> GgufWriter::CheckNewTensor(const std::string& name, DType type,
                                              const std::vector<int64_t>& shape) const {
  auto fail = [&](std::string what) { return Status::Errorf("gguf", "writer: tensor '{}': {}", name, what); };
  if (name.empty() || name.size() > gguf_internal::kMaxNameBytes) return fail("name must be 1..65535 bytes");
  for (const PendingTensor& t : tensors_)
    if (t.name == name) return fail("duplicate tensor name");
  const DTypeInfo* info = FindDType(static_cast<uint32_t>(type));
  if (info == nullptr) return fail(fmt::format("unknown type id {}", static_cast<uint32_t>(type)));
  if (shape.empty() || shape.size() > gguf_internal::kMaxDims) return fail(fmt::format("{} dims (1..4)", shape.size()));
  uint64_t n_bytes = 1;
  bool overflow = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] <= 0) return fail(fmt::format("ne[{}] = {} must be positive", d, shape[d]));
    // ne[0] counts elements, the rest count rows: bytes = blocks(ne0) * block_bytes * ne1 * ...
    uint64_t factor = d == 0 ? static_cast<uint64_t>(shape[0] / info->block_size) : static_cast<uint64_t>(shape[d]);
    overflow |= __builtin_mul_overflow(n_bytes, factor, &n_bytes);
    if (d == 0) overflow |= __builtin_mul_overflow(n_bytes, static_cast<uint64_t>(info->block_bytes), &n_bytes);
  }
  if (shape[0] % info->block_size != 0)
    return fail(fmt::format("ne[0] = {} is not a multiple of the {} block size {}", shape[0], info->name,
                            info->block_size));
  if (overflow) return fail("its byte size overflows 64 bits");
  return n_bytes;
}

Status GgufWriter::AddTensor(const std::string& name, DType type, std::vector<int64_t> shape,
                             std::vector<uint8_t> data) {
  PLEXUS_ASSIGN_OR_RETURN(uint64_t n_bytes, CheckNewTensor(name, type, shape));
  if (n_bytes != data.size())
    return Status::Errorf("gguf", "writer: tensor '{}': data is {} bytes, shape and type need {}", name, data.size(),
                          n_bytes);
  tensors_.push_back({name, type, std::move(shape), n_bytes, std::move(data), nullptr});
  return Status::Ok();
}

Status GgufWriter::AddProducedTensor(const std::string& name, DType type, std::vector<int64_t> shape,
                                     TensorProducer produce) {
  PLEXUS_ASSIGN_OR_RETURN(uint64_t n_bytes, CheckNewTensor(name, type, shape));
  if (!produce) return Status::Errorf("gguf", "writer: tensor '{}': no producer", name);
  tensors_.push_back({name, type, std::move(shape), n_bytes, {}, std::move(produce)});
  return Status::Ok();
}

Result<std::span<const uint8_t>> GgufWriter::BytesOf(const PendingTensor& t, std::vector<uint8_t>* made) const {
  if (!t.produce) return std::span<const uint8_t>(t.data);
  *made = t.produce();
  if (made->size() != t.n_bytes)
    return Status::Errorf("gguf", "writer: tensor '{}': its producer made {} bytes, shape and type need {}", t.name,
                          made->size(), t.n_bytes);
  return std::span<const uint8_t>(*made);
}

std::vector<uint8_t> GgufWriter::SerializeHeader() const {
  PLEXUS_CHECK(gguf_internal::IsPowerOfTwo(alignment_), "alignment {} is not a non-zero power of two", alignment_);
  bool has_alignment_key = false;
  for (const auto& kv : kv_) has_alignment_key |= kv.first == gguf_internal::kAlignmentKey;
  bool add_alignment_key = !has_alignment_key && alignment_ != gguf_internal::kDefaultAlignment;

  std::vector<uint8_t> out;
  ByteSink sink(&out);
  sink.Bytes(gguf_internal::kMagic, 4);
  sink.U32(gguf_internal::kWriteVersion);
  sink.U64(tensors_.size());
  sink.U64(kv_.size() + (add_alignment_key ? 1 : 0));
  for (const auto& [key, value] : kv_) {
    sink.String(key);
    sink.U32(static_cast<uint32_t>(value.type));
    // The written alignment must be the one the layout uses (a non-u32 one is
    // written as given: tests use it to make files the reader rejects).
    bool is_alignment = key == gguf_internal::kAlignmentKey && value.type == GgufType::kU32;
    if (is_alignment) sink.U32(alignment_);
    else sink.Value(value);
  }
  if (add_alignment_key) {
    sink.String(gguf_internal::kAlignmentKey);
    sink.U32(static_cast<uint32_t>(GgufType::kU32));
    sink.U32(alignment_);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    sink.String(t.name);
    sink.U32(static_cast<uint32_t>(t.shape.size()));
    for (int64_t ne : t.shape) sink.U64(static_cast<uint64_t>(ne));
    sink.U32(static_cast<uint32_t>(t.type));
    sink.U64(offset);
    offset = gguf_internal::AlignUp(offset + t.n_bytes, alignment_);
  }
  sink.PadTo(alignment_);
  return out;
}

std::vector<uint8_t> GgufWriter::Serialize() const {
  std::vector<uint8_t> out = SerializeHeader();
  ByteSink sink(&out);
  for (const PendingTensor& t : tensors_) {
    std::vector<uint8_t> made;
    Result<std::span<const uint8_t>> bytes = BytesOf(t, &made);
    PLEXUS_CHECK(bytes.ok(), "{}", bytes.status().message());
    sink.Bytes(bytes->data(), bytes->size());
    sink.PadTo(alignment_);
  }
  return out;
}

// Streams the header and then each tensor straight to the file, so writing
// needs no second copy of the model in memory.
Status GgufWriter::WriteFile(const std::string& path) const {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::Errorf("gguf", "cannot create '{}': {}", path, std::strerror(errno));
  const std::vector<uint8_t> header = SerializeHeader();
  static const uint8_t kZeros[256] = {};
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  uint64_t offset = header.size();
  for (const PendingTensor& t : tensors_) {
    if (!ok) break;
    std::vector<uint8_t> made;
    Result<std::span<const uint8_t>> bytes = BytesOf(t, &made);
    if (!bytes.ok()) {
      std::fclose(f);
      std::remove(path.c_str());  // a file with a hole where a tensor should be is worse than none
      return bytes.status();
    }
    ok = std::fwrite(bytes->data(), 1, bytes->size(), f) == bytes->size();
    offset += bytes->size();
    const uint64_t pad = gguf_internal::AlignUp(offset, alignment_) - offset;
    for (uint64_t left = pad; ok && left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, sizeof(kZeros)));
      ok = std::fwrite(kZeros, 1, n, f) == n;
      left -= n;
    }
    offset += pad;
  }
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed)
    return Status::Errorf("gguf", "cannot write '{}': {}", path, std::strerror(ok ? errno : write_errno));
  return Status::Ok();
}

}  // namespace plexus
