// Discovery beacons: round trip, and truncated, oversized, garbage, forged or
// wrong-secret datagrams rejected with a counted reason (never a crash); the
// live-peer table's expiry and address choice; --discovery parsing.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "cluster/discovery.h"

namespace plexus::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSecret = "discovery-test-secret";

Beacon Sample() {
  Beacon b;
  b.cluster = "plexus";
  b.node_id = 0x0123456789abcdefULL;
  b.role = BeaconRole::kNode;
  b.port = 7700;
  b.mem_available = uint64_t{48} << 30;
  b.cores = 16;
  b.api_port = 8080;
  b.flags = kBeaconCandidate;
  return b;
}

std::vector<uint8_t> Encoded(const Beacon& b, const std::string& secret = kSecret) {
  auto bytes = EncodeBeacon(b, secret);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? *bytes : std::vector<uint8_t>();
}

BeaconReject Decode(const std::vector<uint8_t>& bytes, const std::string& secret = kSecret,
                    const std::string& cluster = "plexus") {
  Beacon out;
  return DecodeBeacon(bytes, secret, cluster, &out);
}

TEST(Beacon, RoundTrip) {
  const Beacon in = Sample();
  const std::vector<uint8_t> bytes = Encoded(in);
  EXPECT_EQ(bytes.size(), kBeaconFixedBytes + in.cluster.size() + kBeaconTagBytes);
  Beacon out;
  ASSERT_EQ(DecodeBeacon(bytes, kSecret, "plexus", &out), BeaconReject::kNone);
  EXPECT_EQ(out.cluster, in.cluster);
  EXPECT_EQ(out.node_id, in.node_id);
  EXPECT_EQ(out.role, in.role);
  EXPECT_EQ(out.port, in.port);
  EXPECT_EQ(out.mem_available, in.mem_available);
  EXPECT_EQ(out.cores, in.cores);
  EXPECT_EQ(out.api_port, in.api_port);
  EXPECT_EQ(out.flags, in.flags);
}

TEST(Beacon, LongestNameRoundTrips) {
  Beacon in = Sample();
  in.cluster = std::string(kMaxClusterName, 'x');
  in.role = BeaconRole::kCoordinator;
  const std::vector<uint8_t> bytes = Encoded(in);
  EXPECT_EQ(bytes.size(), kMaxBeaconBytes);
  Beacon out;
  ASSERT_EQ(DecodeBeacon(bytes, kSecret, in.cluster, &out), BeaconReject::kNone);
  EXPECT_EQ(out.role, BeaconRole::kCoordinator);
}

TEST(Beacon, EncodeRefusesBadFields) {
  Beacon b = Sample();
  b.cluster = "";
  EXPECT_FALSE(EncodeBeacon(b, kSecret).ok());
  b.cluster = std::string(kMaxClusterName + 1, 'x');
  EXPECT_FALSE(EncodeBeacon(b, kSecret).ok());
  b = Sample();
  b.port = 0;
  EXPECT_FALSE(EncodeBeacon(b, kSecret).ok());
}

TEST(Beacon, EveryTruncationIsRejected) {
  const std::vector<uint8_t> bytes = Encoded(Sample());
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_EQ(Decode(std::vector<uint8_t>(bytes.begin(), bytes.begin() + n)), BeaconReject::kTruncated) << n;
}

TEST(Beacon, OversizedIsRejected) {
  std::vector<uint8_t> bytes = Encoded(Sample());
  bytes.push_back(0);
  EXPECT_EQ(Decode(bytes), BeaconReject::kOversized);
  bytes.resize(4096, 0xAB);
  EXPECT_EQ(Decode(bytes), BeaconReject::kOversized);
}

