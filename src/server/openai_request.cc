// OpenAI request bodies -> GenRequest, with errors that name the field.
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "server/json_fields.h"
#include "server/openai.h"

namespace plexus::server {
namespace {

constexpr int kMaxStop = 4;
constexpr int kMaxTopLogprobs = 20;

ApiError ParseRole(const Json& msg, const std::string& param, std::string* role) {
  const auto it = msg.find("role");
  if (it == msg.end() || it->is_null()) return ApiError::Invalid(param + ".role", fmt::format("'{}.role' is required", param));
  if (!it->is_string()) return ApiError::Invalid(param + ".role", fmt::format("'{}.role' must be a string", param));
  *role = it->get<std::string>();
  if (*role == "developer") *role = "system";  // OpenAI's newer name for the system role
  if (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool")
    return ApiError::Invalid(param + ".role",
                             fmt::format("'{}.role' must be one of system, developer, user, assistant, tool; got '{}'",
                                         param, it->get<std::string>()));
  return {};
}

ApiError ParseMessages(const Json& body, std::vector<ChatMessage>* out) {
  const auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return ApiError::Invalid("messages", "'messages' is required");
  if (!it->is_array()) return ApiError::Invalid("messages", "'messages' must be an array");
  if (it->empty()) return ApiError::Invalid("messages", "'messages' must contain at least one message");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& msg = (*it)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!msg.is_object()) return ApiError::Invalid(param, fmt::format("'{}' must be an object", param));
    ChatMessage m;
    if (ApiError e = ParseRole(msg, param, &m.role); !e.ok()) return e;
    const auto content = msg.find("content");
    if (content != msg.end())
      if (ApiError e = ParseContent(*content, param + ".content", &m.content); !e.ok()) return e;
    out->push_back(std::move(m));
  }
  return {};
}

ApiError ParseStop(const Json& body, std::vector<std::string>* out) {
  const auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return {};
  const auto empty = [](const std::string& param) {
    return ApiError::Invalid("stop", fmt::format("'{}' must not be an empty string", param));
  };
  if (it->is_string()) {
    if (it->get<std::string>().empty()) return empty("stop");
    out->push_back(it->get<std::string>());
    return {};
  }
  if (!it->is_array() || it->size() > kMaxStop)
    return ApiError::Invalid("stop", fmt::format("'stop' must be a string or an array of at most {} strings", kMaxStop));
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string param = fmt::format("stop[{}]", i);
    if (!(*it)[i].is_string()) return ApiError::Invalid("stop", fmt::format("'{}' must be a string", param));
    if ((*it)[i].get<std::string>().empty()) return empty(param);
    out->push_back((*it)[i].get<std::string>());
  }
  return {};
}

// {"15043": -100, ...}: token id -> bias in [-100, 100]; -100 bans the token.
ApiError ParseLogitBias(const Json& body, int64_t n_vocab, std::map<int32_t, float>* out) {
  const auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_object()) return ApiError::Invalid("logit_bias", "'logit_bias' must be an object of token id -> bias");
  for (const auto& [key, value] : it->items()) {
    int64_t id = -1;
    const auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || ptr != key.data() + key.size())
      return ApiError::Invalid("logit_bias", fmt::format("'logit_bias' key '{}' is not a token id", key));
    if (id < 0 || id >= n_vocab)
      return ApiError::Invalid("logit_bias", fmt::format("'logit_bias' token id {} is outside the vocabulary (0..{})",
                                                         id, n_vocab - 1));
    if (!value.is_number())
      return ApiError::Invalid("logit_bias", fmt::format("'logit_bias[\"{}\"]' must be a number", key));
    const double bias = value.get<double>();
    if (!(bias >= -100 && bias <= 100))
      return ApiError::Invalid("logit_bias", fmt::format("'logit_bias[\"{}\"]' must be between -100 and 100, got {}",
                                                         key, FormatNumber(bias)));
    (*out)[static_cast<int32_t>(id)] = bias <= -100 ? -std::numeric_limits<float>::infinity() : static_cast<float>(bias);
  }
  return {};
}

ApiError ParseStreamOptions(const Json& body, GenRequest* r) {
  FieldReader f(body);
  f.Bool("stream", &r->stream);
  if (const Json* opts = f.Find("stream_options")) {
    if (!opts->is_object()) return ApiError::Invalid("stream_options", "'stream_options' must be an object");
    FieldReader o(*opts, "stream_options.");
    o.Bool("include_usage", &r->include_usage);
    if (!o.ok()) return o.error();
  }
  return f.error();
}

