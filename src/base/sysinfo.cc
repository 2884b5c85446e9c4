#include "base/sysinfo.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace plexus {
namespace {

// The value in kB of the line "key: N kB" of a /proc file, in bytes.
uint64_t ProcKb(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() || line[key.size()] != ':') continue;
    std::istringstream fields(line.substr(key.size() + 1));
    uint64_t kb = 0;
    fields >> kb;
    return kb * 1024;
  }
  return 0;
}

}  // namespace

MemoryInfo ReadMemoryInfo() { return {ProcKb("/proc/meminfo", "MemTotal"), ProcKb("/proc/meminfo", "MemAvailable")}; }

uint64_t ResidentBytes() { return ProcKb("/proc/self/status", "VmRSS"); }

uint64_t PeakResidentBytes() { return ProcKb("/proc/self/status", "VmHWM"); }

int OnlineCores() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

}  // namespace plexus
