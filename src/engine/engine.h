// The single-node engine: a model, its tokenizer and a thread pool, with
// prompt prefill in batches and token-by-token decode.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/collective.h"
#include "base/thread_pool.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace plexus {

struct EngineOptions {
  int threads = 0;           // 0: all hardware threads
  int64_t max_context = 0;   // 0: the model's context length (capped at 8192 to bound KV memory)
  DType kv_type = DType::kF16;  // KV cache elements: f16 (default, as llama.cpp) or f32
};

struct GenerateOptions {
  int max_tokens = 64;
  bool add_bos = true;
  bool stop_at_eos = true;
  int top_logprobs = 0;       // record the k most likely tokens at each step
  int prefill_chunk = 256;    // prompt tokens per forward batch
};

struct GenerateResult {
  std::vector<int32_t> prompt_tokens;  // without BOS
  std::vector<int32_t> tokens;         // generated ids
  std::string text;                    // their text (continuation only)
  std::vector<std::vector<std::pair<int32_t, float>>> top_logprobs;  // [step][k]
  std::string finish_reason;           // "length" or "stop"
  double prefill_ms = 0;
  double decode_ms = 0;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Open(const std::string& model_path, const EngineOptions& options);

  // Greedy generation. `on_text` receives text as it becomes complete UTF-8.
  Result<GenerateResult> Generate(std::string_view prompt, const GenerateOptions& options,
                                  const std::function<void(std::string_view)>& on_text = nullptr);

  // Logits at every position of `tokens` (used as given): [n, V] floats.
  Result<std::vector<float>> Logits(std::span<const int32_t> tokens);

  const ModelConfig& config() const { return model_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& file() const { return *file_; }
  int threads() const { return pool_.size(); }

 private:
  Engine(std::shared_ptr<const GgufFile> file, std::unique_ptr<Tokenizer> tokenizer, std::unique_ptr<Model> model,
         int threads);
  // Runs `tokens` at positions [start, ...) of `seq` in chunks; logits of the last one.
  Status Prefill(int32_t seq, std::span<const int32_t> tokens, int64_t start, int chunk, std::vector<float>* logits);

  std::shared_ptr<const GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Model> model_;
  ThreadPool pool_;
  NoopCollective single_;
};

}  // namespace plexus