ApiError ParseResponseFormat(const Json& body) {
  const auto it = body.find("response_format");
  if (it == body.end() || it->is_null()) return {};
  const std::string type = it->is_object() && it->contains("type") && (*it)["type"].is_string()
                               ? (*it)["type"].get<std::string>() : std::string();
  if (type == "text") return {};
  if (type.empty()) return ApiError::Invalid("response_format", "'response_format' must be an object with a 'type'");
  return ApiError::Invalid("response_format",
                           fmt::format("'response_format' type '{}' is not supported (only 'text')", type));
}

// Fields shared by chat and completions: sampling, limits, stop, stream.
ApiError ParseCommon(const Json& body, int64_t n_vocab, GenRequest* r) {
  SamplerParams& s = r->sampler;
  FieldReader f(body);
  f.Int("max_tokens", &r->max_tokens, 1, INT32_MAX);
  f.Int("max_completion_tokens", &r->max_tokens, 1, INT32_MAX);
  f.Number("temperature", &s.temperature, 0, 2);
  f.Number("top_p", &s.top_p, 0, 1, /*lo_open=*/true);
  f.Int("top_k", &s.top_k, 0, INT32_MAX);
  f.Number("min_p", &s.min_p, 0, 1);
  f.Number("repeat_penalty", &s.repeat_penalty, 0, 100, /*lo_open=*/true);
  f.Int("repeat_last_n", &s.repeat_last_n, -1, INT32_MAX);
  f.Number("presence_penalty", &s.presence_penalty, -2, 2);
  f.Number("frequency_penalty", &s.frequency_penalty, -2, 2);
  int n = 1;
  f.Int("n", &n, 1, 1);
  if (const Json* seed = f.Find("seed"); seed != nullptr && f.ok()) {
    if (seed->is_number_unsigned()) {
      s.seed = seed->get<uint64_t>();
    } else {
      int64_t v = 0;
      f.Int("seed", &v, INT64_MIN, INT64_MAX);
      if (f.ok()) s.seed = static_cast<uint64_t>(v);
    }
  }
  if (!f.ok()) return f.error();
  if (ApiError e = ParseStop(body, &r->stop); !e.ok()) return e;
  if (ApiError e = ParseLogitBias(body, n_vocab, &s.logit_bias); !e.ok()) return e;
  if (ApiError e = ParseResponseFormat(body); !e.ok()) return e;
  return ParseStreamOptions(body, r);
}

// tools / tool_choice / chat_template_kwargs -> template variables.
ApiError ParseTemplateExtras(const Json& body, GenRequest* r) {
  FieldReader f(body);
  if (const Json* tools = f.Find("tools")) {
    if (!tools->is_array()) return ApiError::Invalid("tools", "'tools' must be an array");
    if (!tools->empty()) r->template_extra["tools"] = *tools;
  }
  if (const Json* choice = f.Find("tool_choice")) {
    if (!choice->is_string() && !choice->is_object())
      return ApiError::Invalid("tool_choice", "'tool_choice' must be a string or an object");
    r->template_extra["tool_choice"] = *choice;
  }
  if (const Json* kwargs = f.Find("chat_template_kwargs")) {
    if (!kwargs->is_object()) return ApiError::Invalid("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (const auto& [key, value] : kwargs->items()) r->template_extra[key] = value;
  }
  return {};
}

// The prompt as text, one string in an array, or token ids (flat or one nested list).
ApiError ParsePrompt(const Json& body, int64_t n_vocab, GenRequest* r) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return ApiError::Invalid("prompt", "'prompt' is required");
  if (it->is_string()) {
    r->prompt = it->get<std::string>();
    return {};
  }
  const auto shape = ApiError::Invalid(
      "prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
  if (!it->is_array() || it->empty()) return shape;
  if ((*it)[0].is_string() || (*it)[0].is_array()) {
    if (it->size() != 1)
      return ApiError::Invalid("prompt", fmt::format("only one prompt per request is supported ('prompt' has {})", it->size()));
    if ((*it)[0].is_string()) {
      r->prompt = (*it)[0].get<std::string>();
      return {};
    }
  }
  const Json& ids = (*it)[0].is_array() ? (*it)[0] : *it;
  if (ids.empty()) return shape;
  for (const Json& id : ids) {
    const std::optional<int64_t> v = AsInteger(id);
    if (!v) return shape;
    if (*v < 0 || *v >= n_vocab)
      return ApiError::Invalid("prompt", fmt::format("'prompt' token id {} is outside the vocabulary (0..{})", *v,
                                                     n_vocab - 1));
    r->prompt_ids.push_back(static_cast<int32_t>(*v));
  }
  return {};
}

ApiError RefuseUnsupported(const Json& body) {
  FieldReader f(body);
  bool echo = false;
  f.Bool("echo", &echo);
  if (f.ok() && echo) f.Fail("echo", "'echo' is not supported");
  std::string suffix;
  f.String("suffix", &suffix);
  if (f.ok() && !suffix.empty()) f.Fail("suffix", "'suffix' is not supported");
  int best_of = 1;
  f.Int("best_of", &best_of, 1, 1);
  return f.error();
}

}  // namespace

