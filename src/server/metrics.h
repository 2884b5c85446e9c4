// Prometheus metrics for GET /metrics (text exposition format 0.0.4):
//   plexus_requests_total{endpoint,status}       counter
//   plexus_prompt_tokens_total                   counter   (scheduler)
//   plexus_generated_tokens_total                counter   (scheduler)
//   plexus_requests_rejected_total               counter   (scheduler: queue full, invalid)
//   plexus_decode_tokens_per_second              gauge     (scheduler, last few seconds)
//   plexus_time_to_first_token_seconds           histogram
//   plexus_request_duration_seconds              histogram (generation endpoints)
//   plexus_queue_depth, plexus_active_sequences  gauges    (scheduler)
//   process_resident_memory_bytes                gauge
// Thread-safe: handlers observe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/scheduler.h"

namespace plexus::server {

// Cumulative buckets as Prometheus wants them (le bounds ascending; +Inf implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void Observe(double v);
  // "# HELP", "# TYPE" and the _bucket/_sum/_count lines.
  std::string Render(const std::string& name, const std::string& help) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last is above every bound
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // endpoint: a route name ("/v1/chat/completions"), never a raw path.
  void CountRequest(const std::string& endpoint, int status);
  void ObserveTtft(double seconds);
  void ObserveDuration(double seconds);
  std::string Render(const SchedulerStats& stats, uint64_t rss_bytes) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  Histogram ttft_;
  Histogram duration_;
};

// Escapes a label value (backslash, quote, newline).
std::string EscapeLabel(const std::string& v);

}  // namespace plexus::server
