#include "template/text.h"

namespace plexus::tmpl {

uint32_t DecodeUtf8(std::string_view s, size_t pos, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  *len = 1;
  int extra = 0;
  uint32_t cp = b0;
  if (b0 >= 0xF0 && b0 < 0xF8) {
    extra = 3, cp = b0 & 0x07;
  } else if (b0 >= 0xE0) {
    extra = 2, cp = b0 & 0x0F;
  } else if (b0 >= 0xC0) {
    extra = 1, cp = b0 & 0x1F;
  }
  if (extra == 0 || b0 >= 0xF8 || pos + extra >= s.size()) return b0;
  for (int i = 1; i <= extra; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return b0;
    cp = (cp << 6) | (b & 0x3F);
  }
  *len = extra + 1;
  return cp;
}

bool IsPySpace(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
  if (cp < 0x80) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t SpaceLenAt(std::string_view s, size_t pos) {
  size_t start = pos;
  while (pos < s.size()) {
    size_t len = 0;
    if (!IsPySpace(DecodeUtf8(s, pos, &len))) break;
    pos += len;
  }
  return pos - start;
}

namespace {

bool InChars(uint32_t cp, const std::string* chars) {
  if (chars == nullptr) return IsPySpace(cp);
  for (size_t i = 0; i < chars->size();) {
    size_t len = 0;
    if (DecodeUtf8(*chars, i, &len) == cp) return true;
    i += len;
  }
  return false;
}

// Byte offset where the code point ending at `end` starts.
size_t PrevCodePoint(std::string_view s, size_t end) {
  size_t start = end - 1;
  while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  size_t len = 0;
  DecodeUtf8(s, start, &len);
  return start + len == end ? start : end - 1;
}

}  // namespace

std::string_view PyStrip(std::string_view s, bool left, bool right, const std::string* chars) {
  size_t begin = 0, end = s.size();
  while (left && begin < end) {
    size_t len = 0;
    if (!InChars(DecodeUtf8(s, begin, &len), chars)) break;
    begin += len;
  }
  while (right && end > begin) {
    size_t start = PrevCodePoint(s, end), len = 0;
    if (!InChars(DecodeUtf8(s, start, &len), chars)) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep != nullptr) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      size_t hit = s.find(*sep, pos);
      if (hit == std::string_view::npos) break;
      parts.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep->size();
    }
    parts.emplace_back(s.substr(pos));
    return parts;
  }
  size_t pos = SpaceLenAt(s, 0);
  while (pos < s.size()) {
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      parts.emplace_back(PyStrip(s.substr(pos), false, true));
      break;
    }
    size_t end = pos;
    while (end < s.size() && SpaceLenAt(s, end) == 0) {
      size_t len = 0;
      DecodeUtf8(s, end, &len);
      end += len;
    }
    parts.emplace_back(s.substr(pos, end - pos));
    pos = end + SpaceLenAt(s, end);
  }
  return parts;
}

std::vector<std::string> PySplitLines(std::string_view s) {
  std::vector<std::string> lines;
  size_t start = 0, pos = 0;
  while (pos < s.size()) {
    size_t len = 0;
    uint32_t cp = DecodeUtf8(s, pos, &len);
    bool is_break = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) ||
                    cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!is_break) {
      pos += len;
      continue;
    }
    lines.emplace_back(s.substr(start, pos - start));
    pos += len;
    if (cp == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    start = pos;
  }
  if (start < s.size()) lines.emplace_back(s.substr(start));
  return lines;
}

std::string PyReplace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` around every code point
    std::vector<std::string> cps = CodePoints(s);
    int64_t done = 0;
    for (const std::string& cp : cps) {
      if (count < 0 || done < count) out += to, ++done;
      out += cp;
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}

std::vector<std::string> CodePoints(std::string_view s) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < s.size();) {
    size_t len = 0;
    DecodeUtf8(s, pos, &len);
    out.emplace_back(s.substr(pos, len));
    pos += len;
  }
  return out;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (size_t pos = 0; pos < s.size(); ++n) {
    size_t len = 0;
    DecodeUtf8(s, pos, &len);
    pos += len;
  }
  return n;
}

}  // namespace plexus::tmpl
