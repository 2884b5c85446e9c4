#include "model/model.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "model/arch.h"
#include "model/overlap.h"
#include "tensor/quant.h"

namespace plexus {

Model::Model(std::shared_ptr<const GgufFile> file, ModelConfig config, ShardSpec shard,
             std::unique_ptr<ModelWeights> weights, int64_t max_context, DType kv_type)
    : file_(std::move(file)),
      config_(std::move(config)),
      shard_(std::move(shard)),
      weights_(std::move(weights)),
      max_context_(max_context),
      // MLA caches the per-token latent [kv_lora + rope] (all of it on every TP
      // rank: it is shared by the heads) and no V; others K and V of the local KV heads.
      kv_(shard_.layers.size(),
          config_.mla.enabled() ? config_.mla.latent() : shard_.kv_heads.size() * config_.head_dim, max_context,
          kv_type, config_.mla.enabled() ? 0 : -1, config_.mla.enabled() ? 1 : shard_.kv_heads.size(),
          /*key_tiles=*/!config_.mla.enabled()) {}

Result<std::unique_ptr<Model>> Model::Load(std::shared_ptr<const GgufFile> file, const ShardSpec& shard,
                                           const ModelOptions& options) {
  PLEXUS_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file));
  if (shard.layers.begin < 0 || shard.layers.end > config.n_layers || shard.layers.size() <= 0 ||
      shard.heads.end > config.n_heads || shard.ffn.end > config.n_ff || shard.vocab.end > config.n_vocab ||
      shard.experts.begin < 0 || shard.experts.end > config.n_experts || shard.shexp.begin < 0 ||
      shard.shexp.end > config.n_ff_shared())
    return Status::Errorf("model", "{}: shard '{}' does not fit the model", file->name(), shard.Describe());
  PLEXUS_ASSIGN_OR_RETURN(auto weights, LoadWeights(*file, config, shard, options.weight_load));
  if (options.kv_type != DType::kF16 && options.kv_type != DType::kF32)
    return Status::Errorf("model", "KV cache type {} is not supported (f16, f32)", DTypeName(options.kv_type));
  int64_t max_context = options.max_context > 0 ? options.max_context : config.context_length;
  std::unique_ptr<Model> model(
      new Model(std::move(file), std::move(config), shard, std::move(weights), max_context, options.kv_type));
  model->overlap_ = options.overlap_reduce && !OverlapDisabledByEnv();
  model->overlap_min_rows_ = options.overlap_min_rows;
  return model;
}

Status Model::CheckBatch(std::span<const BatchEntry> batch) const {
  if (batch.empty()) return Status::Errorf("model", "empty batch");
  std::unordered_map<int32_t, int64_t> length;
  for (const BatchEntry& e : batch) {
    if (e.token < 0 || e.token >= config_.n_vocab)
      return Status::Errorf("model", "token id {} outside the vocabulary of {}", e.token, config_.n_vocab);
    auto [it, fresh] = length.try_emplace(e.seq, kv_.Length(e.seq));
    if (e.pos < 0 || e.pos >= max_context_)
      return Status::Errorf("model", "sequence {}: position {} outside the context of {}", e.seq, e.pos, max_context_);
    if (e.pos > it->second)
      return Status::Errorf("model", "sequence {}: position {} skips ahead of its length {}", e.seq, e.pos, it->second);
    it->second = e.pos + 1;
  }
  return Status::Ok();
}

Status Model::Validate(std::span<const BatchEntry> batch) {
  if (batch.empty()) return Status::Errorf("model", "empty batch");
  for (const BatchEntry& e : batch)
    if (e.token < 0 || e.token >= config_.n_vocab)
      return Status::Errorf("model", "token id {} outside the vocabulary of {}", e.token, config_.n_vocab);
  for (const BatchEntry& e : batch) PLEXUS_RETURN_IF_ERROR(kv_.Prepare(e.seq, e.pos));
  return Status::Ok();
}

void Model::Embed(std::span<const BatchEntry> batch) {
  const int64_t d = config_.n_embd;
  const TensorView& emb = weights_->token_embd;
  for (size_t b = 0; b < batch.size(); ++b) DequantizeRow(emb.type, emb.row(batch[b].token), act_.x.data() + b * d, d);
}

