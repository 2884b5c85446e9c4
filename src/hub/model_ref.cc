#include "hub/model_ref.h"

#include <cctype>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "hub/url.h"

namespace plexus::hub {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool EndsWithGguf(std::string_view name) {
  if (name.size() <= 5) return false;
  std::string tail(name.substr(name.size() - 5));
  for (char& c : tail) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return tail == ".gguf";
}

std::vector<std::string_view> SplitSlash(std::string_view s) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find('/', pos);
    out.push_back(s.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) return out;
    pos = next + 1;
  }
}

// Hub names (organisation, repository, revision): letters, digits, '.', '_', '-'.
bool IsHubName(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

// A path segment that is safe as a file or folder name in the cache.
bool IsSafeSegment(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\' || c == '/') return false;
  return true;
}

Result<ModelRef> ParseHubRef(std::string_view text) {
  const std::string_view body = text.substr(3);
  const std::vector<std::string_view> parts = SplitSlash(body);
  if (parts.size() < 3)
    return Status::Errorf("hub", "'{}': expected hf:ORG/REPO/FILE.gguf (optionally REPO@REVISION)", text);
  ModelRef ref;
  ref.org = std::string(parts[0]);
  std::string_view repo = parts[1];
  if (const size_t at = repo.find('@'); at != std::string_view::npos) {
    ref.revision = std::string(repo.substr(at + 1));
    repo = repo.substr(0, at);
    if (!IsHubName(ref.revision))
      return Status::Errorf("hub", "'{}': revision '{}' must be a branch, tag or commit of letters, digits, '.', '_', '-'",
                            text, ref.revision);
  }
  ref.repo = std::string(repo);
  if (!IsHubName(ref.org)) return Status::Errorf("hub", "'{}': bad organisation name '{}'", text, ref.org);
  if (!IsHubName(ref.repo)) return Status::Errorf("hub", "'{}': bad repository name '{}'", text, ref.repo);
  for (size_t i = 2; i < parts.size(); ++i) {
    if (!IsSafeSegment(parts[i]))
      return Status::Errorf("hub", "'{}': bad path segment '{}' in the file path", text, parts[i]);
    ref.path += (i > 2 ? "/" : "") + std::string(parts[i]);
  }
  if (!EndsWithGguf(ref.path)) return Status::Errorf("hub", "'{}': the file must be a .gguf file", text);
  return ref;
}

Result<ModelRef> ParseUrlRef(std::string_view text) {
  PLEXUS_ASSIGN_OR_RETURN(Url url, ParseUrl(text));
  const std::string path = url.Path();
  const std::string name = PercentDecode(path.substr(path.rfind('/') + 1));
  if (!IsSafeSegment(name) || !EndsWithGguf(name))
    return Status::Errorf("hub", "URL '{}' must end in a .gguf file name", text);
  ModelRef ref;
  ref.kind = ModelRef::Kind::kUrl;
  ref.url = url.ToString();
  ref.host_dir = url.host;
  for (char& c : ref.host_dir)
    if (c == ':') c = '_';  // IPv6 literals
  if (url.port != (url.scheme == "https" ? 443 : 80)) ref.host_dir += "_" + std::to_string(url.port);
  return ref;
}

}  // namespace

std::string ModelRef::FileName() const {
  if (kind == Kind::kHub) return path.substr(path.rfind('/') + 1);
  auto parsed = ParseUrl(url);
  const std::string p = parsed.ok() ? parsed->Path() : url;
  return PercentDecode(p.substr(p.rfind('/') + 1));
}

std::string ModelRef::CachePath() const {
  if (kind == Kind::kHub) return "models/" + org + "/" + repo + "/" + path;
  return "models/url/" + host_dir + "/" + FileName();
}

std::string ModelRef::SourceUrl(std::string_view endpoint) const {
  if (kind == Kind::kUrl) return url;
  std::string base(endpoint);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/{}/{}/resolve/{}/{}", base, org, repo, revision, PercentEncode(path, true));
}

ModelRef ModelRef::WithFileName(const std::string& name) const {
  ModelRef out = *this;
  if (kind == Kind::kHub) {
    const size_t slash = path.rfind('/');
    out.path = (slash == std::string::npos ? "" : path.substr(0, slash + 1)) + name;
    return out;
  }
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) return out;
  Url u = *parsed;
  const std::string p = u.Path();
  const std::string query = u.target.substr(p.size());
  u.target = p.substr(0, p.rfind('/') + 1) + PercentEncode(name, false) + query;
  out.url = u.ToString();
  return out;
}

std::string ModelRef::ToString() const {
  if (kind == Kind::kUrl) return url;
  return "hf:" + org + "/" + repo + (revision == "main" ? "" : "@" + revision) + "/" + path;
}

bool IsRemoteRef(std::string_view text) {
  return StartsWith(text, "hf:") || StartsWith(text, "http://") || StartsWith(text, "https://");
}

Result<ModelRef> ParseModelRef(std::string_view text) {
  if (StartsWith(text, "hf:")) return ParseHubRef(text);
  if (StartsWith(text, "http://") || StartsWith(text, "https://")) return ParseUrlRef(text);
  return Status::Errorf("hub", "'{}' is not a model reference (expected hf:ORG/REPO/FILE.gguf or an http(s) URL)", text);
}

std::optional<SplitName> ParseSplitName(std::string_view name) {
  // "-NNNNN-of-NNNNN.gguf" is 20 characters.
  constexpr size_t kTail = 20;
  if (name.size() <= kTail || name.substr(name.size() - 5) != ".gguf") return std::nullopt;
  const std::string_view tail = name.substr(name.size() - kTail);
  if (tail[0] != '-' || tail.substr(6, 4) != "-of-") return std::nullopt;
  auto number = [](std::string_view digits) {
    int value = 0;
    for (char c : digits) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
      value = value * 10 + (c - '0');
    }
    return value;
  };
  SplitName split;
  split.index = number(tail.substr(1, 5));
  split.count = number(tail.substr(10, 5));
  if (split.index < 1 || split.count < 1 || split.index > split.count) return std::nullopt;
  split.prefix = std::string(name.substr(0, name.size() - kTail));
  return split;
}

std::string SplitPartName(std::string_view prefix, int index, int count) {
  return fmt::format("{}-{:05d}-of-{:05d}.gguf", prefix, index, count);
}

std::string DefaultEndpoint() {
  if (const char* e = std::getenv("PLEXUS_HF_ENDPOINT"); e && *e) return e;
  return std::string(kDefaultEndpoint);
}

}  // namespace plexus::hub
