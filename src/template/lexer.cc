#include "template/lexer.h"

#include <algorithm>
#include <cctype>

#include "template/text.h"

namespace plexus::tmpl {

Status ErrorAt(int line, int column, std::string_view message) {
  return Status::Error(fmt::format("[template] line {}, column {}: {}", line, column, message));
}

namespace {

std::string NormalizeNewlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(NormalizeNewlines(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  Result<std::vector<Token>> Run() {
    while (pos_ < src_.size()) PLEXUS_RETURN_IF_ERROR(RootStep());
    Emit(TokenType::kEof, "", src_.size());
    return std::move(tokens_);
  }

 private:
  std::pair<int, int> LineColumn(size_t at) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), at);
    int line = static_cast<int>(it - line_starts_.begin());
    return {line, static_cast<int>(at - line_starts_[line - 1]) + 1};
  }
  void Emit(TokenType type, std::string text, size_t at) {
    auto [line, column] = LineColumn(at);
    tokens_.push_back(Token{type, std::move(text), line, column});
  }
  Status Fail(size_t at, std::string_view message) const {
    auto [line, column] = LineColumn(at);
    return ErrorAt(line, column, message);
  }
  bool At(std::string_view s) const { return src_.compare(pos_, s.size(), s) == 0; }
  void SkipSpace() { pos_ += SpaceLenAt(src_, pos_); }

  std::string StripBeforeTag(std::string text, char sign, bool lstrip_allowed) const;
  Status RootStep();
  Status TryRaw(size_t text_at, char sign, std::string* text, bool* handled);
  Status LexComment(size_t tag_start);
  Status LexTag(bool is_block);
  size_t MatchTagEnd(size_t at, bool is_block) const;
  bool TryTagEnd(bool is_block);
  Status LexString();
  Status LexNumber();
  Status LexOperator();

  std::string src_;
  size_t pos_ = 0;
  bool line_starting_ = true;  // did the previous match end with "\n"?
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  std::vector<char> brackets_;  // closers expected inside the current tag
};

// Whitespace control for the text in front of a tag whose opener carries
// `sign` ('-', '+' or 0).
std::string Lexer::StripBeforeTag(std::string text, char sign, bool lstrip_allowed) const {
  if (sign == '-') return std::string(PyStrip(text, false, true));
  if (sign == '+' || !lstrip_allowed) return text;
  size_t nl = text.rfind('\n');
  size_t line_pos = nl == std::string::npos ? 0 : nl + 1;
  if (line_pos == 0 && !line_starting_) return text;
  if (line_pos < text.size() && SpaceLenAt(text, line_pos) == text.size() - line_pos) text.resize(line_pos);
  return text;
}

Status Lexer::RootStep() {
  size_t hit = pos_;
  while ((hit = src_.find('{', hit)) != std::string::npos) {
    if (hit + 1 < src_.size() && (src_[hit + 1] == '{' || src_[hit + 1] == '%' || src_[hit + 1] == '#')) break;
    ++hit;
  }
  if (hit == std::string::npos) {
    Emit(TokenType::kData, src_.substr(pos_), pos_);
    pos_ = src_.size();
    return Status::Ok();
  }
  const char kind = src_[hit + 1];
  const char sign = (hit + 2 < src_.size() && (src_[hit + 2] == '-' || src_[hit + 2] == '+')) ? src_[hit + 2] : 0;
  std::string text = src_.substr(pos_, hit - pos_);
  size_t text_at = pos_;
  pos_ = hit + 2 + (sign ? 1 : 0);
  bool handled = false;
  if (kind == '%') PLEXUS_RETURN_IF_ERROR(TryRaw(text_at, sign, &text, &handled));
  if (handled) return Status::Ok();
  text = StripBeforeTag(std::move(text), sign, kind != '{');
  if (!text.empty()) Emit(TokenType::kData, std::move(text), text_at);
  line_starting_ = false;
  if (kind == '#') return LexComment(hit);
  Emit(kind == '{' ? TokenType::kVarBegin : TokenType::kBlockBegin, src_.substr(hit, 2), hit);
  return LexTag(kind == '%');
}

