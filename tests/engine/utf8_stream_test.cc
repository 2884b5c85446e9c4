#include <gtest/gtest.h>

#include "engine/utf8_stream.h"

namespace plexus {
namespace {

TEST(Utf8StreamTest, HoldsBackSplitCharacters) {
  Utf8Stream s;
  // "é" = C3 A9, "€" = E2 82 AC, "😀" = F0 9F 98 80, fed one byte at a time.
  const std::string text = "a\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x98\x80!";
  std::string out;
  for (char c : text) {
    std::string piece = s.Push(std::string(1, c));
    // Nothing emitted may end inside a character.
    EXPECT_EQ(CompleteUtf8Prefix(piece), piece.size());
    out += piece;
  }
  out += s.Flush();
  EXPECT_EQ(out, text);
}

TEST(Utf8StreamTest, FlushReturnsTruncatedTail) {
  Utf8Stream s;
  EXPECT_EQ(s.Push("ok\xE2\x82"), "ok");
  EXPECT_EQ(s.Flush(), "\xE2\x82");
  EXPECT_EQ(CompleteUtf8Prefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(CompleteUtf8Prefix("ab"), 2u);
}

}  // namespace
}  // namespace plexus
