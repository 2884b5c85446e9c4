#include "base/sha256.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include <fmt/format.h>

namespace plexus {
namespace {

namespace fs = std::filesystem;

// "<absolute path> <size> <sec>.<nsec>": changes when the file does.
Result<std::string> MemoKey(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::Errorf("sha256", "cannot stat '{}': {}", path, std::strerror(errno));
  return fmt::format("{} {} {}.{:09}", fs::absolute(path).string(), st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

}  // namespace

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<std::string> Sha256File(const std::string& path, const HashProgressFn& progress) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Errorf("sha256", "cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  const uint64_t total = static_cast<uint64_t>(st.st_size);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<uint8_t> buf(4 << 20);
  uint64_t done = 0;
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
    if (progress) progress(done, total);
  }
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) return Status::Errorf("sha256", "cannot read '{}': {}", path, std::strerror(read_errno));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

Result<std::string> MemoizedSha256(const std::string& path, const std::string& cache_dir,
                                   const HashProgressFn& progress) {
  PLEXUS_ASSIGN_OR_RETURN(const std::string key, MemoKey(path));
  std::ifstream in(cache_dir + "/hashes");
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 65 && line.compare(65, std::string::npos, key) == 0 && IsSha256Hex(line.substr(0, 64)))
      return line.substr(0, 64);
  }
  PLEXUS_ASSIGN_OR_RETURN(std::string digest, Sha256File(path, progress));
  RememberSha256(path, cache_dir, digest);
  return digest;
}

void RememberSha256(const std::string& path, const std::string& cache_dir, const std::string& sha256) {
  auto key = MemoKey(path);
  if (!key.ok() || !IsSha256Hex(sha256)) return;
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  std::ofstream(cache_dir + "/hashes", std::ios::app) << sha256 << ' ' << *key << '\n';  // best effort
}

}  // namespace plexus
