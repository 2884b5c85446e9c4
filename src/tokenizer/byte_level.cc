#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode_text.h"

namespace plexus::byte_level {
namespace {

// Bytes that are printable Latin-1 characters stand for themselves.
bool IsPrintable(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

// Characters the map uses: U+0000..U+0143 (256 + 68 shifted bytes).
constexpr char32_t kCharLimit = 0x144;

struct Tables {
  std::array<char32_t, 256> byte_to_char{};
  std::array<int16_t, kCharLimit> char_to_byte{};
  Tables() {
    char_to_byte.fill(-1);
    char32_t next_shifted = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const char32_t cp = IsPrintable(byte) ? char32_t(byte) : next_shifted++;
      byte_to_char[byte] = cp;
      char_to_byte[cp] = int16_t(byte);
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

char32_t ByteToChar(uint8_t byte) { return GetTables().byte_to_char[byte]; }

int CharToByte(char32_t cp) { return cp < kCharLimit ? GetTables().char_to_byte[cp] : -1; }

std::string Encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteToChar(static_cast<uint8_t>(c)), &out);
  return out;
}

std::string Decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = unicode::ValidUtf8Length(text, pos);
    if (length == 0) {
      out.push_back(text[pos++]);
      continue;
    }
    const int byte = CharToByte(unicode::DecodeUtf8(text, pos, length));
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(text.substr(pos, length));
    }
    pos += length;
  }
  return out;
}

}  // namespace plexus::byte_level
