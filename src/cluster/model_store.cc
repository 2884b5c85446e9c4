#include "cluster/model_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/sha256.h"

namespace plexus::cluster {
namespace {

namespace fs = std::filesystem;

}  // namespace

Result<std::string> HashFile(const std::string& path, const std::string& cache_dir) {
  return MemoizedSha256(path, cache_dir);
}

std::string ModelStore::CachePath(const ModelIdentity& model) const {
  return cache_dir_ + "/shards/" + model.sha256 + ".gguf";
}

Result<std::vector<ByteRange>> ModelStore::ReadPresent(const ModelIdentity& model) const {
  std::vector<ByteRange> present;
  std::ifstream in(CachePath(model) + ".ranges");
  uint64_t begin = 0, end = 0;
  while (in >> begin >> end) {
    if (end < begin || end > model.size)
      return Status::Errorf("store", "{}.ranges: range [{}, {}) is invalid", CachePath(model), begin, end);
    present.push_back({begin, end});
  }
  return MergeRanges(std::move(present));
}

Result<ModelStore::Located> ModelStore::Locate(const ModelIdentity& model, std::span<const uint8_t> header) {
  if (!IsSha256Hex(model.sha256)) return Status::Errorf("store", "model digest '{}' is not a SHA-256", model.sha256);
  for (const std::string& path : local_files_) {
    std::error_code ec;
    if (fs::file_size(path, ec) != model.size || ec) continue;
    auto digest = HashFile(path, cache_dir_);
    if (digest.ok() && *digest == model.sha256) return Located{path, true, {}};
  }
  const std::string path = CachePath(model);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Status::Errorf("store", "cannot create '{}': {}", fs::path(path).parent_path().string(), ec.message());
  const bool fresh = !fs::exists(path);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Errorf("store", "cannot open '{}': {}", path, std::strerror(errno));
  // Full size, but sparse: only what is written takes disk space.
  bool ok = ::ftruncate(fd, static_cast<off_t>(model.size)) == 0;
  ok = ok && ::pwrite(fd, header.data(), header.size(), 0) == static_cast<ssize_t>(header.size());
  ::close(fd);
  if (!ok) return Status::Errorf("store", "cannot write '{}': {}", path, std::strerror(errno));
  if (fresh) std::remove((path + ".ranges").c_str());
  PLEXUS_ASSIGN_OR_RETURN(std::vector<ByteRange> present, ReadPresent(model));
  present.push_back({0, header.size()});
  return Located{path, false, MergeRanges(std::move(present))};
}

Status ModelStore::Write(const ModelIdentity& model, uint64_t offset, std::span<const uint8_t> bytes) {
  if (offset > model.size || bytes.size() > model.size - offset)
    return Status::Errorf("store", "range at {} of {} bytes lies outside the model ({} bytes)", offset, bytes.size(),
                          model.size);
  const std::string path = CachePath(model);
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::Errorf("store", "cannot open '{}': {}", path, std::strerror(errno));
  const bool ok = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) ==
                  static_cast<ssize_t>(bytes.size());
  const int err = errno;
  ::close(fd);
  if (!ok) return Status::Errorf("store", "cannot write '{}': {}", path, std::strerror(err));
  return Status::Ok();
}

Status ModelStore::Commit(const ModelIdentity& model, const std::vector<ByteRange>& ranges) {
  std::ofstream out(CachePath(model) + ".ranges", std::ios::app);
  for (const ByteRange& r : ranges) out << r.begin << ' ' << r.end << '\n';
  out.flush();
  if (!out) return Status::Errorf("store", "cannot record ranges in '{}.ranges'", CachePath(model));
  return Status::Ok();
}

std::vector<ByteRange> SubtractRanges(const std::vector<ByteRange>& needed, const std::vector<ByteRange>& present) {
  std::vector<ByteRange> out;
  size_t p = 0;
  for (ByteRange r : needed) {
    while (p < present.size() && present[p].end <= r.begin) ++p;
    for (size_t q = p; q < present.size() && present[q].begin < r.end; ++q) {
      if (present[q].begin > r.begin) out.push_back({r.begin, present[q].begin});
      r.begin = std::max(r.begin, present[q].end);
      if (r.begin >= r.end) break;
    }
    if (r.begin < r.end) out.push_back(r);
  }
  return out;
}

}  // namespace plexus::cluster
