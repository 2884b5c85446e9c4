// READY and MESH cluster messages: round trips, and truncated or lying
// payloads from a peer give errors naming the field, never a crash. Also the
// link probe rank 0 runs at join, between two real processes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "cluster/messages.h"
#include "cluster/runtime.h"
#include "cluster/wire.h"
#include "comm/tcp/mesh.h"
#include "../comm/multiprocess.h"

namespace plexus::cluster {
namespace {

// gtest without gmock: "text contains part".
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

NodeInventory SampleInventory() {
  NodeInventory inv;
  inv.hostname = "node-7.example";
  inv.mem_total = 64ull << 30;
  inv.mem_available = 40ull << 30;
  inv.rss = 123456789;
  inv.cores = 16;
  inv.simd = "AVX3";
  inv.weight_bytes = 4ull << 30;
  inv.emulated_latency_ns = 300'000;
  inv.emulated_bits_per_second = 2.5e9;
  inv.membw_gbs = 41.5;
  inv.gflops = 96.25;
  inv.gpus = {"NVIDIA H100 80GB HBM3", "Tesla T4"};
  return inv;
}

TEST(ReadyMsg, RoundTripsTheInventory) {
  const ReadyMsg in{"", SampleInventory()};
  ReadyMsg out;
  ASSERT_TRUE(Decode(Encode(in), &out).ok());
  EXPECT_EQ(out.error, "");
  EXPECT_EQ(out.inventory.hostname, "node-7.example");
  EXPECT_EQ(out.inventory.mem_total, in.inventory.mem_total);
  EXPECT_EQ(out.inventory.mem_available, in.inventory.mem_available);
  EXPECT_EQ(out.inventory.rss, in.inventory.rss);
  EXPECT_EQ(out.inventory.cores, 16);
  EXPECT_EQ(out.inventory.simd, "AVX3");
  EXPECT_EQ(out.inventory.weight_bytes, in.inventory.weight_bytes);
  EXPECT_EQ(out.inventory.emulated_latency_ns, 300'000);
  EXPECT_EQ(out.inventory.emulated_bits_per_second, 2.5e9);
  EXPECT_EQ(out.inventory.membw_gbs, 41.5);
  EXPECT_EQ(out.inventory.gflops, 96.25);
  EXPECT_EQ(out.inventory.gpus, in.inventory.gpus);
}

TEST(ReadyMsg, RoundTripsAnError) {
  ReadyMsg out;
  ASSERT_TRUE(Decode(Encode(ReadyMsg{"out of memory loading blk.3", {}}), &out).ok());
  EXPECT_EQ(out.error, "out of memory loading blk.3");
}

TEST(ReadyMsg, EveryTruncationIsAnErrorNamingAField) {
  const std::vector<uint8_t> bytes = Encode(ReadyMsg{"", SampleInventory()});
  for (size_t n = 0; n < bytes.size(); ++n) {
    ReadyMsg out;
    Status st = Decode(std::span<const uint8_t>(bytes.data(), n), &out);
    ASSERT_FALSE(st.ok()) << n;
    EXPECT_TRUE(Contains(st.message(), "ready: field '")) << n;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  ReadyMsg out;
  EXPECT_TRUE(Contains(Decode(longer, &out).message(), "trailing"));
}

// A READY whose fields a test can set one by one, lies included.
struct RawSpeed {
  double membw_gbs = 0, gflops = 0;
  uint64_t n_gpus = 0;
  std::vector<std::string> gpus;
};

std::vector<uint8_t> RawReady(uint64_t host_len, const std::string& host, int32_t cores, uint64_t total,
                              uint64_t available, double bps, const RawSpeed& speed = {}) {
  ByteWriter w;
  w.Str("");
  w.U64(host_len);
  w.Raw(host.data(), host.size());
  w.U64(total);
  w.U64(available);
  w.U64(1);
  w.I32(cores);
  w.Str("AVX2");
  w.U64(1);
  w.I64(0);
  w.F64(bps);
  w.F64(speed.membw_gbs);
  w.F64(speed.gflops);
  w.U64(speed.n_gpus);
  for (const std::string& gpu : speed.gpus) w.Str(gpu);
  return std::move(w.bytes());
}

TEST(ReadyMsg, HostileFieldsAreRejectedByName) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* want;
  } cases[] = {
      {RawReady(uint64_t{1} << 62, "h", 4, 10, 5, 0), "field 'hostname' needs"},
      {RawReady(5, "ho\x1bst", 4, 10, 5, 0), "hostname holds the non-printable byte 0x1b"},
      {RawReady(300, std::string(300, 'a'), 4, 10, 5, 0), "hostname is 300 bytes"},
      {RawReady(1, "h", -3, 10, 5, 0), "cores -3"},
      {RawReady(1, "h", 4, 10, 11, 0), "mem_available 11 exceeds mem_total 10"},
      {RawReady(1, "h", 4, 10, 5, std::nan("")), "emulated_bits_per_second"},
      {RawReady(1, "h", 4, 10, 5, -1), "emulated_bits_per_second"},
      {RawReady(1, "h", 4, 10, 5, 0, {.membw_gbs = -2}), "membw_gbs -2 invalid"},
      {RawReady(1, "h", 4, 10, 5, 0, {.membw_gbs = std::nan("")}), "membw_gbs"},
      {RawReady(1, "h", 4, 10, 5, 0, {.gflops = std::numeric_limits<double>::infinity()}), "gflops inf invalid"},
      {RawReady(1, "h", 4, 10, 5, 0, {.n_gpus = uint64_t{1} << 60}), "field 'gpus' claims"},
      {RawReady(1, "h", 4, 10, 5, 0, {.n_gpus = 65, .gpus = std::vector<std::string>(65, "g")}), "gpus has 65 entries"},
      {RawReady(1, "h", 4, 10, 5, 0, {.n_gpus = 1, .gpus = {"GPU\n0"}}), "gpus holds the non-printable byte 0x0a"},
      {RawReady(1, "h", 4, 10, 5, 0, {.n_gpus = 1, .gpus = {std::string(200, 'g')}}), "gpus is 200 bytes"},
  };
  for (const Case& c : cases) {
    ReadyMsg out;
    Status st = Decode(c.bytes, &out);
    ASSERT_FALSE(st.ok()) << c.want;
    EXPECT_TRUE(Contains(st.message(), c.want));
  }
  ReadyMsg out;
  EXPECT_TRUE(Decode(RawReady(1, "h", 4, 10, 5, 1e9), &out).ok());
  EXPECT_TRUE(Decode(RawReady(1, "h", 4, 10, 5, 1e9, {20, 50, 1, {"Tesla T4"}}), &out).ok());
  EXPECT_EQ(out.inventory.gpus, std::vector<std::string>{"Tesla T4"});
}

TEST(MeshSpec, RoundTripsAddressesAndProbe) {
  MeshSpec in;
  in.addresses = {"10.0.0.1:5000", "10.0.0.2:5001"};
  in.probe = LinkProbe{20, 64, 2 << 20, 2};
  MeshSpec out;
  ASSERT_TRUE(Decode(Encode(in), &out).ok());
  EXPECT_EQ(out.addresses, in.addresses);
  EXPECT_EQ(out.probe.pings, 20u);
  EXPECT_EQ(out.probe.ping_bytes, 64u);
  EXPECT_EQ(out.probe.bulk_bytes, uint64_t{2} << 20);
  EXPECT_EQ(out.probe.bulk_iters, 2u);
  const std::vector<uint8_t> bytes = Encode(in);
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_TRUE(Contains(Decode(std::span<const uint8_t>(bytes.data(), n), &out).message(), "mesh: ")) << n;
}

TEST(MeshSpec, OutOfRangeProbesAreRejected) {
  for (const LinkProbe& p : {LinkProbe{5000, 64, 0, 0}, LinkProbe{20, 0, 0, 0}, LinkProbe{0, 0, 1ull << 30, 1},
                             LinkProbe{0, 0, 0, 3}, LinkProbe{0, 0, 1 << 20, 100}}) {
    MeshSpec out;
    Status st = Decode(Encode(MeshSpec{{"127.0.0.1:1"}, p}), &out);
    ASSERT_FALSE(st.ok()) << p.pings << " " << p.bulk_bytes;
    EXPECT_TRUE(Contains(st.message(), "mesh: probe"));
  }
}

TEST(ProbeMsg, RoundTripsAndRejectsHostileFields) {
  ProbeMsg in{3, LinkProbe{20, 64, 2 << 20, 2}};
  ProbeMsg out;
  ASSERT_TRUE(Decode(Encode(in), &out).ok());
  EXPECT_EQ(out.peer, 3u);
  EXPECT_EQ(out.plan.bulk_bytes, uint64_t{2} << 20);
  const std::vector<uint8_t> bytes = Encode(in);
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_TRUE(Contains(Decode(std::span<const uint8_t>(bytes.data(), n), &out).message(), "probe: ")) << n;
  EXPECT_TRUE(Contains(Decode(Encode(ProbeMsg{1u << 20, in.plan}), &out).message(), "peer rank"));
  EXPECT_FALSE(Decode(Encode(ProbeMsg{1, LinkProbe{5000, 64, 0, 0}}), &out).ok());
}

TEST(LinkReport, RoundTripsAndRejectsHostileFields) {
  LinkReport out;
  ASSERT_TRUE(Decode(Encode(LinkReport{1, 2, 35.5, 9.25}), &out).ok());
  EXPECT_EQ(out.a, 1u);
  EXPECT_EQ(out.b, 2u);
  EXPECT_EQ(out.rtt_us, 35.5);
  EXPECT_EQ(out.gbps, 9.25);
  EXPECT_TRUE(Contains(Decode(Encode(LinkReport{2, 2, 1, 1}), &out).message(), "not a pair"));
  EXPECT_TRUE(Contains(Decode(Encode(LinkReport{2, 1, 1, 1}), &out).message(), "not a pair"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(Contains(Decode(Encode(LinkReport{1, 2, nan, 1}), &out).message(), "not finite"));
  const std::vector<uint8_t> bytes = Encode(LinkReport{1, 2, 3, 4});
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(Decode(std::span<const uint8_t>(bytes.data(), n), &out).ok()) << n;
}

TEST(PlanLinkProbe, SizesTheProbeToTheEmulatedLink) {
  const LinkProbe plain = PlanLinkProbe({}, {});
  EXPECT_EQ(plain.pings, 20u);
  EXPECT_EQ(plain.bulk_bytes, uint64_t{2} << 20);
  EXPECT_EQ(plain.bulk_iters, 2u);
  // 100 Mbit/s at the node: ~20 ms of bytes, whichever end is slower.
  EXPECT_EQ(PlanLinkProbe({0, 1e9}, {0, 100e6}).bulk_bytes, 250'000u);
  EXPECT_EQ(PlanLinkProbe({0, 1e6}, {}).bulk_bytes, uint64_t{64} << 10);  // never below 64 KiB
  // 20 ms round trips: fewer pings.
  EXPECT_EQ(PlanLinkProbe({10'000'000, 0}, {10'000'000, 0}).pings, 5u);
}

// Two real processes: rank 0 measures, rank 1 answers. Each end emulates
// 1 ms of latency and 50 Mbit/s, so a round trip takes at least 2 ms and
// the measured bandwidth cannot exceed the cap (bounds the emulation guarantees).
TEST(MeasureLink, SeesTheEmulatedLink) {
  using tcp::testing::RankContext;
  auto results = tcp::testing::RunRanks(2, [](const RankContext& ctx) -> std::string {
    tcp::MeshOptions o = ctx.Options();
    o.emulate = tcp::LinkSpec{1'000'000, 50e6};
    auto mesh = tcp::TcpMesh::Create(o);
    if (!mesh.ok()) return "ERROR " + mesh.status().message();
    const LinkProbe plan = PlanLinkProbe(o.emulate, o.emulate);
    auto stats = MeasureLink(**mesh, 1 - ctx.rank, plan);
    if (!stats.ok()) return "ERROR " + stats.status().message();
    return fmt::format("{} {}", stats->rtt_us, stats->gbps);
  });
  ASSERT_EQ(results.size(), 2u);
  double rtt = 0, gbps = 0;
  ASSERT_EQ(std::sscanf(results[0].report.c_str(), "%lf %lf", &rtt, &gbps), 2) << results[0].report;
  EXPECT_GE(rtt, 2000) << results[0].report;
  EXPECT_GT(gbps, 0) << results[0].report;
  EXPECT_LE(gbps, 0.05 * 1.5) << results[0].report;
  EXPECT_EQ(results[1].report, "-1 -1");  // the node does not measure
}

}  // namespace
}  // namespace plexus::cluster
