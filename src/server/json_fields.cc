#include "server/json_fields.h"

#include <cmath>

#include <fmt/format.h>

namespace plexus::server {

std::optional<int64_t> AsInteger(const Json& j) {
  if (j.is_number_integer()) {
    if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return j.get<int64_t>();
  }
  if (j.is_number_float()) {
    const double d = j.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e18) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::string FormatNumber(double v) { return fmt::format("{}", v); }

const Json* FieldReader::Find(const char* name) const {
  if (!object_.is_object()) return nullptr;
  const auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void FieldReader::Bool(const char* name, bool* out) {
  const Json* j = ok() ? Find(name) : nullptr;
  if (j == nullptr) return;
  if (!j->is_boolean()) return Fail(name, fmt::format("'{}' must be a boolean", Param(name)));
  *out = j->get<bool>();
}

void FieldReader::String(const char* name, std::string* out) {
  const Json* j = ok() ? Find(name) : nullptr;
  if (j == nullptr) return;
  if (!j->is_string()) return Fail(name, fmt::format("'{}' must be a string", Param(name)));
  *out = j->get<std::string>();
}

void FieldReader::Number(const char* name, float* out, double lo, double hi, bool lo_open) {
  const Json* j = ok() ? Find(name) : nullptr;
  if (j == nullptr) return;
  if (!j->is_number()) return Fail(name, fmt::format("'{}' must be a number", Param(name)));
  const double v = j->get<double>();
  const bool below = lo_open ? !(v > lo) : !(v >= lo);
  if (below || !(v <= hi)) {
    const std::string range = lo_open ? fmt::format("greater than {} and at most {}", FormatNumber(lo), FormatNumber(hi))
                                      : fmt::format("between {} and {}", FormatNumber(lo), FormatNumber(hi));
    return Fail(name, fmt::format("'{}' must be {}, got {}", Param(name), range, FormatNumber(v)));
  }
  *out = static_cast<float>(v);
}

void FieldReader::Int(const char* name, int64_t* out, int64_t lo, int64_t hi) {
  const Json* j = ok() ? Find(name) : nullptr;
  if (j == nullptr) return;
  const std::optional<int64_t> v = AsInteger(*j);
  if (!v) return Fail(name, fmt::format("'{}' must be an integer", Param(name)));
  if (*v < lo || *v > hi) {
    if (lo == hi) return Fail(name, fmt::format("'{}' must be {}, got {}", Param(name), lo, *v));
    if (hi == INT32_MAX || hi == INT64_MAX) {  // open-ended: name the bound that was crossed
      if (*v < lo) return Fail(name, fmt::format("'{}' must be at least {}, got {}", Param(name), lo, *v));
      return Fail(name, fmt::format("'{}' must be at most {}, got {}", Param(name), hi, *v));
    }
    return Fail(name, fmt::format("'{}' must be between {} and {}, got {}", Param(name), lo, hi, *v));
  }
  *out = *v;
}

void FieldReader::Int(const char* name, int* out, int64_t lo, int64_t hi) {
  int64_t v = *out;
  Int(name, &v, lo, hi);
  *out = static_cast<int>(v);
}

void FieldReader::Int(const char* name, std::optional<int>* out, int64_t lo, int64_t hi) {
  if (Find(name) == nullptr) return;
  int64_t v = 0;
  Int(name, &v, lo, hi);
  if (ok()) *out = static_cast<int>(v);
}

}  // namespace plexus::server
