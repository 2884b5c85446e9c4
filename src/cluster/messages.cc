#include "cluster/messages.h"

#include <cmath>

#include "cluster/wire.h"

namespace plexus::cluster {
namespace {

constexpr uint64_t kMaxShares = 1024;
constexpr uint64_t kMaxWorld = 1024;
constexpr size_t kMaxHostName = 255;   // RFC 1035 limit on a full domain name
constexpr size_t kMaxSimdName = 64;
constexpr uint64_t kMaxGpus = 64;
constexpr size_t kMaxGpuName = 128;
constexpr uint32_t kMaxPings = 1000;
constexpr uint32_t kMaxPingBytes = 64 << 10;
constexpr uint64_t kMaxBulkBytes = 16 << 20;
constexpr uint32_t kMaxBulkIters = 16;

void PutShares(ByteWriter& w, const std::vector<double>& shares) {
  w.U64(shares.size());
  for (double s : shares) w.F64(s);
}

Status GetShares(ByteReader& r, const char* field, std::vector<double>* shares) {
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(r.Count(field, sizeof(double), &n));
  if (n == 0 || n > kMaxShares) return Status::Errorf("cluster", "job: {} has {} entries", field, n);
  shares->resize(n);
  for (double& s : *shares) {
    PLEXUS_RETURN_IF_ERROR(r.F64(field, &s));
    if (!(s > 0) || !std::isfinite(s)) return Status::Errorf("cluster", "job: {} holds {}", field, s);
  }
  return Status::Ok();
}

// Names shown on the dashboard: printable ASCII only, so a peer cannot smuggle
// control characters into logs or terminals.
Status CheckName(const char* field, const std::string& s, size_t max_len) {
  if (s.size() > max_len) return Status::Errorf("cluster", "ready: {} is {} bytes (at most {})", field, s.size(), max_len);
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return Status::Errorf("cluster", "ready: {} holds the non-printable byte 0x{:02x}", field, c);
  return Status::Ok();
}

Status CheckInventory(const NodeInventory& inv) {
  PLEXUS_RETURN_IF_ERROR(CheckName("hostname", inv.hostname, kMaxHostName));
  PLEXUS_RETURN_IF_ERROR(CheckName("simd", inv.simd, kMaxSimdName));
  if (inv.mem_total > 0 && inv.mem_available > inv.mem_total)
    return Status::Errorf("cluster", "ready: mem_available {} exceeds mem_total {}", inv.mem_available, inv.mem_total);
  if (inv.cores < 0 || inv.cores > (1 << 20)) return Status::Errorf("cluster", "ready: cores {} invalid", inv.cores);
  if (inv.emulated_latency_ns < 0 || inv.emulated_latency_ns > 60'000'000'000LL)
    return Status::Errorf("cluster", "ready: emulated_latency_ns {} invalid", inv.emulated_latency_ns);
  if (!(inv.emulated_bits_per_second >= 0) || !std::isfinite(inv.emulated_bits_per_second))
    return Status::Errorf("cluster", "ready: emulated_bits_per_second {} invalid", inv.emulated_bits_per_second);
  if (!(inv.membw_gbs >= 0) || !std::isfinite(inv.membw_gbs) || inv.membw_gbs > 1e6)
    return Status::Errorf("cluster", "ready: membw_gbs {} invalid", inv.membw_gbs);
  if (!(inv.gflops >= 0) || !std::isfinite(inv.gflops) || inv.gflops > 1e9)
    return Status::Errorf("cluster", "ready: gflops {} invalid", inv.gflops);
  for (const std::string& gpu : inv.gpus) PLEXUS_RETURN_IF_ERROR(CheckName("gpus", gpu, kMaxGpuName));
  return Status::Ok();
}

Status CheckProbe(const LinkProbe& p) {
  if (p.pings > kMaxPings || p.ping_bytes > kMaxPingBytes || (p.pings > 0 && p.ping_bytes == 0))
    return Status::Errorf("cluster", "mesh: probe of {} pings of {} bytes is out of range", p.pings, p.ping_bytes);
  if (p.bulk_iters > kMaxBulkIters || p.bulk_bytes > kMaxBulkBytes || (p.bulk_iters > 0 && p.bulk_bytes == 0))
    return Status::Errorf("cluster", "mesh: probe of {} transfers of {} bytes is out of range", p.bulk_iters,
                          p.bulk_bytes);
  return Status::Ok();
}

}  // namespace

std::vector<uint8_t> Encode(const JobSpec& m) {
  ByteWriter w;
  w.U64(m.job_id);
  w.I32(m.world);
  w.I32(m.rank);
  PutShares(w, m.tp_shares);
  PutShares(w, m.pp_shares);
  w.I32(m.ep);
  PutShares(w, m.expert_shares);
  w.I32(m.threads);
  w.U32(m.kv_type);
  w.I64(m.max_context);
  w.Str(m.model.sha256);
  w.U64(m.model.size);
  w.Str(m.model.name);
  w.Bytes(m.header);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, JobSpec* m) {
  ByteReader r(in, "job");
  PLEXUS_RETURN_IF_ERROR(r.U64("job_id", &m->job_id));
  PLEXUS_RETURN_IF_ERROR(r.I32("world", &m->world));
  PLEXUS_RETURN_IF_ERROR(r.I32("rank", &m->rank));
  PLEXUS_RETURN_IF_ERROR(GetShares(r, "tp_shares", &m->tp_shares));
  PLEXUS_RETURN_IF_ERROR(GetShares(r, "pp_shares", &m->pp_shares));
  PLEXUS_RETURN_IF_ERROR(r.I32("ep", &m->ep));
  PLEXUS_RETURN_IF_ERROR(GetShares(r, "expert_shares", &m->expert_shares));
  PLEXUS_RETURN_IF_ERROR(r.I32("threads", &m->threads));
  PLEXUS_RETURN_IF_ERROR(r.U32("kv_type", &m->kv_type));
  PLEXUS_RETURN_IF_ERROR(r.I64("max_context", &m->max_context));
  PLEXUS_RETURN_IF_ERROR(r.Str("model.sha256", &m->model.sha256));
  PLEXUS_RETURN_IF_ERROR(r.U64("model.size", &m->model.size));
  PLEXUS_RETURN_IF_ERROR(r.Str("model.name", &m->model.name));
  PLEXUS_RETURN_IF_ERROR(r.Bytes("header", &m->header));
  PLEXUS_RETURN_IF_ERROR(r.Done());
  if (m->ep < 1 || m->ep > static_cast<int32_t>(kMaxWorld))
    return Status::Errorf("cluster", "job: ep {} invalid", m->ep);
  const uint64_t world = m->tp_shares.size() * static_cast<uint64_t>(m->ep) * m->pp_shares.size();
  if (m->world <= 0 || static_cast<uint64_t>(m->world) != world || world > kMaxWorld)
    return Status::Errorf("cluster", "job: world {} does not match tp {} x ep {} x pp {}", m->world,
                          m->tp_shares.size(), m->ep, m->pp_shares.size());
  if (m->expert_shares.size() != world)
    return Status::Errorf("cluster", "job: {} expert_shares for a world of {}", m->expert_shares.size(), world);
  if (m->rank <= 0 || m->rank >= m->world)
    return Status::Errorf("cluster", "job: rank {} outside 1..{}", m->rank, m->world - 1);
  if (m->threads < 0 || m->threads > 4096) return Status::Errorf("cluster", "job: threads {} invalid", m->threads);
  if (m->header.size() > m->model.size) return Status::Errorf("cluster", "job: header larger than the model");
  return Status::Ok();
}

std::vector<uint8_t> Encode(const JobReply& m) {
  ByteWriter w;
  w.U32(m.mesh_port);
  w.U64(m.cached_bytes);
  w.U64(m.missing.size());
  for (const ByteRange& r : m.missing) {
    w.U64(r.begin);
    w.U64(r.end);
  }
  w.Str(m.error);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, JobReply* m) {
  ByteReader r(in, "job reply");
  uint32_t port = 0;
  PLEXUS_RETURN_IF_ERROR(r.U32("mesh_port", &port));
  if (port > 65535) return Status::Errorf("cluster", "job reply: mesh_port {} invalid", port);
  m->mesh_port = static_cast<uint16_t>(port);
  PLEXUS_RETURN_IF_ERROR(r.U64("cached_bytes", &m->cached_bytes));
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(r.Count("missing", 16, &n));
  m->missing.resize(n);
  for (ByteRange& range : m->missing) {
    PLEXUS_RETURN_IF_ERROR(r.U64("missing.begin", &range.begin));
    PLEXUS_RETURN_IF_ERROR(r.U64("missing.end", &range.end));
    if (range.end < range.begin) return Status::Errorf("cluster", "job reply: range [{}, {}) is reversed", range.begin, range.end);
  }
  PLEXUS_RETURN_IF_ERROR(r.Str("error", &m->error));
  return r.Done();
}

std::vector<uint8_t> Encode(const RangeData& m) {
  ByteWriter w;
  w.U64(m.offset);
  w.Bytes(m.bytes);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, RangeData* m) {
  ByteReader r(in, "range data");
  PLEXUS_RETURN_IF_ERROR(r.U64("offset", &m->offset));
  PLEXUS_RETURN_IF_ERROR(r.Bytes("bytes", &m->bytes));
  return r.Done();
}

std::vector<uint8_t> Encode(const ReadyMsg& m) {
  ByteWriter w;
  const NodeInventory& inv = m.inventory;
  w.Str(m.error);
  w.Str(inv.hostname);
  w.U64(inv.mem_total);
  w.U64(inv.mem_available);
  w.U64(inv.rss);
  w.I32(inv.cores);
  w.Str(inv.simd);
  w.U64(inv.weight_bytes);
  w.I64(inv.emulated_latency_ns);
  w.F64(inv.emulated_bits_per_second);
  w.F64(inv.membw_gbs);
  w.F64(inv.gflops);
  w.U64(inv.gpus.size());
  for (const std::string& gpu : inv.gpus) w.Str(gpu);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, ReadyMsg* m) {
  ByteReader r(in, "ready");
  NodeInventory& inv = m->inventory;
  PLEXUS_RETURN_IF_ERROR(r.Str("error", &m->error));
  PLEXUS_RETURN_IF_ERROR(r.Str("hostname", &inv.hostname));
  PLEXUS_RETURN_IF_ERROR(r.U64("mem_total", &inv.mem_total));
  PLEXUS_RETURN_IF_ERROR(r.U64("mem_available", &inv.mem_available));
  PLEXUS_RETURN_IF_ERROR(r.U64("rss", &inv.rss));
  PLEXUS_RETURN_IF_ERROR(r.I32("cores", &inv.cores));
  PLEXUS_RETURN_IF_ERROR(r.Str("simd", &inv.simd));
  PLEXUS_RETURN_IF_ERROR(r.U64("weight_bytes", &inv.weight_bytes));
  PLEXUS_RETURN_IF_ERROR(r.I64("emulated_latency_ns", &inv.emulated_latency_ns));
  PLEXUS_RETURN_IF_ERROR(r.F64("emulated_bits_per_second", &inv.emulated_bits_per_second));
  PLEXUS_RETURN_IF_ERROR(r.F64("membw_gbs", &inv.membw_gbs));
  PLEXUS_RETURN_IF_ERROR(r.F64("gflops", &inv.gflops));
  uint64_t n_gpus = 0;
  PLEXUS_RETURN_IF_ERROR(r.Count("gpus", sizeof(uint64_t), &n_gpus));
  if (n_gpus > kMaxGpus) return Status::Errorf("cluster", "ready: gpus has {} entries (at most {})", n_gpus, kMaxGpus);
  inv.gpus.resize(n_gpus);
  for (std::string& gpu : inv.gpus) PLEXUS_RETURN_IF_ERROR(r.Str("gpus", &gpu));
  PLEXUS_RETURN_IF_ERROR(r.Done());
  return CheckInventory(inv);
}

std::vector<uint8_t> Encode(const MeshSpec& m) {
  ByteWriter w;
  w.U64(m.addresses.size());
  for (const std::string& a : m.addresses) w.Str(a);
  w.U32(m.probe.pings);
  w.U32(m.probe.ping_bytes);
  w.U64(m.probe.bulk_bytes);
  w.U32(m.probe.bulk_iters);
  w.U8(m.transport);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, MeshSpec* m) {
  ByteReader r(in, "mesh");
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(r.Count("addresses", 8, &n));
  if (n > kMaxWorld) return Status::Errorf("cluster", "mesh: {} addresses", n);
  m->addresses.resize(n);
  for (std::string& a : m->addresses) PLEXUS_RETURN_IF_ERROR(r.Str("address", &a));
  PLEXUS_RETURN_IF_ERROR(r.U32("probe.pings", &m->probe.pings));
  PLEXUS_RETURN_IF_ERROR(r.U32("probe.ping_bytes", &m->probe.ping_bytes));
  PLEXUS_RETURN_IF_ERROR(r.U64("probe.bulk_bytes", &m->probe.bulk_bytes));
  PLEXUS_RETURN_IF_ERROR(r.U32("probe.bulk_iters", &m->probe.bulk_iters));
  PLEXUS_RETURN_IF_ERROR(r.U8("transport", &m->transport));
  if (m->transport > 3) return Status::Errorf("cluster", "mesh: transport {} is not one this build knows", m->transport);
  PLEXUS_RETURN_IF_ERROR(r.Done());
  return CheckProbe(m->probe);
}

std::vector<uint8_t> Encode(const StepMsg& m) {
  ByteWriter w;
  w.U64(m.entries.size());
  for (const BatchEntry& e : m.entries) {
    w.I32(e.seq);
    w.I32(e.pos);
    w.I32(e.token);
    w.U8(e.want_logits ? 1 : 0);
  }
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, StepMsg* m) {
  ByteReader r(in, "step");
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(r.Count("entries", 13, &n));
  m->entries.resize(n);
  for (BatchEntry& e : m->entries) {
    uint8_t want = 0;
    PLEXUS_RETURN_IF_ERROR(r.I32("seq", &e.seq));
    PLEXUS_RETURN_IF_ERROR(r.I32("pos", &e.pos));
    PLEXUS_RETURN_IF_ERROR(r.I32("token", &e.token));
    PLEXUS_RETURN_IF_ERROR(r.U8("want_logits", &want));
    e.want_logits = want != 0;
  }
  return r.Done();
}

std::vector<uint8_t> Encode(const LogitsMsg& m) {
  ByteWriter w;
  w.U32(m.rows);
  w.U64(m.logits.size());
  w.Raw(m.logits.data(), m.logits.size() * sizeof(float));
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, LogitsMsg* m) {
  ByteReader r(in, "logits");
  PLEXUS_RETURN_IF_ERROR(r.U32("rows", &m->rows));
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(r.Count("logits", sizeof(float), &n));
  m->logits.resize(n);
  PLEXUS_RETURN_IF_ERROR(r.Raw("logits", m->logits.data(), n * sizeof(float)));
  return r.Done();
}

std::vector<uint8_t> Encode(const ProbeMsg& m) {
  ByteWriter w;
  w.U32(m.peer);
  w.U32(m.plan.pings);
  w.U32(m.plan.ping_bytes);
  w.U64(m.plan.bulk_bytes);
  w.U32(m.plan.bulk_iters);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, ProbeMsg* m) {
  ByteReader r(in, "probe");
  PLEXUS_RETURN_IF_ERROR(r.U32("peer", &m->peer));
  PLEXUS_RETURN_IF_ERROR(r.U32("pings", &m->plan.pings));
  PLEXUS_RETURN_IF_ERROR(r.U32("ping_bytes", &m->plan.ping_bytes));
  PLEXUS_RETURN_IF_ERROR(r.U64("bulk_bytes", &m->plan.bulk_bytes));
  PLEXUS_RETURN_IF_ERROR(r.U32("bulk_iters", &m->plan.bulk_iters));
  PLEXUS_RETURN_IF_ERROR(r.Done());
  if (m->peer >= kMaxWorld) return Status::Errorf("cluster", "probe: peer rank {} is out of range", m->peer);
  return CheckProbe(m->plan);
}

std::vector<uint8_t> Encode(const LinkReport& m) {
  ByteWriter w;
  w.U32(m.a);
  w.U32(m.b);
  w.F64(m.rtt_us);
  w.F64(m.gbps);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, LinkReport* m) {
  ByteReader r(in, "link report");
  PLEXUS_RETURN_IF_ERROR(r.U32("a", &m->a));
  PLEXUS_RETURN_IF_ERROR(r.U32("b", &m->b));
  PLEXUS_RETURN_IF_ERROR(r.F64("rtt_us", &m->rtt_us));
  PLEXUS_RETURN_IF_ERROR(r.F64("gbps", &m->gbps));
  PLEXUS_RETURN_IF_ERROR(r.Done());
  if (m->a >= m->b || m->b >= kMaxWorld)
    return Status::Errorf("cluster", "link report: ranks {} and {} are not a pair", m->a, m->b);
  if (!std::isfinite(m->rtt_us) || !std::isfinite(m->gbps))
    return Status::Errorf("cluster", "link report: rtt_us {} or gbps {} is not finite", m->rtt_us, m->gbps);
  return Status::Ok();
}

std::vector<uint8_t> EncodeText(const std::string& text) {
  ByteWriter w;
  w.Str(text);
  return std::move(w.bytes());
}

Status DecodeText(std::span<const uint8_t> in, std::string* text) {
  ByteReader r(in, "text");
  PLEXUS_RETURN_IF_ERROR(r.Str("text", text));
  return r.Done();
}

std::vector<uint8_t> EncodeU32(uint32_t v) {
  ByteWriter w;
  w.U32(v);
  return std::move(w.bytes());
}

Status DecodeU32(std::span<const uint8_t> in, uint32_t* v) {
  ByteReader r(in, "u32");
  PLEXUS_RETURN_IF_ERROR(r.U32("value", v));
  return r.Done();
}

}  // namespace plexus::cluster
