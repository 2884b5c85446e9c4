// What the server says about its model (/v1/models, /api/tags, /api/show,
// /api/cluster): read once at startup from the GGUF file and the engine.
#pragma once

#include <cstdint>
#include <string>

#include "engine/engine.h"
#include "server/gen_request.h"

namespace plexus::server {

struct ModelFacts {
  std::string id;             // the served id
  std::string path;
  std::string arch;           // "llama"
  uint64_t file_bytes = 0;
  int64_t modified_unix = 0;  // the file's mtime
  uint64_t n_params = 0;      // elements of all tensors
  std::string quant;          // the type holding most weight bytes: "F32", "Q4_0", ...
  int64_t context = 0;        // the context the server runs with
  std::string chat_template;  // tokenizer.chat_template ("" when the file has none)
  Json metadata;              // scalar GGUF metadata (arrays such as the vocabulary left out)
  Json config;                // n_layers, n_heads, ... as /api/cluster's "model" gives them
};

ModelFacts ReadModelFacts(const Engine& engine, const ServedModel& served);

// 260000 -> "260K", 7.6e9 -> "7.6B" (Ollama's parameter_size).
std::string ParameterSize(uint64_t n);
// RFC 3339 UTC with nanoseconds, as Ollama's created_at: "2024-05-01T12:00:00.123456789Z".
std::string Rfc3339(int64_t unix_ns);
int64_t NowUnixNanos();

}  // namespace plexus::server
