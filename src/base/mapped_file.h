// A read-only memory map of a whole file. The mapping lives as long as the object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace plexus {

class MappedFile {
 public:
  // Maps `path` read-only. Errors name the path and the system error.
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Lets the kernel drop the resident pages inside [p, p + n) (whole pages
  // only): for bytes already copied elsewhere, so they stop counting in this
  // process's memory. Reading them again faults them back in from the file.
  void DropPages(const uint8_t* p, size_t n) const;
  // As DropPages, but every page holding a byte of [p, p + n), partial pages
  // included, for when the bytes around the range are not in use either (a
  // shard being streamed out): a range shorter than a page, such as one
  // row's column slice, is dropped too. The mapping is read-only, so a
  // dropped page that is read again is faulted back in, unchanged.
  void DropPagesAround(const uint8_t* p, size_t n) const;

 private:
  void DropPageRange(const uint8_t* p, size_t n, bool partial_pages) const;
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace plexus
