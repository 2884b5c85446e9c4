// JSON renderings of engine results. JSON lives in server/ only; the CLI's
// --output json uses these too.
#pragma once

#include <string>

#include "engine/engine.h"

namespace plexus {

// {"tokens", "text", "prompt_tokens", "finish_reason", "timings": {...},
//  "top_logprobs": [[[id, logprob], ...], ...]} (the last only when recorded).
std::string GenerateResultToJson(const GenerateResult& result);

}  // namespace plexus
