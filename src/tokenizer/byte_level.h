// GPT-2's byte-to-unicode map: byte-level BPE vocabularies spell every byte
// as one printable character, so that tokens are readable strings: bytes
// '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for themselves, and the other 68
// bytes (controls, space, DEL, NBSP, soft hyphen) become U+0100.. in byte
// order: ' ' is "Ġ" (U+0120), '\n' is "Ċ" (U+010A).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace plexus::byte_level {

char32_t ByteToChar(uint8_t byte);
// The byte `cp` stands for; -1 when it stands for none.
int CharToByte(char32_t cp);

// Bytes -> their characters, UTF-8 encoded ("a b" -> "aĠb").
std::string Encode(std::string_view bytes);
// The inverse; a character that stands for no byte is kept as its UTF-8,
// and bytes that are not well-formed UTF-8 are kept as they are.
std::string Decode(std::string_view text);

}  // namespace plexus::byte_level
