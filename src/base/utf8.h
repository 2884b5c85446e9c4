// UTF-8 encoding shared by the tokenizers and the template interpreter.
#pragma once

#include <string>

namespace plexus {

// Appends the UTF-8 bytes of code point `cp` (at most 0x10FFFF) to `out`.
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace plexus
