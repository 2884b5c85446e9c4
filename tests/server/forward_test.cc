// server/forward.h on real loopback sockets: a stand-in upstream (a plain
// httplib server) behind a forwarding HttpServer. Streams pass through before
// the upstream has finished; statuses, bodies and Authorization are kept;
// a dead upstream, a silent one and a second hop give clear errors.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "server/forward.h"
#include "server/http_server.h"

namespace plexus::server {
namespace {

using std::chrono::milliseconds;

class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    up_.Get("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Upstream", "yes");
      res.set_content("auth=" + req.get_header_value("Authorization") + " q=" + req.get_param_value("q"),
                      "text/plain");
    });
    up_.Post("/teapot", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 418;
      res.set_content(R"({"error":{"message":"short and stout: )" + req.body + R"("}})", "application/json");
    });
    // Sends "first", then holds the stream open until the test has seen it.
    up_.Get("/stream", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream", [this](size_t offset, httplib::DataSink& sink) {
        if (offset == 0) return sink.write("data: first\n\n", 13);
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(10), [this] { return release_; });
        sink.write("data: second\n\n", 14);
        sink.done();
        return true;
      });
    });
    up_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(milliseconds(1500));
      res.set_content("late", "text/plain");
    });
    up_port_ = up_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(up_port_, 0);
    up_thread_ = std::thread([this] { up_.listen_after_bind(); });
    // stop() before the loop runs would be lost (and the join in TearDown hang).
    while (!up_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  void TearDown() override {
    {
      std::lock_guard lock(mu_);
      release_ = true;
    }
    cv_.notify_all();
    if (proxy_) proxy_->Stop();
    if (proxy_thread_.joinable()) proxy_thread_.join();
    up_.stop();
    up_thread_.join();
  }

  // A forwarding server whose target is `target`.
  void StartProxy(ForwardTarget target, milliseconds read_timeout = milliseconds(5000)) {
    HttpOptions http;
    http.host = "127.0.0.1";
    http.port = 0;
    http.log_requests = false;
    proxy_ = std::make_unique<HttpServer>(http);
    ForwardOptions o;
    o.target = [target] { return target; };
    o.read_timeout = read_timeout;
    o.election = [] { return nlohmann::json{{"self", "abc"}}; };
    RegisterForwarding(*proxy_, std::move(o));
    ASSERT_TRUE(proxy_->Bind().ok());
    proxy_thread_ = std::thread([this] { (void)proxy_->Run(); });
    while (!proxy_->routes().is_running()) std::this_thread::sleep_for(milliseconds(1));  // so Stop is not lost
    client_ = std::make_unique<httplib::Client>("127.0.0.1", proxy_->port());
    client_->set_read_timeout(10, 0);
  }
  ForwardTarget Upstream() const {
    ForwardTarget t;
    t.host = "127.0.0.1";
    t.port = up_port_;
    t.name = "the upstream";
    t.coordinator = "abc 1.2.3.4:5";
    return t;
  }

  httplib::Server up_;
  int up_port_ = 0;
  std::thread up_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool release_ = false;
  std::unique_ptr<HttpServer> proxy_;
  std::thread proxy_thread_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ForwardTest, KeepsHeadersQueryAndAuthorization) {
  StartProxy(Upstream());
  auto r = client_->Get("/echo?q=a%20b", httplib::Headers{{"Authorization", "Bearer k1"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "auth=Bearer k1 q=a b");
  EXPECT_EQ(r->get_header_value("X-Upstream"), "yes");
  EXPECT_EQ(r->get_header_value("X-Plexus-Coordinator"), "abc 1.2.3.4:5");
}

TEST_F(ForwardTest, KeepsErrorStatusAndBody) {
  StartProxy(Upstream());
  auto r = client_->Post("/teapot", "tea", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 418);
  EXPECT_EQ(r->body, R"({"error":{"message":"short and stout: tea"}})");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
}

TEST_F(ForwardTest, StreamsBeforeTheUpstreamFinishes) {
  StartProxy(Upstream());
  std::string got;
  bool saw_first_while_held = false;
  auto r = client_->Get("/stream", [&](const char* data, size_t n) {
    got.append(data, n);
    if (got.find("first") != std::string::npos && !saw_first_while_held) {
      std::lock_guard lock(mu_);
      saw_first_while_held = !release_;  // the upstream has not sent "second" yet
      release_ = true;
      cv_.notify_all();
    }
    return true;
  });
  ASSERT_TRUE(r);
  EXPECT_TRUE(saw_first_while_held);
  EXPECT_EQ(got, "data: first\n\ndata: second\n\n");
}

TEST_F(ForwardTest, DeadUpstreamIs503NamingIt) {
  // A port nobody listens on: bound once, then closed (connections are refused).
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  ForwardTarget t = Upstream();
  t.port = ntohs(addr.sin_port);
  StartProxy(t);
  auto r = client_->Get("/echo");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("the upstream is unreachable"), std::string::npos) << r->body;
}

TEST_F(ForwardTest, SilentUpstreamIs504) {
  StartProxy(Upstream(), milliseconds(300));
  auto r = client_->Get("/slow");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_NE(r->body.find("sent nothing for too long"), std::string::npos) << r->body;
}

TEST_F(ForwardTest, NoTargetIs503WithTheReason) {
  ForwardTarget none;
  none.error = "no live node was given the model";
  StartProxy(none);
  auto r = client_->Post("/v1/chat/completions", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("no live node was given the model"), std::string::npos) << r->body;
  auto e = client_->Get("/api/election");  // answered here, never forwarded
  ASSERT_TRUE(e);
  EXPECT_EQ(e->body, R"({"self":"abc"})");
}

TEST_F(ForwardTest, ASecondHopIsRefusedNotLooped) {
  StartProxy(Upstream());
  auto r = client_->Get("/echo", httplib::Headers{{"X-Plexus-Forwarded", "10.0.0.9:8080"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("election in progress"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace plexus::server
