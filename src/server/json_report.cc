#include "server/json_report.h"

#include <nlohmann/json.hpp>

namespace plexus {

std::string GenerateResultToJson(const GenerateResult& r) {
  nlohmann::json j;
  j["tokens"] = r.tokens;
  // Invalid UTF-8 (a model can emit half a character at the end) is replaced, not thrown on.
  j["text"] = r.text;
  j["prompt_tokens"] = r.prompt_tokens;
  j["finish_reason"] = r.finish_reason;
  if (!r.stop_string.empty()) j["stop_string"] = r.stop_string;
  j["seed"] = r.seed;
  const double decode_s = r.decode_ms / 1000.0;
  j["timings"] = {
      {"prefill_ms", r.prefill_ms},
      {"decode_ms", r.decode_ms},
      {"prompt_tokens_per_s", r.prefill_ms > 0 ? (r.prompt_tokens.size() + 1) / (r.prefill_ms / 1000.0) : 0.0},
      {"decode_tokens_per_s", decode_s > 0 ? r.tokens.size() / decode_s : 0.0},
  };
  if (!r.logprobs.empty()) j["logprobs"] = r.logprobs;
  if (!r.top_logprobs.empty()) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : r.top_logprobs) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& [id, lp] : step) top.push_back({id, lp});
      steps.push_back(top);
    }
    j["top_logprobs"] = steps;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace plexus
