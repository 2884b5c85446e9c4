// The transport choice is a pure function of the offers every rank holds
// alike; these cases pin it down, and the offer codec against hostile bytes.
#include "cluster/transports.h"

#include <gtest/gtest.h>

namespace plexus::cluster {
namespace {

TransportOffer Offer(std::string host, bool ucx = false, bool rdma = false) { return {std::move(host), ucx, rdma}; }

TEST(ChooseTransport, OneHostUsesSharedMemory) {
  auto kind = ChooseTransport({Offer("a"), Offer("a"), Offer("a")}, TransportKind::kAuto);
  ASSERT_TRUE(kind.ok()) << kind.status().message();
  EXPECT_EQ(*kind, TransportKind::kShm);
}

TEST(ChooseTransport, TwoHostsWithoutRdmaUseTcpEvenWithUcx) {
  auto kind = ChooseTransport({Offer("a", true), Offer("b", true)}, TransportKind::kAuto);
  ASSERT_TRUE(kind.ok());
  EXPECT_EQ(*kind, TransportKind::kTcp);
}

TEST(ChooseTransport, RdmaEverywhereUsesUcx) {
  auto kind = ChooseTransport({Offer("a", true, true), Offer("b", true, true), Offer("a", true, true)},
                              TransportKind::kAuto);
  ASSERT_TRUE(kind.ok());
  EXPECT_EQ(*kind, TransportKind::kUcx);
  // One member without UCX drags the group to tcp.
  kind = ChooseTransport({Offer("a", true, true), Offer("b", false, true)}, TransportKind::kAuto);
  ASSERT_TRUE(kind.ok());
  EXPECT_EQ(*kind, TransportKind::kTcp);
}

TEST(ChooseTransport, ForcedTransportNamesThePairThatCannot) {
  auto shm = ChooseTransport({Offer("a"), Offer("a"), Offer("b")}, TransportKind::kShm);
  ASSERT_FALSE(shm.ok());
  EXPECT_NE(shm.status().message().find("ranks 0 and 2"), std::string::npos) << shm.status().message();
  EXPECT_NE(shm.status().message().find("different hosts"), std::string::npos);
  auto ucx = ChooseTransport({Offer("a", true), Offer("b", false)}, TransportKind::kUcx);
  ASSERT_FALSE(ucx.ok());
  EXPECT_NE(ucx.status().message().find("without UCX"), std::string::npos) << ucx.status().message();
  auto tcp = ChooseTransport({Offer("a"), Offer("b")}, TransportKind::kTcp);
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(*tcp, TransportKind::kTcp);
}

TEST(TransportOffer, RoundTripsAndRejectsHostileBytes) {
  const TransportOffer in = Offer("boot-id/host/ipc:[4026531839]", true, false);
  TransportOffer out;
  ASSERT_TRUE(DecodeOffer(EncodeOffer(in), &out).ok());
  EXPECT_EQ(out.host, in.host);
  EXPECT_TRUE(out.ucx);
  EXPECT_FALSE(out.rdma);
  std::vector<uint8_t> bytes = EncodeOffer(in);
  for (size_t n = 0; n < 3; ++n) EXPECT_FALSE(DecodeOffer({bytes.data(), n}, &out).ok()) << n;
  bytes[0] = 9;  // unknown version
  EXPECT_NE(DecodeOffer(bytes, &out).message().find("version"), std::string::npos);
  bytes = EncodeOffer(in);
  bytes[1] = 7;  // not a boolean
  EXPECT_FALSE(DecodeOffer(bytes, &out).ok());
  bytes = EncodeOffer(Offer(std::string(5000, 'x')));
  EXPECT_FALSE(DecodeOffer(bytes, &out).ok());
}

TEST(ParseTransport, NamesTheFlag) {
  EXPECT_EQ(*ParseTransport("shm"), TransportKind::kShm);
  auto bad = ParseTransport("rdma");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--transport"), std::string::npos);
}

}  // namespace
}  // namespace plexus::cluster
