// Byte-level BPE pieces on their own, with vocabularies built in memory: the
// byte map, the pre-tokenizer table run on PCRE2, merges by rank, and the
// errors a bad vocabulary gives.
#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace plexus {
namespace {

using Ids = std::vector<int32_t>;
using Pieces = std::vector<std::string>;

Pieces Split(std::string_view pre, std::string_view text) {
  const PreTokenizerSpec* spec = FindPreTokenizer(pre);
  EXPECT_NE(spec, nullptr) << pre;
  if (spec == nullptr) return {};
  auto splitter = PreTokenizer::Create(*spec);
  EXPECT_TRUE(splitter.ok()) << splitter.status().message();
  std::vector<std::string_view> views;
  (*splitter)->Split(text, &views);
  return Pieces(views.begin(), views.end());
}

TEST(ByteLevel, Gpt2Map) {
  EXPECT_EQ(byte_level::ByteToChar(' '), U'\u0120');   // "Ġ"
  EXPECT_EQ(byte_level::ByteToChar('\n'), U'\u010A');  // "Ċ"
  EXPECT_EQ(byte_level::ByteToChar('a'), U'a');
  EXPECT_EQ(byte_level::ByteToChar(0xAD), U'\u0143');  // the last shifted byte
  EXPECT_EQ(byte_level::CharToByte(U'\u0120'), ' ');
  EXPECT_EQ(byte_level::CharToByte(U'\u0144'), -1);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(byte_level::Decode(byte_level::Encode(all)), all);
  EXPECT_EQ(byte_level::Encode("a b\n"), "a\xC4\xA0" "b\xC4\x8A");
}

TEST(PreTokenizer, EveryTableRowCompiles) {
  for (std::string_view name : {"default", "gpt-2", "mpt", "gpt-neox", "starcoder", "refact",
                                "falcon", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder",
                                "deepseek-v3"}) {
    const PreTokenizerSpec* spec = FindPreTokenizer(name);
    ASSERT_NE(spec, nullptr) << name;
    auto pre = PreTokenizer::Create(*spec);
    EXPECT_TRUE(pre.ok()) << pre.status().message();
  }
  EXPECT_EQ(FindPreTokenizer(""), FindPreTokenizer("default"));
  EXPECT_EQ(FindPreTokenizer("no-such"), nullptr);
}

// Long runs that make backtracking regexes work hardest (\s+(?!\S), \s+$):
// every row still splits them, and the pieces still cover the text.
TEST(PreTokenizer, LongRunsStillSplit) {
  const std::string text = "a" + std::string(200000, ' ') + "5" + std::string(100000, '\n') +
                           std::string(100000, '!') + "x";
  for (std::string_view name : {"default", "gpt-2", "starcoder", "falcon", "llama-bpe", "qwen2",
                                "deepseek-llm", "deepseek-coder", "deepseek-v3"}) {
    const Pieces pieces = Split(name, text);
    std::string joined;
    for (const std::string& piece : pieces) joined += piece;
    EXPECT_EQ(joined, text) << name;
    EXPECT_GT(pieces.size(), 2u) << name;
  }
}

TEST(PreTokenizer, Gpt2KeepsTheLastSpaceForTheNextWord) {
  EXPECT_EQ(Split("gpt-2", "Hello  world's 123!!"),
            (Pieces{"Hello", " ", " world", "'s", " 123", "!!"}));
  EXPECT_EQ(Split("gpt-2", "a   \n"), (Pieces{"a", "   \n"}));
}

TEST(PreTokenizer, Llama3GroupsDigitsInThrees) {
  EXPECT_EQ(Split("llama-bpe", "1234567 I'M"), (Pieces{"123", "456", "7", " I", "'M"}));
  EXPECT_EQ(Split("llama-bpe", "x\n\n  y"), (Pieces{"x", "\n\n", " ", " y"}));
}

TEST(PreTokenizer, QwenSplitsEveryDigit) {
  EXPECT_EQ(Split("qwen2", "a123"), (Pieces{"a", "1", "2", "3"}));
}

TEST(PreTokenizer, SequencesSplitEachPiece) {
  // starcoder: digits first, then GPT-2's regex within each piece.
  EXPECT_EQ(Split("starcoder", "ab12 cd"), (Pieces{"ab", "1", "2", " cd"}));
  // deepseek-coder: CJK runs and single digits.
  EXPECT_EQ(Split("deepseek-coder", "我想12"), (Pieces{"我想", "1", "2"}));
}

// A vocabulary with bytes "a", "b", "c", "Ġ" and merges "a b" (rank 0),
// "ab c" (rank 1), "b c" (rank 2).
Vocab SmallVocab() {
  Vocab v;
  v.model = "gpt2";
  v.pre = "gpt-2";
  v.tokens = {"a", "b", "c", "\xC4\xA0", "ab", "abc", "bc", "<|end|>", "<think>"};
  v.types = {1, 1, 1, 1, 1, 1, 1, 3, 4};
  v.merges = {"a b", "ab c", "b c"};
  v.eos = 7;
  return v;
}

TEST(BpeTokenizer, MergesByRank) {
  auto tok = Tokenizer::Create(SmallVocab());
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->Encode("abc"), (Ids{5}));
  EXPECT_EQ((*tok)->Encode("bc"), (Ids{6}));
  EXPECT_EQ((*tok)->Encode("cab"), (Ids{2, 4}));
  EXPECT_EQ((*tok)->Encode("a c"), (Ids{0, 3, 2}));  // " c" is no token: "Ġ" then "c"
  EXPECT_EQ((*tok)->Decode(Ids{0, 3, 2}), "a c");
}

TEST(BpeTokenizer, SpecialAndAddedTokens) {
  auto tok = Tokenizer::Create(SmallVocab());
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EncodeOptions special;
  special.parse_special = true;
  EXPECT_EQ((*tok)->Encode("ab<|end|>", special), (Ids{4, 7}));
  EXPECT_NE((*tok)->Encode("ab<|end|>").back(), 7);     // plain text unless asked
  EXPECT_EQ((*tok)->Encode("<think>ab"), (Ids{8, 4}));  // user-defined: always
  EXPECT_EQ((*tok)->Decode(Ids{8, 4, 7}), "<think>ab");  // control renders nothing
  EXPECT_TRUE((*tok)->IsEog(7));
}

TEST(BpeTokenizer, BadVocabularyErrorsNameTheKey) {
  Vocab unknown_pre = SmallVocab();
  unknown_pre.pre = "no-such-pre";
  auto tok = Tokenizer::Create(unknown_pre);
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("no-such-pre"), std::string::npos);
  EXPECT_NE(tok.status().message().find("llama-bpe"), std::string::npos);  // lists the known

  Vocab bad_merge = SmallVocab();
  bad_merge.merges.push_back("a zz");
  tok = Tokenizer::Create(bad_merge);
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("tokenizer.ggml.merges[3]"), std::string::npos)
      << tok.status().message();

  Vocab no_space = SmallVocab();
  no_space.merges = {"ab"};
  EXPECT_FALSE(Tokenizer::Create(no_space).ok());
}

}  // namespace
}  // namespace plexus
