#include "cluster/messages.h"

#include <cmath>

#include "cluster/wire.h"

namespace plexus::cluster {
namespace {

constexpr uint64_t kMaxShares = 1024;
constexpr uint64_t kMaxWorld = 1024;

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

}  // namespace

std::vector<uint8_t> Encode(const JobSpec& m) {
  ByteWriter w;
  w.U64(m.job_id);
  w.I32(m.world);
  w.I32(m.rank);
  PutShares(w, m.tp_shares);
  PutShares(w, m.pp_shares);
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
  PLEXUS_RETURN_IF_ERROR(r.I32("threads", &m->threads));
  PLEXUS_RETURN_IF_ERROR(r.U32("kv_type", &m->kv_type));
  PLEXUS_RETURN_IF_ERROR(r.I64("max_context", &m->max_context));
  PLEXUS_RETURN_IF_ERROR(r.Str("model.sha256", &m->model.sha256));
  PLEXUS_RETURN_IF_ERROR(r.U64("model.size", &m->model.size));
  PLEXUS_RETURN_IF_ERROR(r.Str("model.name", &m->model.name));
  PLEXUS_RETURN_IF_ERROR(r.Bytes("header", &m->header));
  PLEXUS_RETURN_IF_ERROR(r.Done());
  const uint64_t world = m->tp_shares.size() * m->pp_shares.size();
  if (m->world <= 0 || static_cast<uint64_t>(m->world) != world || world > kMaxWorld)
    return Status::Errorf("cluster", "job: world {} does not match tp {} x pp {}", m->world, m->tp_shares.size(),
                          m->pp_shares.size());
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

std::vector<uint8_t> Encode(const MeshSpec& m) {
  ByteWriter w;
  w.U64(m.addresses.size());
  for (const std::string& a : m.addresses) w.Str(a);
  return std::move(w.bytes());
}

Status Decode(std::span<const uint8_t> in, MeshSpec* m) {
  ByteReader r(in, "mesh");
  uint64_t n = 0;
  PLEXUS_RETURN_IF_ERROR(r.Count("addresses", 8, &n));
  if (n > kMaxWorld) return Status::Errorf("cluster", "mesh: {} addresses", n);
  m->addresses.resize(n);
  for (std::string& a : m->addresses) PLEXUS_RETURN_IF_ERROR(r.Str("address", &a));
  return r.Done();
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