// `{% raw %}...{% endraw %}`: the body is text. Sets *handled = false, and
// consumes nothing, when the tag at pos_ is not `raw`.
Status Lexer::TryRaw(size_t text_at, char sign, std::string* text, bool* handled) {
  size_t p = pos_ + SpaceLenAt(src_, pos_);
  if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && IsNameChar(src_[p + 3]))) return Status::Ok();
  p += 3;
  p += SpaceLenAt(src_, p);
  bool trim_after = src_.compare(p, 3, "-%}") == 0;
  if (!trim_after && src_.compare(p, 2, "%}") != 0) return Status::Ok();
  *handled = true;
  std::string before = StripBeforeTag(std::move(*text), sign, true);
  if (!before.empty()) Emit(TokenType::kData, std::move(before), text_at);
  size_t body = p + (trim_after ? 3 : 2);
  if (trim_after) body += SpaceLenAt(src_, body);
  line_starting_ = src_[body - 1] == '\n';
  // Find `{%[-+]? endraw [-+]?%}`.
  for (size_t q = src_.find("{%", body); q != std::string::npos; q = src_.find("{%", q + 2)) {
    char end_sign = (q + 2 < src_.size() && (src_[q + 2] == '-' || src_[q + 2] == '+')) ? src_[q + 2] : 0;
    size_t r = q + 2 + (end_sign ? 1 : 0);
    r += SpaceLenAt(src_, r);
    if (src_.compare(r, 6, "endraw") != 0) continue;
    r += 6;
    size_t after = MatchTagEnd(r + SpaceLenAt(src_, r), true);
    if (after == 0) continue;
    std::string raw = StripBeforeTag(src_.substr(body, q - body), end_sign, true);
    if (!raw.empty()) Emit(TokenType::kData, std::move(raw), body);
    pos_ = after;
    line_starting_ = src_[pos_ - 1] == '\n';
    return Status::Ok();
  }
  return Fail(text_at, "Missing end of raw directive");
}

