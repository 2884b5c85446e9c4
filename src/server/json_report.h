// JSON renderings of engine results. JSON lives in server/ only; the CLI's
// --output json uses these too.
#pragma once

#include <string>

#include "engine/engine.h"

namespace plexus {

// {"tokens", "text", "prompt_tokens", "finish_reason", "seed", "timings": {...},
//  "stop_string": "...",                          (when a stop string ended it)
//  "logprobs": [logprob, ...],                    (per token, when recorded)
//  "top_logprobs": [[[id, logprob], ...], ...]}   (per token, when recorded)
// Log-probabilities are natural logs of the model's softmax (before sampling).
std::string GenerateResultToJson(const GenerateResult& result);

}  // namespace plexus
