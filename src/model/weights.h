// The weights one shard computes with. Row slices of a matrix are views into
// the memory-mapped file (zero copy); column slices (o_proj and ffn_down in
// tensor parallelism) are copied into memory this shard owns. Then, unless
// WeightLoad says otherwise, every matrix moves into one anonymous arena.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "base/sysinfo.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/shard.h"
#include "tensor/tensor_view.h"

namespace plexus {

// Where the weight matrices live. kMap: views into the file's read-only
// mapping (page cache, zero copy). kCopy: copied once into anonymous memory
// with transparent huge pages requested (an error when that memory cannot
// be had). kAuto (default): kCopy when the copies leave a reserve of
// MemAvailable free (WeightArenaFits), else kMap, which lets the
// kernel page a model bigger than memory. Copied weights decoded faster
// here: 2-6% on the dense 1B files and 17-31% on an MoE file, whose experts
// are read scattered (4 KiB pages of the mapping against 2 MiB huge pages;
// docs/PERFORMANCE.md). llama.cpp saw mapped weights decode 2-4x slower.
// Either way the file stays mapped (metadata, vectors, token_embd).
enum class WeightLoad { kAuto, kMap, kCopy };
const char* WeightLoadName(WeightLoad load);
// kAuto's rule: `bytes` of copies fit when they leave at least 1 GiB, and an
// eighth of the machine's memory, of MemAvailable free (for the KV cache,
// other processes and the page cache). No reading of `mem`: false.
bool WeightArenaFits(uint64_t bytes, const MemoryInfo& mem);

struct LayerWeights {
  std::vector<float> attn_norm;  // [d]
  TensorView wq;                 // [local heads * dh rows, d cols]
  TensorView wk;                 // [local kv heads * dh, d]
  TensorView wv;                 // [local kv heads * dh, d]
  std::vector<float> bq, bk, bv; // qwen2 biases, sliced like the rows above (empty otherwise)
  std::vector<float> q_norm;     // qwen3: [dh] (empty otherwise)
  std::vector<float> k_norm;     // qwen3: [dh]
  TensorView wo;                 // [d rows, local heads * dh cols]
  std::vector<float> ffn_norm;   // [d]
  TensorView w_gate;             // [local ffn rows, d]
  TensorView w_up;               // [local ffn rows, d]
  TensorView w_down;             // [d, local ffn cols]
  // MoE layers (the dense w_gate/w_up/w_down are then empty). Experts are
  // whole row slices of the 3-D ffn_*_exps tensors (zero copy), indexed by
  // global expert id; experts outside shard.experts are empty views.
  TensorView router;                 // [E rows, d]: ffn_gate_inp
  std::vector<TensorView> exp_gate;  // E x [f_e rows, d]
  std::vector<TensorView> exp_up;    // E x [f_e rows, d]
  std::vector<TensorView> exp_down;  // E x [d rows, f_e]
  std::vector<float> exp_bias;       // [E] exp_probs_b: selection-only score bias (deepseek2 V3; may be empty)
  TensorView sh_gate;                // shared experts: [local rows of n_shared * f_e, d]
  TensorView sh_up;                  // [local shared rows, d]
  TensorView sh_down;                // [d, local shared cols]
  // Multi-head latent attention (deepseek2; wq is then attn_q_b's rows of
  // the local heads, [local heads * (nope + rope), q_lora], or attn_q's).
  TensorView q_a;                    // [q_lora rows, d] (empty: no q LoRA, wq takes xn)
  std::vector<float> q_a_norm;       // [q_lora]
  TensorView kv_a;                   // [kv_lora + rope rows, d]: attn_kv_a_mqa, whole on every rank
  std::vector<float> kv_a_norm;      // [kv_lora]
  // Per local head: k_b[i] [kv_lora rows, nope cols] maps q_nope into the
  // latent space (k_nope . q_nope = c_kv . k_b q_nope); v_b[i] [v rows,
  // kv_lora cols] maps the attention-weighted latent to the head's output.
  // From attn_k_b / attn_v_b, or from attn_kv_b (k part transposed to f32).
  std::vector<TensorView> k_b;
  std::vector<TensorView> v_b;

  // Every non-empty matrix of the layer.
  std::vector<const TensorView*> Matrices() const;
};

struct ModelWeights {
  TensorView token_embd;            // [V rows, d]: replicated, rows are looked up
  std::vector<float> output_norm;   // [d]
  TensorView output;                // [local vocab rows, d]
  std::vector<float> rope_inv_freq; // [n_rot / 2]: angle of pair i = pos * inv_freq[i]
  std::vector<LayerWeights> layers; // shard.layers.size() entries, first = shard.layers.begin
  std::vector<std::unique_ptr<uint8_t[]>> owned;  // backing store of copied slices
  size_t owned_bytes = 0;
  std::shared_ptr<uint8_t> arena;  // kCopy: the anonymous mapping that holds the matrices
  size_t arena_bytes = 0;
  WeightLoad load = WeightLoad::kMap;  // where the matrices ended up: kMap or kCopy

  // Every matrix a decode step reads: the layers', and the output (once when tied).
  std::vector<const TensorView*> Matrices() const;
  // Their total size in bytes: what a decode step of a dense model reads, the
  // embedding table aside.
  uint64_t MatrixBytes() const;
  // What one decoded token reads: MatrixBytes, except that an MoE layer
  // counts its router and only `n_experts_used` of its experts (all experts
  // of a layer have the same size), as the router picks k of E per token.
  uint64_t ActiveMatrixBytes(int64_t n_experts_used) const;
};

// Block size of ffn_down's type (ffn_down_exps for MoE models): FFN splits
// fall on multiples of it.
Result<int64_t> FfnGranularity(const GgufFile& file);

// Loads (maps or copies) the weights `shard` needs. Errors name the tensor.
Result<std::unique_ptr<ModelWeights>> LoadWeights(const GgufFile& file, const ModelConfig& config,
                                                  const ShardSpec& shard, WeightLoad load = WeightLoad::kAuto);

}  // namespace plexus
