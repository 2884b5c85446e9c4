#include "engine/engine.h"

#include <algorithm>
#include <chrono>

#include "engine/recovering_executor.h"
#include "engine/stop.h"
#include "model/batch.h"
#include "tokenizer/vocab.h"

namespace plexus {
namespace {

constexpr int64_t kDefaultContextCap = 8192;
constexpr int32_t kSeq = 0;  // Generate's one sequence

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Engine::Engine(std::string path, std::shared_ptr<const GgufFile> file, std::unique_ptr<Tokenizer> tokenizer,
               std::unique_ptr<Executor> executor, int threads)
    : path_(std::move(path)),
      file_(std::move(file)), tokenizer_(std::move(tokenizer)), executor_(std::move(executor)), threads_(threads) {}

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
  model_options.weight_load = options.weight_load;
  model_options.max_context = options.max_context > 0 ? options.max_context
                                                      : std::min(config.context_length, kDefaultContextCap);
  std::unique_ptr<Executor> executor;
  if (options.cluster && options.recover) {
    RecoveryOptions recovery;
    recovery.model_path = path;
    recovery.cluster = *options.cluster;
    recovery.model_options = model_options;
    recovery.threads = options.threads;
    recovery.find_peers = options.find_peers;
    recovery.plan = options.plan;
    recovery.plan_options.context_tokens = model_options.max_context;
    PLEXUS_ASSIGN_OR_RETURN(executor, RecoveringExecutor::Start(std::move(recovery)));
  } else if (options.cluster) {
    PLEXUS_ASSIGN_OR_RETURN(executor, cluster::Coordinator::Start(path, *options.cluster, model_options, options.threads));
  } else {
    PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(file, FullShard(config), model_options));
    executor = std::make_unique<LocalExecutor>(std::move(model), options.threads);
  }
  return std::unique_ptr<Engine>(new Engine(path, file, std::move(tokenizer), std::move(executor), options.threads));
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
    PLEXUS_RETURN_IF_ERROR(executor_->Forward(batch, logits));
  }
  return Status::Ok();
}

Result<GenerateResult> Engine::Generate(std::string_view prompt, const GenerateOptions& options,
                                        const std::function<void(std::string_view)>& on_text) {
  PLEXUS_RETURN_IF_ERROR(ValidateStopStrings(options.stop));
  SamplerParams params = options.sampler;
  params.n_probs = std::max(params.n_probs, options.top_logprobs);
  PLEXUS_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(params, executor_->config().n_vocab));
  GenerateResult result;
  result.seed = sampler.seed();
  EncodeOptions encode;
  encode.add_bos = false;  // added below, so prompt_tokens are the text's own
  encode.parse_special = options.parse_special;
  result.prompt_tokens = tokenizer_->Encode(prompt, encode);
  std::vector<int32_t> input = WithBos(result.prompt_tokens, options.add_bos);
  if (input.empty()) return Status::Errorf("engine", "the prompt is empty and the model has no BOS token");
  const int64_t budget = executor_->max_context() - static_cast<int64_t>(input.size());
  if (budget < 1)
    return Status::Errorf("engine", "the prompt has {} tokens but the context holds {}", input.size(), executor_->max_context());
  const int max_tokens = static_cast<int>(std::min<int64_t>(options.max_tokens, budget));
  for (int32_t id : input) sampler.Accept(id);  // the penalties see the prompt too, as in llama.cpp
  const size_t reused = ReusablePrefix(input, options.reuse_prefix);
  std::vector<float> logits;
  auto t0 = std::chrono::steady_clock::now();
  Status prefilled = Prefill(kSeq, std::span(input).subspan(reused), static_cast<int64_t>(reused),
                             options.prefill_chunk, &logits);
  if (!prefilled.ok()) {
    ReusablePrefix({}, false);
    return prefilled;
  }
  result.prefill_ms = MillisSince(t0);
  t0 = std::chrono::steady_clock::now();
  StopStream stream(options.stop, on_text);
  Status decoded = Decode(input.size(), max_tokens, options.stop_at_eos, &sampler, &logits, &stream, &result);
  result.decode_ms = MillisSince(t0);
  result.text = stream.text();
  result.stop_string = stream.matched();
  if (!decoded.ok() || !options.reuse_prefix) {
    ReusablePrefix({}, false);
    PLEXUS_RETURN_IF_ERROR(decoded);
    return result;
  }
  // The cache holds the input and every generated token that was fed back:
  // all of them but the last, unless generation ended on an EOG token.
  cached_ = input;
  const bool ended_on_eog = result.finish_reason == "stop" && result.stop_string.empty();
  const size_t fed = result.tokens.size() - (result.tokens.empty() || ended_on_eog ? 0 : 1);
  cached_.insert(cached_.end(), result.tokens.begin(), result.tokens.begin() + static_cast<std::ptrdiff_t>(fed));
  return result;
}

