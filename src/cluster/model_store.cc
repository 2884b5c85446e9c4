#include "cluster/model_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace plexus::cluster {
namespace {

namespace fs = std::filesystem;

bool IsHexDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<std::string> Sha256OfFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Errorf("store", "cannot open '{}': {}", path, std::strerror(errno));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<uint8_t> buf(4 << 20);
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
  const int read_errno = errno;
  ::close(fd);
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  if (n < 0) return Status::Errorf("store", "cannot read '{}': {}", path, std::strerror(read_errno));
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string HashKey(const std::string& path, const struct stat& st) {
  return fmt::format("{} {} {}.{:09}", fs::absolute(path).string(), st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

}  // namespace

Result<std::string> HashFile(const std::string& path, const std::string& cache_dir) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::Errorf("store", "cannot stat '{}': {}", path, std::strerror(errno));
  const std::string key = HashKey(path, st);
  const std::string index = cache_dir + "/hashes";
  std::ifstream in(index);
  for (std::string line; std::getline(in, line);) {
    // "<sha256> <key>"
    if (line.size() > 65 && line.compare(65, std::string::npos, key) == 0 && IsHexDigest(line.substr(0, 64)))
      return line.substr(0, 64);
  }
  PLEXUS_ASSIGN_OR_RETURN(std::string digest, Sha256OfFile(path));
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  std::ofstream(index, std::ios::app) << digest << ' ' << key << '\n';  // best effort
  return digest;
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
  if (!IsHexDigest(model.sha256)) return Status::Errorf("store", "model digest '{}' is not a SHA-256", model.sha256);
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
