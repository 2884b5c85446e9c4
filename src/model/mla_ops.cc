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

#include "kernels/ops.h"
#include "model/layer_ops.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"

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
  if (kv_type == DType::kF16)
    for (int64_t i = 0; i < lat; ++i) q_abs[i] = F16ToF32(F32ToF16(q_abs[i]));
  const uint8_t* cache = kv_.Keys(e.seq, layer_);
  const int64_t len = e.pos + 1;  // causal: positions [0, pos]
  const float scale = c_.attn_scale();
  for (int64_t t = 0; t < len; ++t) scores[t] = kernels::Dot(kv_type, cache + t * row_bytes, q_abs, lat) * scale;
  kernels::Softmax(scores, len);
  std::fill_n(o_lat, m.kv_lora, 0.0f);
  float* row = o_lat + m.kv_lora;  // [kv_lora]
  for (int64_t t = 0; t < len; ++t) {
    DequantizeRow(kv_type, cache + t * row_bytes, row, m.kv_lora);  // c_kv(t); k_pe is not a value
    const float p = kv_type == DType::kF16 ? F16ToF32(F32ToF16(scores[t])) : scores[t];
    for (int64_t i = 0; i < m.kv_lora; ++i) o_lat[i] += p * row[i];
  }
  const TensorView& v_b = w_.v_b[head];  // [v rows, kv_lora cols]
  float* out = a_.attn.data() + (static_cast<int64_t>(b) * nh + head) * m.v_dim;
  for (int64_t i = 0; i < m.v_dim; ++i) out[i] = kernels::Dot(v_b.type, v_b.row(i), o_lat, m.kv_lora);
}

// Work items are (head, token), head-major, so a thread's consecutive items
// reuse one head's k_b and v_b from its cache.
void LayerRun::MlaAttend() {
  const int64_t nh = s_.heads.size();
  const size_t n_tok = batch_.size(), n_items = n_tok * static_cast<size_t>(nh);
  const size_t scratch_len = a_.scores.size() / static_cast<size_t>(pool_.size());
  const size_t work_len = static_cast<size_t>(c_.mla.latent() + 2 * c_.mla.kv_lora);
  std::atomic<size_t> next{0};
  pool_.RunOnAll([&](int thread) {
    float* scores = a_.scores.data() + static_cast<size_t>(thread) * scratch_len;
    std::vector<float> scratch(work_len);
    for (size_t item = next++; item < n_items; item = next++)
      MlaAttendOne(item % n_tok, static_cast<int64_t>(item / n_tok), scores, scratch.data());
  });
}

}  // namespace plexus
