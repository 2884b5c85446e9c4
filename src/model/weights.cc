#include "model/weights.h"

#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <thread>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "model/arch.h"
#include "tensor/q4_0_repack.h"
#include "tensor/quant.h"

namespace plexus {
namespace {

// Finds a tensor and checks its GGUF shape [ne0, ne1, ...]. The view has
// ne0 columns and ne1 * ne2 * ... rows.
Result<TensorView> FindShaped(const GgufFile& f, const std::string& name, const std::vector<int64_t>& want) {
  const GgufTensorInfo* info = f.FindTensor(name);
  if (info == nullptr) return Status::Errorf("model", "{}: tensor '{}' is missing", f.name(), name);
  if (info->shape != want)
    return Status::Errorf("model", "{}: tensor '{}' has shape [{}], expected [{}]", f.name(), name,
                          fmt::join(info->shape, ", "), fmt::join(want, ", "));
  return f.View(*info);
}

// [cols] for vectors (rows == 0), [cols, rows] for matrices.
Result<TensorView> Find(const GgufFile& f, const std::string& name, int64_t cols, int64_t rows) {
  return FindShaped(f, name, rows == 0 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows});
}

Result<std::vector<float>> LoadVector(const GgufFile& f, const std::string& name, int64_t n, Range slice) {
  PLEXUS_ASSIGN_OR_RETURN(TensorView v, Find(f, name, n, 0));
  std::vector<float> all(static_cast<size_t>(n));
  DequantizeRow(v.type, v.data, all.data(), n);
  for (float x : all)
    if (!std::isfinite(x)) return Status::Errorf("model", "{}: tensor '{}' holds a non-finite value", f.name(), name);
  return std::vector<float>(all.begin() + slice.begin, all.begin() + slice.end);
}

TensorView RowSlice(const TensorView& m, Range rows) {
  TensorView v = m;
  v.data = m.row(rows.begin);
  v.rows = rows.size();
  return v;
}

// Columns [cols.begin, cols.end) of every row, copied. When the slice does not
// fall on block boundaries it is decoded to F32, which computes the same values.
TensorView ColumnSlice(const GgufFile& f, const TensorView& m, Range cols, ModelWeights& w) {
  const int block = BlockSize(m.type);
  const bool aligned = cols.begin % block == 0 && (cols.end % block == 0 || cols.end == m.cols);
  const DType type = aligned ? m.type : DType::kF32;
  const size_t row_bytes = RowBytes(type, cols.size());
  auto buf = std::make_unique<uint8_t[]>(row_bytes * static_cast<size_t>(m.rows));
  std::vector<float> row(aligned ? 0 : static_cast<size_t>(m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    uint8_t* dst = buf.get() + static_cast<size_t>(r) * row_bytes;
    if (aligned) {
      std::memcpy(dst, m.row(r) + RowBytes(m.type, cols.begin), row_bytes);
    } else {
      DequantizeRow(m.type, m.row(r), row.data(), m.cols);
      std::memcpy(dst, row.data() + cols.begin, row_bytes);
    }
  }
  TensorView v{type, cols.size(), m.rows, buf.get(), row_bytes};
  w.owned_bytes += row_bytes * static_cast<size_t>(m.rows);
  w.owned.push_back(std::move(buf));
  f.DropPages(m.data, m.row_bytes * static_cast<size_t>(m.rows));  // read once; the copy is what stays
  return v;
}

// attn_kv_b rows [rows.begin, rows.end) of `kv_b` [kv_lora cols], transposed
// into an owned f32 matrix [kv_lora rows, rows.size() cols]: the k half of one
// head, so that q_nope -> latent is a plain matrix-vector product.
TensorView TransposedRows(const TensorView& kv_b, Range rows, ModelWeights& w) {
  const int64_t n = rows.size(), lora = kv_b.cols;
  const size_t row_bytes = static_cast<size_t>(n) * sizeof(float);
  auto buf = std::make_unique<uint8_t[]>(row_bytes * static_cast<size_t>(lora));
  auto* out = reinterpret_cast<float*>(buf.get());
  std::vector<float> row(static_cast<size_t>(lora));
  for (int64_t i = 0; i < n; ++i) {
    DequantizeRow(kv_b.type, kv_b.row(rows.begin + i), row.data(), lora);
    for (int64_t j = 0; j < lora; ++j) out[j * n + i] = row[j];
  }
  TensorView v{DType::kF32, n, lora, buf.get(), row_bytes};
  w.owned_bytes += row_bytes * static_cast<size_t>(lora);
  w.owned.push_back(std::move(buf));
  return v;
}

// k_b / v_b of the local heads: views of the split attn_k_b [nope, kv_lora, h]
// and attn_v_b [kv_lora, v, h] (newer llama.cpp files), else built from
// attn_kv_b [kv_lora, h * (nope + v)], whose head i has k rows then v rows.
Status LoadMlaKvB(const GgufFile& f, const ModelConfig& c, const ShardSpec& s, const std::string& p,
                  LayerWeights& l, ModelWeights& w) {
  const MlaConfig& m = c.mla;
  const int64_t h = c.n_heads;
  if (f.FindTensor(p + "attn_k_b.weight") != nullptr) {
    PLEXUS_ASSIGN_OR_RETURN(TensorView k_b, FindShaped(f, p + "attn_k_b.weight", {m.nope, m.kv_lora, h}));
    PLEXUS_ASSIGN_OR_RETURN(TensorView v_b, FindShaped(f, p + "attn_v_b.weight", {m.kv_lora, m.v_dim, h}));
    for (int64_t i = s.heads.begin; i < s.heads.end; ++i) {
      l.k_b.push_back(RowSlice(k_b, {i * m.kv_lora, (i + 1) * m.kv_lora}));
      l.v_b.push_back(RowSlice(v_b, {i * m.v_dim, (i + 1) * m.v_dim}));
    }
    return Status::Ok();
  }
  if (f.FindTensor(p + "attn_kv_b.weight") == nullptr)
    return Status::Errorf("model", "{}: tensor '{}attn_kv_b.weight' is missing (nor the split attn_k_b/attn_v_b)",
                          f.name(), p);
  PLEXUS_ASSIGN_OR_RETURN(TensorView kv_b, Find(f, p + "attn_kv_b.weight", m.kv_lora, h * (m.nope + m.v_dim)));
  for (int64_t i = s.heads.begin; i < s.heads.end; ++i) {
    const int64_t base = i * (m.nope + m.v_dim);
    l.k_b.push_back(TransposedRows(kv_b, {base, base + m.nope}, w));
    l.v_b.push_back(RowSlice(kv_b, {base + m.nope, base + m.nope + m.v_dim}));
  }
  return Status::Ok();
}

// Multi-head latent attention: the q path's rows of the local heads, the
// latent projection whole (every rank computes the shared per-token latent),
// and attn_output's columns of the local heads (v wide each).
Status LoadMla(const GgufFile& f, const ModelConfig& c, const ShardSpec& s, const std::string& p, LayerWeights& l,
               ModelWeights& w) {
  const MlaConfig& m = c.mla;
  const int64_t d = c.n_embd, dh = c.head_dim, h = c.n_heads;
  TensorView wq;
  if (m.q_lora > 0) {
    PLEXUS_ASSIGN_OR_RETURN(l.q_a, Find(f, p + "attn_q_a.weight", d, m.q_lora));
    PLEXUS_ASSIGN_OR_RETURN(l.q_a_norm, LoadVector(f, p + "attn_q_a_norm.weight", m.q_lora, {0, m.q_lora}));
    PLEXUS_ASSIGN_OR_RETURN(wq, Find(f, p + "attn_q_b.weight", m.q_lora, h * dh));
  } else {
    PLEXUS_ASSIGN_OR_RETURN(wq, Find(f, p + "attn_q.weight", d, h * dh));
  }
  l.wq = RowSlice(wq, {s.heads.begin * dh, s.heads.end * dh});
  PLEXUS_ASSIGN_OR_RETURN(l.kv_a, Find(f, p + "attn_kv_a_mqa.weight", d, m.latent()));
  PLEXUS_ASSIGN_OR_RETURN(l.kv_a_norm, LoadVector(f, p + "attn_kv_a_norm.weight", m.kv_lora, {0, m.kv_lora}));
  PLEXUS_RETURN_IF_ERROR(LoadMlaKvB(f, c, s, p, l, w));
  PLEXUS_ASSIGN_OR_RETURN(TensorView wo, Find(f, p + "attn_output.weight", h * m.v_dim, d));
  l.wo = s.tp_size == 1 ? wo : ColumnSlice(f, wo, {s.heads.begin * m.v_dim, s.heads.end * m.v_dim}, w);
  return Status::Ok();
}

// deepseek2's extras of an MoE layer: the score-correction bias (optional:
// V2 has none) and the shared experts, split by rows like a dense FFN.
Status LoadSharedExperts(const GgufFile& f, const ModelConfig& c, const ShardSpec& s, const std::string& p,
                         LayerWeights& l, ModelWeights& w) {
  if (f.FindTensor(p + "exp_probs_b.bias") != nullptr) {
    PLEXUS_ASSIGN_OR_RETURN(l.exp_bias, LoadVector(f, p + "exp_probs_b.bias", c.n_experts, {0, c.n_experts}));
  }
  if (c.n_shared_experts == 0) return Status::Ok();
  const int64_t d = c.n_embd, fs = c.n_ff_shared();
  PLEXUS_ASSIGN_OR_RETURN(TensorView gate, Find(f, p + "ffn_gate_shexp.weight", d, fs));
  PLEXUS_ASSIGN_OR_RETURN(TensorView up, Find(f, p + "ffn_up_shexp.weight", d, fs));
  PLEXUS_ASSIGN_OR_RETURN(TensorView down, Find(f, p + "ffn_down_shexp.weight", fs, d));
  l.sh_gate = RowSlice(gate, s.shexp);
  l.sh_up = RowSlice(up, s.shexp);
  // Split over the expert group, which may be wider than the TP group.
  l.sh_down = s.shexp.size() == fs ? down : ColumnSlice(f, down, s.shexp, w);
  return Status::Ok();
}

Status LoadAttention(const GgufFile& f, const ModelConfig& c, const ShardSpec& s, const std::string& p,
                     LayerWeights& l, ModelWeights& w) {
  if (c.mla.enabled()) return LoadMla(f, c, s, p, l, w);
  const int64_t dh = c.head_dim;
  const Range q_rows{s.heads.begin * dh, s.heads.end * dh};
  const Range kv_rows{s.kv_heads.begin * dh, s.kv_heads.end * dh};
  PLEXUS_ASSIGN_OR_RETURN(TensorView wq, Find(f, p + "attn_q.weight", c.n_embd, c.q_dim()));
  PLEXUS_ASSIGN_OR_RETURN(TensorView wk, Find(f, p + "attn_k.weight", c.n_embd, c.kv_dim()));
  PLEXUS_ASSIGN_OR_RETURN(TensorView wv, Find(f, p + "attn_v.weight", c.n_embd, c.kv_dim()));
  PLEXUS_ASSIGN_OR_RETURN(TensorView wo, Find(f, p + "attn_output.weight", c.q_dim(), c.n_embd));
  l.wq = RowSlice(wq, q_rows);
  l.wk = RowSlice(wk, kv_rows);
  l.wv = RowSlice(wv, kv_rows);
  l.wo = s.tp_size == 1 ? wo : ColumnSlice(f, wo, q_rows, w);
  if (c.traits->qkv_bias) {
    PLEXUS_ASSIGN_OR_RETURN(l.bq, LoadVector(f, p + "attn_q.bias", c.q_dim(), q_rows));
    PLEXUS_ASSIGN_OR_RETURN(l.bk, LoadVector(f, p + "attn_k.bias", c.kv_dim(), kv_rows));
    PLEXUS_ASSIGN_OR_RETURN(l.bv, LoadVector(f, p + "attn_v.bias", c.kv_dim(), kv_rows));
  }
  if (c.traits->qk_norm) {
    PLEXUS_ASSIGN_OR_RETURN(l.q_norm, LoadVector(f, p + "attn_q_norm.weight", dh, {0, dh}));
    PLEXUS_ASSIGN_OR_RETURN(l.k_norm, LoadVector(f, p + "attn_k_norm.weight", dh, {0, dh}));
  }
  return Status::Ok();
}

// One kind of expert matrix (gate, up or down: `kind`) of every expert this
// shard owns, as views: slabs of the 3-D `ffn_{kind}_exps.weight` [cols,
// rows, E], or (older Mixtral files) the 2-D `ffn_{kind}.{e}.weight`.
Status LoadExpertMatrices(const GgufFile& f, const ModelConfig& c, const ShardSpec& s, const std::string& p,
                          const char* kind, int64_t cols, int64_t rows, std::vector<TensorView>& out) {
  out.assign(static_cast<size_t>(c.n_experts), TensorView{});
  const std::string stacked = fmt::format("{}ffn_{}_exps.weight", p, kind);
  if (f.FindTensor(stacked) != nullptr) {
    PLEXUS_ASSIGN_OR_RETURN(TensorView all, FindShaped(f, stacked, {cols, rows, c.n_experts}));
    for (int64_t e = s.experts.begin; e < s.experts.end; ++e) out[e] = RowSlice(all, {e * rows, (e + 1) * rows});
    return Status::Ok();
  }
  if (f.FindTensor(fmt::format("{}ffn_{}.0.weight", p, kind)) == nullptr)
    return Status::Errorf("model", "{}: tensor '{}' is missing (nor per-expert '{}ffn_{}.0.weight')", f.name(), stacked,
                          p, kind);
  for (int64_t e = s.experts.begin; e < s.experts.end; ++e) {
    PLEXUS_ASSIGN_OR_RETURN(out[e], Find(f, fmt::format("{}ffn_{}.{}.weight", p, kind, e), cols, rows));
  }
  return Status::Ok();
}

// An MoE layer: the router (whole on every shard: every rank routes every
// token) and the shard's experts, whole.
Status LoadExperts(const GgufFile& f, const ModelConfig& c, const ShardSpec& s, const std::string& p,
                   LayerWeights& l) {
  if (s.experts.begin < 0 || s.experts.end > c.n_experts)
    return Status::Errorf("model", "{}: shard experts [{},{}) outside the model's {}", f.name(), s.experts.begin,
                          s.experts.end, c.n_experts);
  PLEXUS_ASSIGN_OR_RETURN(l.router, Find(f, p + "ffn_gate_inp.weight", c.n_embd, c.n_experts));
  const int64_t d = c.n_embd, fe = c.n_ff_expert;
  PLEXUS_RETURN_IF_ERROR(LoadExpertMatrices(f, c, s, p, "gate", d, fe, l.exp_gate));
  PLEXUS_RETURN_IF_ERROR(LoadExpertMatrices(f, c, s, p, "up", d, fe, l.exp_up));
  return LoadExpertMatrices(f, c, s, p, "down", fe, d, l.exp_down);
}

Status LoadLayer(const GgufFile& f, const ModelConfig& c, const ShardSpec& s, int64_t layer, LayerWeights& l,
                 ModelWeights& w) {
  const std::string p = fmt::format("blk.{}.", layer);
  const Range all_d{0, c.n_embd};
  PLEXUS_ASSIGN_OR_RETURN(l.attn_norm, LoadVector(f, p + "attn_norm.weight", c.n_embd, all_d));
  PLEXUS_ASSIGN_OR_RETURN(l.ffn_norm, LoadVector(f, p + "ffn_norm.weight", c.n_embd, all_d));
  PLEXUS_RETURN_IF_ERROR(LoadAttention(f, c, s, p, l, w));
  if (c.is_moe_layer(layer)) {
    PLEXUS_RETURN_IF_ERROR(LoadExperts(f, c, s, p, l));
    return LoadSharedExperts(f, c, s, p, l, w);
  }
  PLEXUS_ASSIGN_OR_RETURN(TensorView gate, Find(f, p + "ffn_gate.weight", c.n_embd, c.n_ff));
  PLEXUS_ASSIGN_OR_RETURN(TensorView up, Find(f, p + "ffn_up.weight", c.n_embd, c.n_ff));
  PLEXUS_ASSIGN_OR_RETURN(TensorView down, Find(f, p + "ffn_down.weight", c.n_ff, c.n_embd));
  l.w_gate = RowSlice(gate, s.ffn);
  l.w_up = RowSlice(up, s.ffn);
  l.w_down = s.tp_size == 1 ? down : ColumnSlice(f, down, s.ffn, w);
  return Status::Ok();
}

// YaRN (DeepSeek's yarn_find_correction_range): the rotary dim at which a
// pair completes `rotations` turns over the original context.
double YarnCorrectionDim(double rotations, const ModelConfig& c) {
  return c.n_rot * std::log(static_cast<double>(c.yarn.original_context) / (rotations * 2 * std::numbers::pi)) /
         (2 * std::log(static_cast<double>(c.rope_base)));
}

// inv_freq[i] = base^(-2i/n_rot) * linear_scale / rope_freqs[i] (when the file
// has rope_freqs). Under YaRN, pair i blends the interpolated frequency
// (freq / factor) and the original one: pairs below the ramp (fast, many
// turns over the original context) keep theirs, pairs above it are
// interpolated, linearly between.
Result<std::vector<float>> RopeFrequencies(const GgufFile& f, const ModelConfig& c) {
  const int64_t half = c.n_rot / 2;
  std::vector<float> factors(static_cast<size_t>(half), 1.0f);
  if (f.FindTensor("rope_freqs.weight") != nullptr) {
    PLEXUS_ASSIGN_OR_RETURN(factors, LoadVector(f, "rope_freqs.weight", half, {0, half}));
  }
  double low = 0, high = 0;
  if (c.yarn.enabled()) {
    low = std::max(0.0, std::floor(YarnCorrectionDim(c.yarn.beta_fast, c)));
    high = std::min(static_cast<double>(c.n_rot - 1), std::ceil(YarnCorrectionDim(c.yarn.beta_slow, c)));
  }
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    if (!(factors[i] > 0)) return Status::Errorf("model", "{}: rope_freqs.weight[{}] = {} is not positive", f.name(), i, factors[i]);
    double freq = std::pow(static_cast<double>(c.rope_base), -2.0 * static_cast<double>(i) / static_cast<double>(c.n_rot));
    if (c.yarn.enabled()) {
      const double ramp = std::clamp((static_cast<double>(i) - low) / std::max(0.001, high - low), 0.0, 1.0);
      const double keep = 1.0 - ramp;  // share of the original (extrapolated) frequency
      freq = freq / c.yarn.factor * (1.0 - keep) + freq * keep;
    }
    inv[i] = static_cast<float>(freq * c.rope_linear_scale / factors[i]);
  }
  return inv;
}

uint64_t Bytes(const TensorView& m) { return static_cast<uint64_t>(m.row_bytes) * static_cast<uint64_t>(m.rows); }

// Calls visit(view) on every non-empty matrix of a layer, const or not.
template <typename Layer, typename Visit>
void ForEachMatrix(Layer& l, Visit visit) {
  for (auto* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down, &l.router, &l.sh_gate, &l.sh_up,
                  &l.sh_down, &l.q_a, &l.kv_a})
    if (!v->empty()) visit(*v);
  for (auto* experts : {&l.exp_gate, &l.exp_up, &l.exp_down, &l.k_b, &l.v_b})
    for (auto& v : *experts)
      if (!v.empty()) visit(v);
}

