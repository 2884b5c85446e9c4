// Little-endian encoding of cluster messages. The reader is bounds-checked:
// a short or lying message from a peer gives a Status naming the field.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace plexus::cluster {

class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void I32(int32_t v) { Raw(&v, sizeof v); }
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Str(std::string_view s) {
    U64(s.size());
    Raw(s.data(), s.size());
  }
  void Bytes(std::span<const uint8_t> b) {
    U64(b.size());
    Raw(b.data(), b.size());
  }
  void Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> in, std::string what) : in_(in), what_(std::move(what)) {}

  Status U8(const char* field, uint8_t* v) { return Raw(field, v, sizeof *v); }
  Status U32(const char* field, uint32_t* v) { return Raw(field, v, sizeof *v); }
  Status I32(const char* field, int32_t* v) { return Raw(field, v, sizeof *v); }
  Status U64(const char* field, uint64_t* v) { return Raw(field, v, sizeof *v); }
  Status I64(const char* field, int64_t* v) { return Raw(field, v, sizeof *v); }
  Status F64(const char* field, double* v) { return Raw(field, v, sizeof *v); }
  // Strings and byte blobs: the length is checked against what is left first.
  Status Str(const char* field, std::string* s);
  Status Bytes(const char* field, std::vector<uint8_t>* b);
  // A count of items of at least `min_item_bytes` each, checked against what is left.
  Status Count(const char* field, size_t min_item_bytes, uint64_t* n);
  Status Raw(const char* field, void* p, size_t n);
  // The message must be consumed exactly.
  Status Done() const;
  size_t left() const { return in_.size() - pos_; }

 private:
  Status Short(const char* field, uint64_t need) const;
  std::span<const uint8_t> in_;
  std::string what_;
  size_t pos_ = 0;
};

}  // namespace plexus::cluster
