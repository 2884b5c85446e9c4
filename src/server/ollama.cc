#include "server/ollama.h"

#include <functional>

#include <fmt/format.h>

#include "server/json_fields.h"
#include "server/openai.h"

namespace plexus::server {
namespace {

constexpr size_t kMaxStop = 16;

ApiError NotFound(const std::string& name) {
  return {404, fmt::format("model '{}' not found", name), "invalid_request_error", "model", "model_not_found"};
}

// "model" (or the older "name"): omitted means the served model.
ApiError CheckOllamaModel(const Json& body, const ServedModel& model, std::string* out) {
  FieldReader f(body);
  f.String(body.contains("model") ? "model" : "name", out);
  if (!f.ok()) return f.error();
  if (!out->empty() && !model.Matches(*out)) return NotFound(*out);
  return {};
}

ApiError RefuseFormatAndImages(const Json& body, const std::string& param_prefix) {
  if (const auto it = body.find("format"); it != body.end() && !it->is_null() && !(it->is_string() && it->empty()))
    return ApiError::Invalid("format", "'format' is not supported (no constrained decoding)");
  if (const auto it = body.find("images"); it != body.end() && it->is_array() && !it->empty())
    return ApiError::Invalid(param_prefix + "images", "images are not supported: this server runs a text-only model");
  return {};
}

ApiError ParseStopOption(const Json& options, GenRequest* r) {
  const auto it = options.find("stop");
  if (it == options.end() || it->is_null()) return {};
  const Json list = it->is_string() ? Json::array({*it}) : *it;
  if (!list.is_array() || list.size() > kMaxStop)
    return ApiError::Invalid("options.stop", fmt::format("'options.stop' must be an array of at most {} strings", kMaxStop));
  for (const Json& s : list) {
    if (!s.is_string() || s.get<std::string>().empty())
      return ApiError::Invalid("options.stop", "'options.stop' entries must be non-empty strings");
    r->stop.push_back(s.get<std::string>());
  }
  return {};
}

ApiError ParseOptions(const Json& body, GenRequest* r) {
  SamplerParams& s = r->sampler;
  s.temperature = 0.8f;  // Ollama's defaults
  s.top_k = 40;
  s.top_p = 0.9f;
  s.repeat_penalty = 1.1f;
  const auto it = body.find("options");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_object()) return ApiError::Invalid("options", "'options' must be an object");
  FieldReader f(*it, "options.");
  f.Number("temperature", &s.temperature, 0, 100);
  f.Number("top_p", &s.top_p, 0, 1, /*lo_open=*/true);
  f.Int("top_k", &s.top_k, 0, INT32_MAX);
  f.Number("min_p", &s.min_p, 0, 1);
  f.Number("repeat_penalty", &s.repeat_penalty, 0, 100, /*lo_open=*/true);
  f.Int("repeat_last_n", &s.repeat_last_n, -1, INT32_MAX);
  f.Number("presence_penalty", &s.presence_penalty, -2, 2);
  f.Number("frequency_penalty", &s.frequency_penalty, -2, 2);
  int64_t seed = -1;
  f.Int("seed", &seed, INT64_MIN, INT64_MAX);
  if (seed >= 0) s.seed = static_cast<uint64_t>(seed);  // negative: a random seed, as Ollama's -1
  int64_t num_predict = -1;
  f.Int("num_predict", &num_predict, -2, INT32_MAX);
  if (f.ok() && num_predict == 0) f.Fail("num_predict", "'options.num_predict' must be -1, -2 or at least 1");
  if (!f.ok()) return f.error();
  if (num_predict > 0) r->max_tokens = static_cast<int>(num_predict);
  return ParseStopOption(*it, r);
}

ApiError ParseCommon(const Json& body, const ServedModel& model, GenRequest* r) {
  if (ApiError e = CheckOllamaModel(body, model, &r->model); !e.ok()) return e;
  FieldReader f(body);
  r->stream = true;  // Ollama streams unless told not to
  f.Bool("stream", &r->stream);
  if (const Json* tools = f.Find("tools")) {
    if (!tools->is_array()) return ApiError::Invalid("tools", "'tools' must be an array");
    if (!tools->empty()) r->template_extra["tools"] = *tools;
  }
  if (!f.ok()) return f.error();
  if (ApiError e = RefuseFormatAndImages(body, ""); !e.ok()) return e;
  return ParseOptions(body, r);
}

ApiError ParseOllamaMessages(const Json& body, std::vector<ChatMessage>* out) {
  const auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_array()) return ApiError::Invalid("messages", "'messages' must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& msg = (*it)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!msg.is_object()) return ApiError::Invalid(param, fmt::format("'{}' must be an object", param));
    ChatMessage m;
    FieldReader f(msg, param + ".");
    f.String("role", &m.role);
    f.String("content", &m.content);
    if (!f.ok()) return f.error();
    if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool")
      return ApiError::Invalid(param + ".role",
                               fmt::format("'{}.role' must be one of system, user, assistant, tool; got '{}'", param, m.role));
    if (ApiError e = RefuseFormatAndImages(msg, param + "."); !e.ok()) return e;
    out->push_back(std::move(m));
  }
  return {};
}

// Not a content hash (that would read the whole file): a stable name for this file, path, size and mtime.
std::string PseudoDigest(const ModelFacts& f) {
  std::string out;
  for (int i = 0; i < 4; ++i)
    out += fmt::format("{:016x}", std::hash<std::string>{}(fmt::format("{}|{}|{}|{}", i, f.path, f.file_bytes,
                                                                        f.modified_unix)));
  return out;
}

