// The frame: the unit of the plexus wire protocol (docs/PROTOCOL.md, v1).
//
// Every message on a plexus TCP connection is a 24-byte little-endian header
// followed by `length` payload bytes:
//   0  u32 magic 'PLXF'   4 u8 version   5 u8 flags (0)   6 u16 type
//   8  u32 channel        12 u32 length  16 u32 payload CRC32C
//   20 u32 header CRC32C of bytes 0..19
// The header CRC is checked before `length` is trusted; `length` is checked
// against kMaxFramePayload before anything is allocated or read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace plexus::tcp {

constexpr uint32_t kFrameMagic = 0x46584C50;  // "PLXF" read as little-endian u32
constexpr uint8_t kProtocolVersion = 5;  // 5: READY carries speed and GPUs; 4: PROBE / LINK_REPORT (idle link refresh); 3: MESH carries the transport
constexpr size_t kFrameHeaderBytes = 24;
constexpr uint32_t kMaxFramePayload = 16u << 20;  // protocol limit; larger frames are hostile
constexpr uint32_t kMaxErrorPayload = 1024;       // ERROR and ABORT texts

// Frame types below kFirstUserType are the protocol's own.
enum FrameType : uint16_t {
  kHello = 1,      // handshake: ranks, link kind, nonce
  kAuth = 2,       // handshake: HMAC-SHA256 proof
  kError = 3,      // the sender is closing the connection; payload: reason text
  kHeartbeat = 4,  // liveness, empty
  kData = 5,       // collective / pipeline bytes of `channel`
  kAbort = 6,      // the sender gave up the operation on `channel`; payload: reason
  kFirstUserType = 0x100,  // control frames (SendFrame/RecvFrame) use types >= this
};

struct FrameHeader {
  uint16_t type = 0;
  uint32_t channel = 0;
  uint32_t length = 0;
  uint32_t payload_crc = 0;
};

// Writes the 24 header bytes (payload_crc must already be set).
void EncodeHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]);
// Validates magic, version, header CRC and the size limit; never trusts more.
Result<FrameHeader> DecodeHeader(const uint8_t in[kFrameHeaderBytes], uint32_t max_payload = kMaxFramePayload);
std::string FrameTypeName(uint16_t type);

}  // namespace plexus::tcp
