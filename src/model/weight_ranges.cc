#include "model/weight_ranges.h"

#include <algorithm>

#include <fmt/format.h>

#include "model/arch.h"

namespace plexus {
namespace {

class RangeCollector {
 public:
  explicit RangeCollector(const GgufFile& f) : f_(f) {}

  // The whole tensor (vectors, embeddings looked up by row).
  void Whole(const std::string& name) {
    if (const GgufTensorInfo* t = f_.FindTensor(name)) Add(Start(*t), Start(*t) + t->n_bytes);
  }
  // Rows [rows.begin, rows.end) of a matrix.
  void Rows(const std::string& name, Range rows) {
    const GgufTensorInfo* t = f_.FindTensor(name);
    if (t == nullptr) return;
    const uint64_t row_bytes = RowBytes(t->type, t->shape[0]);
    Add(Start(*t) + rows.begin * row_bytes, Start(*t) + rows.end * row_bytes);
  }
  // Columns [cols.begin, cols.end) of every row; off the block grid the
  // loader decodes whole rows, so whole rows are needed.
  void Columns(const std::string& name, Range cols, bool sliced) {
    const GgufTensorInfo* t = f_.FindTensor(name);
    if (t == nullptr) return;
    if (!sliced) return Whole(name);
    const int block = BlockSize(t->type);
    const bool aligned = cols.begin % block == 0 && (cols.end % block == 0 || cols.end == t->shape[0]);
    if (!aligned) return Whole(name);
    const uint64_t row_bytes = RowBytes(t->type, t->shape[0]);
    const uint64_t skip = RowBytes(t->type, cols.begin), take = RowBytes(t->type, cols.size());
    const int64_t n_rows = t->n_elements() / t->shape[0];
    for (int64_t r = 0; r < n_rows; ++r) Add(Start(*t) + r * row_bytes + skip, Start(*t) + r * row_bytes + skip + take);
  }
  void Add(uint64_t begin, uint64_t end) {
    if (end > begin) ranges_.push_back({begin, end});
  }
  std::vector<ByteRange> Take() { return MergeRanges(std::move(ranges_)); }

