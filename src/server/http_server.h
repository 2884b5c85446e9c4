// The HTTP layer of `plexus serve`: cpp-httplib (Debian's 0.11.4, a shared
// library) with what an API server needs around it:
//   - a worker pool big enough for many concurrent streams (one thread each)
//     plus cheap requests (/health) beside them;
//   - a body size limit (413 with an OpenAI error object), read/write timeouts;
//   - bearer-token auth on every route but the open ones (docs/api contract);
//   - CORS (preflight and the allow-origin header) for browser clients;
//   - one log line per request: method path status ms;
//   - the connection's socket, so a handler can notice a client that went away.
//
// httplib 0.11.4's DataSink::is_writable() is select()-for-write only: it does
// not notice a peer that closed its end (a closed socket stays writable), and
// the library exposes no socket to handlers. ConnectionSocket() finds it by the
// request's address pair; PeerClosed() polls it (POLLRDHUP / a zero-byte
// MSG_PEEK). Limit: a client that half-closes (shutdown(SHUT_WR)) after sending
// its request looks gone; a client that vanishes without FIN/RST (cable pulled)
// is noticed only when a write times out.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace plexus::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: any free port (see HttpServer::port())
  std::string api_key;         // empty: no auth
  int worker_threads = 160;    // one per open connection being served
  size_t max_body_bytes = 8u << 20;
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  int keep_alive_timeout_s = 3;
  int listen_backlog = 512;
  bool log_requests = true;
};

// Called after each response is written: for metrics. `ms` from the start of
// routing (0 when the request never reached routing, e.g. a 413).
using ResponseObserver = std::function<void(const httplib::Request&, const httplib::Response&, double ms)>;

class HttpServer {
 public:
  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes are registered on the underlying server before Bind.
  httplib::Server& routes() { return *server_; }
  void set_observer(ResponseObserver observer) { observer_ = std::move(observer); }

  // Binds and listens (connections queue until Run). The error names the address.
  Status Bind();
  int port() const { return port_; }
  bool auth_required() const { return !options_.api_key.empty(); }
  // Accepts until Stop(); returns after in-flight handlers have returned.
  Status Run();
  // Stops accepting; safe from any thread (a signal-watching one).
  void Stop();

  // The path may skip auth: GET /, /dashboard/*, /health, /api/config, OPTIONS.
  static bool IsOpenRoute(std::string_view method, std::string_view path);
  // `header` is "Bearer KEY" with KEY == key (constant time in the key's length).
  static bool BearerMatches(std::string_view header, std::string_view key);

 private:
  void Configure();
  void Log(const httplib::Request& req, const httplib::Response& res);

  HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  ResponseObserver observer_;
  std::atomic<int> listen_fd_{-1};
  std::atomic<bool> stop_requested_{false};  // a Stop before Run started: Run returns at once
  int port_ = 0;
};

// The socket of the connection `req` arrived on, or -1 (found by its local and
// remote address; valid while the request's handler or content provider runs).
int ConnectionSocket(const httplib::Request& req);
// True when the peer of `fd` has closed or reset the connection. Never blocks.
bool PeerClosed(int fd);

// A version string for /api/config, /api/version and the dashboard.
inline constexpr const char* kPlexusVersion = "0.1.0";

}  // namespace plexus::server