std::vector<int32_t> Engine::WithBos(const std::vector<int32_t>& text_tokens, bool add_bos) const {
  std::vector<int32_t> input;
  const bool has_bos = !text_tokens.empty() && text_tokens[0] == tokenizer_->bos();
  if (add_bos && tokenizer_->bos() >= 0 && !has_bos) input.push_back(tokenizer_->bos());
  input.insert(input.end(), text_tokens.begin(), text_tokens.end());
  return input;
}

Result<std::vector<int32_t>> Engine::PromptTokens(std::string_view prompt, bool add_bos, bool parse_special) const {
  EncodeOptions encode;
  encode.add_bos = false;
  encode.parse_special = parse_special;
  std::vector<int32_t> input = WithBos(tokenizer_->Encode(prompt, encode), add_bos);
  if (input.empty()) return Status::Errorf("engine", "the prompt is empty and the model has no BOS token");
  return input;
}

size_t Engine::ReusablePrefix(const std::vector<int32_t>& input, bool reuse) {
  size_t common = 0;
  if (reuse) {
    while (common < cached_.size() && common < input.size() && cached_[common] == input[common]) ++common;
    if (common == input.size() && common > 0) --common;
  }
  if (common == 0) executor_->DropSequence(kSeq);  // otherwise the first prefill position rewinds the cache
  cached_.resize(common);
  return common;
}

Status Engine::Decode(size_t n_input, int max_tokens, bool stop_at_eog, Sampler* sampler, std::vector<float>* logits,
                      StopStream* stream, GenerateResult* result) {
  const bool record_logprobs = sampler->params().logprobs || sampler->params().n_probs > 0;
  result->finish_reason = "length";
  for (int step = 0; step < max_tokens; ++step) {
    SampledToken next = sampler->Sample(*logits);
    if (stop_at_eog && tokenizer_->IsEog(next.id)) {
      result->finish_reason = "stop";
      break;
    }
    sampler->Accept(next.id);
    result->tokens.push_back(next.id);
    if (record_logprobs) result->logprobs.push_back(next.logprob);
    if (sampler->params().n_probs > 0) result->top_logprobs.push_back(std::move(next.top));
    if (stream->Push(tokenizer_->TokenToPiece(next.id))) {
      result->finish_reason = "stop";
      break;
    }
    if (step + 1 == max_tokens) break;
    const BatchEntry entry{kSeq, static_cast<int32_t>(n_input + result->tokens.size() - 1), next.id, true};
    PLEXUS_RETURN_IF_ERROR(executor_->Forward({&entry, 1}, logits));
  }
  stream->Finish();
  return Status::Ok();
}

Result<std::vector<float>> Engine::Logits(std::span<const int32_t> tokens) {
  if (tokens.empty()) return Status::Errorf("engine", "no tokens given");
  std::vector<BatchEntry> batch;
  for (size_t i = 0; i < tokens.size(); ++i) batch.push_back({0, static_cast<int32_t>(i), tokens[i], true});
  std::vector<float> logits;
  ReusablePrefix({}, false);
  PLEXUS_RETURN_IF_ERROR(executor_->Forward(batch, &logits));
  executor_->DropSequence(0);
  return logits;
}

}  // namespace plexus
