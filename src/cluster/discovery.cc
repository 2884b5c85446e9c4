// Beacon codec, the live-peer table and the inbox (no sockets here; those are
// in discovery_net.cc).
#include "cluster/discovery.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace plexus::cluster {
namespace {

constexpr char kTagDomain[] = "plexus-beacon";  // keeps a beacon tag from ever matching another plexus MAC

void PutU16(std::vector<uint8_t>& b, uint16_t v) {
  for (int i = 0; i < 2; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t GetLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// HMAC-SHA256(secret, domain | body): the beacon's 32-byte tag.
std::array<uint8_t, kBeaconTagBytes> Tag(std::span<const uint8_t> body, const std::string& secret) {
  std::vector<uint8_t> msg(kTagDomain, kTagDomain + sizeof kTagDomain - 1);
  msg.insert(msg.end(), body.begin(), body.end());
  std::array<uint8_t, kBeaconTagBytes> tag{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(), tag.data(), &len);
  return tag;
}

}  // namespace

const char* BeaconRejectName(BeaconReject reason) {
  switch (reason) {
    case BeaconReject::kNone: return "ok";
    case BeaconReject::kTruncated: return "truncated";
    case BeaconReject::kOversized: return "oversized";
    case BeaconReject::kBadMagic: return "bad magic";
    case BeaconReject::kBadVersion: return "unsupported version";
    case BeaconReject::kBadField: return "field out of range";
    case BeaconReject::kOtherCluster: return "another cluster";
    case BeaconReject::kBadTag: return "fails authentication";
    case BeaconReject::kCount: break;
  }
  return "?";
}

uint64_t RandomNodeId() {
  uint64_t id = 0;
  // Falls back to a weak id only if the RNG fails; ids need to be unique, not secret.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id) != 1)
    id = static_cast<uint64_t>(DiscoveryClock::now().time_since_epoch().count()) ^ (uint64_t{1} << 63);
  return id == 0 ? 1 : id;
}

Status CheckClusterName(const std::string& name) {
  if (name.empty() || name.size() > kMaxClusterName)
    return Status::Errorf("discovery", "--cluster '{}': the name must be 1 to {} bytes", name, kMaxClusterName);
  return Status::Ok();
}

Result<std::vector<uint8_t>> EncodeBeacon(const Beacon& beacon, const std::string& secret) {
  PLEXUS_RETURN_IF_ERROR(CheckClusterName(beacon.cluster));
  if (beacon.port == 0) return Status::Errorf("discovery", "a beacon needs the node's intake port");
  std::vector<uint8_t> b;
  b.reserve(kMaxBeaconBytes);
  PutU32(b, kBeaconMagic);
  b.push_back(kBeaconVersion);
  b.push_back(static_cast<uint8_t>(beacon.role));
  PutU16(b, beacon.port);
  PutU64(b, beacon.node_id);
  PutU64(b, beacon.mem_available);
  PutU32(b, beacon.cores);
  PutU16(b, beacon.api_port);
  b.push_back(beacon.flags);
  b.push_back(static_cast<uint8_t>(beacon.cluster.size()));
  b.insert(b.end(), beacon.cluster.begin(), beacon.cluster.end());
  const auto tag = Tag(b, secret);
  b.insert(b.end(), tag.begin(), tag.end());
  return b;
}

BeaconReject DecodeBeacon(std::span<const uint8_t> bytes, const std::string& secret, const std::string& cluster,
                          Beacon* out) {
  // Every length is checked before it is used to index: nothing in a datagram is trusted.
  if (bytes.size() > kMaxBeaconBytes) return BeaconReject::kOversized;
  if (bytes.size() < 4) return BeaconReject::kTruncated;
  if (GetLe(bytes.data(), 4) != kBeaconMagic) return BeaconReject::kBadMagic;
  if (bytes.size() < 5) return BeaconReject::kTruncated;
  if (bytes[4] != kBeaconVersion) return BeaconReject::kBadVersion;
  if (bytes.size() < kBeaconFixedBytes) return BeaconReject::kTruncated;
  const size_t name_len = bytes[kBeaconNameLengthAt];
  const size_t want = kBeaconFixedBytes + name_len + kBeaconTagBytes;
  const uint8_t role = bytes[5];
  out->port = static_cast<uint16_t>(GetLe(&bytes[6], 2));
  const uint8_t flags = bytes[30];
  if (name_len == 0 || name_len > kMaxClusterName || out->port == 0 || (flags & ~kBeaconKnownFlags) != 0 ||
      (role != static_cast<uint8_t>(BeaconRole::kNode) && role != static_cast<uint8_t>(BeaconRole::kCoordinator)))
    return BeaconReject::kBadField;
  if (bytes.size() < want) return BeaconReject::kTruncated;
  if (bytes.size() > want) return BeaconReject::kOversized;
  out->role = static_cast<BeaconRole>(role);
  out->node_id = GetLe(&bytes[8], 8);
  out->mem_available = GetLe(&bytes[16], 8);
  out->cores = static_cast<uint32_t>(GetLe(&bytes[24], 4));
  out->api_port = static_cast<uint16_t>(GetLe(&bytes[28], 2));
  out->flags = flags;
  out->cluster.assign(reinterpret_cast<const char*>(&bytes[kBeaconFixedBytes]), name_len);
  // Another cluster on the same network is normal, not an attack: checked before the tag.
  if (out->cluster != cluster) return BeaconReject::kOtherCluster;
  const size_t body = kBeaconFixedBytes + name_len;
  const auto tag = Tag(bytes.first(body), secret);
  if (CRYPTO_memcmp(tag.data(), &bytes[body], kBeaconTagBytes) != 0) return BeaconReject::kBadTag;
  return BeaconReject::kNone;
}

Status ParseDiscoveryAddress(const std::string& text, DiscoveryOptions* options) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos)
    return Status::Errorf("discovery", "--discovery '{}': expected ADDR:PORT, e.g. 239.255.77.77:7788", text);
  const std::string host = text.substr(0, colon);
  in_addr addr{};
  if (::inet_pton(AF_INET, host.c_str(), &addr) != 1 || !IN_MULTICAST(ntohl(addr.s_addr)))
    return Status::Errorf("discovery", "--discovery '{}': '{}' is not an IPv4 multicast address (224.0.0.0/4)", text,
                          host);
  unsigned port = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data() + colon + 1, end, port);
  if (ec != std::errc() || ptr != end || port == 0 || port > 65535)
    return Status::Errorf("discovery", "--discovery '{}': port must be 1..65535", text);
  options->group = host;
  options->port = static_cast<uint16_t>(port);
  return Status::Ok();
}

