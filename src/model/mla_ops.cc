// Multi-head latent attention (DeepSeek-V2/V3), computed from the compressed
// cache. Per token (d = model width, h_l = local heads, dh = nope + rope):
//   q      = q_b(RMSNorm(q_a x))             [h_l, dh] = q_nope [nope] | q_pe [rope] per head
//   latent = kv_a_mqa x                       [kv_lora + rope] = c_kv | k_pe
//   c_kv   = RMSNorm(c_kv); q_pe, k_pe rotated (k_pe: ONE head shared by all)
// and the cache keeps only the latent (576 floats per token and layer for V3,
// instead of h * (192 + 128) for full K and V). With k_b / v_b the per-head
// halves of kv_b (k_nope_h = k_b_h c_kv, v_h = v_b_h c_kv), attention is
//   score_h(t) = q_nope . k_b_h c_kv(t) + q_pe . k_pe(t)
//              = [k_b_h^T q_nope | q_pe] . latent(t)          (k_b absorbed into q)
//   out_h      = sum_t p_h(t) v_b_h c_kv(t) = v_b_h (sum_t p_h(t) c_kv(t))  (v_b after the sum)
// so no per-head K or V is ever materialised.
//
// Tensor parallelism: heads split across ranks (q_b rows, attn_output
// columns, k_b/v_b per head). The latent is per token, not per head, so every
// rank computes it (kv_a_mqa is replicated) and caches all of it.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "base/env_flag.h"
#include "kernels/ops.h"
#include "model/layer_ops.h"

