// The engine: a tokenizer and an Executor (the whole model on this machine,
// or a cluster coordinator), with prompt prefill in batches and
// token-by-token decode.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/collective.h"
#include "base/thread_pool.h"
#include "format/gguf.h"
#include "cluster/coordinator.h"
#include "model/executor.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace plexus {

class StopStream;

struct EngineOptions {
  int threads = 0;           // 0: all hardware threads
  int64_t max_context = 0;   // 0: the model's context length (capped at 8192 to bound KV memory)
  DType kv_type = DType::kF16;  // KV cache elements: f16 (default, as llama.cpp) or f32
  WeightLoad weight_load = WeightLoad::kAuto;  // matrices copied to anonymous memory when they fit (default), mapped, or copied
  // Set: run as the coordinator of a cluster job (rank 0, itself a shard)
  // over these peers instead of holding the whole model here.
  std::optional<cluster::ClusterOptions> cluster;
  // With `cluster`: re-place the model on the nodes left when one is lost,
  // as serving wants (engine/recovering_executor.h). `find_peers` lists the
  // nodes to try then (null: cluster->peers).
  bool recover = false;
  std::function<Result<std::vector<std::string>>()> find_peers;
  // With `recover`: the placement planner chooses the split, shares and
  // rank order for the live cluster (no --split): cluster->split only
  // serves until the nodes have reported what they have.
  bool plan = false;
};

struct GenerateOptions {
  int max_tokens = 64;
  bool add_bos = true;
  bool stop_at_eos = true;    // end at the model's end-of-generation tokens (Tokenizer::IsEog)
  int top_logprobs = 0;       // record the k most likely tokens at each step (max with sampler.n_probs)
  int prefill_chunk = 256;    // prompt tokens per forward batch
  // Match special-token text ("<|im_start|>") in the prompt. On for prompts
  // rendered by a chat template; off for raw user text.
  bool parse_special = false;
  // Keep this sequence's KV cache after generating, and on the next call
  // prefill only what differs from it (multi-turn chat).
  bool reuse_prefix = false;
  SamplerParams sampler;      // default: greedy (temperature 0)
  // Generation ends when the text contains one of these; nothing of it (or
  // after it) is emitted. Text that may begin one is held back until resolved.
  std::vector<std::string> stop;
};

struct GenerateResult {
  std::vector<int32_t> prompt_tokens;  // without BOS
  // Generated ids, without the end-of-generation token; they include the
  // tokens that completed a stop string, whose text is cut from `text`.
  std::vector<int32_t> tokens;
  std::string text;                    // the emitted text (continuation only)
  // Per token of `tokens`, from the softmax of the model's unmodified logits:
  std::vector<float> logprobs;         // the chosen token's (when sampler.logprobs or top-N asked)
  std::vector<std::vector<std::pair<int32_t, float>>> top_logprobs;  // [step][k]
  std::string finish_reason;           // "length" (max_tokens) or "stop" (EOG or a stop string)
  std::string stop_string;             // the stop string that ended generation, if one did
  uint64_t seed = 0;                   // the sampler's seed (drawn when none was given; 0 for greedy)
  double prefill_ms = 0;
  double decode_ms = 0;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Open(const std::string& model_path, const EngineOptions& options);

  // Generation with `options.sampler` (greedy by default). `on_text` receives
  // text as it becomes complete UTF-8 and cannot be part of a stop string.
  Result<GenerateResult> Generate(std::string_view prompt, const GenerateOptions& options,
                                  const std::function<void(std::string_view)>& on_text = nullptr);

  // Logits at every position of `tokens` (used as given): [n, V] floats.
  Result<std::vector<float>> Logits(std::span<const int32_t> tokens);

  // The tokens Generate would run for `prompt`: BOS first when `add_bos` and
  // the text does not begin with it.
  Result<std::vector<int32_t>> PromptTokens(std::string_view prompt, bool add_bos, bool parse_special) const;

  // The executor, for a Scheduler (continuous batching). Generate, Logits and
  // a Scheduler must not run at the same time: one owner drives it.
  Executor& executor() { return *executor_; }
  const Executor& executor() const { return *executor_; }
  int64_t max_context() const { return executor_->max_context(); }
  const std::string& path() const { return path_; }

  const ModelConfig& config() const { return executor_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& file() const { return *file_; }
  int threads() const { return threads_; }

 private:
  Engine(std::string path, std::shared_ptr<const GgufFile> file, std::unique_ptr<Tokenizer> tokenizer,
         std::unique_ptr<Executor> executor, int threads);
  // Runs `tokens` at positions [start, ...) of `seq` in chunks; logits of the last one.
  Status Prefill(int32_t seq, std::span<const int32_t> tokens, int64_t start, int chunk, std::vector<float>* logits);
  // Samples up to `max_tokens` after `n_input` prefilled tokens (`logits` are
  // the last one's), streaming their text through `stream`.
  Status Decode(size_t n_input, int max_tokens, bool stop_at_eog, Sampler* sampler, std::vector<float>* logits,
                StopStream* stream, GenerateResult* result);
  // How many leading tokens of `input` the cache already holds (at most n - 1,
  // so the last token is always run to produce logits); drops the rest.
  size_t ReusablePrefix(const std::vector<int32_t>& input, bool reuse);
  std::vector<int32_t> WithBos(const std::vector<int32_t>& text_tokens, bool add_bos) const;

  std::string path_;
  std::shared_ptr<const GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Executor> executor_;  // the local model, or a cluster's coordinator
  int threads_;
  std::vector<int32_t> cached_;  // tokens whose K/V the sequence holds (reuse_prefix)
};

}  // namespace plexus
