// Prometheus text: every metric has HELP and TYPE, histograms are cumulative.
#include <gtest/gtest.h>

#include "server/api_server.h"
#include "server/metrics.h"

namespace plexus::server {
namespace {

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(0.5);
  h.Observe(7);
  const std::string text = h.Render("x_seconds", "help text");
  EXPECT_TRUE(Has(text, "# HELP x_seconds help text\n# TYPE x_seconds histogram\n"));
  EXPECT_TRUE(Has(text, "x_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_TRUE(Has(text, "x_seconds_bucket{le=\"1\"} 3\n"));
  EXPECT_TRUE(Has(text, "x_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_TRUE(Has(text, "x_seconds_sum 8.05\n"));
  EXPECT_TRUE(Has(text, "x_seconds_count 4\n"));
}

TEST(Metrics, RenderHasEveryMetric) {
  Metrics m;
  m.CountRequest("/v1/chat/completions", 200);
  m.CountRequest("/v1/chat/completions", 200);
  m.CountRequest("/v1/chat/completions", 400);
  m.ObserveTtft(0.02);
  m.ObserveDuration(1.5);
  SchedulerStats s;
  s.active = 2;
  s.queued = 3;
  s.prompt_tokens_total = 10;
  s.generated_tokens_total = 50;
  s.decode_tps = 12.5;
  const std::string text = m.Render(s, 123456);
  for (const char* name : {"plexus_requests_total", "plexus_prompt_tokens_total", "plexus_generated_tokens_total",
                           "plexus_decode_tokens_per_second", "plexus_time_to_first_token_seconds",
                           "plexus_request_duration_seconds", "plexus_queue_depth", "plexus_active_sequences",
                           "process_resident_memory_bytes"}) {
    EXPECT_TRUE(Has(text, std::string("# HELP ") + name + " ")) << name;
    EXPECT_TRUE(Has(text, std::string("# TYPE ") + name + " ")) << name;
  }
  EXPECT_TRUE(Has(text, "plexus_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2\n"));
  EXPECT_TRUE(Has(text, "plexus_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1\n"));
  EXPECT_TRUE(Has(text, "plexus_generated_tokens_total 50\n"));
  EXPECT_TRUE(Has(text, "plexus_decode_tokens_per_second 12.5\n"));
  EXPECT_TRUE(Has(text, "plexus_queue_depth 3\n"));
  EXPECT_TRUE(Has(text, "plexus_active_sequences 2\n"));
  EXPECT_TRUE(Has(text, "process_resident_memory_bytes 123456\n"));
  EXPECT_TRUE(Has(text, "plexus_time_to_first_token_seconds_count 1\n"));
  EXPECT_TRUE(Has(text, "# TYPE plexus_request_duration_seconds histogram\n"));
}

TEST(Metrics, LabelsAreEscapedAndBounded) {
  EXPECT_EQ(EscapeLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  // Raw paths never become labels (a client could otherwise grow the series without bound).
  EXPECT_EQ(ApiServer::EndpointLabel("/v1/chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(ApiServer::EndpointLabel("/v1/models/anything"), "/v1/models/{id}");
  EXPECT_EQ(ApiServer::EndpointLabel("/dashboard/app.js"), "/dashboard");
  EXPECT_EQ(ApiServer::EndpointLabel("/random/junk"), "other");
}

}  // namespace
}  // namespace plexus::server
