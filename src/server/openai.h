// The OpenAI-compatible API: request parsing and validation
// (openai_request.cc) and response objects (openai_response.cc). Pure
// functions: no sockets, no engine; the server glues them to the scheduler.
//
// Requests: POST /v1/chat/completions and /v1/completions. Accepted fields:
// model (optional: omitted means the served model, as llama-server does),
// messages / prompt, stream, stream_options.include_usage, max_tokens
// (max_completion_tokens), temperature, top_p, n (1), stop, seed,
// presence_penalty, frequency_penalty, logit_bias, logprobs, top_logprobs,
// tools, tool_choice, response_format ("text" only), user; and the
// llama.cpp extensions top_k, min_p, repeat_penalty, repeat_last_n,
// chat_template_kwargs. Unknown fields are ignored, as OpenAI's SDKs add some.
// Defaults are OpenAI's: temperature 1, top_p 1. `tools` reach the model's
// chat template (which decides how to show them); tool calls are not parsed
// out of the output: whatever the model writes comes back as message content.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "server/api_error.h"
#include "server/gen_request.h"
#include "tokenizer/tokenizer.h"

namespace plexus::server {

// Body -> JSON object, or 400 "could not parse JSON body: ...".
ApiError ParseJsonObject(std::string_view body, Json* out);
// The "model" field: absent is the served model; another name is 404 model_not_found.
ApiError CheckModel(const Json& body, const ServedModel& model, std::string* out);
// Message content: a string, null, or [{type: "text", text}...] (concatenated); images are refused.
ApiError ParseContent(const Json& content, const std::string& param, std::string* out);

ApiError ParseChatRequest(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out);
ApiError ParseCompletionRequest(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out);

// What a response says besides the result.
struct ResponseMeta {
  std::string id;         // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;    // unix seconds
  std::string model;      // the served id
  size_t prompt_tokens = 0;  // as run (BOS included)
  bool logprobs = false;
  int top_logprobs = 0;
  bool include_usage = false;
};

// One generated token, as a token event carries it.
struct TokenInfo {
  int32_t id = -1;
  std::string text;  // the text released with it (stop strings and split characters held back)
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};

Json UsageJson(size_t prompt_tokens, size_t completion_tokens);
// {"token", "logprob", "bytes", "top_logprobs": [...]} for one token (chat format).
Json ChatTokenLogprob(const Tokenizer& tok, int32_t id, float logprob, const std::vector<std::pair<int32_t, float>>& top,
                      int top_n);
// {"content": [...]} over a whole result (null when none were asked for).
Json ChatLogprobs(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta);
// {"tokens", "token_logprobs", "top_logprobs", "text_offset"} (completions format).
Json CompletionLogprobs(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta);

Json ChatCompletionJson(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta);
Json CompletionJson(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta);

// Streaming chunks. `finish` empty: null.
Json ChatChunkJson(const ResponseMeta& meta, Json delta, const std::string& finish, Json logprobs);
Json CompletionChunkJson(const ResponseMeta& meta, const std::string& text, const std::string& finish, Json logprobs);
// One server-sent event: "data: <json>\n\n".
std::string SseData(const Json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// "stop" or "length" as OpenAI spells them (the scheduler's "cancelled" never reaches a client).
std::string OpenAiFinishReason(const std::string& reason);

// A JSON dump that replaces invalid UTF-8 (a token can be half a character).
std::string DumpJson(const Json& j);

}  // namespace plexus::server