Status Model::Forward(std::span<const BatchEntry> batch, Collective& tp, Collective& experts, PipeLink* pipe,
                      ThreadPool& pool, std::vector<float>* logits) {
  if (tp.size() != shard_.tp_size || experts.size() != shard_.expert_size)
    return Status::Errorf("model", "shard '{}' needs a TP group of {} and an expert group of {}, got {} and {}",
                          shard_.Describe(), shard_.tp_size, shard_.expert_size, tp.size(), experts.size());
  // The logits are gathered over `experts` (see ComputeLogits).
  if (shard_.last_stage && static_cast<size_t>(experts.size()) != shard_.group_vocab.size())
    return Status::Errorf("model", "shard '{}' splits the LM head {} ways but gathers the logits over {} ranks",
                          shard_.Describe(), shard_.group_vocab.size(), experts.size());
  PLEXUS_RETURN_IF_ERROR(Validate(batch));
  int64_t max_len = 0;
  for (const BatchEntry& e : batch) max_len = std::max<int64_t>(max_len, e.pos + 1);
  act_.Resize(config_, shard_, batch.size(), pool.size(), max_len);
  const size_t hidden_bytes = act_.x.size() * sizeof(float);
  if (shard_.first_stage) {
    Embed(batch);
  } else {
    if (pipe == nullptr) return Status::Errorf("model", "a later pipeline stage needs a link to the previous one");
    PLEXUS_RETURN_IF_ERROR(pipe->RecvPrev(act_.x.data(), hidden_bytes));
  }
  // Chunked, overlapped reduces for prefill in a TP group. The reducer only
  // ever reduces over `tp`, and every chunked reduce drains it before it
  // returns, so nothing is in flight on `tp` (nor on `experts`, which is `tp`
  // when the groups coincide) when the logits are gathered below.
  const int chunks =
      overlap_ && tp.size() > 1 ? OverlapChunks(static_cast<int64_t>(batch.size()), overlap_min_rows_) : 1;
  if (chunks > 1 && reducer_ == nullptr) reducer_ = std::make_unique<AsyncReducer>();
  // A batched decode step's tokens get the bits each would get alone.
  const int64_t decode_rows = LeadingLoneTokens(batch);
  for (int64_t l = 0; l < shard_.layers.size(); ++l) {
    LayerRun run(config_, shard_, weights_->layers[l], l, batch, act_, kv_, tp, experts, pool,
                 weights_->rope_inv_freq);
    run.DecodeRows(decode_rows);
    if (chunks > 1) run.OverlapReduces(reducer_.get(), chunks);
    PLEXUS_RETURN_IF_ERROR(config_.traits->layer(run));
  }
  if (!shard_.last_stage) {
    if (pipe == nullptr) return Status::Errorf("model", "a pipeline stage needs a link to the next one");
    return pipe->SendNext(act_.x.data(), hidden_bytes);
  }
  // The LM-head rows are split over the expert group (shard.h), which is the
  // TP group unless expert parallelism widens it.
  return ComputeLogits(batch, decode_rows, experts, pool, logits);
}

Status Model::ComputeLogits(std::span<const BatchEntry> batch, int64_t decode_rows, Collective& group,
                            ThreadPool& pool, std::vector<float>* logits) {
  const int64_t d = config_.n_embd, vocab = config_.n_vocab;
  head_in_.clear();
  int64_t lone = 0;  // head rows of the leading decode rows
  for (size_t b = 0; b < batch.size(); ++b) {
    if (!batch[b].want_logits) continue;
    if (static_cast<int64_t>(b) < decode_rows) ++lone;
    head_in_.resize(head_in_.size() + d);
    kernels::RmsNorm(act_.x.data() + b * d, weights_->output_norm.data(), head_in_.data() + head_in_.size() - d, d,
                     config_.rms_eps);
  }
  const int64_t n = static_cast<int64_t>(head_in_.size()) / d;
  if (logits != nullptr) logits->assign(static_cast<size_t>(n * vocab), 0.0f);
  if (n == 0) return Status::Ok();
  const TensorView& head = weights_->output;
  head_out_.resize(static_cast<size_t>(n * head.rows));
  ProjectRows(head, head_in_.data(), n, lone, head_out_.data(), pool);
  // Gather every rank's [n, V_r] slice over `group` (shard_.group_vocab is in
  // its rank order), then interleave into [n, V].
  std::vector<size_t> bytes;
  for (const Range& r : shard_.group_vocab) bytes.push_back(static_cast<size_t>(n * r.size()) * sizeof(float));
  gathered_.resize(static_cast<size_t>(n * vocab));
  PLEXUS_RETURN_IF_ERROR(group.AllGatherV(head_out_.data(), bytes.data(), gathered_.data()));
  if (logits == nullptr) return Status::Ok();
  const float* src = gathered_.data();
  for (const Range& r : shard_.group_vocab) {
    for (int64_t i = 0; i < n; ++i) std::memcpy(logits->data() + i * vocab + r.begin, src + i * r.size(), r.size() * sizeof(float));
    src += n * r.size();
  }
  return Status::Ok();
}

}  // namespace plexus
