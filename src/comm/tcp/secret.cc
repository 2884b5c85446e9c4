#include "comm/tcp/secret.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace plexus::tcp {

Result<std::string> ReadSecretFile(const std::string& path, const std::function<void(const std::string&)>& warn) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::Errorf("tcp", "secret file {}: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::Errorf("tcp", "secret file {} is not a regular file", path);
  if (st.st_size > (1 << 16)) return Status::Errorf("tcp", "secret file {} is over 64 KiB", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Errorf("tcp", "cannot read secret file {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  const char* ws = " \t\r\n\v\f";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return Status::Errorf("tcp", "secret file {} is empty", path);
  s = s.substr(b, s.find_last_not_of(ws) - b + 1);
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) && warn)
    warn(fmt::format("warning: secret file {} is readable by group or others (chmod 600 it)", path));
  return s;
}

}  // namespace plexus::tcp