Status Lexer::LexComment(size_t tag_start) {
  size_t end = src_.find("#}", pos_);
  if (end == std::string::npos) return Fail(tag_start, "Missing end of comment tag");
  char sign = (end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')) ? src_[end - 1] : 0;
  pos_ = end + 2;
  if (sign == '-') {
    SkipSpace();
  } else if (sign == 0 && pos_ < src_.size() && src_[pos_] == '\n') {
    ++pos_;  // trim_blocks
  }
  line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  return Status::Ok();
}

// The position after a closing `}}` or `%}` (with its whitespace control)
// at `at`, or 0 when there is none.
size_t Lexer::MatchTagEnd(size_t at, bool is_block) const {
  const char* close = is_block ? "%}" : "}}";
  if (is_block && src_.compare(at, 3, "+%}") == 0) return at + 3;
  if (src_.compare(at, 1, "-") == 0 && src_.compare(at + 1, 2, close) == 0) {
    return at + 3 + SpaceLenAt(src_, at + 3);
  }
  if (src_.compare(at, 2, close) != 0) return 0;
  at += 2;
  if (is_block && at < src_.size() && src_[at] == '\n') ++at;  // trim_blocks
  return at;
}

bool Lexer::TryTagEnd(bool is_block) {
  size_t after = MatchTagEnd(pos_, is_block);
  if (after == 0) return false;
  Emit(is_block ? TokenType::kBlockEnd : TokenType::kVarEnd, is_block ? "%}" : "}}", pos_);
  pos_ = after;
  line_starting_ = src_[pos_ - 1] == '\n';
  return true;
}

Status Lexer::LexTag(bool is_block) {
  brackets_.clear();
  while (true) {
    if (pos_ >= src_.size()) return Fail(pos_, "unexpected end of template: missing closing tag");
    if (brackets_.empty() && TryTagEnd(is_block)) return Status::Ok();
    size_t space = SpaceLenAt(src_, pos_);
    if (space > 0) {
      pos_ += space;
      continue;
    }
    const char c = src_[pos_];
    if (IsDigit(c)) {
      PLEXUS_RETURN_IF_ERROR(LexNumber());
    } else if (IsNameStart(c)) {
      size_t start = pos_;
      while (pos_ < src_.size() && IsNameChar(src_[pos_])) ++pos_;
      Emit(TokenType::kName, src_.substr(start, pos_ - start), start);
    } else if (c == '"' || c == '\'') {
      PLEXUS_RETURN_IF_ERROR(LexString());
    } else {
      PLEXUS_RETURN_IF_ERROR(LexOperator());
    }
  }
}

// Appends the code point for \x, \u, \U escapes of `digits` hex digits.
bool AppendHexEscape(std::string_view s, size_t at, int digits, std::string* out) {
  if (at + digits > s.size()) return false;
  uint32_t cp = 0;
  for (int i = 0; i < digits; ++i) {
    char h = s[at + i];
    if (!std::isxdigit(static_cast<unsigned char>(h))) return false;
    cp = cp * 16 + (IsDigit(h) ? h - '0' : (std::tolower(h) - 'a' + 10));
  }
  if (cp > 0x10FFFF) return false;
  AppendUtf8(cp, out);
  return true;
}

// Python's "unicode-escape" decoding of a string literal's body.
Status Lexer::LexString() {
  const size_t start = pos_;
  const char quote = src_[pos_++];
  std::string value;
  while (pos_ < src_.size() && src_[pos_] != quote) {
    char c = src_[pos_++];
    if (c != '\\') {
      value += c;
      continue;
    }
    if (pos_ >= src_.size()) break;
    char e = src_[pos_++];
    static constexpr std::string_view kSimple = "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v";
    size_t k = kSimple.find(e);
    if (k != std::string_view::npos && k % 2 == 0) {
      value += kSimple[k + 1];
    } else if (e == '\n') {
      // line continuation: nothing
    } else if (e >= '0' && e <= '7') {
      uint32_t cp = e - '0';
      for (int i = 0; i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++i) {
        cp = cp * 8 + (src_[pos_++] - '0');
      }
      AppendUtf8(cp, &value);
    } else if (e == 'x' || e == 'u' || e == 'U') {
      int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      if (!AppendHexEscape(src_, pos_, digits, &value)) return Fail(pos_ - 2, "invalid escape in string literal");
      pos_ += digits;
    } else {
      value += '\\';
      value += e;
    }
  }
  if (pos_ >= src_.size()) return Fail(start, "unterminated string literal");
  ++pos_;
  Emit(TokenType::kString, std::move(value), start);
  return Status::Ok();
}

Status Lexer::LexNumber() {
  const size_t start = pos_;
  auto digits = [&] {
    size_t from = pos_;
    while (pos_ < src_.size() && (IsDigit(src_[pos_]) || (src_[pos_] == '_' && pos_ + 1 < src_.size() &&
                                                          IsDigit(src_[pos_ + 1]) && pos_ > from))) {
      ++pos_;
    }
    return pos_ > from;
  };
  digits();
  bool is_float = false;
  if (pos_ + 1 < src_.size() && src_[pos_] == '.' && IsDigit(src_[pos_ + 1])) {
    ++pos_;
    digits();
    is_float = true;
  }
  if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
    size_t save = pos_++;
    if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
    if (digits()) {
      is_float = true;
    } else {
      pos_ = save;
    }
  }
  std::string text = src_.substr(start, pos_ - start);
  text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
  if (!is_float && (text.size() > 18)) return Fail(start, "integer literal too large");
  Emit(is_float ? TokenType::kFloat : TokenType::kInt, std::move(text), start);
  return Status::Ok();
}

Status Lexer::LexOperator() {
  static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
  for (std::string_view op : kTwo) {
    if (At(op)) {
      Emit(TokenType::kOperator, std::string(op), pos_);
      pos_ += 2;
      return Status::Ok();
    }
  }
  const char c = src_[pos_];
  if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
    return Fail(pos_, fmt::format("unexpected character '{}'", c));
  }
  if (c == '(' || c == '[' || c == '{') brackets_.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
  if (c == ')' || c == ']' || c == '}') {
    if (brackets_.empty()) return Fail(pos_, fmt::format("unexpected '{}'", c));
    if (brackets_.back() != c) return Fail(pos_, fmt::format("unexpected '{}', expected '{}'", c, brackets_.back()));
    brackets_.pop_back();
  }
  Emit(TokenType::kOperator, std::string(1, c), pos_);
  ++pos_;
  return Status::Ok();
}

}  // namespace

Result<std::vector<Token>> Tokenize(std::string_view source) {
  Lexer lexer(source);
  return lexer.Run();
}

}  // namespace plexus::tmpl
