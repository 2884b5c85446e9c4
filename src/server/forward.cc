#include "server/forward.h"

#include <strings.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "server/api_error.h"

namespace plexus::server {
namespace {

using Clock = std::chrono::steady_clock;

// Headers that describe one hop, or that httplib sets itself (the REMOTE_*
// and LOCAL_* entries are the server's notes on the connection, not headers).
bool HopByHop(const std::string& name) {
  static const char* const kNames[] = {"Connection",   "Keep-Alive",  "Transfer-Encoding", "Content-Length", "Host",
                                       "Upgrade",      "TE",          "Trailer",           "Proxy-Connection",
                                       "REMOTE_ADDR",  "REMOTE_PORT", "LOCAL_ADDR",        "LOCAL_PORT",
                                       "Access-Control-Allow-Origin", "X-Plexus-Coordinator"};
  for (const char* n : kNames)
    if (strcasecmp(name.c_str(), n) == 0) return true;
  return false;
}

void SendError(httplib::Response& res, int status, const std::string& message, const std::string& code) {
  res.status = status;
  res.set_content(OpenAiErrorBody(ApiError::Server(status, message, code)), "application/json");
}

// One upstream exchange, shared by the handler, the streaming content
// provider and the thread running the client (which outlives neither: the
// provider's releaser stops the client and joins the thread).
struct Upstream {
  std::mutex mu;
  std::condition_variable cv;
  bool have_head = false;
  bool done = false;
  bool cancelled = false;
  int status = 0;
  httplib::Headers headers;
  std::deque<std::string> chunks;
  std::string error;  // the client's error when the exchange failed
  bool timed_out = false;
  std::unique_ptr<httplib::Client> client;
  std::thread thread;

