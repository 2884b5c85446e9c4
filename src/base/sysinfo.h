// What this machine has: memory, cores, this process's resident memory.
// Read from /proc (Linux); 0 when a value cannot be read.
#pragma once

#include <cstdint>
#include <string>

namespace plexus {

struct MemoryInfo {
  uint64_t total = 0;      // MemTotal
  uint64_t available = 0;  // MemAvailable: what can be allocated without swapping
};

MemoryInfo ReadMemoryInfo();
uint64_t ResidentBytes();      // this process's current RSS (VmRSS)
uint64_t PeakResidentBytes();  // this process's peak RSS (VmHWM)
int OnlineCores();
std::string HostName();

}  // namespace plexus
