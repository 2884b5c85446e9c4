// The building blocks of a transformer layer, shared by every architecture.
// An architecture file composes them into its layer (see llama.cc); the
// blocks run this shard's heads and FFN rows and all-reduce the partial
// outputs over the tensor-parallel group.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "base/aligned_vector.h"
#include "base/collective.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/shard.h"
#include "model/weights.h"

namespace plexus {

class AsyncReducer;

// Multi-head latent attention buffers (deepseek2; see mla_ops.cc).
struct MlaActivations {
  AlignedVector<float> q_lat;     // [B, q_lora]          q LoRA activations
  AlignedVector<float> latent;    // [B, kv_lora + rope]  c_kv (normalised) | k_pe (rotated): what the cache keeps
  // Prefill (B > 1), for a group of G local heads (mla_ops.cc MlaAttendBatch):
  AlignedVector<float> q_abs;     // [G, B, kv_lora + rope] k_b_h^T q_nope | q_pe per head
  AlignedVector<float> o_lat;     // [G, B, kv_lora]        sum_t p(t) c_kv(t) per head
  AlignedVector<float> head_in;   // [B, nope]              one head's q_nope, gathered
  AlignedVector<float> head_out;  // [B, max(kv_lora, v)]   one head's product before scattering
  void Resize(const ModelConfig& c, size_t batch);
};

// The local experts that exactly one batch row chose (every chosen expert in
// decode) run as matvecs, all their gate/up in one pool dispatch and all their
// downs in another (moe_ops.cc RunSoloExperts); m <= B * k of them. Grown on
// demand, never shrunk.
struct SoloExperts {
  std::vector<int32_t> count;   // [local E] batch rows routed to each local expert
  std::vector<int32_t> slot;    // [local E] its index i below when count == 1
  std::vector<int32_t> expert;  // [m] expert id of solo expert i
  std::vector<int32_t> row;     // [m] the batch row that chose it
  AlignedVector<float> weight;    // [m] that row's gate weight for it
  AlignedVector<float> gate;      // [m, f_e]
  AlignedVector<float> up;        // [m, f_e]
  AlignedVector<float> out;       // [m, d]
  std::vector<kernels::MatVecJob> jobs;  // [2m] the current dispatch
};

// Attend runs up to this many consecutive queries of a prompt together,
// while their scores ([queries, group, context]) fit kAttendScoreFloats.
inline constexpr int64_t kAttendMaxQueries = 16;
inline constexpr int64_t kAttendScoreFloats = int64_t{1} << 20;

// Consecutive batch entries [first, first + n) that attend together.
struct QueryRun {
  size_t first = 0;
  int64_t n = 1;
};
std::vector<QueryRun> QueryRuns(std::span<const BatchEntry> batch, int64_t max_queries);
// Queries per run for a GQA group of `group` heads over max_len positions.
int64_t QueriesPerRun(int64_t group, int64_t max_len);

// Activation buffers for one batch of B entries, all row-major, each starting
// on a cache line (the kernels read rows in 64-byte vectors).
struct Activations {
  AlignedVector<float> x;     // [B, d]      residual stream (whole on every TP rank)
  AlignedVector<float> xn;    // [B, d]      normalised input of the current block
  AlignedVector<float> q;     // [B, hq*dh]  local query heads
  AlignedVector<float> k;     // [B, hkv*dh] local KV heads
  AlignedVector<float> v;     // [B, hkv*dh]
  AlignedVector<float> attn;  // [B, hq*dh]  attention output per local head
  AlignedVector<float> proj;  // [B, d]      partial block output before the all-reduce
  AlignedVector<float> gate;  // [B, f]      local FFN rows
  AlignedVector<float> up;    // [B, f]
  AlignedVector<float> scores;  // [threads, kernels::AttendScratchFloats(...)] attention scratch
  // Mixture of experts (n = tokens routed to one expert, n <= B).
  AlignedVector<float> router;       // [B, E]   router logits
  std::vector<int32_t> chosen;     // [B, k]   expert ids each token is routed to
  AlignedVector<float> chosen_w;     // [B, k]   their gate weights
  std::vector<int32_t> rows_of;    // [n]      batch rows routed to the current expert
  AlignedVector<float> rows_w;       // [n]      their gate weights for it
  AlignedVector<float> exp_in;       // [n, d]   the gathered xn rows
  AlignedVector<float> exp_gate;     // [n, f_e] (shared experts: [B, local shared rows])
  AlignedVector<float> exp_up;       // [n, f_e]
  AlignedVector<float> exp_out;      // [n, d]
  SoloExperts solo;                // decode's fused experts
  MlaActivations mla;              // deepseek2 only
  void Resize(const ModelConfig& c, const ShardSpec& s, size_t batch, int n_threads, int64_t max_len);
};

// How many leading entries of `batch` are the only entry of their sequence:
// a batched decode step's tokens (the scheduler puts its decode entries
// before any prompt chunk). Each of them alone would be a one-token forward.
int64_t LeadingLoneTokens(std::span<const BatchEntry> batch);

// out = in W^T for n rows (in: [n, w.cols], out: [n, w.rows]) whose first
// `lone` rows are lone tokens of their sequences (LeadingLoneTokens). Those
// rows get exactly the bits of a one-token forward (kernels::MatVecBatch,
// bit-identical to MatVec) while lone <= kernels::MatVecBatchMaxTokens(w); the
// others (prompt chunks) take the float MatMul, whose results the numpy
// reference tests bound. n == 1 is MatVec either way.
void ProjectRows(const TensorView& w, const float* in, int64_t n, int64_t lone, float* out, ThreadPool& pool);

// In place: gate = silu(gate) * up, row by row (gate, up: [n, f]): each
// row's vector lanes and tail are those of a one-token forward.
void SiluMulRows(float* gate, const float* up, int64_t n, int64_t f);

class LayerRun {
 public:
  LayerRun(const ModelConfig& c, const ShardSpec& s, const LayerWeights& w, int64_t layer_local,
           std::span<const BatchEntry> batch, Activations& a, KvCache& kv, Collective& tp, Collective& experts,
           ThreadPool& pool, const std::vector<float>& rope_inv_freq)
      : c_(c), s_(s), w_(w), layer_(layer_local), batch_(batch), a_(a), kv_(kv), tp_(tp), experts_(experts),
        pool_(pool), inv_freq_(rope_inv_freq) {}

