// Zero-config discovery (docs/PROTOCOL.md, "Discovery"): every `plexus node`
// with a cluster secret sends a small authenticated beacon by UDP multicast
// every 500 ms; a coordinator without --peers listens for a moment and takes
// the nodes it heard as its peers. A beacon only says "a node is here, at the
// datagram's source address and this port"; the TCP handshake still proves
// the secret before a node gets any work, so a forged or replayed beacon can
// at worst make the coordinator try (and fail) a connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"

namespace plexus::cluster {

using DiscoveryClock = std::chrono::steady_clock;

// Wire format of a beacon (little-endian), one per datagram:
//   0  u32 magic "PLXD"   4 u8 version   5 u8 role   6 u16 intake port
//   8  u64 node id        16 u64 free memory (bytes)  24 u32 cores
//   28 u16 HTTP API port (0: none)   30 u8 flags (BeaconFlag)
//   31 u8 name length N (1..64)   32 N bytes cluster name
//   32+N 32-byte HMAC-SHA256(secret, "plexus-beacon" | bytes 0..32+N)
// Version 2 added the API port and flags (coordinator election, election.h).
constexpr uint32_t kBeaconMagic = 0x44584C50;  // bytes 'P' 'L' 'X' 'D'
constexpr uint8_t kBeaconVersion = 2;
constexpr size_t kBeaconFixedBytes = 32;
constexpr size_t kBeaconNameLengthAt = 31;
constexpr size_t kBeaconTagBytes = 32;
constexpr size_t kMaxClusterName = 64;
constexpr size_t kMaxBeaconBytes = kBeaconFixedBytes + kMaxClusterName + kBeaconTagBytes;

enum class BeaconRole : uint8_t { kNode = 1, kCoordinator = 2 };

// Beacon flags (byte 30): what the coordinator election needs to know.
enum BeaconFlag : uint8_t {
  kBeaconCandidate = 1,     // was given the model (-m): may be elected coordinator
  kBeaconCoordinating = 2,  // is the elected coordinator now (its model is up or loading)
  kBeaconKnownFlags = 3,
};

struct Beacon {
  std::string cluster = "plexus";
  uint64_t node_id = 0;  // random per process start (RandomNodeId)
  BeaconRole role = BeaconRole::kNode;
  uint16_t port = 0;     // intake port; the host is the datagram's source address
  uint64_t mem_available = 0;
  uint32_t cores = 0;
  uint16_t api_port = 0;  // HTTP API port (`plexus node --api-port`); 0: serves no API
  uint8_t flags = 0;      // BeaconFlag bits
};

// Why a datagram was not taken as a beacon; each is counted by the listener.
enum class BeaconReject : uint8_t {
  kNone = 0,
  kTruncated,     // shorter than its fields say
  kOversized,     // longer than any beacon (or than its fields say)
  kBadMagic,      // not a plexus beacon at all
  kBadVersion,    // another discovery protocol version
  kBadField,      // role, port or name length out of range
  kOtherCluster,  // a well-formed beacon for another --cluster name (not logged)
  kBadTag,        // HMAC does not verify: another secret, or forged
  kCount,
};
const char* BeaconRejectName(BeaconReject reason);

uint64_t RandomNodeId();
// --cluster NAME: 1..64 bytes.
Status CheckClusterName(const std::string& name);

// Beacon bytes authenticated with `secret`. The cluster name must be 1..64 bytes.
Result<std::vector<uint8_t>> EncodeBeacon(const Beacon& beacon, const std::string& secret);
// Parses and authenticates one datagram as a beacon of `cluster`. kNone: *out
// holds it. kOtherCluster / kBadTag: *out holds the unauthenticated fields
// (for the log line only); other reasons leave *out unspecified.
BeaconReject DecodeBeacon(std::span<const uint8_t> bytes, const std::string& secret, const std::string& cluster,
                          Beacon* out);

struct DiscoveryOptions {
  std::string cluster = "plexus";
  std::string secret;
  std::string group = "239.255.77.77";
  uint16_t port = 7788;
  std::function<void(const std::string&)> log;  // default: stderr
};
// "ADDR:PORT" (--discovery) into options->group / port; ADDR must be IPv4 multicast.
Status ParseDiscoveryAddress(const std::string& text, DiscoveryOptions* options);

struct DiscoveredNode {
  uint64_t node_id = 0;
  std::string host;  // the beacon's source address
  uint16_t port = 0;
  uint64_t mem_available = 0;
  uint32_t cores = 0;
  uint16_t api_port = 0;
  uint8_t flags = 0;  // BeaconFlag bits, as last heard
  std::string address() const { return host + ":" + std::to_string(port); }
  std::string api_address() const { return host + ":" + std::to_string(api_port); }
};

// Live nodes by id. A node with several interfaces is heard once per
// interface; it keeps the first address heard while that stays fresh, so its
// address does not flap between beacons.
class PeerTable {
 public:
  explicit PeerTable(std::chrono::milliseconds ttl = std::chrono::seconds(3)) : ttl_(ttl) {}
  // True when the set of live nodes or one's address changed.
  bool Observe(const Beacon& beacon, const std::string& host, DiscoveryClock::time_point now);
  // Drops nodes silent for longer than the ttl; true when any went.
  bool Expire(DiscoveryClock::time_point now);
  std::vector<DiscoveredNode> Live() const;  // sorted by node id

