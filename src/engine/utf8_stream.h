// Holds back the bytes of an incomplete UTF-8 character, so a text stream
// never emits half a code point (byte tokens can split one).
#pragma once

#include <string>
#include <string_view>

namespace plexus {

class Utf8Stream {
 public:
  // Appends bytes; returns the text that is now complete.
  std::string Push(std::string_view bytes);
  // Whatever is left at the end of the stream (possibly invalid UTF-8).
  std::string Flush();

 private:
  std::string pending_;
};

// Length of the longest prefix of `s` that does not end inside a UTF-8
// sequence which could still be completed by more bytes.
size_t CompleteUtf8Prefix(std::string_view s);

}  // namespace plexus