// Where each matrix a step reads whole goes in the anonymous arena.
struct CopyPlan {
  std::vector<TensorView*> views;
  // Source -> bytes to copy: views that share a start (a tied output that is a
  // row slice of token_embd) are copied once, as long as the longest of them.
  std::map<const uint8_t*, size_t> sizes;
  std::map<const uint8_t*, size_t> offsets;  // source -> offset in the arena
  size_t total = 0;                          // arena bytes
};

CopyPlan PlanCopy(ModelWeights& w) {
  // token_embd stays mapped: a step reads one row per token, so only the rows
  // in use become resident (a tied LM head is a row slice of it, copied as
  // `output`). Every matrix a step reads whole is copied.
  CopyPlan plan;
  if (!w.output.empty()) plan.views.push_back(&w.output);
  for (LayerWeights& l : w.layers)
    ForEachMatrix(l, [&](TensorView& v) { plan.views.push_back(&v); });
  constexpr size_t kAlign = 64;
  for (const TensorView* v : plan.views) {
    size_t& n = plan.sizes[v->data];
    n = std::max(n, v->row_bytes * static_cast<size_t>(v->rows));
  }
  for (const auto& [src, n] : plan.sizes) {
    plan.offsets[src] = plan.total;
    plan.total += (n + kAlign - 1) / kAlign * kAlign;
  }
  return plan;
}

