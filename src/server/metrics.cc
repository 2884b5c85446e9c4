#include "server/metrics.h"

#include <fmt/format.h>

namespace plexus::server {
namespace {

// Prometheus' float format: "+Inf", else the shortest round-trip form.
std::string Num(double v) { return fmt::format("{}", v); }

void Header(std::string* out, const std::string& name, const char* type, const std::string& help) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void Single(std::string* out, const std::string& name, const char* type, const std::string& help, double v) {
  Header(out, name, type, help);
  *out += fmt::format("{} {}\n", name, Num(v));
}

}  // namespace

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::string Histogram::Render(const std::string& name, const std::string& help) const {
  std::string out;
  Header(&out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, Num(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, Num(sum_), name, count_);
  return out;
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      duration_({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}) {}

void Metrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::ObserveTtft(double seconds) {
  std::lock_guard lock(mu_);
  ttft_.Observe(seconds);
}

void Metrics::ObserveDuration(double seconds) {
  std::lock_guard lock(mu_);
  duration_.Observe(seconds);
}

std::string Metrics::Render(const SchedulerStats& s, uint64_t rss_bytes) const {
  std::string out;
  std::lock_guard lock(mu_);
  Header(&out, "plexus_requests_total", "counter", "HTTP requests by endpoint and status code.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("plexus_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", EscapeLabel(key.first), key.second, n);
  Single(&out, "plexus_prompt_tokens_total", "counter", "Prompt tokens of accepted generation requests.",
         static_cast<double>(s.prompt_tokens_total));
  Single(&out, "plexus_generated_tokens_total", "counter", "Tokens generated.",
         static_cast<double>(s.generated_tokens_total));
  Single(&out, "plexus_requests_rejected_total", "counter", "Generation requests the scheduler refused.",
         static_cast<double>(s.requests_rejected));
  Single(&out, "plexus_decode_tokens_per_second", "gauge",
         "Generated tokens per second over the last few seconds, all sequences together.", s.decode_tps);
  out += ttft_.Render("plexus_time_to_first_token_seconds", "Time from a request's arrival to its first token.");
  out += duration_.Render("plexus_request_duration_seconds", "Duration of generation requests, to the last byte.");
  Single(&out, "plexus_queue_depth", "gauge", "Requests waiting for a slot.", s.queued);
  Single(&out, "plexus_active_sequences", "gauge", "Sequences in the running batch.", s.active);
  Single(&out, "process_resident_memory_bytes", "gauge", "Resident memory of this process in bytes.",
         static_cast<double>(rss_bytes));
  return out;
}

}  // namespace plexus::server
