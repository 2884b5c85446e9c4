#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace plexus::server {
namespace {

nlohmann::ordered_json OrNull(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

}  // namespace

std::string OpenAiErrorBody(const ApiError& e) {
  nlohmann::ordered_json j;
  j["error"] = {{"message", e.message}, {"type", e.type.empty() ? "server_error" : e.type},
                {"param", OrNull(e.param)}, {"code", OrNull(e.code)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string OllamaErrorBody(const ApiError& e) {
  nlohmann::json j;
  j["error"] = e.message;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace plexus::server