void ReleaseFreedHeap() {
#ifdef __GLIBC__
  malloc_trim(0);  // also returns free pages in the middle of the heap (madvise)
#endif
}

// Runs work(i) for i in [0, n) on up to all cores (load-time threads, joined here).
template <class Work>
void ForEachOnAllCores(size_t n, const Work& work) {
  std::atomic<size_t> next{0};
  const auto run = [&] {
    for (size_t i = next++; i < n; i = next++) work(i);
  };
  const size_t threads = std::min<size_t>({n, std::max(1u, std::thread::hardware_concurrency()), 64});
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(run);
  run();
  for (std::thread& h : helpers) h.join();
}

// One piece of a copy pass: [src, src + n) to dst. owned: the heap slice to
// free once copied; null for mapped bytes, which are dropped from this
// process instead.
struct CopyPiece {
  const uint8_t* src;
  uint8_t* dst;
  size_t n;
  std::unique_ptr<uint8_t[]>* owned;
};

// Mapped tensors are copied in pieces of this size, so threads share a big one.
constexpr size_t kCopyPieceBytes = size_t{16} << 20;

// Copies `pieces` on up to all cores. Each write fault in the arena zeroes a
// fresh huge page: on one thread that was half of loading the 1B Q4_0 file
// (perf, clear_page_rep). Load-time threads, joined here: the engine's
// persistent pool is made after the weights.
void CopyPieces(const GgufFile& f, const std::vector<CopyPiece>& pieces) {
  ForEachOnAllCores(pieces.size(), [&](size_t i) {
    const CopyPiece& c = pieces[i];
    std::memcpy(c.dst, c.src, c.n);
    if (c.owned != nullptr) c.owned->reset();
    else f.DropPages(c.src, c.n);  // the copy is what counts: the mapped pages need not stay resident
  });
}

