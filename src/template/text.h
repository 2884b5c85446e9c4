// Text helpers that follow Python's str semantics on UTF-8 bytes: what counts
// as whitespace (str.strip, str.split, \s in jinja2's lexer), line splitting
// (str.splitlines), and code-point iteration. Invalid UTF-8 is read one byte
// at a time as U+FFFD-free raw bytes, so no input can make these fail.
#pragma once

#include "base/utf8.h"  // AppendUtf8

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::tmpl {

// Decodes the code point at s[pos]; sets *len to its byte length (>= 1).
// An invalid byte decodes as itself (0x80..0xFF) with length 1.
uint32_t DecodeUtf8(std::string_view s, size_t pos, size_t* len);

// Python's str.isspace() for one code point.
bool IsPySpace(uint32_t cp);
// Byte length of the whitespace run starting at pos (0 if none).
size_t SpaceLenAt(std::string_view s, size_t pos);

// str.strip/lstrip/rstrip: with no chars, Unicode whitespace; else any code
// point in `chars`.
std::string_view PyStrip(std::string_view s, bool left, bool right,
                         const std::string* chars = nullptr);
// str.split(): on runs of whitespace (sep == nullptr) or on an exact
// separator; maxsplit < 0 means no limit.
std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t maxsplit);
// str.splitlines() without keepends.
std::vector<std::string> PySplitLines(std::string_view s);
// str.replace(old, new, count); count < 0 means all.
std::string PyReplace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// ASCII case mapping (non-ASCII letters are left as they are).
std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);
// Splits into code points, each as its own UTF-8 string (Python iterates str
// by code point).
std::vector<std::string> CodePoints(std::string_view s);
size_t CodePointCount(std::string_view s);

}  // namespace plexus::tmpl
