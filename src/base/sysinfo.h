// What this machine has: memory, cores, this process's resident memory.
// Read from /proc (Linux); 0 when a value cannot be read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// The "Model:" value of one NVIDIA driver GPU information file
// (/proc/driver/nvidia/gpus/<bus id>/information), trimmed; empty when the
// text has no such line.
std::string ParseNvidiaGpuModel(std::string_view information);
// The model of every NVIDIA GPU the driver lists, in bus id order (no CUDA
// needed); empty when there are none or no driver.
std::vector<std::string> NvidiaGpus();

}  // namespace plexus
