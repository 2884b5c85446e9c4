// The few HTTP exchanges a download needs, over cpp-httplib: a probe (HEAD,
// following redirects by hand so the hub's X-Linked-* headers are seen and
// the token never leaves the hub's origin) and ranged GETs streamed to a
// callback. Only this file's .cc includes httplib.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"
#include "hub/url.h"

namespace plexus::hub {

// The bearer token goes only to requests whose origin is `origin`.
struct Auth {
  std::string origin;
  std::string token;
};

struct HttpOptions {
  int connect_timeout_s = 20;
  int read_timeout_s = 60;  // per read: a stalled transfer fails after this
  int max_redirects = 10;
};

struct ProbeResult {
  Url url;                   // where the bytes are, after redirects
  uint64_t size = 0;         // X-Linked-Size, else Content-Length
  bool size_known = false;
  bool accepts_ranges = false;  // "Accept-Ranges: bytes" on the final answer
  std::string sha256;        // lower-case hex from X-Linked-Etag or a 64-hex ETag; empty: none
};

// HEAD (a GET of byte 0 when the server refuses HEAD). Errors name the URL
// and say what the status means (404: not found, 401/403: token).
Result<ProbeResult> Probe(const Url& url, const Auth& auth, const HttpOptions& options);

constexpr uint64_t kToEnd = UINT64_MAX;

// What a GET answered, before its body.
struct FetchStart {
  int status = 0;           // 200 or 206
  uint64_t begin = 0;       // first byte of the body in the file (Content-Range; 0 for 200)
  uint64_t total = 0;       // size of the whole file, when known
  bool total_known = false;
};

// GET of bytes [begin, end) (no Range header for the whole file: begin 0,
// end kToEnd), following redirects. `on_start` sees the 2xx answer and
// `on_data` its body; either returns false to stop (the result is then an
// error the caller recognises as its own cancel). Non-2xx answers are errors.
// `http_status` (optional) gets the last status seen: 0 when the failure was
// the network's, before any answer.
Status Fetch(const Url& url, const Auth& auth, uint64_t begin, uint64_t end, const HttpOptions& options,
             const std::function<bool(const FetchStart&)>& on_start,
             const std::function<bool(const char* data, size_t size)>& on_data, int* http_status = nullptr);

// "404 Not Found" with a hint on what to check, for error messages.
std::string DescribeHttpStatus(int status);

}  // namespace plexus::hub
