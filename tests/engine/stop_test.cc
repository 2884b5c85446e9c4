// Stop strings over scripted token pieces: held back while they may still
// match, cut exactly where they begin, combined with UTF-8-safe streaming.
#include <gtest/gtest.h>

#include "engine/stop.h"

namespace plexus {
namespace {

struct Step {
  std::string piece;
  std::string emitted;  // what the stream may show after this piece
  bool stops;
};

void RunScript(const std::vector<std::string>& stops, const std::vector<Step>& script, const std::string& final_text) {
  std::string shown;
  StopStream stream(stops, [&](std::string_view s) { shown += s; });
  for (size_t i = 0; i < script.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(stream.Push(script[i].piece), script[i].stops);
    EXPECT_EQ(shown, script[i].emitted);
  }
  stream.Finish();
  EXPECT_EQ(shown, final_text);
  EXPECT_EQ(stream.text(), final_text);
}

TEST(StopTest, StopStringAcrossThreeTokens) {
  // "little girl" arrives as "li" | "ttle gi" | "rl": nothing of it may show.
  RunScript({"little girl"},
            {{", there", ", there", false},
             {" was a li", ", there was a ", false},
             {"ttle gi", ", there was a ", false},
             {"rl named Lily", ", there was a ", true},
             {" more", ", there was a ", true}},
            ", there was a ");
}

TEST(StopTest, FalseStartIsReleased) {
  RunScript({"abc"}, {{"xab", "x", false}, {"d", "xabd", false}, {"ab", "xabd", false}}, "xabdab");
}

TEST(StopTest, OverlappingPrefixHoldsTheLongestPossibleStart) {
  // "aaab" with stop "aab": after "aaa" the last two bytes may start it.
  RunScript({"aab"}, {{"aaa", "a", false}, {"b", "a", true}}, "a");
}

TEST(StopTest, FirstStopToCompleteWins) {
  StopMatcher m({"abcd", "c"});
  EXPECT_EQ(m.Push("abcd"), "ab");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "c");
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopTest, SameEndPrefersTheLongest) {
  StopMatcher m({"b", "ab"});
  EXPECT_EQ(m.Push("xab"), "x");
  EXPECT_EQ(m.matched(), "ab");
}

TEST(StopTest, StopAtTheVeryStart) {
  RunScript({"\n\n"}, {{"\n", "", false}, {"\nrest", "", true}}, "");
}

TEST(StopTest, NoStopsPassesEverything) {
  RunScript({}, {{"a", "a", false}, {"bc", "abc", false}}, "abc");
}

TEST(StopTest, WorksWithSplitUtf8Characters) {
  // "é" = C3 A9 in two byte tokens; the stream never shows half of it.
  RunScript({"zz"}, {{"x\xC3", "x", false}, {"\xA9y", "x\xC3\xA9y", false}, {"z", "x\xC3\xA9y", false}},
            "x\xC3\xA9yz");
  RunScript({"\xC3\xA9!"}, {{"ok \xC3", "ok ", false}, {"\xA9", "ok ", false}, {"!", "ok ", true}}, "ok ");
}

TEST(StopTest, FinishFlushesAnUnfinishedCharacter) {
  RunScript({"q"}, {{"a\xE2\x82", "a", false}}, "a\xE2\x82");
}

TEST(StopTest, EmptyStopStringIsAnError) {
  EXPECT_TRUE(ValidateStopStrings({"a", "bc"}).ok());
  const Status bad = ValidateStopStrings({"a", ""});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("stop string 1 is empty"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace plexus