namespace plexus {

void MlaActivations::Resize(const ModelConfig& c, size_t batch) {
  q_lat.resize(batch * static_cast<size_t>(std::max<int64_t>(c.mla.q_lora, 1)));
  latent.resize(batch * static_cast<size_t>(c.mla.latent()));
}

void LayerRun::MlaProject() {
  const MlaConfig& m = c_.mla;
  const int64_t dh = c_.head_dim, lat = m.latent(), nh = s_.heads.size();
  MlaActivations& a = a_.mla;
  const auto n = static_cast<int64_t>(batch_.size());
  // The two products of xn: q_a ([B, q_lora]) or, without a q LoRA, wq
  // ([B, h_l * dh]); and kv_a ([B, kv_lora + rope]). Decode runs both in one
  // pool dispatch (the same outputs as two MatVecs).
  const bool lora = !w_.q_a.empty();
  const TensorView& wx = lora ? w_.q_a : w_.wq;
  float* wx_out = lora ? a.q_lat.data() : a_.q.data();
  if (n == 1) {
    const kernels::MatVecJob jobs[] = {{wx, a_.xn.data(), wx_out}, {w_.kv_a, a_.xn.data(), a.latent.data()}};
    kernels::MatVecMany(jobs, pool_);
  } else {
    MatMulRows(wx, a_.xn.data(), 0, n, wx_out);
    MatMul(w_.kv_a, a_.xn, a.latent);
  }
  if (lora) {
    for (int64_t b = 0; b < n; ++b) {
      float* row = a.q_lat.data() + b * m.q_lora;
      kernels::RmsNorm(row, w_.q_a_norm.data(), row, m.q_lora, c_.rms_eps);
    }
    MatMulRows(w_.wq, a.q_lat.data(), 0, n, a_.q.data());  // [B, h_l * dh]
  }
  for (int64_t b = 0; b < n; ++b) {
    const BatchEntry& e = batch_[b];
    float* row = a.latent.data() + b * lat;
    kernels::RmsNorm(row, w_.kv_a_norm.data(), row, m.kv_lora, c_.rms_eps);
    kernels::Rope(row + m.kv_lora, 1, static_cast<int>(m.rope), e.pos, inv_freq_.data(), c_.rope_style);
    for (int64_t h = 0; h < nh; ++h)
      kernels::Rope(a_.q.data() + (b * nh + h) * dh + m.nope, 1, static_cast<int>(m.rope), e.pos, inv_freq_.data(),
                    c_.rope_style);
    kv_.Store(e.seq, layer_, e.pos, row, nullptr);
  }
}

// Latent rows decoded per tile of the one-token path's value sum.
constexpr int64_t kMlaDecodeTile = 32;

void LayerRun::MlaAttendOne(size_t b, int64_t head, float* scores, float* scratch) {
  const MlaConfig& m = c_.mla;
  const int64_t lat = m.latent(), nh = s_.heads.size();
  const BatchEntry& e = batch_[b];
  const DType kv_type = kv_.type();
  const size_t row_bytes = kv_.row_bytes();
  const float* q = a_.q.data() + (static_cast<int64_t>(b) * nh + head) * c_.head_dim;
  float* q_abs = scratch;        // [lat]: k_b^T q_nope | q_pe
  float* o_lat = scratch + lat;  // [kv_lora], then a dequantized latent row after it
  const TensorView& k_b = w_.k_b[head];  // [kv_lora rows, nope cols]
  for (int64_t j = 0; j < m.kv_lora; ++j) q_abs[j] = kernels::Dot(k_b.type, k_b.row(j), q, m.nope);
  std::memcpy(q_abs + m.kv_lora, q + m.nope, m.rope * sizeof(float));
  // With an f16 cache, the query meets the latent in f16 too (as in Attend).
  if (kv_type == DType::kF16) kernels::RoundToHalf(q_abs, lat);
  const int64_t len = e.pos + 1;  // causal: positions [0, pos]
  // The latent rows [len, lat]; their c_kv part [len, kv_lora] (the k_pe after it is not a value).
  const TensorView cache{kv_type, lat, len, kv_.Keys(e.seq, layer_), row_bytes};
  TensorView c_kv = cache;
  c_kv.cols = m.kv_lora;
  const float scale = c_.attn_scale();
  kernels::DotRows(cache, q_abs, scores);  // Dot's bits per row, one dispatch
  for (int64_t t = 0; t < len; ++t) scores[t] *= scale;
  kernels::Softmax(scores, len);
  if (kv_type == DType::kF16) kernels::RoundToHalf(scores, len);
  std::fill_n(o_lat, m.kv_lora, 0.0f);
  float* rows = o_lat + m.kv_lora;  // [kMlaDecodeTile, kv_lora] decoded c_kv rows
  for (int64_t t0 = 0; t0 < len; t0 += kMlaDecodeTile) {
    // Each o_lat element adds its rows in position order, as one Axpy per row did.
    const int64_t t1 = std::min(len, t0 + kMlaDecodeTile);
    int64_t stride = 0;
    const float* tile = kernels::RowsAsFloat(c_kv, t0, t1 - t0, rows, &stride);
    kernels::AxpyRows(scores + t0, t1 - t0, tile, stride, o_lat, m.kv_lora);
  }
  const TensorView& v_b = w_.v_b[head];  // [v rows, kv_lora cols]
  float* out = a_.attn.data() + (static_cast<int64_t>(b) * nh + head) * m.v_dim;
  for (int64_t i = 0; i < m.v_dim; ++i) out[i] = kernels::Dot(v_b.type, v_b.row(i), o_lat, m.kv_lora);
}

// Decode rows (a lone token of its sequence, first in the batch; a
// one-token forward is one) take the one-token path, one work item per (row,
// head), so a sequence gets the same bits whoever shares its step. Prompt
// chunks after them take the batched path below when they hold at least
// kMlaBatchMinRows rows (PLEXUS_MLA_BATCHED=0: never). Shorter chunks gain
// nothing from it and keep the one-token path's f16 rounding points: those
// of the batched path are equally close to the exact result (deepseek2_test),
// but they moved greedy tokens of the chaotic sharp tiny-deepseek2 model
// between one node and tp2 --shares 3,1 (test_cluster_tokens.py, prompt
// "the"), where any change of rounding flips some split.
constexpr size_t kMlaBatchMinRows = 16;

static bool MlaBatchedPrefill() {
  static const bool on = EnvFlag("PLEXUS_MLA_BATCHED", true);
  return on;
}

void LayerRun::MlaAttend() {
  const size_t n = batch_.size();
  const size_t decode = std::min(static_cast<size_t>(decode_rows_), n);
  const size_t lone = MlaBatchedPrefill() && n - decode >= kMlaBatchMinRows ? decode : n;  // one-token path rows
  if (lone > 0) {
    const auto nh = static_cast<size_t>(s_.heads.size()), n_items = lone * nh;
    const size_t scratch_len = a_.scores.size() / static_cast<size_t>(pool_.size());
    const size_t work_len = static_cast<size_t>(c_.mla.latent() + (1 + kMlaDecodeTile) * c_.mla.kv_lora);
    std::atomic<size_t> next{0};
    pool_.RunOnAll([&](int thread) {
      float* scores = a_.scores.data() + static_cast<size_t>(thread) * scratch_len;
      std::vector<float> scratch(work_len);
      for (size_t item = next++; item < n_items; item = next++)
        MlaAttendOne(item % lone, static_cast<int64_t>(item / lone), scores, scratch.data());
    });
  }
  if (lone < n) MlaAttendBatch(lone);
}

// ---- Prefill: the heads' absorptions as matrix products over the batch ----
//
// Per local head h, for the B batch rows:
//   Q_abs_h [B, lat]     = q_nope_h [B, nope] k_b_h^T | q_pe_h     one MatMul
//   S       [tb, len]    = Q_abs_h[block] L^T  (L: the block's cache rows [len, lat], decoded once per (head, block))
//   O_lat_h [B, kv_lora] = softmax(S * scale, causal) C             AxpyRows per (token, tile of rows)
//   attn_h  [B, v]       = O_lat_h v_b_h^T                          one MatMul
// with the decode path's f16 semantics: an f16 cache meets Q_abs and the
// probabilities rounded to f16. Heads run in groups that bound the Q_abs /
// O_lat buffers; a group's (head, token block) items split across the pool.

namespace {

// Tokens per work item: the block's O_lat rows ([16, kv_lora] = 32 KiB for
// V3) stay in L1/L2 while the cache rows stream past them once.
constexpr size_t kMlaTokenBlock = 16;
// Cache rows per tile of the weighted sum: [32, kv_lora] = 64 KiB for V3.
constexpr int64_t kMlaRowTile = 32;
// Bytes of Q_abs + O_lat for one head group.
constexpr size_t kMlaGroupBytes = size_t{16} << 20;

// Runs of at most kMlaTokenBlock consecutive batch rows of one sequence.
std::vector<std::pair<size_t, size_t>> TokenBlocks(std::span<const BatchEntry> batch) {
  std::vector<std::pair<size_t, size_t>> blocks;
  for (size_t b0 = 0; b0 < batch.size();) {
    size_t b1 = b0 + 1;
    while (b1 < batch.size() && b1 - b0 < kMlaTokenBlock && batch[b1].seq == batch[b0].seq) ++b1;
    blocks.emplace_back(b0, b1);
    b0 = b1;
  }
  return blocks;
}

// o_lat [tb, kv_lora] = P C for the block's tokens (P: scores [tb, len],
// softmaxed; C: the c_kv part of the cache rows, k_pe is not a value), token
// j summing rows [0, pos_j] in order. Tiles of kMlaRowTile cache rows, an
// f16 tile decoded once into tile [kMlaRowTile, kv_lora].
void WeightedLatentSum(const TensorView& cache, int64_t kv_lora, const float* scores, std::span<const BatchEntry> block,
                       float* tile, float* o_lat) {
  const int64_t len = cache.rows, tb = static_cast<int64_t>(block.size());
  std::fill_n(o_lat, tb * kv_lora, 0.0f);
  for (int64_t t0 = 0; t0 < len; t0 += kMlaRowTile) {
    const int64_t t1 = std::min(len, t0 + kMlaRowTile);
    TensorView c_kv_rows = cache;  // the c_kv part of each row
    c_kv_rows.cols = kv_lora;
    int64_t stride = 0;
    const float* c_kv = kernels::RowsAsFloat(c_kv_rows, t0, t1 - t0, tile, &stride);
    for (int64_t j = 0; j < tb; ++j) {
      const int64_t end = std::min<int64_t>(t1, block[j].pos + 1);
      if (end > t0) kernels::AxpyRows(scores + j * len + t0, end - t0, c_kv, stride, o_lat + j * kv_lora, kv_lora);
    }
  }
}

}  // namespace

void LayerRun::MlaAttendBatch(size_t first) {
  const MlaConfig& m = c_.mla;
  const int64_t nh = s_.heads.size(), lat = m.latent();
  const size_t n = batch_.size() - first;
  const size_t head_bytes = n * static_cast<size_t>(lat + m.kv_lora) * sizeof(float);
  const int64_t group = std::clamp<int64_t>(static_cast<int64_t>(kMlaGroupBytes / head_bytes), 1, nh);
  MlaActivations& a = a_.mla;
  a.q_abs.resize(static_cast<size_t>(group * lat) * n);
  a.o_lat.resize(static_cast<size_t>(group * m.kv_lora) * n);
  a.head_in.resize(static_cast<size_t>(m.nope) * n);
  a.head_out.resize(static_cast<size_t>(std::max(m.kv_lora, m.v_dim)) * n);
  const std::vector<std::pair<size_t, size_t>> blocks = TokenBlocks(batch_.subspan(first));
  for (int64_t h0 = 0; h0 < nh; h0 += group) {
    const int64_t h1 = std::min(nh, h0 + group), n_items = (h1 - h0) * static_cast<int64_t>(blocks.size());
    MlaAbsorb(h0, h1, first);
    // Items run the latest (longest) blocks first, heads fastest, for balance.
    std::atomic<int64_t> next{0};
    pool_.RunOnAll([&](int) {
      ThreadPool serial(1);
      std::vector<float> scratch;
      for (int64_t item = next++; item < n_items; item = next++) {
        const auto& [b0, b1] = blocks[blocks.size() - 1 - static_cast<size_t>(item / (h1 - h0))];
        MlaAttendBlock(item % (h1 - h0), first, b0, b1, serial, scratch);
      }
    });
    MlaValues(h0, h1, first);
  }
}

void LayerRun::MlaAbsorb(int64_t h0, int64_t h1, size_t first) {
  const MlaConfig& m = c_.mla;
  const int64_t nh = s_.heads.size(), dh = c_.head_dim, lat = m.latent();
  const auto n = static_cast<int64_t>(batch_.size() - first);
  const float* q = a_.q.data() + static_cast<int64_t>(first) * nh * dh;  // [n, nh, dh]
  MlaActivations& a = a_.mla;
  for (int64_t h = h0; h < h1; ++h) {
    for (int64_t b = 0; b < n; ++b)
      std::memcpy(a.head_in.data() + b * m.nope, q + (b * nh + h) * dh, m.nope * sizeof(float));
    kernels::MatMul(w_.k_b[h], a.head_in.data(), n, a.head_out.data(), pool_);  // [n, kv_lora]
    float* q_abs = a.q_abs.data() + (h - h0) * n * lat;
    for (int64_t b = 0; b < n; ++b) {
      std::memcpy(q_abs + b * lat, a.head_out.data() + b * m.kv_lora, m.kv_lora * sizeof(float));
      std::memcpy(q_abs + b * lat + m.kv_lora, q + (b * nh + h) * dh + m.nope, m.rope * sizeof(float));
    }
    if (kv_.type() == DType::kF16) kernels::RoundToHalf(q_abs, n * lat);
  }
}

// scratch: [tb, len] scores, then [kMlaRowTile, kv_lora] decoded c_kv rows.
void LayerRun::MlaAttendBlock(int64_t g, size_t first, size_t b0, size_t b1, ThreadPool& serial,
                              std::vector<float>& scratch) {
  const MlaConfig& m = c_.mla;
  const std::span<const BatchEntry> rows = batch_.subspan(first);
  const int64_t lat = m.latent(), n = static_cast<int64_t>(rows.size()), tb = static_cast<int64_t>(b1 - b0);
  const DType kv_type = kv_.type();
  const size_t row_bytes = kv_.row_bytes();
  int64_t len = 0;  // causal: row b sees cache positions [0, pos_b]
  for (size_t b = b0; b < b1; ++b) len = std::max<int64_t>(len, rows[b].pos + 1);
  const TensorView cache{kv_type, lat, len, kv_.Keys(rows[b0].seq, layer_), row_bytes};
  scratch.resize(static_cast<size_t>((tb * len) + kMlaRowTile * m.kv_lora));
  float* scores = scratch.data();  // [tb, len]
  kernels::MatMul(cache, a_.mla.q_abs.data() + (g * n + static_cast<int64_t>(b0)) * lat, tb, scores, serial);
  const float scale = c_.attn_scale();
  for (int64_t j = 0; j < tb; ++j) {
    float* s = scores + j * len;
    const int64_t seen = rows[b0 + j].pos + 1;
    for (int64_t t = 0; t < seen; ++t) s[t] *= scale;
    kernels::Softmax(s, seen);
    if (kv_type == DType::kF16) kernels::RoundToHalf(s, seen);
  }
  float* o_lat = a_.mla.o_lat.data() + (g * n + static_cast<int64_t>(b0)) * m.kv_lora;  // [tb, kv_lora]
  WeightedLatentSum(cache, m.kv_lora, scores, rows.subspan(b0, b1 - b0), scratch.data() + tb * len, o_lat);
}

void LayerRun::MlaValues(int64_t h0, int64_t h1, size_t first) {
  const MlaConfig& m = c_.mla;
  const int64_t nh = s_.heads.size();
  const auto n = static_cast<int64_t>(batch_.size() - first);
  float* attn = a_.attn.data() + static_cast<int64_t>(first) * nh * m.v_dim;  // [n, nh, v]
  MlaActivations& a = a_.mla;
  for (int64_t h = h0; h < h1; ++h) {
    kernels::MatMul(w_.v_b[h], a.o_lat.data() + (h - h0) * n * m.kv_lora, n, a.head_out.data(), pool_);  // [n, v]
    for (int64_t b = 0; b < n; ++b)
      std::memcpy(attn + (b * nh + h) * m.v_dim, a.head_out.data() + b * m.v_dim, m.v_dim * sizeof(float));
  }
}

}  // namespace plexus
