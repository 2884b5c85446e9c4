#include "hub/part_state.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace plexus::hub {

std::vector<ByteSpan> MergeSpans(std::vector<ByteSpan> spans) {
  std::erase_if(spans, [](const ByteSpan& s) { return s.end <= s.begin; });
  std::sort(spans.begin(), spans.end(), [](const ByteSpan& a, const ByteSpan& b) { return a.begin < b.begin; });
  std::vector<ByteSpan> out;
  for (const ByteSpan& s : spans) {
    if (!out.empty() && s.begin <= out.back().end) out.back().end = std::max(out.back().end, s.end);
    else out.push_back(s);
  }
  return out;
}

std::vector<ByteSpan> MissingSpans(uint64_t size, const std::vector<ByteSpan>& have) {
  std::vector<ByteSpan> out;
  uint64_t pos = 0;
  for (const ByteSpan& s : MergeSpans(have)) {
    if (s.begin >= size) break;
    if (s.begin > pos) out.push_back({pos, s.begin});
    pos = std::max(pos, s.end);
  }
  if (pos < size) out.push_back({pos, size});
  return out;
}

uint64_t TotalBytes(const std::vector<ByteSpan>& spans) {
  uint64_t total = 0;
  for (const ByteSpan& s : spans) total += s.size();
  return total;
}

Result<std::optional<PartState>> ReadPartState(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::optional<PartState>();
  PartState state;
  std::string line;
  if (!std::getline(in, line) || line != "plexus-part 1")
    return Status::Errorf("hub", "'{}' is not a plexus download state (first line '{}')", path, line);
  for (int n = 2; std::getline(in, line); ++n) {
    std::istringstream fields(line);
    std::string key, value;
    fields >> key;
    if (key == "source") {
      state.source = line.size() > 7 ? line.substr(7) : "";
    } else if (key == "size" && fields >> value) {
      state.size_known = value != "-";
      if (state.size_known && !(std::istringstream(value) >> state.size))
        return Status::Errorf("hub", "{}:{}: bad size '{}'", path, n, value);
    } else if (key == "sha256" && fields >> value) {
      state.sha256 = value == "-" ? "" : value;
    } else if (key == "have") {
      ByteSpan s;
      if (!(fields >> s.begin >> s.end) || s.end < s.begin)
        return Status::Errorf("hub", "{}:{}: bad range '{}'", path, n, line);
      state.have.push_back(s);
    } else if (!key.empty()) {
      return Status::Errorf("hub", "{}:{}: unknown line '{}'", path, n, line);
    }
  }
  state.have = MergeSpans(std::move(state.have));
  return std::optional<PartState>(std::move(state));
}

Status WritePartState(const std::string& path, const PartState& state) {
  std::ostringstream out;
  out << "plexus-part 1\nsource " << state.source << "\nsize ";
  if (state.size_known) out << state.size;
  else out << '-';
  out << "\nsha256 " << (state.sha256.empty() ? "-" : state.sha256) << '\n';
  for (const ByteSpan& s : MergeSpans(state.have)) out << "have " << s.begin << ' ' << s.end << '\n';
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << out.str();
    f.flush();
    if (!f) return Status::Errorf("hub", "cannot write '{}': {}", tmp, std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::Errorf("hub", "cannot rename '{}' to '{}': {}", tmp, path, std::strerror(errno));
  return Status::Ok();
}

}  // namespace plexus::hub
