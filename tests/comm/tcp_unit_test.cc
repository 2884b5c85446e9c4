// Single-process pieces of the TCP transport: checksum, frame header, link
// spec, secret file, the emulated wire, and a link fed hostile bytes.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "comm/tcp/crc32c.h"
#include "comm/tcp/frame.h"
#include "comm/tcp/link.h"
#include "comm/tcp/link_emulation.h"
#include "comm/tcp/secret.h"

namespace plexus::tcp {
namespace {

TEST(Crc32c, KnownVectorAndFastMatchesPortable) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable("123456789", 9), 0xE3069283u);
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(100007);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  EXPECT_NE(buf[0] | buf[1] | buf[2], 0);  // really random
  for (size_t n : {0, 1, 7, 8, 9, 63, 767, 768, 1000, 10007, 3 * 8192, 3 * 8192 + 777, 100007})
    EXPECT_EQ(Crc32c(buf.data(), n), Crc32cPortable(buf.data(), n)) << n;
  EXPECT_EQ(Crc32c(buf.data() + 100, 900, Crc32c(buf.data(), 100)), Crc32c(buf.data(), 1000));
}

TEST(Frame, HeaderRoundTripsAndRejectsHostileHeaders) {
  uint8_t b[kFrameHeaderBytes];
  EncodeHeader(FrameHeader{kData, 77, 1234, 0xDEADBEEF}, b);
  auto h = DecodeHeader(b);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->type, kData);
  EXPECT_EQ(h->channel, 77u);
  EXPECT_EQ(h->length, 1234u);
  EXPECT_EQ(h->payload_crc, 0xDEADBEEFu);

  uint8_t bad[kFrameHeaderBytes];
  std::memcpy(bad, b, sizeof(b));
  bad[0] ^= 1;
  EXPECT_NE(DecodeHeader(bad).status().message().find("bad frame magic"), std::string::npos);
  std::memcpy(bad, b, sizeof(b));
  bad[13] ^= 1;  // length flipped: caught by the header checksum
  EXPECT_NE(DecodeHeader(bad).status().message().find("header checksum"), std::string::npos);
  std::memcpy(bad, b, sizeof(b));
  bad[4] = 9;
  EXPECT_NE(DecodeHeader(bad).status().message().find("unsupported protocol version 9"), std::string::npos);
  EncodeHeader(FrameHeader{kData, 0, kMaxFramePayload + 1, 0}, bad);
  EXPECT_NE(DecodeHeader(bad).status().message().find("oversized frame"), std::string::npos);
}

TEST(LinkSpec, ParsesAndRejectsWithClearErrors) {
  auto s = ParseLinkSpec("300us,2.5gbit");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->latency_ns, 300000);
  EXPECT_DOUBLE_EQ(s->bits_per_second, 2.5e9);
  EXPECT_EQ(ParseLinkSpec("2ms")->latency_ns, 2000000);
  EXPECT_DOUBLE_EQ(ParseLinkSpec("100mbit")->bits_per_second, 1e8);
  EXPECT_FALSE(ParseLinkSpec("off")->enabled());
  for (const char* bad : {"300", "300xs", "1ms,", "1ms,10", "1ms,10gb", "abc", "1ms,2gbit,3", "-1ms", "20s"}) {
    auto r = ParseLinkSpec(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("[tcp]"), std::string::npos) << r.status().message();
  }
  EXPECT_NE(ParseLinkSpec("1ms,10gb").status().message().find("unit must be bit, kbit"), std::string::npos);
}

TEST(EmulatedWire, PipelinedFramesPayLatencyOnce) {
  EmulatedWire wire(LinkSpec{1'000'000, 8e9});  // 1 ms, 1 GB/s: 1 byte per ns
  const int64_t t0 = 1'000'000'000;
  // Two 1 MB frames queued together: the second arrives 1 ms after the first, not 2.
  const int64_t a = wire.Schedule(1'000'000, t0);
  const int64_t b = wire.Schedule(1'000'000, t0);
  EXPECT_EQ(a, t0 + 1'000'000 + 1'000'000);
  EXPECT_EQ(b, a + 1'000'000);
  // After the wire idles, a new frame starts when queued.
  EXPECT_EQ(wire.Schedule(0, t0 + 10'000'000), t0 + 10'000'000 + 1'000'000);
}

TEST(SecretFile, TrimsRefusesEmptyAndWarnsWhenReadable) {
  const std::string path = ::testing::TempDir() + "/plexus_secret_test";
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  std::ofstream(path) << "  s3cret \n";
  chmod(path.c_str(), 0600);
  auto s = ReadSecretFile(path, warn);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "s3cret");
  EXPECT_TRUE(warnings.empty());
  chmod(path.c_str(), 0644);
  ASSERT_TRUE(ReadSecretFile(path, warn).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("chmod 600"), std::string::npos);
  std::ofstream(path) << " \n\t";
  EXPECT_NE(ReadSecretFile(path, warn).status().message().find("is empty"), std::string::npos);
  EXPECT_FALSE(ReadSecretFile(path + ".missing", warn).ok());
  unlink(path.c_str());
}

class CountingSink final : public FrameSink {
 public:
  Status Destination(const FrameHeader&, uint8_t** dst) override {
    *dst = nullptr;
    return Status::Ok();
  }
  Status Deliver(const FrameHeader&, const uint8_t*, std::vector<uint8_t>*) override {
    ++frames;
    return Status::Ok();
  }
  int frames = 0;
};

// Writes `bytes` into one end of a socket pair and reads the other as a Link.
Status FeedLink(const std::string& bytes, int* frames) {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  EXPECT_EQ(write(sv[0], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(sv[0]);
  Link link;
  link.Attach(Fd(sv[1]));
  CountingSink sink;
  Status st = link.ReadAvailable(sink);
  *frames = sink.frames;
  return st;
}

std::string GoodFrame(const std::string& payload) {
  uint8_t h[kFrameHeaderBytes];
  EncodeHeader(FrameHeader{kData, 1, static_cast<uint32_t>(payload.size()), Crc32c(payload.data(), payload.size())}, h);
  return std::string(reinterpret_cast<char*>(h), sizeof(h)) + payload;
}

TEST(Link, HostileBytesGiveAReasonNotACrash) {
  int frames = 0;
  Status st = FeedLink(GoodFrame("hello") + GoodFrame(""), &frames);
  EXPECT_EQ(frames, 2);
  EXPECT_NE(st.message().find("EOF"), std::string::npos) << st.message();

  st = FeedLink("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &frames);
  EXPECT_NE(st.message().find("bad frame magic"), std::string::npos) << st.message();

  std::string corrupt = GoodFrame("payload!");
  corrupt.back() ^= 0x40;
  st = FeedLink(corrupt, &frames);
  EXPECT_NE(st.message().find("payload checksum mismatch"), std::string::npos) << st.message();

  uint8_t h[kFrameHeaderBytes];
  EncodeHeader(FrameHeader{kData, 1, 1u << 30, 0}, h);
  st = FeedLink(std::string(reinterpret_cast<char*>(h), sizeof(h)), &frames);
  EXPECT_NE(st.message().find("oversized frame"), std::string::npos) << st.message();

  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {  // random garbage never crashes
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    EXPECT_FALSE(FeedLink(junk, &frames).ok());
  }
}

}  // namespace
}  // namespace plexus::tcp
