#include "engine/engine.h"

#include <algorithm>
#include <chrono>

#include "engine/utf8_stream.h"
#include "model/batch.h"
#include "sampling/greedy.h"
#include "tokenizer/vocab.h"

namespace plexus {
namespace {

constexpr int64_t kDefaultContextCap = 8192;

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Engine::Engine(std::shared_ptr<const GgufFile> file, std::unique_ptr<Tokenizer> tokenizer,
               std::unique_ptr<Model> model, int threads)
    : file_(std::move(file)), tokenizer_(std::move(tokenizer)), model_(std::move(model)), pool_(threads) {}

Result<std::unique_ptr<Engine>> Engine::Open(const std::string& path, const EngineOptions& options) {
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> opened, GgufFile::Open(path));
  std::shared_ptr<const GgufFile> file(std::move(opened));
  PLEXUS_ASSIGN_OR_RETURN(Vocab vocab, LoadVocabFromGguf(*file));
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::Create(std::move(vocab)));
  PLEXUS_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file));
  if (static_cast<int64_t>(tokenizer->size()) > config.n_vocab)
    return Status::Errorf("engine", "{}: the tokenizer has {} tokens but the model only {} logits", path,
                          tokenizer->size(), config.n_vocab);
  ModelOptions model_options;
  model_options.kv_type = options.kv_type;
  model_options.max_context = options.max_context > 0 ? options.max_context
                                                      : std::min(config.context_length, kDefaultContextCap);
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(file, FullShard(config), model_options));
  return std::unique_ptr<Engine>(new Engine(file, std::move(tokenizer), std::move(model), options.threads));
}

Status Engine::Prefill(int32_t seq, std::span<const int32_t> tokens, int64_t start, int chunk,
                       std::vector<float>* logits) {
  chunk = std::max(chunk, 1);
  std::vector<BatchEntry> batch;
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(chunk)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(chunk));
    batch.clear();
    for (size_t i = begin; i < end; ++i)
      batch.push_back({seq, static_cast<int32_t>(start + static_cast<int64_t>(i)), tokens[i], i + 1 == tokens.size()});
    PLEXUS_RETURN_IF_ERROR(model_->Forward(batch, single_, nullptr, pool_, logits));
  }
  return Status::Ok();
}

Result<GenerateResult> Engine::Generate(std::string_view prompt, const GenerateOptions& options,
                                        const std::function<void(std::string_view)>& on_text) {
  GenerateResult result;
  EncodeOptions encode;
  encode.add_bos = false;  // added below, so prompt_tokens are the text's own
  result.prompt_tokens = tokenizer_->Encode(prompt, encode);
  std::vector<int32_t> input;
  if (options.add_bos && tokenizer_->bos() >= 0) input.push_back(tokenizer_->bos());
  input.insert(input.end(), result.prompt_tokens.begin(), result.prompt_tokens.end());
  if (input.empty()) return Status::Errorf("engine", "the prompt is empty and the model has no BOS token");
  const int64_t budget = model_->max_context() - static_cast<int64_t>(input.size());
  if (budget < 1)
    return Status::Errorf("engine", "the prompt has {} tokens but the context holds {}", input.size(), model_->max_context());
  const int max_tokens = static_cast<int>(std::min<int64_t>(options.max_tokens, budget));
  constexpr int32_t kSeq = 0;
  model_->DropSequence(kSeq);
  std::vector<float> logits;
  auto t0 = std::chrono::steady_clock::now();
  PLEXUS_RETURN_IF_ERROR(Prefill(kSeq, input, 0, options.prefill_chunk, &logits));
  result.prefill_ms = MillisSince(t0);
  t0 = std::chrono::steady_clock::now();
  Utf8Stream stream;
  result.finish_reason = "length";
  for (int step = 0; step < max_tokens; ++step) {
    const int32_t next = ArgMax(logits);
    if (options.top_logprobs > 0) result.top_logprobs.push_back(TopLogprobs(logits, options.top_logprobs));
    if (options.stop_at_eos && tokenizer_->IsEog(next)) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(next);
    std::string piece = stream.Push(tokenizer_->TokenToPiece(next));
    if (on_text && !piece.empty()) on_text(piece);
    if (step + 1 == max_tokens) break;
    const BatchEntry entry{kSeq, static_cast<int32_t>(input.size() + result.tokens.size() - 1), next, true};
    PLEXUS_RETURN_IF_ERROR(model_->Forward({&entry, 1}, single_, nullptr, pool_, &logits));
  }
  std::string rest = stream.Flush();
  if (on_text && !rest.empty()) on_text(rest);
  result.decode_ms = MillisSince(t0);
  result.text = tokenizer_->DecodeContinuation(result.tokens);
  model_->DropSequence(kSeq);
  return result;
}

Result<std::vector<float>> Engine::Logits(std::span<const int32_t> tokens) {
  if (tokens.empty()) return Status::Errorf("engine", "no tokens given");
  std::vector<BatchEntry> batch;
  for (size_t i = 0; i < tokens.size(); ++i) batch.push_back({0, static_cast<int32_t>(i), tokens[i], true});
  std::vector<float> logits;
  model_->DropSequence(0);
  PLEXUS_RETURN_IF_ERROR(model_->Forward(batch, single_, nullptr, pool_, &logits));
  model_->DropSequence(0);
  return logits;
}

}  // namespace plexus
