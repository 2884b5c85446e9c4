#include "base/sysinfo.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
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

std::string ParseNvidiaGpuModel(std::string_view information) {
  constexpr std::string_view kKey = "Model:";
  while (!information.empty()) {
    const size_t eol = information.find('\n');
    std::string_view line = information.substr(0, eol);
    information = eol == std::string_view::npos ? std::string_view() : information.substr(eol + 1);
    if (line.substr(0, kKey.size()) != kKey) continue;
    line.remove_prefix(kKey.size());
    const size_t begin = line.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return "";
    const size_t end = line.find_last_not_of(" \t\r");
    return std::string(line.substr(begin, end - begin + 1));
  }
  return "";
}

std::vector<std::string> NvidiaGpus() {
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  std::vector<std::string> gpus;
  for (const auto& dir : dirs) {
    std::ifstream in(dir / "information");
    std::ostringstream text;
    text << in.rdbuf();
    std::string model = ParseNvidiaGpuModel(text.str());
    if (!model.empty()) gpus.push_back(std::move(model));
  }
  return gpus;
}

}  // namespace plexus