// Rearranges every copied Q4_0 matrix into kQ4_0R (tensor/q4_0_repack.h):
// the decode kernels then read 8 block scales with one load (tg64 of the 1B
// Q4_0 file +4-7%, docs/PERFORMANCE.md). The same values, so the same
// logits as mapped weights, which keep the file's layout. Views that share a
// start (a tied output) are repacked once, as long as the longest.
void RepackQ4_0Matrices(const CopyPlan& plan) {
  struct Rows {
    uint8_t* data;
    int64_t begin, end, cols;
    size_t row_bytes;
  };
  std::map<const uint8_t*, Rows> matrices;
  for (TensorView* v : plan.views) {
    if (v->type != DType::kQ4_0) continue;
    PLEXUS_CHECK(v->row_bytes == RowBytes(DType::kQ4_0, v->cols), "[model] q4_0 rows of {} bytes are not packed",
                 v->row_bytes);
    Rows& m = matrices[v->data];
    m = {const_cast<uint8_t*>(v->data), 0, std::max(m.end, v->rows), v->cols, v->row_bytes};
  }
  std::vector<Rows> pieces;  // about 4 MiB each, so threads share a big matrix
  for (const auto& [start, m] : matrices) {
    const auto step = static_cast<int64_t>(std::max<size_t>(1, (size_t{4} << 20) / m.row_bytes));
    for (int64_t r = 0; r < m.end; r += step) pieces.push_back({m.data, r, std::min(m.end, r + step), m.cols, m.row_bytes});
  }
  ForEachOnAllCores(pieces.size(), [&](size_t i) {
    const Rows& p = pieces[i];
    RepackQ4_0RowsInPlace(p.data + static_cast<size_t>(p.begin) * p.row_bytes, p.end - p.begin, p.cols, p.row_bytes);
  });
  for (TensorView* v : plan.views)
    if (v->type == DType::kQ4_0) v->type = DType::kQ4_0R;
}

