// User-space link emulation (this kernel has no netem): one-way latency and a
// bandwidth cap added to every frame a mesh sends.
//
// Model (docs/PROTOCOL.md, "Link emulation"): each node has one egress "wire"
// shared by all its peers. A frame of B bytes queued at time t starts on the
// wire at s = max(t, wire_free), occupies it until s + B/bandwidth, and becomes
// visible to the peer's socket at s + B/bandwidth + latency. Frames queued
// back to back therefore pay the latency once, not once each. The sender
// holds a frame back until it is visible (sender-side delay queue); the
// receiver is unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace plexus::tcp {

struct LinkSpec {
  int64_t latency_ns = 0;        // one way
  double bits_per_second = 0;    // 0: unlimited
  bool enabled() const { return latency_ns > 0 || bits_per_second > 0; }
  std::string ToString() const;
};

// "300us,2.5gbit", "2ms", "1gbit", "0" (off). Latency units: ns us ms s;
// bandwidth units: bit kbit mbit gbit tbit (powers of 1000, bits per second).
Result<LinkSpec> ParseLinkSpec(const std::string& text);

// The egress wire of one node. Not thread-safe: the mesh holds its lock.
class EmulatedWire {
 public:
  explicit EmulatedWire(LinkSpec spec) : spec_(spec) {}
  const LinkSpec& spec() const { return spec_; }
  // Schedules `bytes` on the wire now; returns the time (NowNs clock) they
  // become visible to the peer.
  int64_t Schedule(size_t bytes, int64_t now_ns);

 private:
  LinkSpec spec_;
  int64_t wire_free_ns_ = 0;
};

}  // namespace plexus::tcp