  void Cancel() {
    {
      std::lock_guard lock(mu);
      cancelled = true;
    }
    client->stop();
  }
  void Join() {
    if (thread.joinable()) thread.join();
  }
};

httplib::Request UpstreamRequest(const httplib::Request& req, const ForwardTarget& t,
                                 const std::shared_ptr<Upstream>& up) {
  httplib::Request out;
  out.method = req.method;
  out.path = req.target.empty() ? req.path : req.target;  // the raw target keeps the query string as sent
  for (const auto& [name, value] : req.headers)
    if (!HopByHop(name)) out.headers.emplace(name, value);
  out.headers.emplace("X-Forwarded-For", req.remote_addr);
  if (!t.local) out.headers.emplace("X-Plexus-Forwarded", req.local_addr + ":" + std::to_string(req.local_port));
  out.body = req.body;
  std::weak_ptr<Upstream> weak = up;  // the client lives in *up: no cycle
  out.response_handler = [weak](const httplib::Response& r) {
    auto u = weak.lock();
    if (!u) return false;
    std::lock_guard lock(u->mu);
    u->status = r.status;
    u->headers = r.headers;
    u->have_head = true;
    u->cv.notify_all();
    return !u->cancelled;
  };
  out.content_receiver = [weak](const char* data, size_t n, uint64_t, uint64_t) {
    auto u = weak.lock();
    if (!u) return false;
    std::lock_guard lock(u->mu);
    if (u->cancelled) return false;
    u->chunks.emplace_back(data, n);
    u->cv.notify_all();
    return true;
  };
  return out;
}

std::shared_ptr<Upstream> StartUpstream(const ForwardOptions& o, const ForwardTarget& t, const httplib::Request& req) {
  auto up = std::make_shared<Upstream>();
  up->client = std::make_unique<httplib::Client>(t.host, t.port);
  up->client->set_connection_timeout(o.connect_timeout);
  up->client->set_read_timeout(o.read_timeout);
  up->client->set_write_timeout(o.write_timeout);
  up->client->set_keep_alive(false);
  httplib::Request request = UpstreamRequest(req, t, up);
  up->thread = std::thread([u = up.get(), request = std::move(request)]() mutable {
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    const bool ok = u->client->send(request, response, error);
    std::lock_guard lock(u->mu);
    u->done = true;
    if (!ok) {
      u->error = httplib::to_string(error);
      u->timed_out = error == httplib::Error::Read && !u->cancelled;
    }
    u->cv.notify_all();
  });
  return up;
}

// The answer when the upstream failed before sending its status line.
void FailedBeforeHead(httplib::Response& res, const ForwardTarget& t, const Upstream& up) {
  if (up.timed_out)
    return SendError(res, 504, fmt::format("{} sent nothing for too long ({})", t.name, up.error), "upstream_timeout");
  SendError(res, 503,
            fmt::format("{} is unreachable ({}); if it died, a new coordinator is elected within a few seconds",
                        t.name, up.error),
            "coordinator_unreachable");
}

void CopyHead(const Upstream& up, httplib::Response& res, std::string* content_type, bool* streamed) {
  res.status = up.status;
  *streamed = true;
  for (const auto& [name, value] : up.headers) {
    if (strcasecmp(name.c_str(), "Content-Length") == 0) *streamed = false;
    if (strcasecmp(name.c_str(), "Content-Type") == 0) *content_type = value;
    else if (!HopByHop(name)) res.headers.emplace(name, value);
  }
}

void Forward(const ForwardOptions& o, const httplib::Request& req, httplib::Response& res) {
  const ForwardTarget t = o.target();
  if (t.port == 0) return SendError(res, 503, t.error, "no_coordinator");
  if (!t.local && req.has_header("X-Plexus-Forwarded"))
    return SendError(res, 503,
                     fmt::format("coordinator election in progress: {} forwarded this request here, but this node "
                                 "sees {} as the coordinator; retry shortly",
                                 req.get_header_value("X-Plexus-Forwarded"), t.name),
                     "no_coordinator");
  std::shared_ptr<Upstream> up = StartUpstream(o, t, req);
  std::unique_lock lock(up->mu);
  // Bounded by the client's timeouts; a client that leaves meanwhile (a long
  // non-streamed answer) closes the upstream exchange, which cancels it there.
  const int fd = ConnectionSocket(req);
  while (!up->cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return up->have_head || up->done; })) {
    if (!PeerClosed(fd)) continue;
    lock.unlock();
    up->Cancel();
    up->Join();
    return SendError(res, 499, "the client closed the connection", "client_closed");
  }
  if (!up->have_head) {
    lock.unlock();
    up->Join();
    return FailedBeforeHead(res, t, *up);
  }
  std::string content_type = "application/octet-stream";
  bool streamed = false;
  CopyHead(*up, res, &content_type, &streamed);
  if (!t.coordinator.empty()) res.set_header("X-Plexus-Coordinator", t.coordinator);
  if (!streamed) {  // a sized body: whole, with its length
    up->cv.wait(lock, [&] { return up->done; });
    std::string body;
    for (const std::string& c : up->chunks) body += c;
    const bool failed = !up->error.empty();
    lock.unlock();
    up->Join();
    if (failed) return SendError(res, 502, fmt::format("{} failed mid-answer ({})", t.name, up->error), "upstream_failed");
    res.set_content(body, content_type);
    return;
  }
  lock.unlock();
  const auto silence = o.read_timeout;
  res.set_chunked_content_provider(
      content_type,
      [up, silence](size_t, httplib::DataSink& sink) {
        std::unique_lock l(up->mu);
        if (!up->cv.wait_for(l, silence, [&] { return !up->chunks.empty() || up->done; })) return false;
        if (up->chunks.empty()) {
          // The upstream ended. A failure mid-stream (the coordinator died)
          // drops the client's connection, so it cannot mistake the cut for an end.
          if (!up->error.empty()) return false;
          l.unlock();
          sink.done();
          return true;
        }
        std::string chunk = std::move(up->chunks.front());
        up->chunks.pop_front();
        l.unlock();
        return sink.write(chunk.data(), chunk.size());
      },
      [up](bool) {
        up->Cancel();  // the client went away, or the stream ended: either way the exchange is over
        up->Join();
      });
}

}  // namespace

void RegisterForwarding(HttpServer& http, ForwardOptions options) {
  auto o = std::make_shared<ForwardOptions>(std::move(options));
  httplib::Server& s = http.routes();
  s.Get("/api/election", [o](const httplib::Request&, httplib::Response& res) {
    res.set_content(o->election ? o->election().dump() : "{}", "application/json");
  });
  auto forward = [o](const httplib::Request& req, httplib::Response& res) { Forward(*o, req, res); };
  s.Get(".*", forward);
  s.Post(".*", forward);
  s.Put(".*", forward);
  s.Patch(".*", forward);
  s.Delete(".*", forward);
}

}  // namespace plexus::server