// Copies the planned matrices into one anonymous mapping with huge pages
// requested, and points the views at the copies.
Status CopyToAnonymous(const GgufFile& f, ModelWeights& w, const CopyPlan& plan) {
  if (plan.total == 0) return Status::Ok();
  const size_t total = plan.total;
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Status::Errorf("model", "{}: cannot allocate {} bytes for the weights: {}", f.name(), total, std::strerror(errno));
  madvise(p, total, MADV_HUGEPAGE);  // best effort: THP may be off
  auto* base = static_cast<uint8_t*>(p);
  w.arena = std::shared_ptr<uint8_t>(base, [total](uint8_t* q) { munmap(q, total); });
  w.arena_bytes = total;
  // Column slices (heap copies in `owned`) go first and are freed one by one,
  // so the peak stays near the arena's size instead of arena + slices.
  std::map<const uint8_t*, std::unique_ptr<uint8_t[]>*> owned;
  for (auto& buf : w.owned) owned[buf.get()] = &buf;
  for (bool heap_pass : {true, false}) {
    std::vector<CopyPiece> pieces;
    for (const auto& [src, n] : plan.sizes) {
      auto it = owned.find(src);
      if ((it != owned.end()) != heap_pass) continue;
      uint8_t* dst = base + plan.offsets.at(src);
      if (heap_pass) pieces.push_back({src, dst, n, it->second});
      else
        for (size_t at = 0; at < n; at += kCopyPieceBytes)
          pieces.push_back({src + at, dst + at, std::min(kCopyPieceBytes, n - at), nullptr});
    }
    CopyPieces(f, pieces);
    // The freed slices (a few MiB each) may sit in malloc's heap rather than
    // in their own mappings; hand them back before the arena takes the rest,
    // or the peak holds them twice (an 8B tp4 rank's 375 MB of column slices).
    if (heap_pass) ReleaseFreedHeap();
  }
  for (TensorView* v : plan.views) v->data = base + plan.offsets.at(v->data);
  RepackQ4_0Matrices(plan);
  mprotect(p, total, PROT_READ);
  // Column slices were copied into `owned` first; the arena now holds them.
  w.owned.clear();
  w.owned_bytes = 0;
  w.load = WeightLoad::kCopy;
  return Status::Ok();
}

}  // namespace

