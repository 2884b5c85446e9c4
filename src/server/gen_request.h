// A generation request as the server understands it, whichever API it came
// through (OpenAI chat/completions, Ollama chat/generate), and the model the
// server serves. Parsing fills a GenRequest; the server turns it into prompt
// tokens and a Scheduler request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat.h"
#include "sampling/sampler.h"
#include "template/value.h"

namespace plexus::server {

using Json = nlohmann::ordered_json;

struct GenRequest {
  bool chat = true;                  // messages through the chat template, else a raw prompt
  std::string model;                 // as the client named it; empty when omitted
  std::vector<ChatMessage> messages;
  Json template_extra = Json::object();  // more template variables: tools, tool_choice, chat_template_kwargs
  std::string prompt;                // completions: text (empty when prompt_ids are given)
  std::vector<int32_t> prompt_ids;   // completions: the prompt as token ids, used as given
  bool stream = false;
  bool include_usage = false;        // OpenAI stream_options.include_usage
  std::optional<int> max_tokens;     // unset: as many as the context has room for
  SamplerParams sampler;
  std::vector<std::string> stop;
  bool logprobs = false;             // the chosen tokens' log-probabilities
  int top_logprobs = 0;              // and the N most likely at each step
};

// The model behind the server. Clients may name it by its id (the --alias,
// else the file's stem), by the stem, or not at all; Ollama clients add a
// ":latest" tag.
struct ServedModel {
  std::string id;    // what /v1/models and responses say
  std::string stem;  // "stories260K" for .../stories260K.gguf
  std::string path;

  bool Matches(std::string_view name) const;
};

// "dir/stories260K.gguf" -> "stories260K".
std::string FileStem(std::string_view path);

// JSON -> the template's values (objects keep their key order).
tmpl::Value JsonToTemplateValue(const Json& j);

}  // namespace plexus::server
