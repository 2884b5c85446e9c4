#include "hub/url.h"

#include <cctype>
#include <charconv>
#include <vector>

namespace plexus::hub {
namespace {

int DefaultPort(const std::string& scheme) { return scheme == "https" ? 443 : 80; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "host[:port]" or "[v6]:port". Errors name `text` (the whole URL).
Status ParseAuthority(std::string_view authority, std::string_view text, Url& url) {
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::Errorf("hub", "URL '{}': unclosed '[' in the host", text);
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return Status::Errorf("hub", "URL '{}': junk after the host", text);
    if (!rest.empty()) port = rest.substr(1);
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return Status::Errorf("hub", "URL '{}' has no host", text);
  if (host.find('@') != std::string_view::npos)
    return Status::Errorf("hub", "URL '{}': credentials in the URL are not supported (use HF_TOKEN)", text);
  for (char c : host)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '?' || c == '#')
      return Status::Errorf("hub", "URL '{}': bad character in the host", text);
  url.host = std::string(host);
  url.port = DefaultPort(url.scheme);
  if (!port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)
      return Status::Errorf("hub", "URL '{}': bad port '{}'", text, port);
    url.port = value;
  }
  return Status::Ok();
}

// "/a/./b/../c" -> "/a/c" (RFC 3986 section 5.2.4, for paths that start with '/').
std::string RemoveDotSegments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view seg = path.substr(pos, next - pos);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      if (next == path.size()) out.push_back("");  // "/a/.." -> "/"
    } else if (seg == ".") {
      if (next == path.size()) out.push_back("");
    } else {
      out.push_back(seg);
    }
    pos = next + 1;
  }
  std::string result;
  for (std::string_view seg : out) {
    result += '/';
    result += seg;
  }
  return result.empty() ? "/" : result;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Url::Origin() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port == DefaultPort(scheme)) return scheme + "://" + h;
  return scheme + "://" + h + ":" + std::to_string(port);
}

std::string Url::Path() const { return target.substr(0, target.find('?')); }

Result<Url> ParseUrl(std::string_view text) {
  Url url;
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return Status::Errorf("hub", "'{}' is not a URL (expected http:// or https://)", text);
  url.scheme = Lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https")
    return Status::Errorf("hub", "URL '{}': scheme '{}' is not supported (http or https)", text, url.scheme);
  std::string_view rest = text.substr(sep + 3);
  for (char c : rest)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return Status::Errorf("hub", "URL '{}' contains spaces or control characters", text);
  const size_t slash = rest.find_first_of("/?#");
  PLEXUS_RETURN_IF_ERROR(ParseAuthority(rest.substr(0, slash), text, url));
  std::string_view target = slash == std::string_view::npos ? "/" : rest.substr(slash);
  target = target.substr(0, target.find('#'));  // fragments never reach the server
  url.target.clear();
  if (target.empty() || target.front() != '/') url.target = '/';
  url.target += target;
  return url;
}

Result<Url> ResolveLocation(const Url& base, std::string_view location) {
  if (location.empty()) return Status::Errorf("hub", "redirect from {} has an empty Location", base.ToString());
  if (location.find("://") != std::string_view::npos && location.find("://") < location.find('/'))
    return ParseUrl(location);
  if (location.substr(0, 2) == "//") return ParseUrl(base.scheme + ":" + std::string(location));
  Url url = base;
  std::string_view query;
  std::string_view path = location;
  if (const size_t q = location.find('?'); q != std::string_view::npos) {
    path = location.substr(0, q);
    query = location.substr(q);
  }
  std::string joined;
  if (!path.empty() && path.front() == '/') {
    joined = std::string(path);
  } else {
    const std::string base_path = base.Path();
    joined = base_path.substr(0, base_path.rfind('/') + 1) + std::string(path);
  }
  url.target = RemoveDotSegments(joined) + std::string(query);
  return url;
}

std::string PercentEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace plexus::hub
