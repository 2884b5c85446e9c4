// How one generation request's outcome goes on the wire, in its API's format
// (OpenAI chat / completions, Ollama chat / generate): as a stream (SSE or
// NDJSON pieces, written as tokens arrive) or as one body at the end.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "server/api_error.h"
#include "server/openai.h"

namespace plexus::server {

// Facts about a finished run that the formats report besides the result.
struct RunStats {
  size_t prompt_tokens = 0;  // input as run, BOS included
  double total_ms = 0;       // from the request's arrival to its end
};

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // Streaming: the Content-Type, then Begin, Token per token event, and End or StreamError.
  virtual const char* stream_mime() const = 0;
  virtual std::string Begin() { return {}; }
  virtual std::string Token(const TokenInfo& token) = 0;
  virtual std::string End(const GenerateResult& result, const RunStats& stats) = 0;
  virtual std::string StreamError(const ApiError& error) = 0;

  // Not streaming: the whole body, or an error body (sent with error.status).
  virtual std::string Body(const GenerateResult& result, const RunStats& stats) = 0;
  virtual std::string ErrorBody(const ApiError& error) = 0;
};

std::unique_ptr<ResponseWriter> MakeChatWriter(const Tokenizer& tok, ResponseMeta meta);
std::unique_ptr<ResponseWriter> MakeCompletionWriter(const Tokenizer& tok, ResponseMeta meta);

}  // namespace plexus::server
