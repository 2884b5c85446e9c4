// Typed, range-checked reads of a request's JSON fields. The first bad field
// wins; its error names it ("'temperature' must be a number", param
// "temperature"), with a prefix for nested objects ("options.top_k").
// A field that is absent or null leaves the output untouched.
//
//   FieldReader r(body);
//   r.Number("temperature", &t, 0, 2);
//   r.Int("n", &n, 1, 1);
//   if (!r.ok()) return r.error();
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "server/api_error.h"
#include "server/gen_request.h"

namespace plexus::server {

class FieldReader {
 public:
  explicit FieldReader(const Json& object, std::string prefix = {}) : object_(object), prefix_(std::move(prefix)) {}

  // The field, or nullptr when absent or null.
  const Json* Find(const char* name) const;
  // "prefix.name" as errors name it.
  std::string Param(const char* name) const { return prefix_ + name; }

  void Bool(const char* name, bool* out);
  void String(const char* name, std::string* out);
  // In [lo, hi] (lo_open: (lo, hi]).
  void Number(const char* name, float* out, double lo, double hi, bool lo_open = false);
  // An integer (5 or 5.0) in [lo, hi].
  void Int(const char* name, int64_t* out, int64_t lo, int64_t hi);
  void Int(const char* name, int* out, int64_t lo, int64_t hi);
  void Int(const char* name, std::optional<int>* out, int64_t lo, int64_t hi);

  void Fail(ApiError e) {
    if (error_.ok()) error_ = std::move(e);
  }
  void Fail(const char* name, std::string message) { Fail(ApiError::Invalid(Param(name), std::move(message))); }
  bool ok() const { return error_.ok(); }
  const ApiError& error() const { return error_; }

 private:
  const Json& object_;
  std::string prefix_;
  ApiError error_;
};

// A JSON integer, or a float with an integral value; nullopt otherwise.
std::optional<int64_t> AsInteger(const Json& j);

// "2", "0.5", "1e-05": a number as an error message shows it.
std::string FormatNumber(double v);

}  // namespace plexus::server
