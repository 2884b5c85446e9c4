// A loaded model shard and its forward pass.
//
// The forward is written once, against a ShardSpec and a Collective: a single
// node is FullShard() with a NoopCollective, and tensor / pipeline parallel
// runs use the same code with other shards and collectives.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "base/async_reducer.h"
#include "base/collective.h"
#include "base/thread_pool.h"
#include "format/gguf.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/layer_ops.h"
#include "model/shard.h"
#include "model/weights.h"

namespace plexus {

struct ModelOptions {
  int64_t max_context = 0;  // KV positions per sequence; 0 = the model's context_length
  DType kv_type = DType::kF16;  // KV cache element type: kF16 or kF32
  WeightLoad weight_load = WeightLoad::kAuto;  // matrices: copied to anonymous memory when they fit (default), mapped, or copied
  // Prefill in a TP group: all-reduce row chunks on a communication thread
  // while the next chunk computes (model/overlap.h). PLEXUS_NO_OVERLAP=1
  // turns it off too. Batches under overlap_min_rows rows use one reduce.
  bool overlap_reduce = true;
  int64_t overlap_min_rows = 16;
};

class Model {
 public:
  // The model keeps `file` alive: weights are views into its mapping.
  static Result<std::unique_ptr<Model>> Load(std::shared_ptr<const GgufFile> file, const ShardSpec& shard,
                                             const ModelOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const ShardSpec& shard() const { return shard_; }
  const ModelWeights& weights() const { return *weights_; }
  int64_t max_context() const { return max_context_; }

  // Runs this shard's layers over `batch`. A first stage embeds the tokens;
  // a later stage receives the hidden states from `pipe` and a non-last stage
  // sends its output on. On the last stage `logits` receives [n, V] floats,
  // one row per entry with want_logits, in batch order. Every rank of the
  // group must call Forward with the same batch.
  Status Forward(std::span<const BatchEntry> batch, Collective& tp, PipeLink* pipe, ThreadPool& pool,
                 std::vector<float>* logits) {
    return Forward(batch, tp, tp, pipe, pool, logits);
  }
  // Expert parallel: `experts` is the expert group (every rank of the stage
  // under epN / tpAxepB), over which each MoE block reduces once and the
  // logits are gathered (the LM head is split over it); `tp` is the TP group
  // inside it. The expert group must be `tp` when the shard's
  // expert_size equals its tp_size.
  Status Forward(std::span<const BatchEntry> batch, Collective& tp, Collective& experts, PipeLink* pipe,
                 ThreadPool& pool, std::vector<float>* logits);

  // Whether Forward would accept `batch` (token ids, positions in order and
  // inside the context), without touching any state. A coordinator checks
  // before it broadcasts, so every rank either runs a batch or none does.
  Status CheckBatch(std::span<const BatchEntry> batch) const;

  int64_t SequenceLength(int32_t seq) const { return kv_.Length(seq); }
  void DropSequence(int32_t seq) { kv_.Drop(seq); }
  const KvCache& kv_cache() const { return kv_; }

 private:
  Model(std::shared_ptr<const GgufFile> file, ModelConfig config, ShardSpec shard,
        std::unique_ptr<ModelWeights> weights, int64_t max_context, DType kv_type);
  Status Validate(std::span<const BatchEntry> batch);
  void Embed(std::span<const BatchEntry> batch);
  // decode_rows: LeadingLoneTokens(batch), whose head rows take ProjectRows' exact path.
  // group: the ranks of shard_.group_vocab (the expert group; the TP group without ep).
  Status ComputeLogits(std::span<const BatchEntry> batch, int64_t decode_rows, Collective& group, ThreadPool& pool,
                       std::vector<float>* logits);

  std::shared_ptr<const GgufFile> file_;
  ModelConfig config_;
  ShardSpec shard_;
  std::unique_ptr<ModelWeights> weights_;
  int64_t max_context_;
  KvCache kv_;
  Activations act_;
  std::vector<float> head_in_;      // [n, d]       normalised rows that need logits
  std::vector<float> head_out_;     // [n, local V] this rank's logits slice
  std::vector<float> gathered_;     // [ranks][n][V_r] as the gather delivers it
  bool overlap_ = false;            // ModelOptions::overlap_reduce and not PLEXUS_NO_OVERLAP
  int64_t overlap_min_rows_ = 0;
  std::unique_ptr<AsyncReducer> reducer_;  // started by the first overlapped batch
};

}  // namespace plexus
