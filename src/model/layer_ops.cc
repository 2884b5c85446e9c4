#include "model/layer_ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <unordered_map>

#include "kernels/ops.h"

namespace plexus {

int64_t LeadingLoneTokens(std::span<const BatchEntry> batch) {
  std::unordered_map<int32_t, int32_t> count;
  for (const BatchEntry& e : batch) ++count[e.seq];
  int64_t n = 0;
  while (n < static_cast<int64_t>(batch.size()) && count[batch[n].seq] == 1) ++n;
  return n;
}

void ProjectRows(const TensorView& w, const float* in, int64_t n, int64_t lone, float* out, ThreadPool& pool) {
  lone = std::clamp<int64_t>(lone, 0, n);
  if (lone > 0 && lone <= kernels::MatVecBatchMaxTokens(w)) {
    kernels::MatVecBatch(w, in, lone, out, pool);
    in += lone * w.cols;
    out += lone * w.rows;
    n -= lone;
  }
  if (n == 1) {
    kernels::MatVec(w, in, out, pool);
  } else if (n > 1) {
    kernels::MatMul(w, in, n, out, pool);
  }
}

void SiluMulRows(float* gate, const float* up, int64_t n, int64_t f) {
  for (int64_t i = 0; i < n; ++i) kernels::SiluMul(gate + i * f, up + i * f, f);
}

void Activations::Resize(const ModelConfig& c, const ShardSpec& s, size_t batch, int n_threads, int64_t max_len) {
  const size_t d = static_cast<size_t>(c.n_embd);
  const size_t q = static_cast<size_t>(s.heads.size() * c.head_dim);
  const size_t kv = static_cast<size_t>(s.kv_heads.size() * c.head_dim);
  const size_t f = static_cast<size_t>(s.ffn.size());
  x.resize(batch * d);
  xn.resize(batch * d);
  this->q.resize(batch * q);
  k.resize(batch * kv);
  v.resize(batch * kv);
  attn.resize(batch * q);
  proj.resize(batch * d);
  gate.resize(batch * f);
  up.resize(batch * f);
  // Per thread: Attend's scratch for one run of queries of one GQA group
  // (kernels::AttendKvHead), or MlaAttend's scores of one (token, head).
  const int64_t group = c.heads_per_kv();
  const size_t attend_scratch = kernels::AttendScratchFloats(group, QueriesPerRun(group, max_len), max_len, c.head_dim);
  scores.resize(static_cast<size_t>(n_threads) * std::max(static_cast<size_t>(max_len), attend_scratch));
  if (c.is_moe()) {
    const size_t e = static_cast<size_t>(c.n_experts), k = static_cast<size_t>(c.n_experts_used);
    const size_t fe = std::max(static_cast<size_t>(c.n_ff_expert), static_cast<size_t>(s.shexp.size()));
    router.resize(batch * e);
    chosen.resize(batch * k);
    chosen_w.resize(batch * k);
    rows_of.reserve(batch);
    rows_w.reserve(batch);
    exp_in.resize(batch * d);
    exp_gate.resize(batch * fe);
    exp_up.resize(batch * fe);
    exp_out.resize(batch * d);
  }
  if (c.mla.enabled()) {  // attn holds v-wide heads, which may be wider than head_dim
    mla.Resize(c, batch);
    attn.resize(batch * static_cast<size_t>(s.heads.size() * std::max(c.head_dim, c.mla.v_dim)));
  }
}

void LayerRun::MatMul(const TensorView& w, const AlignedVector<float>& in, AlignedVector<float>& out) {
  MatMulRows(w, in.data(), 0, static_cast<int64_t>(batch_.size()), out.data());
}

void LayerRun::MatMulRows(const TensorView& w, const float* in, int64_t r0, int64_t n, float* out) {
  MatMulLone(w, in, n, decode_rows_ - r0, out);
}

void LayerRun::Norm(const std::vector<float>& weight) {
  const int64_t d = c_.n_embd;
  for (size_t b = 0; b < batch_.size(); ++b)
    kernels::RmsNorm(a_.x.data() + b * d, weight.data(), a_.xn.data() + b * d, d, c_.rms_eps);
}

// Decode (one token): the three matvecs of the same xn in one pool dispatch,
// xn quantized once; the same outputs as three MatVecs.
void LayerRun::ProjectQkv() {
  if (batch_.size() == 1) {
    const float* x = a_.xn.data();
    const kernels::MatVecJob jobs[] = {{w_.wq, x, a_.q.data()}, {w_.wk, x, a_.k.data()}, {w_.wv, x, a_.v.data()}};
    kernels::MatVecMany(jobs, pool_);
    return;
  }
  MatMul(w_.wq, a_.xn, a_.q);
  MatMul(w_.wk, a_.xn, a_.k);
  MatMul(w_.wv, a_.xn, a_.v);
}

void LayerRun::AddQkvBias() {
  const int64_t nq = w_.wq.rows, nkv = w_.wk.rows;
  for (size_t b = 0; b < batch_.size(); ++b) {
    kernels::Add(a_.q.data() + b * nq, w_.bq.data(), nq);
    kernels::Add(a_.k.data() + b * nkv, w_.bk.data(), nkv);
    kernels::Add(a_.v.data() + b * nkv, w_.bv.data(), nkv);
  }
}

void LayerRun::NormQkHeads() {
  const int64_t dh = c_.head_dim;
  for (size_t i = 0; i < a_.q.size() / dh; ++i)
    kernels::RmsNorm(a_.q.data() + i * dh, w_.q_norm.data(), a_.q.data() + i * dh, dh, c_.rms_eps);
  for (size_t i = 0; i < a_.k.size() / dh; ++i)
    kernels::RmsNorm(a_.k.data() + i * dh, w_.k_norm.data(), a_.k.data() + i * dh, dh, c_.rms_eps);
}

void LayerRun::ApplyRope() {
  const int64_t dh = c_.head_dim;
  const int nq = static_cast<int>(s_.heads.size()), nkv = static_cast<int>(s_.kv_heads.size());
  for (size_t b = 0; b < batch_.size(); ++b) {
    kernels::Rope(a_.q.data() + b * nq * dh, nq, static_cast<int>(dh), batch_[b].pos, inv_freq_.data(), c_.rope_style);
    kernels::Rope(a_.k.data() + b * nkv * dh, nkv, static_cast<int>(dh), batch_[b].pos, inv_freq_.data(), c_.rope_style);
  }
}

void LayerRun::StoreKv() {
  const int64_t w = kv_.kv_width();
  for (size_t b = 0; b < batch_.size(); ++b)
    kv_.Store(batch_[b].seq, layer_, batch_[b].pos, a_.k.data() + b * w, a_.v.data() + b * w);
}

// Entries that attend as one run: consecutive positions of one sequence
// (a prompt chunk), at most max_queries of them; a decode entry is a run of one.
std::vector<QueryRun> QueryRuns(std::span<const BatchEntry> batch, int64_t max_queries) {
  std::vector<QueryRun> runs;
  for (size_t b = 0; b < batch.size(); ++b) {
    if (!runs.empty()) {
      QueryRun& last = runs.back();
      const BatchEntry& prev = batch[b - 1];
      if (last.n < max_queries && batch[b].seq == prev.seq && batch[b].pos == prev.pos + 1) {
        ++last.n;
        continue;
      }
    }
    runs.push_back({b, 1});
  }
  return runs;
}

int64_t QueriesPerRun(int64_t group, int64_t max_len) {
  const int64_t row = group * ((max_len + kernels::kKeyTile - 1) / kernels::kKeyTile * kernels::kKeyTile);
  return std::clamp<int64_t>(kAttendScoreFloats / std::max<int64_t>(row, 1), 1, kAttendMaxQueries);
}

// Work items are (run of entries, local KV head, slice of that KV head's
// local query heads): the heads of a GQA group and the queries of a run
// share the group's cached K and V, so an item reads (and decodes) each
// key and value tile once (kernels::AttendKvHead). Groups are cut into
// slices only when there are fewer items than twice the threads. A query's
// result does not depend on its run (the same arithmetic per query), so a
// prompt's tokens get the bits decoding them one by one would.
void LayerRun::Attend() {
  const int64_t group = c_.heads_per_kv(), n_kv = s_.kv_heads.size();
  int64_t max_len = 0;
  for (const BatchEntry& e : batch_) max_len = std::max<int64_t>(max_len, e.pos + 1);
  const std::vector<QueryRun> runs = QueryRuns(batch_, QueriesPerRun(group, max_len));
  const int64_t units = static_cast<int64_t>(runs.size()) * n_kv;
  const int64_t slices = std::clamp<int64_t>((2 * pool_.size() + units - 1) / units, 1, group);
  const size_t scratch_len = a_.scores.size() / static_cast<size_t>(pool_.size());
  std::atomic<int64_t> next{0};
  pool_.RunOnAll([&](int thread) {
    float* scratch = a_.scores.data() + static_cast<size_t>(thread) * scratch_len;
    // Last runs first: a prompt's later queries attend to more positions.
    for (int64_t taken = next++; taken < units * slices; taken = next++) {
      const int64_t item = units * slices - 1 - taken;
      const int64_t unit = item / slices, slice = item % slices;
      const int64_t kv_head = s_.kv_heads.begin + unit % n_kv;  // model-wide index
      const int64_t h0 = std::max(s_.heads.begin, kv_head * group), h1 = std::min(s_.heads.end, (kv_head + 1) * group);
      const int64_t begin = h0 + (h1 - h0) * slice / slices, end = h0 + (h1 - h0) * (slice + 1) / slices;
      if (begin >= end) continue;
      AttendRun(runs[static_cast<size_t>(unit / n_kv)], unit % n_kv, begin - s_.heads.begin, end - s_.heads.begin,
                scratch);
    }
  });
}

void LayerRun::AttendRun(const QueryRun& run, int64_t kv_local, int64_t head0, int64_t head1, float* scratch) {
  const BatchEntry& first = batch_[run.first];
  const int64_t dh = c_.head_dim, nq = s_.heads.size();
  kernels::KvHeadAttention a;
  a.type = kv_.type();
  a.key_tiles = kv_.Keys(first.seq, layer_, kv_local);
  a.values = kv_.Values(first.seq, layer_, kv_local);
  a.value_row_bytes = kv_.head_v_row_bytes();
  a.dh = dh;
  a.first_len = first.pos + 1;  // causal: positions [0, pos]
  a.n_queries = run.n;
  a.heads = head1 - head0;
  const int64_t offset = (static_cast<int64_t>(run.first) * nq + head0) * dh;
  a.q = a_.q.data() + offset;
  a.out = a_.attn.data() + offset;
  a.q_stride = a.out_stride = nq * dh;
  kernels::AttendKvHead(a, scratch);
}

Status LayerRun::ReduceIntoResidual(Collective& group) {
  PLEXUS_RETURN_IF_ERROR(group.AllReduceSum(a_.proj.data(), a_.proj.size(), ElemType::kF32));
  kernels::Add(a_.x.data(), a_.proj.data(), static_cast<int64_t>(a_.x.size()));
  return Status::Ok();
}

// Row chunk [r0, r1): proj rows = attn rows Wo^T (attn: [B, wo.cols], proj: [B, d]).
Status LayerRun::AttentionOutput() {
  const TensorView& wo = w_.wo;
  return ReduceInChunks([&](int64_t r0, int64_t r1) {
    MatMulRows(wo, a_.attn.data() + r0 * wo.cols, r0, r1 - r0, a_.proj.data() + r0 * wo.rows);
  });
}

// The whole FFN runs per row chunk (xn: [B, d], gate/up: [B, f]), so a
// chunk's reduce overlaps the next chunk's three matrices, not only down's.
Status LayerRun::SwiGluFfn() {
  const int64_t d = w_.w_gate.cols, f = w_.w_gate.rows;
  return ReduceInChunks([&](int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0;
    float* gate = a_.gate.data() + r0 * f;
    float* up = a_.up.data() + r0 * f;
    if (n == 1) {  // decode: gate and up in one pool dispatch (as two MatVecs would give)
      const float* x = a_.xn.data() + r0 * d;
      const kernels::MatVecJob jobs[] = {{w_.w_gate, x, gate}, {w_.w_up, x, up}};
      kernels::MatVecMany(jobs, pool_);
    } else {
      MatMulRows(w_.w_gate, a_.xn.data() + r0 * d, r0, n, gate);
      MatMulRows(w_.w_up, a_.xn.data() + r0 * d, r0, n, up);
    }
    SiluMulRows(gate, up, n, f);
    MatMulRows(w_.w_down, gate, r0, n, a_.proj.data() + r0 * w_.w_down.rows);
  });
}

}  // namespace plexus