TEST(Beacon, HeaderFieldsAreChecked) {
  const std::vector<uint8_t> good = Encoded(Sample());
  auto with = [&](size_t at, uint8_t value) {
    std::vector<uint8_t> b = good;
    b[at] = value;
    return Decode(b);
  };
  EXPECT_EQ(with(0, 'G'), BeaconReject::kBadMagic);  // e.g. "GET " from something else on the port
  EXPECT_EQ(with(4, kBeaconVersion + 1), BeaconReject::kBadVersion);
  EXPECT_EQ(with(5, 0), BeaconReject::kBadField);   // role
  EXPECT_EQ(with(5, 9), BeaconReject::kBadField);
  std::vector<uint8_t> no_port = good;
  no_port[6] = no_port[7] = 0;
  EXPECT_EQ(Decode(no_port), BeaconReject::kBadField);
  constexpr size_t kLen = kBeaconNameLengthAt;
  EXPECT_EQ(with(kLen, 0), BeaconReject::kBadField);  // name length 0
  EXPECT_EQ(with(kLen, kMaxClusterName + 1), BeaconReject::kBadField);
  EXPECT_EQ(with(30, 0x80), BeaconReject::kBadField);  // a flag this version does not know
  // A name length that points past the datagram: truncated, not an overread.
  EXPECT_EQ(with(kLen, static_cast<uint8_t>(good[kLen] + 1)), BeaconReject::kTruncated);
  EXPECT_EQ(with(kLen, static_cast<uint8_t>(good[kLen] - 1)), BeaconReject::kOversized);
}

TEST(Beacon, WrongSecretFailsAuthenticationAndKeepsThePortForTheLog) {
  const std::vector<uint8_t> bytes = Encoded(Sample(), "another secret");
  Beacon out;
  EXPECT_EQ(DecodeBeacon(bytes, kSecret, "plexus", &out), BeaconReject::kBadTag);
  EXPECT_EQ(out.port, 7700);
  EXPECT_EQ(out.cluster, "plexus");
}

TEST(Beacon, AnyFlippedBitIsRejected) {
  const std::vector<uint8_t> good = Encoded(Sample());
  for (size_t byte = 0; byte < good.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> b = good;
      b[byte] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_NE(Decode(b), BeaconReject::kNone) << "byte " << byte << " bit " << bit;
      // Past the header checks, a change in the body or the tag is an authentication failure.
      const bool authenticated_field = (byte >= 8 && byte < 30) || byte >= kBeaconFixedBytes + 6;  // not the name
      if (authenticated_field) {
        EXPECT_EQ(Decode(b), BeaconReject::kBadTag) << byte;
      }
    }
}

TEST(Beacon, OtherClusterIsItsOwnReason) {
  Beacon b = Sample();
  b.cluster = "lab";
  EXPECT_EQ(Decode(Encoded(b)), BeaconReject::kOtherCluster);
  EXPECT_EQ(Decode(Encoded(b), kSecret, "lab"), BeaconReject::kNone);
}

TEST(Beacon, RandomGarbageNeverDecodes) {
  std::mt19937 rng(7);
  const std::vector<uint8_t> good = Encoded(Sample());
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b(rng() % 200);
    for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
    if (i % 2 == 1 && b.size() >= 8) std::copy(good.begin(), good.begin() + 8, b.begin());  // a plausible header
    EXPECT_NE(Decode(b), BeaconReject::kNone);
  }
}

TEST(PeerTable, ExpiresSilentNodes) {
  PeerTable table(seconds(3));
  const auto t0 = DiscoveryClock::time_point() + seconds(100);
  Beacon a = Sample();
  Beacon b = Sample();
  b.node_id = 5;
  b.port = 7701;
  EXPECT_TRUE(table.Observe(a, "10.0.0.2", t0));
  EXPECT_TRUE(table.Observe(b, "10.0.0.3", t0 + seconds(2)));
  EXPECT_FALSE(table.Observe(a, "10.0.0.2", t0 + milliseconds(500)));  // a refresh is no change
  ASSERT_EQ(table.Live().size(), 2u);
  EXPECT_EQ(table.Live()[0].node_id, 5u);  // sorted by node id
  EXPECT_EQ(table.Live()[0].address(), "10.0.0.3:7701");
  EXPECT_FALSE(table.Expire(t0 + seconds(3)));
  EXPECT_TRUE(table.Expire(t0 + milliseconds(3600)));  // a: 3.1 s silent
  ASSERT_EQ(table.Live().size(), 1u);
  EXPECT_EQ(table.Live()[0].node_id, 5u);
  EXPECT_TRUE(table.Expire(t0 + seconds(6)));
  EXPECT_TRUE(table.Live().empty());
}

