#include "comm/tcp/frame.h"

#include <cstring>

#include "comm/tcp/crc32c.h"

namespace plexus::tcp {
namespace {

void Put16(uint8_t* p, uint16_t v) { p[0] = v & 0xFF, p[1] = v >> 8; }
void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = (v >> (8 * i)) & 0xFF;
}
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

void EncodeHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]) {
  Put32(out, kFrameMagic);
  out[4] = kProtocolVersion;
  out[5] = 0;
  Put16(out + 6, h.type);
  Put32(out + 8, h.channel);
  Put32(out + 12, h.length);
  Put32(out + 16, h.payload_crc);
  Put32(out + 20, Crc32c(out, 20));
}

Result<FrameHeader> DecodeHeader(const uint8_t in[kFrameHeaderBytes], uint32_t max_payload) {
  if (Get32(in) != kFrameMagic) return Status::Errorf("tcp", "bad frame magic 0x{:08x} (not a plexus peer?)", Get32(in));
  if (in[4] != kProtocolVersion)
    return Status::Errorf("tcp", "unsupported protocol version {} (this build speaks {})", in[4], kProtocolVersion);
  if (Get32(in + 20) != Crc32c(in, 20)) return Status::Errorf("tcp", "frame header checksum mismatch");
  if (in[5] != 0) return Status::Errorf("tcp", "unknown frame flags 0x{:02x}", in[5]);
  FrameHeader h;
  h.type = Get16(in + 6);
  h.channel = Get32(in + 8);
  h.length = Get32(in + 12);
  h.payload_crc = Get32(in + 16);
  if (h.length > max_payload)
    return Status::Errorf("tcp", "oversized frame: {} payload bytes (limit {})", h.length, max_payload);
  return h;
}

std::string FrameTypeName(uint16_t type) {
  switch (type) {
    case kHello: return "HELLO";
    case kAuth: return "AUTH";
    case kError: return "ERROR";
    case kHeartbeat: return "HEARTBEAT";
    case kData: return "DATA";
    case kAbort: return "ABORT";
    default: return type >= kFirstUserType ? fmt::format("control#{}", type) : fmt::format("unknown#{}", type);
  }
}

}  // namespace plexus::tcp
