// The API of a node that does not coordinate (docs/SERVING.md, "One command
// on every machine"): every request is forwarded to the elected coordinator's
// API server and its answer passed back as it comes.
//   - Method, path and query, body and headers (Authorization included) go
//     upstream unchanged but for hop-by-hop headers.
//   - Status codes, headers and error bodies come back unchanged. A response
//     without Content-Length (SSE and NDJSON streams, chunked) is streamed
//     through chunk by chunk, never buffered whole.
//   - Bounded: connecting waits connect_timeout, upstream silence longer than
//     read_timeout ends the request (504), a client that goes away closes
//     the upstream connection (the coordinator cancels the generation).
//   - No coordinator (none elected, the elected one unreachable or still
//     loading its model): 503 with an OpenAI error object saying why.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "server/http_server.h"

namespace plexus::server {

// Where requests go now. port 0: nowhere; `error` says why (503).
struct ForwardTarget {
  std::string host;
  int port = 0;
  std::string name;   // "coordinator node 1a2b... at 10.0.0.2:8080", for errors
  std::string error;  // when port == 0
  // The coordinator's own loopback server (this node coordinates). A request
  // already forwarded once (X-Plexus-Forwarded) goes only to such a target:
  // two nodes that briefly disagree on the coordinator get a 503, not a loop.
  bool local = false;
  // Sent back on every forwarded answer as X-Plexus-Coordinator (the
  // dashboard shows it): "NODE_ID HOST:PORT", "; this node" when local.
  std::string coordinator;
};

struct ForwardOptions {
  std::function<ForwardTarget()> target;  // asked once per request
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds read_timeout{600000};  // the longest upstream silence (a long non-streamed answer)
  std::chrono::milliseconds write_timeout{30000};
  // Served here, not forwarded: GET /api/election (who coordinates, as this node sees it).
  std::function<nlohmann::json()> election;
};

// Adds the election route and the catch-all forwarding routes (GET, POST,
// PUT, PATCH, DELETE, HEAD; OPTIONS stays the HTTP layer's CORS answer).
void RegisterForwarding(HttpServer& http, ForwardOptions options);

}  // namespace plexus::server