bool WeightArenaFits(uint64_t bytes, const MemoryInfo& mem) {
  const uint64_t reserve = std::max<uint64_t>(uint64_t{1} << 30, mem.total / 8);
  return mem.available > reserve && bytes <= mem.available - reserve;
}

const char* WeightLoadName(WeightLoad load) {
  switch (load) {
    case WeightLoad::kAuto: return "auto";
    case WeightLoad::kMap: return "mmap";
    case WeightLoad::kCopy: return "copy";
  }
  return "?";
}

std::vector<const TensorView*> LayerWeights::Matrices() const {
  std::vector<const TensorView*> out;
  ForEachMatrix(*this, [&](const TensorView& v) { out.push_back(&v); });
  return out;
}

std::vector<const TensorView*> ModelWeights::Matrices() const {
  std::vector<const TensorView*> out;
  for (const LayerWeights& l : layers)
    for (const TensorView* v : l.Matrices()) out.push_back(v);
  if (!output.empty()) out.push_back(&output);
  return out;
}

uint64_t ModelWeights::MatrixBytes() const {
  uint64_t bytes = 0;
  for (const TensorView* m : Matrices()) bytes += Bytes(*m);
  return bytes;
}

uint64_t ModelWeights::ActiveMatrixBytes(int64_t n_experts_used) const {
  uint64_t bytes = output.empty() ? 0 : Bytes(output);
  for (const LayerWeights& l : layers) {
    // Every token reads all of these (shared experts and MLA included).
    for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down, &l.router, &l.sh_gate,
                                &l.sh_up, &l.sh_down, &l.q_a, &l.kv_a})
      if (!v->empty()) bytes += Bytes(*v);
    for (const auto* heads : {&l.k_b, &l.v_b})
      for (const TensorView& v : *heads) bytes += Bytes(v);
    // The owned experts: a token reads k of them (or all, when fewer are here).
    int64_t owned = 0;
    uint64_t expert_bytes = 0;
    for (size_t e = 0; e < l.exp_gate.size(); ++e) {
      if (l.exp_gate[e].empty()) continue;
      ++owned;
      expert_bytes = Bytes(l.exp_gate[e]) + Bytes(l.exp_up[e]) + Bytes(l.exp_down[e]);
    }
    bytes += static_cast<uint64_t>(std::min(owned, n_experts_used)) * expert_bytes;
  }
  return bytes;
}

