// Status and Result<T>: how every fallible operation in plexus reports failure.
//
// Errors carry a tagged, human-readable message such as
// "[gguf] tensor 'blk.0.attn_q.weight': offset 123 past end of file (size 100)".
// Untrusted input (files, network, HTTP) must never reach an assert; it goes
// through code that returns a Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace plexus {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), true); }
  // Error(tag, fmt, args...) -> "[tag] formatted message".
  template <typename... Args>
  static Status Errorf(std::string_view tag, fmt::format_string<Args...> f, Args&&... args) {
    return Error(fmt::format("[{}] {}", tag, fmt::format(f, std::forward<Args>(args)...)));
  }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  // Adds context in front: "while loading X: <original>".
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    return Error(fmt::format("{}: {}", context, message_));
  }

 private:
  Status(std::string message, bool failed) : message_(std::move(message)), failed_(failed) {}
  std::string message_;
  bool failed_ = false;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Error("[base] Result constructed from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

// Always-on invariant check for programmer errors (never for untrusted input).
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "plexus: check failed at %s:%d: %s %s\n", file, line, cond, msg.c_str());
  std::abort();
}

}  // namespace plexus

#define PLEXUS_CHECK(cond, ...)                                                    \
  do {                                                                             \
    if (!(cond)) ::plexus::CheckFailed(__FILE__, __LINE__, #cond, fmt::format("" __VA_ARGS__)); \
  } while (0)

#define PLEXUS_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::plexus::Status _st = (expr);            \
    if (!_st.ok()) return _st;                \
  } while (0)

#define PLEXUS_CONCAT_INNER(a, b) a##b
#define PLEXUS_CONCAT(a, b) PLEXUS_CONCAT_INNER(a, b)
#define PLEXUS_ASSIGN_OR_RETURN(lhs, expr) \
  PLEXUS_ASSIGN_OR_RETURN_IMPL(PLEXUS_CONCAT(_res_, __LINE__), lhs, expr)
#define PLEXUS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
