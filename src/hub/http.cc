#include "hub/http.h"

#include <cctype>
#include <charconv>
#include <memory>
#include <optional>

#include <httplib.h>

#include <fmt/format.h>

namespace plexus::hub {
namespace {

constexpr const char* kUserAgent = "plexus-hub/1";

std::unique_ptr<httplib::Client> MakeClient(const Url& url, const HttpOptions& options) {
  auto cli = std::make_unique<httplib::Client>(url.Origin());
  cli->set_connection_timeout(options.connect_timeout_s);
  cli->set_read_timeout(options.read_timeout_s);
  cli->set_follow_location(false);  // by hand: see Probe
  cli->set_url_encode(false);       // targets are already encoded (signed CDN URLs must stay byte-exact)
  cli->set_decompress(false);
  return cli;
}

httplib::Headers BaseHeaders(const Url& url, const Auth& auth) {
  httplib::Headers h{{"User-Agent", kUserAgent}, {"Accept-Encoding", "identity"}};
  if (!auth.token.empty() && url.Origin() == auth.origin) h.emplace("Authorization", "Bearer " + auth.token);
  return h;
}

std::optional<uint64_t> ParseU64(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// `"abc..."`, `W/"abc..."` -> the 64-hex digest in lower case, or "".
std::string DigestFromEtag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  if (etag.size() != 64) return "";
  for (char& c : etag) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return "";
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return etag;
}

bool IsRedirect(int status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }

Status HttpError(const Url& url, int status, const std::string& hub_message) {
  std::string msg = fmt::format("{}: {}", url.ToString(), DescribeHttpStatus(status));
  if (!hub_message.empty()) msg += " (" + hub_message + ")";
  return Status::Errorf("hub", "{}", msg);
}

const char* DescribeNetworkError(httplib::Error err) {
  switch (err) {
    case httplib::Error::Connection: return "cannot connect (is the host right and reachable?)";
    case httplib::Error::ConnectionTimeout: return "timed out connecting";
    case httplib::Error::Read: return "the connection broke or went silent while reading";
    case httplib::Error::Write: return "the connection broke while sending the request";
    case httplib::Error::SSLConnection: return "the TLS handshake failed";
    case httplib::Error::SSLLoadingCerts: return "cannot load the trusted CA certificates";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate is not trusted (a private CA can be named with SSL_CERT_FILE)";
    case httplib::Error::Compression: return "cannot decode the compressed answer";
    default: return "the request failed";
  }
}

Status NetworkError(const Url& url, httplib::Error err) {
  return Status::Errorf("hub", "{}: network error: {} ({})", url.ToString(), DescribeNetworkError(err),
                        httplib::to_string(err));
}

// Headers of one answer in a redirect chain; the first digest and size seen win
// (the hub's resolve answer carries them; the CDN's ETag is something else).
void Collect(const httplib::Response& r, ProbeResult& out, bool& linked_size) {
  if (out.sha256.empty()) out.sha256 = DigestFromEtag(r.get_header_value("X-Linked-Etag"));
  if (out.sha256.empty()) out.sha256 = DigestFromEtag(r.get_header_value("ETag"));
  if (!linked_size) {
    if (auto size = ParseU64(r.get_header_value("X-Linked-Size"))) {
      out.size = *size;
      out.size_known = linked_size = true;
    }
  }
}

// "bytes 100-199/1000" -> begin 100, total 1000 ("*" total: unknown).
bool ParseContentRange(const std::string& value, FetchStart& start) {
  if (value.rfind("bytes ", 0) != 0) return false;
  const size_t dash = value.find('-'), slash = value.find('/');
  if (dash == std::string::npos || slash == std::string::npos || dash > slash) return false;
  auto begin = ParseU64(std::string_view(value).substr(6, dash - 6));
  if (!begin) return false;
  start.begin = *begin;
  if (auto total = ParseU64(std::string_view(value).substr(slash + 1))) {
    start.total = *total;
    start.total_known = true;
  }
  return true;
}

// A GET of byte 0, for servers that refuse HEAD: 206 says ranges work.
Status ProbeWithGet(const Url& url, const Auth& auth, const HttpOptions& options, ProbeResult& out) {
  bool got_start = false;
  Status st = Fetch(url, auth, 0, 1, options, [&](const FetchStart& s) {
    got_start = true;
    out.accepts_ranges = s.status == 206;
    if (!out.size_known && s.total_known) {
      out.size = s.total;
      out.size_known = true;
    }
    return false;  // headers are all we wanted
  }, [](const char*, size_t) { return false; });
  if (got_start) return Status::Ok();
  return st;
}

}  // namespace

std::string DescribeHttpStatus(int status) {
  switch (status) {
    case 401: return "401 Unauthorized: the repository is private or gated; set HF_TOKEN to a token that may read it";
    case 403: return "403 Forbidden: the token may not read this file (gated model: accept its terms on the hub)";
    case 404: return "404 Not Found: check the organisation, repository, revision and file name";
    case 416: return "416 Range Not Satisfiable";
    case 429: return "429 Too Many Requests: the server is rate limiting, try again later";
    default: break;
  }
  if (status >= 500) return fmt::format("{} server error", status);
  return fmt::format("HTTP status {}", status);
}

Result<ProbeResult> Probe(const Url& start, const Auth& auth, const HttpOptions& options) {
  ProbeResult out;
  bool linked_size = false;
  Url url = start;
  for (int hop = 0; hop <= options.max_redirects; ++hop) {
    auto cli = MakeClient(url, options);
    if (!cli->is_valid()) return Status::Errorf("hub", "{}: cannot make an HTTP client for it", url.ToString());
    httplib::Result res = cli->Head(url.target, BaseHeaders(url, auth));
    if (!res) return NetworkError(url, res.error());
    Collect(*res, out, linked_size);
    if (IsRedirect(res->status)) {
      PLEXUS_ASSIGN_OR_RETURN(url, ResolveLocation(url, res->get_header_value("Location")));
      continue;
    }
    out.url = url;
    if (res->status == 405 || res->status == 501) {
      PLEXUS_RETURN_IF_ERROR(ProbeWithGet(url, auth, options, out));
      return out;
    }
    if (res->status != 200) return HttpError(url, res->status, res->get_header_value("X-Error-Message"));
    if (!out.size_known) {
      if (auto size = ParseU64(res->get_header_value("Content-Length"))) {
        out.size = *size;
        out.size_known = true;
      }
    }
    out.accepts_ranges = res->get_header_value("Accept-Ranges") == "bytes";
    return out;
  }
  return Status::Errorf("hub", "{}: more than {} redirects", start.ToString(), options.max_redirects);
}

Status Fetch(const Url& start, const Auth& auth, uint64_t begin, uint64_t end, const HttpOptions& options,
             const std::function<bool(const FetchStart&)>& on_start,
             const std::function<bool(const char* data, size_t size)>& on_data, int* http_status) {
  int unused = 0;
  if (http_status == nullptr) http_status = &unused;
  *http_status = 0;
  Url url = start;
  for (int hop = 0; hop <= options.max_redirects; ++hop) {
    auto cli = MakeClient(url, options);
    if (!cli->is_valid()) return Status::Errorf("hub", "{}: cannot make an HTTP client for it", url.ToString());
    httplib::Headers headers = BaseHeaders(url, auth);
    if (begin != 0 || end != kToEnd)
      headers.emplace("Range", end == kToEnd ? fmt::format("bytes={}-", begin) : fmt::format("bytes={}-{}", begin, end - 1));
    int status = 0;
    bool started = false, bad_range = false;
    std::string location, hub_message;
    httplib::Result res = cli->Get(url.target, headers, [&](const httplib::Response& r) {
      status = r.status;
      if (status != 200 && status != 206) {
        location = r.get_header_value("Location");
        hub_message = r.get_header_value("X-Error-Message");
        return false;  // no body wanted
      }
      FetchStart s;
      s.status = status;
      if (status == 206 && !ParseContentRange(r.get_header_value("Content-Range"), s)) {
        bad_range = true;
        return false;
      }
      if (status == 200) {
        if (auto length = ParseU64(r.get_header_value("Content-Length"))) {
          s.total = *length;
          s.total_known = true;
        }
      }
      started = true;
      return on_start(s);
    }, [&](const char* data, size_t size) { return on_data(data, size); });
    *http_status = status;
    if (bad_range) return Status::Errorf("hub", "{}: 206 answer without a valid Content-Range", url.ToString());
    if (IsRedirect(status)) {
      PLEXUS_ASSIGN_OR_RETURN(url, ResolveLocation(url, location));
      continue;
    }
    if (status != 0 && status != 200 && status != 206) return HttpError(url, status, hub_message);
    if (!res) {
      if (started && res.error() == httplib::Error::Canceled) return Status::Errorf("hub", "{}: canceled", url.ToString());
      return NetworkError(url, res.error());
    }
    // A body cut short is a read error when the answer had a Content-Length;
    // without one, the caller's byte count against the expected size tells.
    return Status::Ok();
  }
  return Status::Errorf("hub", "{}: more than {} redirects", start.ToString(), options.max_redirects);
}

}  // namespace plexus::hub
