// URLs as the hub client needs them: split into origin and request target,
// Location headers resolved against the URL that answered, path segments
// percent-encoded. Only http and https.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace plexus::hub {

struct Url {
  std::string scheme;  // "http" or "https" (lower case)
  std::string host;    // as written, without brackets for IPv6 literals
  int port = 0;        // explicit or the scheme's default (80, 443)
  std::string target;  // path and query, always starting with '/'

  // "scheme://host[:port]" (the port only when it is not the default).
  std::string Origin() const;
  std::string ToString() const { return Origin() + target; }
  // The path without the query ("/a/b.gguf" of "/a/b.gguf?x=1").
  std::string Path() const;
};

// Parses an absolute http(s) URL. Errors name the text.
Result<Url> ParseUrl(std::string_view text);

// The URL a redirect's Location points to: absolute, scheme-relative
// ("//host/x"), absolute-path ("/x") or relative to `base`'s directory
// ("x", "../x"); dot segments are removed.
Result<Url> ResolveLocation(const Url& base, std::string_view location);

// Percent-encodes everything but RFC 3986 unreserved characters (and '/'
// when `keep_slash`), so repository paths with spaces or '#' stay one path.
std::string PercentEncode(std::string_view text, bool keep_slash);
// Decodes %XX escapes; malformed escapes are kept as written.
std::string PercentDecode(std::string_view text);

}  // namespace plexus::hub
