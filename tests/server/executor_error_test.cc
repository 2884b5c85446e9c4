// The whole server in-process (stories260K, a real Scheduler, loopback HTTP)
// with an executor that fails on demand, as a cluster does when a node goes
// away: a stream ends with an error event and [DONE], a waiting request gets
// a 500 error object, /health reports the failure until a request succeeds.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <thread>

#include "engine/engine.h"
#include "engine/scheduler.h"
#include "server/api_server.h"
#include "server/http_server.h"

namespace plexus::server {
namespace {

// Forwards to the real executor until `failing` is set.
class FlakyExecutor final : public Executor {
 public:
  explicit FlakyExecutor(Executor& inner) : inner_(inner) {}
  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override {
    if (fail_after.load() >= 0 && forwards_++ >= fail_after.load())
      return Status::Errorf("test", "rank 1 (10.0.0.2:7070) went away");
    return inner_.Forward(batch, logits);
  }
  void DropSequence(int32_t seq) override { inner_.DropSequence(seq); }
  int64_t max_context() const override { return inner_.max_context(); }
  const ModelConfig& config() const override { return inner_.config(); }
  ClusterView Describe() const override { return inner_.Describe(); }
  // Forward calls from now on that still succeed; -1: all.
  void FailAfter(int n) {
    forwards_ = 0;
    fail_after = n;
  }

 private:
  Executor& inner_;
  std::atomic<int> fail_after{-1};
  std::atomic<int> forwards_{0};
};

class ServerWithFlakyExecutor : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.threads = 1;
    options.max_context = 256;
    auto engine = Engine::Open(std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf", options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(engine).value();
    executor_ = std::make_unique<FlakyExecutor>(engine_->executor());
    scheduler_ = std::make_unique<Scheduler>(*engine_, *executor_, SchedulerOptions{});
    api_ = std::make_unique<ApiServer>(*engine_, *scheduler_, ServedModel{"stories260K", "stories260K", "x.gguf"});
    HttpOptions http_options;
    http_options.port = 0;
    http_options.log_requests = false;
    http_ = std::make_unique<HttpServer>(http_options);
    api_->Register(*http_);
    ASSERT_TRUE(http_->Bind().ok());
    thread_ = std::thread([this] { (void)http_->Run(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", http_->port());
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override {
    if (api_) api_->BeginShutdown();
    if (http_) http_->Stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Result Chat(bool stream) {
    const std::string body = std::string(R"({"messages": [{"role": "user", "content": "Tell me a story"}],
        "temperature": 0, "max_tokens": 40, "logit_bias": {"2": -100}, "stream": )") + (stream ? "true}" : "false}");
    return client_->Post("/v1/chat/completions", body, "application/json");
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<FlakyExecutor> executor_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ServerWithFlakyExecutor, ErrorsMidStreamAndWhileWaiting) {
  auto ok = Chat(false);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;

  executor_->FailAfter(5);  // the prompt and a few tokens, then the executor fails
  auto streamed = Chat(true);
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);
  const std::string& sse = streamed->body;
  EXPECT_NE(sse.find(R"("delta":{"content":)"), std::string::npos) << sse;  // tokens came before the failure
  const size_t error = sse.find(R"(data: {"error":)");
  ASSERT_NE(error, std::string::npos) << sse;
  EXPECT_NE(sse.find("went away", error), std::string::npos);
  EXPECT_TRUE(sse.ends_with("data: [DONE]\n\n")) << sse;

  executor_->FailAfter(2);
  auto waited = Chat(false);
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->status, 500);
  EXPECT_NE(waited->body.find(R"("type":"server_error")"), std::string::npos) << waited->body;
  EXPECT_NE(waited->body.find("went away"), std::string::npos) << waited->body;

  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_NE(health->body.find("went away"), std::string::npos) << health->body;

  executor_->FailAfter(-1);  // back: the next success clears /health
  auto again = Chat(false);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;
}

}  // namespace
}  // namespace plexus::server