Json DetailsJson(const ModelFacts& f) {
  Json d;
  d["parent_model"] = "";
  d["format"] = "gguf";
  d["family"] = f.arch;
  d["families"] = Json::array({f.arch});
  d["parameter_size"] = ParameterSize(f.n_params);
  d["quantization_level"] = f.quant;
  return d;
}

class OllamaWriter final : public ResponseWriter {
 public:
  OllamaWriter(bool chat, std::string model) : chat_(chat), model_(std::move(model)) {}
  const char* stream_mime() const override { return "application/x-ndjson"; }
  std::string Token(const TokenInfo& t) override {
    if (t.text.empty()) return {};
    return DumpJson(WithText(t.text, false)) + "\n";
  }
  std::string End(const GenerateResult& r, const RunStats& s) override { return DumpJson(Final(r, s, "")) + "\n"; }
  std::string StreamError(const ApiError& e) override { return OllamaErrorBody(e) + "\n"; }
  std::string Body(const GenerateResult& r, const RunStats& s) override { return DumpJson(Final(r, s, r.text)); }
  std::string ErrorBody(const ApiError& e) override { return OllamaErrorBody(e); }

 private:
  Json WithText(const std::string& text, bool done) const {
    Json j;
    j["model"] = model_;
    j["created_at"] = Rfc3339(NowUnixNanos());
    if (chat_) {
      j["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
      j["response"] = text;
    }
    j["done"] = done;
    return j;
  }
  Json Final(const GenerateResult& r, const RunStats& s, const std::string& text) const {
    Json j = WithText(text, true);
    j["done_reason"] = OpenAiFinishReason(r.finish_reason);
    j["total_duration"] = static_cast<int64_t>(s.total_ms * 1e6);
    j["load_duration"] = 0;
    j["prompt_eval_count"] = s.prompt_tokens;
    j["prompt_eval_duration"] = static_cast<int64_t>(r.prefill_ms * 1e6);
    j["eval_count"] = r.tokens.size();
    j["eval_duration"] = static_cast<int64_t>(r.decode_ms * 1e6);
    return j;
  }
  bool chat_;
  std::string model_;
};

}  // namespace

ApiError ParseOllamaChat(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out,
                         bool* load_only) {
  Json j;
  if (ApiError e = ParseJsonObject(body, &j); !e.ok()) return e;
  GenRequest r;
  r.chat = true;
  if (ApiError e = ParseCommon(j, model, &r); !e.ok()) return e;
  if (ApiError e = ParseOllamaMessages(j, &r.messages); !e.ok()) return e;
  *load_only = r.messages.empty();
  *out = std::move(r);
  return {};
}

ApiError ParseOllamaGenerate(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out,
                             bool* load_only) {
  Json j;
  if (ApiError e = ParseJsonObject(body, &j); !e.ok()) return e;
  GenRequest r;
  if (ApiError e = ParseCommon(j, model, &r); !e.ok()) return e;
  FieldReader f(j);
  std::string prompt, system, tmpl, suffix;
  bool raw = false;
  f.String("prompt", &prompt);
  f.String("system", &system);
  f.Bool("raw", &raw);
  f.String("template", &tmpl);
  f.String("suffix", &suffix);
  if (f.ok() && !tmpl.empty()) f.Fail("template", "'template' is not supported: the model's own chat template is used");
  if (f.ok() && !suffix.empty()) f.Fail("suffix", "'suffix' is not supported");
  if (!f.ok()) return f.error();
  *load_only = prompt.empty();
  // Ollama wraps the prompt in the model's template unless raw.
  r.chat = !raw;
  if (raw) {
    r.prompt = std::move(prompt);
  } else {
    if (!system.empty()) r.messages.push_back({"system", std::move(system)});
    r.messages.push_back({"user", std::move(prompt)});
  }
  *out = std::move(r);
  return {};
}

std::unique_ptr<ResponseWriter> MakeOllamaWriter(bool chat, std::string model_id) {
  return std::make_unique<OllamaWriter>(chat, std::move(model_id));
}

Json OllamaLoadJson(bool chat, const std::string& model_id) {
  Json j;
  j["model"] = model_id;
  j["created_at"] = Rfc3339(NowUnixNanos());
  if (chat) {
    j["message"] = {{"role", "assistant"}, {"content", ""}};
  } else {
    j["response"] = "";
  }
  j["done"] = true;
  j["done_reason"] = "load";
  return j;
}

Json OllamaTagsJson(const ModelFacts& f) {
  Json m;
  m["name"] = f.id;
  m["model"] = f.id;
  m["modified_at"] = Rfc3339(f.modified_unix * 1000000000);
  m["size"] = f.file_bytes;
  m["digest"] = PseudoDigest(f);
  m["details"] = DetailsJson(f);
  Json j;
  j["models"] = Json::array({std::move(m)});
  return j;
}

Json OllamaShowJson(const ModelFacts& f) {
  Json j;
  j["license"] = "";
  j["modelfile"] = fmt::format("# served by plexus\nFROM {}\n", f.path);
  j["parameters"] = "";
  j["template"] = f.chat_template;
  j["details"] = DetailsJson(f);
  j["model_info"] = f.metadata;
  j["capabilities"] = Json::array({"completion"});
  j["modified_at"] = Rfc3339(f.modified_unix * 1000000000);
  return j;
}

ApiError ParseOllamaShow(std::string_view body, const ServedModel& model) {
  Json j;
  if (ApiError e = ParseJsonObject(body, &j); !e.ok()) return e;
  std::string name;
  return CheckOllamaModel(j, model, &name);
}

}  // namespace plexus::server