 private:
  struct Entry {
    DiscoveredNode node;
    DiscoveryClock::time_point last_seen;     // any beacon of this node
    DiscoveryClock::time_point address_seen;  // a beacon from node.host
  };
  std::chrono::milliseconds ttl_;
  std::map<uint64_t, Entry> entries_;
};

// What a listener does with each datagram, without the socket (so tests can
// feed it bytes): decode, count rejects, log a failed authentication once per
// sender, keep the table of live nodes.
class BeaconInbox {
 public:
  explicit BeaconInbox(DiscoveryOptions options, std::chrono::milliseconds ttl = std::chrono::seconds(3));
  // One datagram from `from_host`; true when the live set changed.
  bool Receive(std::span<const uint8_t> bytes, const std::string& from_host, DiscoveryClock::time_point now);
  bool Expire(DiscoveryClock::time_point now) { return table_.Expire(now); }
  std::vector<DiscoveredNode> Live() const { return table_.Live(); }
  uint64_t rejected(BeaconReject reason) const { return rejected_[static_cast<size_t>(reason)]; }

 private:
  void Log(const std::string& line) const;
  DiscoveryOptions opt_;
  PeerTable table_;
  std::array<uint64_t, static_cast<size_t>(BeaconReject::kCount)> rejected_{};
  std::set<std::string> warned_;  // senders already logged as failing authentication
};

// An IPv4 interface that is up and can multicast.
struct MulticastInterface {
  std::string name;
  in_addr addr{};
  unsigned index = 0;
};
std::vector<MulticastInterface> MulticastInterfaces();

// Sends `beacon` every 500 ms on every multicast interface (or only the one
// with address `only_host`, when a node listens on one address), refreshing
// its free memory each time. Stops on destruction.
class Announcer {
 public:
  static Result<std::unique_ptr<Announcer>> Start(DiscoveryOptions options, Beacon beacon, std::string only_host);
  ~Announcer();
  // New BeaconFlag bits, announced at once (an election result spreads in
  // one datagram, not at the next tick).
  void SetFlags(uint8_t flags);

 private:
  Announcer() = default;
  void Loop();
  void SendRound();
  DiscoveryOptions opt_;
  Beacon beacon_;  // the announcer thread's; flags_ is copied in under mu_
  uint8_t flags_ = 0;
  bool send_now_ = false;
  std::string only_host_;
  int fd_ = -1;
  sockaddr_in group_{};
  std::set<std::string> reported_;  // interfaces/errors already logged
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable_any wake_;
  std::thread thread_;
};

// Joins the group on every multicast interface (again each second, for
// interfaces that come up later) and keeps a BeaconInbox. `on_change` runs on
// the listener's thread with the new live set.
class Listener {
 public:
  using OnChange = std::function<void(const std::vector<DiscoveredNode>&)>;
  static Result<std::unique_ptr<Listener>> Start(DiscoveryOptions options, OnChange on_change = nullptr);
  ~Listener();
  std::vector<DiscoveredNode> Live() const;
  // Blocks until `want` (> 0) nodes are live or `window` has passed; the live set.
  std::vector<DiscoveredNode> WaitFor(size_t want, std::chrono::milliseconds window);
  // "12 truncated, 3 fails authentication": datagrams rejected so far, by
  // reason; empty when none were.
  std::string RejectSummary() const;

 private:
  explicit Listener(DiscoveryOptions options) : inbox_(options), opt_(std::move(options)) {}
  void Loop();
  void Join();
  BeaconInbox inbox_;
  DiscoveryOptions opt_;
  OnChange on_change_;
  int fd_ = -1;
  sockaddr_in group_{};
  std::set<unsigned> joined_;  // interface indexes
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable_any changed_;
  std::thread thread_;
};

}  // namespace plexus::cluster