TEST(PeerTable, KeepsOneAddressPerNodeUntilItGoesSilent) {
  PeerTable table(seconds(3));
  const auto t0 = DiscoveryClock::time_point() + seconds(100);
  const Beacon a = Sample();
  EXPECT_TRUE(table.Observe(a, "10.0.0.2", t0));
  EXPECT_FALSE(table.Observe(a, "192.168.1.2", t0 + milliseconds(10)));  // second interface of the same node
  EXPECT_EQ(table.Live()[0].host, "10.0.0.2");
  // 10.0.0.2 went quiet while the other interface kept beaconing: move over.
  EXPECT_FALSE(table.Observe(a, "192.168.1.2", t0 + seconds(2)));
  EXPECT_TRUE(table.Observe(a, "192.168.1.2", t0 + seconds(4)));
  EXPECT_EQ(table.Live()[0].address(), "192.168.1.2:7700");
}

TEST(BeaconInbox, CountsRejectsAndLogsAWrongSecretOncePerSender) {
  std::vector<std::string> lines;
  DiscoveryOptions opt;
  opt.secret = kSecret;
  opt.log = [&](const std::string& l) { lines.push_back(l); };
  BeaconInbox inbox(opt);
  const auto now = DiscoveryClock::time_point() + seconds(1);
  const std::vector<uint8_t> wrong = Encoded(Sample(), "wrong");
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(inbox.Receive(wrong, "10.77.0.5", now));
  EXPECT_FALSE(inbox.Receive(wrong, "10.77.0.6", now));
  EXPECT_EQ(inbox.rejected(BeaconReject::kBadTag), 6u);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "discovery: ignoring 10.77.0.5:7700: beacon for cluster 'plexus' fails authentication (wrong secret?)");
  EXPECT_NE(lines[1].find("10.77.0.6:7700"), std::string::npos);
  EXPECT_FALSE(inbox.Receive(std::vector<uint8_t>{1, 2, 3}, "10.77.0.7", now));
  EXPECT_EQ(inbox.rejected(BeaconReject::kTruncated), 1u);
  EXPECT_TRUE(inbox.Live().empty());

  Beacon coordinator = Sample();
  coordinator.role = BeaconRole::kCoordinator;
  EXPECT_FALSE(inbox.Receive(Encoded(coordinator), "10.77.0.1", now));  // only nodes take work
  EXPECT_TRUE(inbox.Receive(Encoded(Sample()), "10.77.0.2", now));
  ASSERT_EQ(inbox.Live().size(), 1u);
  EXPECT_EQ(inbox.Live()[0].address(), "10.77.0.2:7700");  // the datagram's source plus the advertised port
  EXPECT_EQ(inbox.Live()[0].cores, 16u);
  EXPECT_EQ(lines.size(), 2u);
}

TEST(DiscoveryAddress, Parses) {
  DiscoveryOptions d;
  ASSERT_TRUE(ParseDiscoveryAddress("239.1.2.3:9000", &d).ok());
  EXPECT_EQ(d.group, "239.1.2.3");
  EXPECT_EQ(d.port, 9000);
  for (const char* bad : {"239.1.2.3", "10.0.0.1:7788", "239.1.2.3:0", "239.1.2.3:70000", "239.1.2.3:x", "x:1", ""}) {
    const Status st = ParseDiscoveryAddress(bad, &d);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("--discovery"), std::string::npos) << st.message();
  }
  EXPECT_FALSE(CheckClusterName("").ok());
  EXPECT_TRUE(CheckClusterName("lab-1").ok());
}

}  // namespace
}  // namespace plexus::cluster