ApiError ParseJsonObject(std::string_view body, Json* out) {
  try {
    *out = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& e) {
    std::string what = e.what();
    const size_t tag_end = what.find("] ");  // drop "[json.exception.parse_error.101] "
    if (what.starts_with("[json.exception") && tag_end != std::string::npos) what.erase(0, tag_end + 2);
    // "last read: '...'" can quote a whole (huge) token of the body.
    constexpr size_t kMaxMessage = 300;
    if (what.size() > kMaxMessage) what = what.substr(0, kMaxMessage) + "...";
    return ApiError::Invalid("", "could not parse JSON body: " + what);
  }
  if (!out->is_object()) return ApiError::Invalid("", "the request body must be a JSON object");
  return {};
}

ApiError CheckModel(const Json& body, const ServedModel& model, std::string* out) {
  const auto it = body.find("model");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_string()) return ApiError::Invalid("model", "'model' must be a string");
  *out = it->get<std::string>();
  if (out->empty() || model.Matches(*out)) return {};
  return {404, fmt::format("The model '{}' does not exist; this server serves '{}'", *out, model.id),
          "invalid_request_error", "model", "model_not_found"};
}

ApiError ParseContent(const Json& content, const std::string& param, std::string* out) {
  if (content.is_null()) return {};
  if (content.is_string()) {
    *out = content.get<std::string>();
    return {};
  }
  if (!content.is_array())
    return ApiError::Invalid(param, fmt::format("'{}' must be a string or an array of content parts", param));
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string p = fmt::format("{}[{}]", param, i);
    const Json* type = part.is_object() && part.contains("type") ? &part["type"] : nullptr;
    if (type == nullptr || !type->is_string())
      return ApiError::Invalid(p, fmt::format("'{}' must be an object with a 'type'", p));
    const std::string t = type->get<std::string>();
    if (t == "image_url" || t == "input_image" || t == "image" || t == "input_audio" || t == "file")
      return ApiError::Invalid(p, fmt::format("'{}' is an {} part: this server runs a text-only model; send text parts only", p, t));
    if (t != "text") return ApiError::Invalid(p, fmt::format("'{}' has unsupported type '{}'", p, t));
    if (!part.contains("text") || !part["text"].is_string())
      return ApiError::Invalid(p + ".text", fmt::format("'{}.text' must be a string", p));
    *out += part["text"].get<std::string>();
  }
  return {};
}

ApiError ParseChatRequest(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out) {
  Json j;
  if (ApiError e = ParseJsonObject(body, &j); !e.ok()) return e;
  GenRequest r;
  r.chat = true;
  r.sampler.temperature = 1.0f;  // OpenAI's default
  if (ApiError e = CheckModel(j, model, &r.model); !e.ok()) return e;
  if (ApiError e = ParseMessages(j, &r.messages); !e.ok()) return e;
  if (ApiError e = ParseCommon(j, n_vocab, &r); !e.ok()) return e;
  FieldReader f(j);
  f.Bool("logprobs", &r.logprobs);
  f.Int("top_logprobs", &r.top_logprobs, 0, kMaxTopLogprobs);
  if (!f.ok()) return f.error();
  if (r.top_logprobs > 0 && !r.logprobs)
    return ApiError::Invalid("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
  if (ApiError e = ParseTemplateExtras(j, &r); !e.ok()) return e;
  *out = std::move(r);
  return {};
}

ApiError ParseCompletionRequest(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out) {
  Json j;
  if (ApiError e = ParseJsonObject(body, &j); !e.ok()) return e;
  GenRequest r;
  r.chat = false;
  r.sampler.temperature = 1.0f;
  if (ApiError e = CheckModel(j, model, &r.model); !e.ok()) return e;
  if (ApiError e = ParsePrompt(j, n_vocab, &r); !e.ok()) return e;
  if (ApiError e = ParseCommon(j, n_vocab, &r); !e.ok()) return e;
  if (ApiError e = RefuseUnsupported(j); !e.ok()) return e;
  // Completions' logprobs is the number of top alternatives (0: the chosen token's only).
  if (j.contains("logprobs") && !j["logprobs"].is_null()) {
    FieldReader f(j);
    f.Int("logprobs", &r.top_logprobs, 0, kMaxTopLogprobs);
    if (!f.ok()) return f.error();
    r.logprobs = true;
  }
  *out = std::move(r);
  return {};
}

}  // namespace plexus::server
