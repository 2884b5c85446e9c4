#include "server/http_server.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "server/api_error.h"

namespace plexus::server {
namespace {

using Clock = std::chrono::steady_clock;

// When the request being handled on this worker thread reached routing (the
// pre-routing handler runs on the thread that later logs the response).
thread_local Clock::time_point t_request_start;
thread_local bool t_request_started = false;

void SetError(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(OpenAiErrorBody(e), "application/json");
}

// The body of an error httplib produced itself (no route, body too large, ...).
ApiError LibraryError(const httplib::Request& req, int status, size_t max_body) {
  switch (status) {
    case 404:
      return {404, fmt::format("no route for {} {}", req.method, req.path), "invalid_request_error", {}, "not_found"};
    case 413:
      return {413, fmt::format("the request body is larger than the limit of {} bytes", max_body),
              "invalid_request_error", {}, "payload_too_large"};
    case 414:
      return {414, "the request URI is too long", "invalid_request_error", {}, {}};
    case 400:
      return {400, "malformed HTTP request", "invalid_request_error", {}, {}};
    default:
      if (status >= 500) return ApiError::Server(status, fmt::format("HTTP {}", status));
      return {status, fmt::format("HTTP {}", status), "invalid_request_error", {}, {}};
  }
}

int PortOf(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// Whether `fd` is the TCP connection between req.local_port and req.remote_addr:remote_port.
bool SocketMatches(int fd, const httplib::Request& req) {
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  if (PortOf(local) != req.local_port) return false;
  sockaddr_storage peer{};
  len = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
  if (PortOf(peer) != req.remote_port) return false;
  // The same rendering httplib uses for remote_addr.
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&peer), len, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0)
    return false;
  return req.remote_addr == host;
}

}  // namespace

HttpServer::HttpServer(HttpOptions options)
    : options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  Configure();
}

HttpServer::~HttpServer() = default;

void HttpServer::Configure() {
  httplib::Server& s = *server_;
  const size_t threads = static_cast<size_t>(std::max(options_.worker_threads, 4));
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_read_timeout(options_.read_timeout_s, 0);
  s.set_write_timeout(options_.write_timeout_s, 0);
  s.set_keep_alive_timeout(options_.keep_alive_timeout_s);
  s.set_keep_alive_max_count(1000);
  s.set_tcp_nodelay(true);
  // Replaces httplib's default (SO_REUSEPORT, which would let a second server
  // share the port silently); remembers the listening socket for its backlog.
  s.set_socket_options([this](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = sock;
  });
  s.set_default_headers({{"Access-Control-Allow-Origin", "*"}});
  s.Options(".*", [](const httplib::Request&, httplib::Response& res) {
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
    res.set_header("Access-Control-Max-Age", "86400");
  });
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    t_request_started = true;
    if (options_.api_key.empty() || IsOpenRoute(req.method, req.path) ||
        BearerMatches(req.get_header_value("Authorization"), options_.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    SetError(res, {401, "missing or invalid API key: send 'Authorization: Bearer KEY'", "authentication_error", {},
                   "invalid_api_key"});
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors the library raises (and handlers' statuses without a body) get an OpenAI error object.
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
        SetError(res, LibraryError(req, res.status, options_.max_body_bytes));
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SetError(res, ApiError::Server(500, "internal error: " + what));
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) { Log(req, res); });
}

void HttpServer::Log(const httplib::Request& req, const httplib::Response& res) {
  const double ms =
      t_request_started ? std::chrono::duration<double, std::milli>(Clock::now() - t_request_start).count() : 0.0;
  t_request_started = false;
  if (options_.log_requests) fmt::print(stderr, "[http] {} {} {} {:.1f} ms\n", req.method, req.path, res.status, ms);
  if (observer_) observer_(req, res, ms);
}

Status HttpServer::Bind() {
  errno = 0;
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
    if (port_ <= 0) port_ = 0;
  } else {
    port_ = server_->bind_to_port(options_.host, options_.port) ? options_.port : 0;
  }
  if (port_ == 0)
    return Status::Errorf("serve", "cannot listen on {}:{}: {}", options_.host, options_.port,
                          errno != 0 ? std::strerror(errno) : "bind failed");
  // httplib listens with a backlog of 5: too few for a burst of clients.
  if (listen_fd_ >= 0) ::listen(listen_fd_, options_.listen_backlog);
  return Status::Ok();
}

Status HttpServer::Run() {
  if (stop_requested_) return Status::Ok();
  // httplib's stop() does nothing until listen_after_bind has begun to
  // accept, so a Stop() landing between the check above and that moment
  // would be lost and Run would never return. The watcher repeats the stop
  // once accepting has begun (or gives up when Run returns first); a Stop()
  // after that reaches a running server itself.
  std::atomic<bool> returned{false};
  std::thread watcher([this, &returned] {
    while (!returned && !server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (stop_requested_) server_->stop();
  });
  const bool ok = server_->listen_after_bind();
  returned = true;
  watcher.join();
  if (!ok) return Status::Errorf("serve", "the HTTP server stopped with an error");
  return Status::Ok();
}

void HttpServer::Stop() {
  stop_requested_ = true;
  server_->stop();  // a no-op until listening has begun
}

bool HttpServer::IsOpenRoute(std::string_view method, std::string_view path) {
  if (method == "OPTIONS") return true;
  if (method != "GET" && method != "HEAD") return false;
  if (path == "/" || path == "/health" || path == "/api/config" || path == "/dashboard") return true;
  return path.starts_with("/dashboard/");
}

bool HttpServer::BearerMatches(std::string_view header, std::string_view key) {
  constexpr std::string_view kScheme = "bearer ";
  if (key.empty() || header.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return false;
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  // Every byte of the key is compared whatever the token holds.
  unsigned diff = token.size() == key.size() ? 0u : 1u;
  for (size_t i = 0; i < key.size(); ++i)
    diff |= static_cast<unsigned char>(key[i]) ^ static_cast<unsigned char>(i < token.size() ? token[i] : 0);
  return diff == 0;
}

int ConnectionSocket(const httplib::Request& req) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (SocketMatches(static_cast<int>(fd), req)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

bool PeerClosed(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    // Readable: either more request bytes (a pipelining client, alive) or EOF.
    char c;
    const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }
  return false;
}

}  // namespace plexus::server