Result<int64_t> FfnGranularity(const GgufFile& f) {
  const GgufTensorInfo* down = f.FindTensor("blk.0.ffn_down.weight");
  for (const char* moe : {"blk.0.ffn_down_exps.weight", "blk.0.ffn_down.0.weight"})
    if (down == nullptr) down = f.FindTensor(moe);
  if (down == nullptr) return Status::Errorf("model", "{}: tensor 'blk.0.ffn_down.weight' is missing", f.name());
  return static_cast<int64_t>(BlockSize(down->type));
}

Result<std::unique_ptr<ModelWeights>> LoadWeights(const GgufFile& f, const ModelConfig& c, const ShardSpec& s,
                                                  WeightLoad load) {
  auto w = std::make_unique<ModelWeights>();
  PLEXUS_ASSIGN_OR_RETURN(w->token_embd, Find(f, "token_embd.weight", c.n_embd, c.n_vocab));
  PLEXUS_ASSIGN_OR_RETURN(w->rope_inv_freq, RopeFrequencies(f, c));
  if (s.last_stage) {
    PLEXUS_ASSIGN_OR_RETURN(w->output_norm, LoadVector(f, "output_norm.weight", c.n_embd, {0, c.n_embd}));
    TensorView out = w->token_embd;
    if (!c.tied_embeddings) {
      PLEXUS_ASSIGN_OR_RETURN(out, Find(f, "output.weight", c.n_embd, c.n_vocab));
    }
    w->output = RowSlice(out, s.vocab);
  }
  w->layers.resize(static_cast<size_t>(s.layers.size()));
  for (int64_t layer = s.layers.begin; layer < s.layers.end; ++layer)
    PLEXUS_RETURN_IF_ERROR(LoadLayer(f, c, s, layer, w->layers[layer - s.layers.begin], *w));
  if (load == WeightLoad::kMap) return w;
  const CopyPlan plan = PlanCopy(*w);
  if (load == WeightLoad::kAuto && !WeightArenaFits(plan.total, ReadMemoryInfo())) return w;  // too big to copy: the mapping pages it in
  const Status copied = CopyToAnonymous(f, *w, plan);
  if (!copied.ok() && load == WeightLoad::kCopy) return copied;  // kAuto keeps the mapping instead
  return w;
}

}  // namespace plexus
