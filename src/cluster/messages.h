// Control messages between a coordinator and its nodes (docs/PROTOCOL.md,
// "Cluster messages"). Each travels as one frame whose type is a MsgType;
// every decoder is bounds-checked and names the field a bad message breaks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/batch.h"
#include "model/weight_ranges.h"

namespace plexus::cluster {

// Frame types (>= the transport's first user type, 0x100).
enum class MsgType : uint16_t {
  kJob = 0x100,       // coordinator -> node: JobSpec
  kJobReply = 0x101,  // node -> coordinator: JobReply
  kRangeData = 0x102, // coordinator -> node: bytes of the model file at an offset
  kRangesDone = 0x103,  // coordinator -> node: all requested ranges sent; sha256 of them
  kReady = 0x104,     // node -> coordinator: ReadyMsg, shard loaded (its inventory) or why not
  kMesh = 0x105,      // coordinator -> node: MeshSpec, the job mesh's addresses and link probe
  kAskInventory = 0x106,  // coordinator -> node, before JOB (optional): report your inventory
  kInventory = 0x107,     // node -> coordinator: ReadyMsg with the node's inventory before any load
  kStep = 0x110,      // coordinator -> every rank: one forward batch
  kLogits = 0x111,    // last stage -> coordinator: logits of a step
  kDrop = 0x112,      // coordinator -> every rank: forget a sequence's KV cache
  kEnd = 0x113,       // coordinator -> every rank: job over, free everything
  kProbe = 0x114,     // coordinator -> node, while idle: ProbeMsg, measure the raw link to one rank now
  kLinkReport = 0x115,  // node -> coordinator: LinkReport of a node-to-node pair it measured
  kError = 0x120,     // either way: a failure, with its reason
};

struct ModelIdentity {
  std::string sha256;  // hex digest of the whole file
  uint64_t size = 0;
  std::string name;    // file name, for messages
};

struct JobSpec {
  uint64_t job_id = 0;
  int32_t world = 1;  // ranks in the job: tp x ep x pp, laid out as cluster/plan.h says; coordinator = 0
  int32_t rank = 0;   // the receiving node's rank
  std::vector<double> tp_shares;  // one per rank of a TP group
  std::vector<double> pp_shares;  // one per stage
  int32_t ep = 1;                 // expert-parallel replicas of the TP group per stage
  std::vector<double> expert_shares;  // [world]: each rank's share of its stage's experts
  int32_t threads = 0;
  uint32_t kv_type = 1;  // DType id: 1 = f16, 0 = f32
  int64_t max_context = 0;
  ModelIdentity model;
  std::vector<uint8_t> header;  // the GGUF bytes [0, data_offset): metadata and tensor table
};

struct JobReply {
  uint16_t mesh_port = 0;            // where this node listens for the job's mesh
  uint64_t cached_bytes = 0;         // shard bytes it already has (file or cache)
  std::vector<ByteRange> missing;    // shard bytes it needs sent
  std::string error;                 // non-empty: the node refuses the job
};

struct RangeData {
  uint64_t offset = 0;
  std::vector<uint8_t> bytes;
};

// What a node has, reported once its shard is loaded (for the dashboard and
// for sizing the link probe). 0 / empty where the node could not read a value.
struct NodeInventory {
  std::string hostname;
  uint64_t mem_total = 0, mem_available = 0;  // bytes, /proc/meminfo
  uint64_t rss = 0;                           // the node's resident bytes after loading
  int32_t cores = 0;
  std::string simd;                           // SIMD target its kernels dispatch to
  uint64_t weight_bytes = 0;                  // bytes of its shard's weight matrices
  int64_t emulated_latency_ns = 0;            // its --emulate-link (0, 0: none)
  double emulated_bits_per_second = 0;
  // Measured once at node start (0: not measured): read bandwidth and decode
  // kernel speed with all its cores (engine/bench.h MeasureMachineSpeed).
  double membw_gbs = 0;
  double gflops = 0;
  std::vector<std::string> gpus;              // NVIDIA GPU models the driver lists (no CUDA needed)
};

struct ReadyMsg {
  std::string error;        // non-empty: the shard failed to load (inventory then all zero)
  NodeInventory inventory;
};

// How rank 0 measures its link to one node right after the mesh is up:
// `pings` raw ping-pongs of `ping_bytes` (latency), then `bulk_iters` of
// `bulk_bytes` (bandwidth). Both ends run the same plan (src/cluster/runtime.h).
struct LinkProbe {
  uint32_t pings = 0;
  uint32_t ping_bytes = 0;
  uint64_t bulk_bytes = 0;
  uint32_t bulk_iters = 0;
};

struct MeshSpec {
  std::vector<std::string> addresses;  // HOST:PORT per rank
  LinkProbe probe;                     // this node's link probe (a zero plan: none)
  uint8_t transport = 0;               // --transport of the coordinator: a cluster::TransportKind
};

// An idle-time link refresh (docs/PROTOCOL.md, "Link refresh"): both ends of
// the pair get one, naming the other end, and run `plan` together. For a pair
// of nodes the lower rank measures and sends a LinkReport to rank 0.
struct ProbeMsg {
  uint32_t peer = 0;  // the rank at the other end
  LinkProbe plan;
};

struct LinkReport {
  uint32_t a = 0, b = 0;  // ranks, a < b
  double rtt_us = -1;     // median small round trip (-1: not measured)
  double gbps = -1;
};

struct StepMsg {
  std::vector<BatchEntry> entries;
};

struct LogitsMsg {
  uint32_t rows = 0;
  std::vector<float> logits;  // [rows, V]
};

std::vector<uint8_t> Encode(const JobSpec& m);
std::vector<uint8_t> Encode(const JobReply& m);
std::vector<uint8_t> Encode(const RangeData& m);
std::vector<uint8_t> Encode(const ReadyMsg& m);
std::vector<uint8_t> Encode(const MeshSpec& m);
std::vector<uint8_t> Encode(const StepMsg& m);
std::vector<uint8_t> Encode(const LogitsMsg& m);
std::vector<uint8_t> Encode(const ProbeMsg& m);
std::vector<uint8_t> Encode(const LinkReport& m);
std::vector<uint8_t> EncodeText(const std::string& text);  // kRangesDone digest, kError reasons
std::vector<uint8_t> EncodeU32(uint32_t v);                 // kDrop sequence id

Status Decode(std::span<const uint8_t> in, JobSpec* m);
Status Decode(std::span<const uint8_t> in, JobReply* m);
Status Decode(std::span<const uint8_t> in, RangeData* m);
Status Decode(std::span<const uint8_t> in, ReadyMsg* m);
Status Decode(std::span<const uint8_t> in, MeshSpec* m);
Status Decode(std::span<const uint8_t> in, StepMsg* m);
Status Decode(std::span<const uint8_t> in, LogitsMsg* m);
Status Decode(std::span<const uint8_t> in, ProbeMsg* m);
Status Decode(std::span<const uint8_t> in, LinkReport* m);
Status DecodeText(std::span<const uint8_t> in, std::string* text);
Status DecodeU32(std::span<const uint8_t> in, uint32_t* v);

}  // namespace plexus::cluster
