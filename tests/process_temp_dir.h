// A scratch directory for one test process, removed when the process exits.
//
// ctest runs the tests of one binary side by side as separate processes, so
// each process gets its own directory (the pid is in its name). Synthetic
// models written there are tens of MB; without the removal every ctest run
// left them behind in /tmp.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

namespace plexus::testing {

class ProcessTempDirs {
 public:
  ~ProcessTempDirs() {
    for (const auto& dir : dirs_) {
      std::error_code ignored;  // best effort: a test may have removed it already
      std::filesystem::remove_all(dir, ignored);
    }
  }
  void Own(const std::filesystem::path& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& d : dirs_)
      if (d == dir) return;
    dirs_.push_back(dir);
  }

 private:
  std::mutex mu_;
  std::vector<std::filesystem::path> dirs_;
};

// /tmp/plexus_<name>_<pid>, created on first use and removed at exit.
inline std::filesystem::path ProcessTempDir(const std::string& name) {
  static ProcessTempDirs owned;
  auto dir = std::filesystem::temp_directory_path() / ("plexus_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  owned.Own(dir);
  return dir;
}

}  // namespace plexus::testing