bool PeerTable::Observe(const Beacon& beacon, const std::string& host, DiscoveryClock::time_point now) {
  auto it = entries_.find(beacon.node_id);
  if (it == entries_.end()) {
    DiscoveredNode n{beacon.node_id, host, beacon.port, beacon.mem_available, beacon.cores, beacon.api_port,
                     beacon.flags};
    entries_.emplace(beacon.node_id, Entry{n, now, now});
    return true;
  }
  Entry& e = it->second;
  e.last_seen = now;
  e.node.mem_available = beacon.mem_available;
  e.node.cores = beacon.cores;
  // A changed role (a node elected, or one that lost its model) is a change of the live set.
  const bool role_changed = e.node.flags != beacon.flags || e.node.api_port != beacon.api_port;
  e.node.flags = beacon.flags;
  e.node.api_port = beacon.api_port;
  if (e.node.host == host) {
    e.address_seen = now;
    if (e.node.port == beacon.port) return role_changed;
    e.node.port = beacon.port;
    return true;
  }
  // The same node heard on another interface: keep the address in use until
  // it goes silent (that interface went down), then move to this one.
  if (now - e.address_seen <= ttl_) return role_changed;
  e.node.host = host;
  e.node.port = beacon.port;
  e.address_seen = now;
  return true;
}

bool PeerTable::Expire(DiscoveryClock::time_point now) {
  bool changed = false;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->second.last_seen > ttl_) {
      it = entries_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  return changed;
}

std::vector<DiscoveredNode> PeerTable::Live() const {
  std::vector<DiscoveredNode> live;
  for (const auto& [id, e] : entries_) live.push_back(e.node);  // std::map: already sorted by id
  return live;
}

BeaconInbox::BeaconInbox(DiscoveryOptions options, std::chrono::milliseconds ttl)
    : opt_(std::move(options)), table_(ttl) {}

void BeaconInbox::Log(const std::string& line) const {
  if (opt_.log) opt_.log(line);
  else std::fprintf(stderr, "plexus: %s\n", line.c_str());
}

bool BeaconInbox::Receive(std::span<const uint8_t> bytes, const std::string& from_host,
                          DiscoveryClock::time_point now) {
  Beacon beacon;
  const BeaconReject why = DecodeBeacon(bytes, opt_.secret, opt_.cluster, &beacon);
  if (why != BeaconReject::kNone) {
    ++rejected_[static_cast<size_t>(why)];
    // Once per sender: a node with the wrong secret beacons twice a second.
    const std::string sender = fmt::format("{}:{}", from_host, beacon.port);
    if (why == BeaconReject::kBadTag && warned_.insert(sender).second)
      Log(fmt::format("discovery: ignoring {}: beacon for cluster '{}' fails authentication (wrong secret?)", sender,
                      beacon.cluster));
    return false;
  }
  if (beacon.role != BeaconRole::kNode) return false;  // only nodes take work
  return table_.Observe(beacon, from_host, now);
}

}  // namespace plexus::cluster
