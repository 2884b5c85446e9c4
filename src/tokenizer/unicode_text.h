// UTF-8 and Unicode helpers shared by the tokenizers. Unicode data
// (normalization forms, case mapping, general categories) comes from ICU;
// nothing here is a hand-written Unicode table.
#pragma once

#include "base/utf8.h"  // AppendUtf8

#include <cstddef>
#include <string>
#include <string_view>

namespace plexus::unicode {

// Bytes in the well-formed UTF-8 character at text[pos]; 0 when the bytes
// there are not one (a stray continuation byte, a truncated or overlong
// sequence, a surrogate, or a code point past U+10FFFF).
size_t ValidUtf8Length(std::string_view text, size_t pos);

// The code point of the well-formed character text[pos, pos + length).
char32_t DecodeUtf8(std::string_view text, size_t pos, size_t length);


// Normal forms of well-formed UTF-8 text.
std::string Nfc(std::string_view text);
std::string Nfd(std::string_view text);
// Full lowercase mapping (root locale), as Rust's str::to_lowercase.
std::string ToLower(std::string_view text);

// General categories and properties.
bool IsWhiteSpace(char32_t cp);      // the White_Space property
bool IsPunctuation(char32_t cp);     // P* (Pc Pd Ps Pe Pi Pf Po)
bool IsNonspacingMark(char32_t cp);  // Mn
bool IsOther(char32_t cp);           // C* (Cc Cf Cs Co Cn)

}  // namespace plexus::unicode
