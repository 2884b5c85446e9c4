// An API error: the HTTP status and the fields of OpenAI's error object
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "temperature", "code": null}}
// (Ollama's routes send {"error": "message"} with the same status).
#pragma once

#include <string>

namespace plexus::server {

struct ApiError {
  int status = 0;        // 0: no error
  std::string message;
  std::string type;      // "invalid_request_error", "authentication_error", "server_error", ...
  std::string param;     // the request field at fault; empty: null
  std::string code;      // "model_not_found", "rate_limit_exceeded", ...; empty: null

  bool ok() const { return status == 0; }

  static ApiError Invalid(std::string param, std::string message, std::string code = {}) {
    return {400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
  }
  static ApiError Server(int status, std::string message, std::string code = {}) {
    return {status, std::move(message), "server_error", {}, std::move(code)};
  }
};

// OpenAI's {"error": {...}} body.
std::string OpenAiErrorBody(const ApiError& error);
// Ollama's {"error": "message"} body.
std::string OllamaErrorBody(const ApiError& error);

}  // namespace plexus::server