  const LayerWeights& weights() const { return w_; }
  const ModelConfig& config() const { return c_; }
  // Prefill in a TP group: AttentionOutput and SwiGluFfn reduce in `chunks`
  // row chunks on `reducer`'s thread, overlapped with the next chunk's
  // compute (overlap.cc). Default: one reduce on the calling thread.
  void OverlapReduces(AsyncReducer* reducer, int chunks) {
    reducer_ = reducer;
    chunks_ = chunks;
  }

  // The batch's first n entries are lone tokens of their sequences
  // (LeadingLoneTokens): their products take MatVec's bits (ProjectRows).
  // Default 0: every product of a batch of several entries is a MatMul.
  void DecodeRows(int64_t n) { decode_rows_ = n; }

  void Norm(const std::vector<float>& weight);  // xn = RMSNorm(x) * weight
  void ProjectQkv();                            // q, k, v = xn Wq^T, xn Wk^T, xn Wv^T
  void AddQkvBias();                            // q += bq, k += bk, v += bv
  void NormQkHeads();                           // per-head RMSNorm of q and k
  void ApplyRope();                             // rotate q and k by position
  void StoreKv();                               // k, v -> cache at each entry's position
  void Attend();                                // attn = softmax(q K^T / sqrt(dh)) V, causal
  Status AttentionOutput();                     // x += all_reduce(attn Wo^T)
  Status SwiGluFfn();                           // x += all_reduce(down(silu(gate xn) * up xn))
  // x += all_reduce(sum over the k routed experts e this shard owns of
  // w_e * down_e(silu(gate_e xn) * up_e xn) + the local shared-expert rows'
  // output), reduced once over the expert group; see moe_ops.cc.
  Status MoeFfn();
  // Multi-head latent attention (mla_ops.cc), after Norm: MlaProject computes
  // the local heads' q and the token's latent and caches the latent;
  // MlaAttend leaves attn = [B, local heads * v] for AttentionOutput.
  void MlaProject();
  void MlaAttend();

