// GGUF (v2 and v3) reader and writer.
//
// The reader memory-maps the file (or reads a caller's buffer) and checks
// every read against the end of the data: a truncated, oversized or lying file
// gives a Status that names the offending field, never a crash.
// Layout (little endian): "GGUF" u32 version, u64 n_tensors, u64 n_kv,
// n_kv x (string key, u32 type, value), n_tensors x (string name, u32 n_dims,
// u64 ne[n_dims], u32 type, u64 offset), padding to `general.alignment`
// (default 32), then tensor data. Strings are u64 length + bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace plexus {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* GgufTypeName(GgufType type);

// One metadata value. Scalars are widened into `i` (signed ints and bools),
// `u` (unsigned ints), `f` (floats) or `s`. Arrays keep their element type in
// `elem_type` and their items in the matching vector: ints/uints/floats/strings,
// or `items` for arrays of arrays.
struct GgufValue {
  GgufType type = GgufType::kU32;
  GgufType elem_type = GgufType::kU32;  // arrays only
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;     // arrays of i8/i16/i32/i64/bool
  std::vector<uint64_t> uints;   // arrays of u8/u16/u32/u64
  std::vector<double> floats;    // arrays of f32/f64
  std::vector<std::string> strings;
  std::vector<GgufValue> items;  // arrays of arrays

  size_t array_size() const;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ne[0] (innermost, contiguous) first
  DType type = DType::kF32;
  uint64_t offset = 0;   // relative to the start of the data section
  uint64_t n_bytes = 0;  // computed from shape and type
  int64_t n_elements() const;
};

class GgufFile {
 public:
  // Maps and parses a file. Errors start with "[gguf] <path>: ".
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses a buffer the caller keeps alive (fuzzing, tests).
  static Result<std::unique_ptr<GgufFile>> Parse(std::span<const uint8_t> bytes,
                                                 std::string name = "<buffer>");

  uint32_t version() const { return version_; }
  const std::string& name() const { return name_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute offset of the data section
  std::span<const uint8_t> bytes() const { return bytes_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* Find(std::string_view key) const;

  // Typed getters. Errors name the key and the type found. Integer getters
  // accept any integer type whose value fits; float getters accept f32/f64.
  Result<std::string> GetString(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;
  Result<double> GetFloat(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  // Defaults for optional keys (a present key of the wrong type is still an error).
  Result<int64_t> GetInt(std::string_view key, int64_t fallback) const;
  Result<double> GetFloat(std::string_view key, double fallback) const;
  Result<bool> GetBool(std::string_view key, bool fallback) const;
  Result<std::string> GetString(std::string_view key, std::string fallback) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;
  // Pointer to the tensor's first byte (bounds were checked when parsing).
  const uint8_t* TensorData(const GgufTensorInfo& info) const;
  // A 2-D view (rows = product of ne[1..]); ne[0] must fill whole blocks.
  TensorView View(const GgufTensorInfo& info) const;
  // Drops resident pages of the mapping inside [p, p + n) (see
  // MappedFile::DropPages); a no-op for a caller's buffer.
  void DropPages(const uint8_t* p, size_t n) const {
    if (file_) file_->DropPages(p, n);
  }
  void DropPagesAround(const uint8_t* p, size_t n) const {
    if (file_) file_->DropPagesAround(p, n);
  }

 private:
  GgufFile() = default;
  std::unique_ptr<MappedFile> file_;  // null when parsing a caller's buffer
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  friend class GgufParser;
};

// Builds a GGUF v3 file in memory and writes it. Used by `plexus synth`,
// tests and tools. Keys and tensors are written in insertion order.
class GgufWriter {
 public:
  void SetU32(const std::string& key, uint32_t v);
  void SetI32(const std::string& key, int32_t v);
  void SetU64(const std::string& key, uint64_t v);
  void SetF32(const std::string& key, float v);
  void SetBool(const std::string& key, bool v);
  void SetString(const std::string& key, const std::string& v);
  void SetStringArray(const std::string& key, const std::vector<std::string>& v);
  void SetF32Array(const std::string& key, const std::vector<float>& v);
  void SetI32Array(const std::string& key, const std::vector<int32_t>& v);
  // Any value (used to copy metadata through, and by tests to write odd types).
  void SetValue(const std::string& key, const GgufValue& v);

  // `data` must be RowBytes(type, shape[0]) * (product of the other dims) bytes.
  Status AddTensor(const std::string& name, DType type, std::vector<int64_t> shape,
                   std::vector<uint8_t> data);
  // Makes a tensor's bytes when they are written (WriteFile, Serialize), one
  // tensor at a time, so a writer of a model larger than memory holds only
  // the tensor being written. It must return the size the shape and type
  // need; WriteFile fails, naming the tensor, when it does not.
  using TensorProducer = std::function<std::vector<uint8_t>()>;
  Status AddProducedTensor(const std::string& name, DType type, std::vector<int64_t> shape, TensorProducer produce);

  // A non-zero power of two. Written as `general.alignment` (u32) when it is
  // not 32 or the key was set; setting that key as u32 also sets this.
  void set_alignment(uint32_t alignment) { alignment_ = alignment; }
  // The whole file in memory. A producer that returns the wrong size is a
  // programming error here (CHECK); WriteFile reports it as an error.
  std::vector<uint8_t> Serialize() const;
  // Writes the file without building it in memory first.
  Status WriteFile(const std::string& path) const;

 private:
  // Everything before the tensor data, padded to the alignment.
  std::vector<uint8_t> SerializeHeader() const;
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    uint64_t n_bytes = 0;
    std::vector<uint8_t> data;  // or, when empty and produce is set, made on writing
    TensorProducer produce;
  };
  // Tensor t's bytes: its data, or what its producer makes (kept in *made),
  // checked against its size; an error names the tensor.
  Result<std::span<const uint8_t>> BytesOf(const PendingTensor& t, std::vector<uint8_t>* made) const;
  // The byte size that name, type and shape need, or an error naming the tensor.
  Result<uint64_t> CheckNewTensor(const std::string& name, DType type, const std::vector<int64_t>& shape) const;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace plexus
