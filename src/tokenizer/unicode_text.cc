#include "tokenizer/unicode_text.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "base/status.h"

namespace plexus::unicode {
namespace {

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// ICU works on UTF-16; these tokenizers on UTF-8.
std::string Normalize(std::string_view text, const icu::Normalizer2* (*instance)(UErrorCode&)) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = instance(error);
  PLEXUS_CHECK(U_SUCCESS(error), "ICU normalizer unavailable: {}", u_errorName(error));
  const icu::UnicodeString input =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), int32_t(text.size())));
  if (normalizer->isNormalized(input, error) && U_SUCCESS(error)) return std::string(text);
  error = U_ZERO_ERROR;
  const icu::UnicodeString output = normalizer->normalize(input, error);
  PLEXUS_CHECK(U_SUCCESS(error), "ICU normalization failed: {}", u_errorName(error));
  std::string result;
  output.toUTF8String(result);
  return result;
}

const icu::Normalizer2* NfcInstance(UErrorCode& error) {
  return icu::Normalizer2::getNFCInstance(error);
}
const icu::Normalizer2* NfdInstance(UErrorCode& error) {
  return icu::Normalizer2::getNFDInstance(error);
}

}  // namespace

size_t ValidUtf8Length(std::string_view text, size_t pos) {
  const uint8_t lead = static_cast<uint8_t>(text[pos]);
  if (lead < 0x80) return 1;
  size_t length = 0;
  if ((lead & 0xE0) == 0xC0) length = 2;
  if ((lead & 0xF0) == 0xE0) length = 3;
  if ((lead & 0xF8) == 0xF0) length = 4;
  if (length == 0 || pos + length > text.size()) return 0;
  // The smallest code point that needs `length` bytes; below it is overlong.
  constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  const char32_t min = kMin[length];
  for (size_t i = 1; i < length; ++i) {
    if (!IsContinuation(static_cast<uint8_t>(text[pos + i]))) return 0;
  }
  const char32_t cp = DecodeUtf8(text, pos, length);
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return length;
}

char32_t DecodeUtf8(std::string_view text, size_t pos, size_t length) {
  constexpr uint8_t kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t cp = static_cast<uint8_t>(text[pos]) & kLeadMask[length];
  for (size_t i = 1; i < length; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3F);
  return cp;
}

std::string Nfc(std::string_view text) { return Normalize(text, NfcInstance); }
std::string Nfd(std::string_view text) { return Normalize(text, NfdInstance); }

std::string ToLower(std::string_view text) {
  icu::UnicodeString s =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), int32_t(text.size())));
  s.toLower(icu::Locale::getRoot());
  std::string result;
  s.toUTF8String(result);
  return result;
}

bool IsWhiteSpace(char32_t cp) { return u_hasBinaryProperty(UChar32(cp), UCHAR_WHITE_SPACE); }

bool IsPunctuation(char32_t cp) { return (U_GET_GC_MASK(UChar32(cp)) & U_GC_P_MASK) != 0; }

bool IsNonspacingMark(char32_t cp) { return u_charType(UChar32(cp)) == U_NON_SPACING_MARK; }

bool IsOther(char32_t cp) { return (U_GET_GC_MASK(UChar32(cp)) & U_GC_C_MASK) != 0; }

}  // namespace plexus::unicode
