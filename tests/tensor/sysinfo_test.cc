// The NVIDIA GPU inventory reader parses the driver's information text.
#include <gtest/gtest.h>

#include "base/sysinfo.h"

namespace plexus {
namespace {

// As /proc/driver/nvidia/gpus/0000:01:00.0/information reads.
constexpr const char* kInformation =
    "Model: \t\t NVIDIA H100 80GB HBM3\n"
    "IRQ:   \t\t 123\n"
    "GPU UUID: \t GPU-01234567-89ab-cdef-0123-456789abcdef\n"
    "Video BIOS: \t 96.00.74.00.01\n"
    "Bus Type: \t PCIe\n"
    "DMA Size: \t 52 bits\n";

TEST(SysinfoTest, ParsesTheNvidiaModelLine) {
  EXPECT_EQ(ParseNvidiaGpuModel(kInformation), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(ParseNvidiaGpuModel("IRQ: 5\nModel:   Tesla T4  \r\n"), "Tesla T4");
}

TEST(SysinfoTest, NoModelLineIsEmpty) {
  EXPECT_EQ(ParseNvidiaGpuModel(""), "");
  EXPECT_EQ(ParseNvidiaGpuModel("IRQ: 5\nBus Type: PCIe"), "");
  EXPECT_EQ(ParseNvidiaGpuModel("Model:"), "");
  EXPECT_EQ(ParseNvidiaGpuModel("GPU Model: x\n"), "");
}

TEST(SysinfoTest, NvidiaGpusListsOnlyNamedModels) {
  for (const std::string& gpu : NvidiaGpus()) EXPECT_FALSE(gpu.empty());  // none on a machine without the driver
}

}  // namespace
}  // namespace plexus