 private:
  uint64_t Start(const GgufTensorInfo& t) const { return f_.data_offset() + t.offset; }
  const GgufFile& f_;
  std::vector<ByteRange> ranges_;
};

// MoE: the router, and the owned experts' slabs of the 3-D tensors (one
// contiguous run per tensor) or their per-expert 2-D tensors.
void ExpertRanges(RangeCollector& rc, const ModelConfig& c, const ShardSpec& s, const std::string& p) {
  rc.Whole(p + "ffn_gate_inp.weight");
  const int64_t fe = c.n_ff_expert, d = c.n_embd;
  for (const auto& [kind, rows] : {std::pair<const char*, int64_t>{"gate", fe}, {"up", fe}, {"down", d}}) {
    rc.Rows(fmt::format("{}ffn_{}_exps.weight", p, kind), {s.experts.begin * rows, s.experts.end * rows});
    for (int64_t e = s.experts.begin; e < s.experts.end; ++e) rc.Whole(fmt::format("{}ffn_{}.{}.weight", p, kind, e));
  }
}

// deepseek2: the MLA tensors (q rows of the local heads; the latent's
// projection and norms whole; k_b/v_b slabs of the local heads, or all of
// kv_b, from which they are built), shared experts by rows, the router bias.
void MlaRanges(RangeCollector& rc, const ModelConfig& c, const ShardSpec& s, const std::string& p) {
  const MlaConfig& m = c.mla;
  const Range q_rows{s.heads.begin * c.head_dim, s.heads.end * c.head_dim};
  for (const char* v : {"attn_q_a.weight", "attn_q_a_norm.weight", "attn_kv_a_mqa.weight", "attn_kv_a_norm.weight",
                        "attn_kv_b.weight", "exp_probs_b.bias"})
    rc.Whole(p + v);
  rc.Rows(p + "attn_q_b.weight", q_rows);
  rc.Rows(p + "attn_q.weight", q_rows);
  rc.Rows(p + "attn_k_b.weight", {s.heads.begin * m.kv_lora, s.heads.end * m.kv_lora});
  rc.Rows(p + "attn_v_b.weight", {s.heads.begin * m.v_dim, s.heads.end * m.v_dim});
  rc.Columns(p + "attn_output.weight", {s.heads.begin * m.v_dim, s.heads.end * m.v_dim}, s.tp_size > 1);
  rc.Rows(p + "ffn_gate_shexp.weight", s.shexp);
  rc.Rows(p + "ffn_up_shexp.weight", s.shexp);
  rc.Columns(p + "ffn_down_shexp.weight", s.shexp, s.shexp.size() < c.n_ff_shared());
}

void LayerRanges(RangeCollector& rc, const ModelConfig& c, const ShardSpec& s, int64_t layer) {
  const std::string p = fmt::format("blk.{}.", layer);
  if (c.mla.enabled()) {
    MlaRanges(rc, c, s, p);
    for (const char* v : {"attn_norm.weight", "ffn_norm.weight"}) rc.Whole(p + v);
    rc.Rows(p + "ffn_gate.weight", s.ffn);
    rc.Rows(p + "ffn_up.weight", s.ffn);
    rc.Columns(p + "ffn_down.weight", s.ffn, s.tp_size > 1);
    if (c.is_moe_layer(layer)) ExpertRanges(rc, c, s, p);
    return;
  }
  const int64_t dh = c.head_dim;
  const Range q_rows{s.heads.begin * dh, s.heads.end * dh};
  const Range kv_rows{s.kv_heads.begin * dh, s.kv_heads.end * dh};
  const bool sliced = s.tp_size > 1;
  for (const char* v : {"attn_norm.weight", "ffn_norm.weight", "attn_q.bias", "attn_k.bias", "attn_v.bias",
                        "attn_q_norm.weight", "attn_k_norm.weight"})
    rc.Whole(p + v);
  rc.Rows(p + "attn_q.weight", q_rows);
  rc.Rows(p + "attn_k.weight", kv_rows);
  rc.Rows(p + "attn_v.weight", kv_rows);
  rc.Columns(p + "attn_output.weight", q_rows, sliced);
  rc.Rows(p + "ffn_gate.weight", s.ffn);
  rc.Rows(p + "ffn_up.weight", s.ffn);
  rc.Columns(p + "ffn_down.weight", s.ffn, sliced);
  if (c.is_moe()) ExpertRanges(rc, c, s, p);
}

}  // namespace

std::vector<ByteRange> MergeRanges(std::vector<ByteRange> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  std::vector<ByteRange> out;
  for (const ByteRange& r : ranges) {
    if (!out.empty() && r.begin <= out.back().end) out.back().end = std::max(out.back().end, r.end);
    else out.push_back(r);
  }
  return out;
}

uint64_t TotalBytes(const std::vector<ByteRange>& ranges) {
  uint64_t total = 0;
  for (const ByteRange& r : ranges) total += r.size();
  return total;
}

std::vector<ByteRange> ShardByteRanges(const GgufFile& f, const ModelConfig& c, const ShardSpec& s) {
  RangeCollector rc(f);
  rc.Add(0, f.data_offset());
  rc.Whole("rope_freqs.weight");
  if (s.first_stage) rc.Whole("token_embd.weight");
  if (s.last_stage) {
    rc.Whole("output_norm.weight");
    rc.Rows(c.tied_embeddings ? "token_embd.weight" : "output.weight", s.vocab);
  }
  for (int64_t layer = s.layers.begin; layer < s.layers.end; ++layer) LayerRanges(rc, c, s, layer);
  return rc.Take();
}

}  // namespace plexus