 private:
  void MatMul(const TensorView& w, const AlignedVector<float>& in, AlignedVector<float>& out);
  // Rows [r0, r0 + n) of the batch (or n rows gathered from it, the first
  // `lone` of them decode rows): ProjectRows.
  void MatMulRows(const TensorView& w, const float* in, int64_t r0, int64_t n, float* out);
  void MatMulLone(const TensorView& w, const float* in, int64_t n, int64_t lone, float* out) {
    ProjectRows(w, in, n, lone, out, pool_);
  }
  void Route();                  // router -> chosen, chosen_w
  void RunExperts();             // proj += every local expert's weighted output, by increasing id
  void CountExpertRows();        // a_.solo's count, slot, expert, row, weight
  void RunSoloExperts();         // a_.solo.out = the solo experts' outputs (unweighted)
  void RunExpert(int64_t e);     // proj += this expert's weighted output for its rows
  void SharedExperts();          // proj += the shared experts' output (local rows)
  // Attend for a run of entries, local KV head kv_local and its local query
  // heads [head0, head1); scratch: kernels::AttendScratchFloats(...).
  void AttendRun(const QueryRun& run, int64_t kv_local, int64_t head0, int64_t head1, float* scratch);
  // One (token, local head) of MlaAttend; scratch: [context] scores, [kv_lora + rope + (1 + 32) * kv_lora]
  // floats (q_abs, o_lat, a tile of decoded latent rows).
  void MlaAttendOne(size_t b, int64_t head, float* scores, float* scratch);
  // Prefill (mla_ops.cc): attn for batch rows [first, B) (B' = B - first of
  // them), heads in groups; the three steps below for local heads [h0, h1)
  // (group slot g = h - h0). Row indices b0, b1 count from `first`.
  void MlaAttendBatch(size_t first);
  void MlaAbsorb(int64_t h0, int64_t h1, size_t first);  // q_abs = k_b^T q_nope | q_pe, one MatMul per head
  // o_lat of group slot g for rows [b0, b1) (one sequence); ThreadPool
  // `serial` (one thread) runs the block's score MatMul on the calling thread.
  void MlaAttendBlock(int64_t g, size_t first, size_t b0, size_t b1, ThreadPool& serial, std::vector<float>& scratch);
  void MlaValues(int64_t h0, int64_t h1, size_t first);  // attn_h = o_lat v_b_h^T, one MatMul per head
  Status ReduceIntoResidual() { return ReduceIntoResidual(tp_); }
  Status ReduceIntoResidual(Collective& group);  // x += all_reduce over `group` of proj
  // compute(r0, r1) writes proj rows [r0, r1); then x += all_reduce(proj),
  // in chunks when OverlapReduces is set (overlap.cc).
  Status ReduceInChunks(const std::function<void(int64_t r0, int64_t r1)>& compute);

  const ModelConfig& c_;
  const ShardSpec& s_;
  const LayerWeights& w_;
  int64_t layer_;
  std::span<const BatchEntry> batch_;
  Activations& a_;
  KvCache& kv_;
  Collective& tp_;       // attention, dense FFN: the tensor-parallel group
  Collective& experts_;  // the MoE block: the expert group (tp_ itself unless expert parallel)
  ThreadPool& pool_;
  const std::vector<float>& inv_freq_;
  AsyncReducer* reducer_ = nullptr;  // set by OverlapReduces
  int chunks_ = 1;
  int64_t decode_rows_ = 0;  // set by DecodeRows
};

}  // namespace plexus
