// The Ollama-compatible API (field names as Ollama's docs/api.md gives them):
//   POST /api/chat      {model, messages, stream (default true), options, tools, format}
//   POST /api/generate  {model, prompt, system, raw, stream, options, format}
//   GET  /api/tags, POST /api/show {model}, GET /api/version
// Streams are NDJSON (one object per line, "done": false until the last).
// options: temperature, top_p, top_k, min_p, seed, num_predict (-1/-2: up to
// the context), stop, repeat_penalty, repeat_last_n, presence_penalty,
// frequency_penalty; others (num_ctx, num_thread, ...) are ignored.
// Defaults are Ollama's: temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1.1.
// Errors are {"error": "message"} with the HTTP status.
#pragma once

#include <memory>
#include <string_view>

#include "server/api_error.h"
#include "server/gen_request.h"
#include "server/model_facts.h"
#include "server/response_writer.h"

namespace plexus::server {

// An empty prompt (generate) or no messages (chat) only "loads the model":
// *load_only is set and the reply is an immediate done_reason "load".
ApiError ParseOllamaChat(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out,
                         bool* load_only);
ApiError ParseOllamaGenerate(std::string_view body, const ServedModel& model, int64_t n_vocab, GenRequest* out,
                             bool* load_only);

// `chat`: /api/chat objects ({"message": {...}}), else /api/generate ({"response": "..."}).
std::unique_ptr<ResponseWriter> MakeOllamaWriter(bool chat, std::string model_id);
// The reply to a load-only request.
Json OllamaLoadJson(bool chat, const std::string& model_id);

Json OllamaTagsJson(const ModelFacts& facts);
Json OllamaShowJson(const ModelFacts& facts);
// {"model": ...} or {"name": ...}: 404 for another model.
ApiError ParseOllamaShow(std::string_view body, const ServedModel& model);

}  // namespace plexus::server
