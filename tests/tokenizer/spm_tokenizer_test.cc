// SentencePiece tokenizer on small vocabularies built in memory: the merge
// order, byte fallback, unknown characters, special tokens, decoding, and
// vocabulary validation. No GGUF involved.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace plexus {
namespace {

using Ids = std::vector<int32_t>;

// <unk>=0 <s>=1 </s>=2, then (optionally) the 256 byte tokens, then `pieces`
// with their scores. Returns the vocabulary; PieceId() finds ids by text.
Vocab MakeVocab(const std::vector<std::pair<std::string, float>>& pieces, bool with_bytes = true) {
  Vocab vocab = DefaultVocab("llama");
  auto add = [&](std::string text, float score, TokenType type) {
    vocab.tokens.push_back(std::move(text));
    vocab.scores.push_back(score);
    vocab.types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  if (with_bytes) {
    for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, TokenType::kByte);
  }
  for (const auto& [text, score] : pieces) add(text, score, TokenType::kNormal);
  return vocab;
}

std::unique_ptr<Tokenizer> MakeTokenizer(Vocab vocab) {
  auto result = Tokenizer::Create(std::move(vocab));
  EXPECT_TRUE(result.ok()) << result.status().message();
  return std::move(result).value();
}

// Token texts of `ids`, for readable failures.
std::vector<std::string> Texts(const Tokenizer& tok, const Ids& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(tok.TokenText(id));
  return out;
}

using Strings = std::vector<std::string>;
// Options by argument, since designated initializers that leave members out
// trip -Wmissing-field-initializers.
EncodeOptions Enc(bool add_bos, bool parse_special = false, bool add_eos = false) {
  EncodeOptions options;
  options.add_bos = add_bos;
  options.add_eos = add_eos;
  options.parse_special = parse_special;
  return options;
}
const EncodeOptions kNoBos = Enc(false);

TEST(SpmTokenizer, MergesHighestScoreFirst) {
  // "▁abc": "bc" (-0.5) beats "ab" (-1), then "▁a" is no token, "abc" is.
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}, {"b", -10}, {"c", -10},
                                      {"ab", -1}, {"bc", -0.5f}, {"abc", -3}}));
  EXPECT_EQ(Texts(*tok, tok->Encode("abc", kNoBos)), (Strings{"▁", "abc"}));
  // Without "abc" the result stops at the best first merge.
  auto tok2 = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}, {"b", -10}, {"c", -10},
                                       {"ab", -1}, {"bc", -0.5f}}));
  EXPECT_EQ(Texts(*tok2, tok2->Encode("abc", kNoBos)), (Strings{"▁", "a", "bc"}));
}

TEST(SpmTokenizer, TiesMergeLeftmostFirst) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}, {"aa", -1}}));
  EXPECT_EQ(Texts(*tok, tok->Encode("aaa", kNoBos)), (Strings{"▁", "aa", "a"}));
  EXPECT_EQ(Texts(*tok, tok->Encode("aaaa", kNoBos)), (Strings{"▁", "aa", "aa"}));
}

TEST(SpmTokenizer, MergeRevisitsNeighboursAfterEachMerge) {
  // "▁ab" only becomes possible once "ab" exists; then it outranks "bc".
  auto tok = MakeTokenizer(MakeVocab(
      {{"▁", -10}, {"a", -10}, {"b", -10}, {"c", -10}, {"ab", -1}, {"bc", -2}, {"▁ab", -0.1f}}));
  EXPECT_EQ(Texts(*tok, tok->Encode("abc", kNoBos)), (Strings{"▁ab", "c"}));
}

TEST(SpmTokenizer, SpacesBecomeMarksAndPrefix) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}, {"▁a", -1}, {"▁▁", -2}}));
  EXPECT_EQ(Texts(*tok, tok->Encode("a a", kNoBos)), (Strings{"▁a", "▁a"}));
  EXPECT_EQ(Texts(*tok, tok->Encode(" a", kNoBos)), (Strings{"▁", "▁a"}));
  EXPECT_EQ(Texts(*tok, tok->Encode(" ", kNoBos)), (Strings{"▁▁"}));

  Vocab no_prefix = MakeVocab({{"▁", -10}, {"a", -10}, {"▁a", -1}});
  no_prefix.add_space_prefix = false;
  auto tok2 = MakeTokenizer(std::move(no_prefix));
  EXPECT_EQ(Texts(*tok2, tok2->Encode("a a", kNoBos)), (Strings{"a", "▁a"}));
  EXPECT_EQ(tok2->Decode(tok2->Encode(" a", kNoBos)), " a");
}

TEST(SpmTokenizer, EmptyInput) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}}));
  EXPECT_EQ(tok->Encode("", kNoBos), Ids{});
  EXPECT_EQ(tok->Encode(""), Ids{tok->bos()});  // add_bos from the vocabulary
  EXPECT_EQ(tok->Encode("", Enc(true, false, true)), (Ids{1, 2}));
  EXPECT_EQ(tok->Decode(Ids{}), "");
}

TEST(SpmTokenizer, ByteFallbackForCharactersOutsideTheVocab) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}}));
  // "é" is C3 A9; the byte tokens <0xC3> and <0xA9> have ids 3 + byte.
  EXPECT_EQ(tok->Encode("aé", kNoBos), (Ids{tok->TokenToId("▁"), tok->TokenToId("a"),
                                             3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok->Decode(tok->Encode("aé\t", kNoBos)), "aé\t");
  // Invalid UTF-8 falls back byte by byte and still round-trips.
  const std::string invalid = "a\xC3\xFF\x80";
  EXPECT_EQ(tok->Decode(tok->Encode(invalid, kNoBos)), invalid);
  // A broken sequence does not swallow the space after it.
  EXPECT_EQ(tok->Decode(tok->Encode("a\xC3 a", kNoBos)), "a\xC3 a");
  // A truncated character at the end is one symbol of the bytes that exist.
  EXPECT_EQ(tok->Encode("a\xE2\x96", kNoBos).size(), 4u);
}

TEST(SpmTokenizer, UnknownCharactersWithoutByteTokens) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}}, /*with_bytes=*/false));
  EXPECT_EQ(tok->Encode("aéa", kNoBos), (Ids{tok->TokenToId("▁"), tok->TokenToId("a"), 0,
                                              tok->TokenToId("a")}));
  EXPECT_EQ(tok->TokenToPiece(0), "\xE2\x96\x85");  // <unk> prints as "▅", like llama.cpp

  Vocab no_unk = MakeVocab({{"a", -10}}, /*with_bytes=*/false);
  no_unk.unk = -1;
  auto result = Tokenizer::Create(std::move(no_unk));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("tokenizer.ggml.unknown_token_id"), std::string::npos);
}

TEST(SpmTokenizer, SpecialTokensOnlyWithParseSpecial) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}, {"▁a", -1}, {"<", -10},
                                      {"/", -10}, {"s", -10}, {">", -10}}));
  const int32_t a = tok->TokenToId("▁a");
  EXPECT_EQ(tok->Encode("a</s>a", Enc(false, true)),
            (Ids{a, tok->eos(), a}));  // the run after a special token gets "▁" again
  EXPECT_EQ(Texts(*tok, tok->Encode("a</s>", kNoBos)), (Strings{"▁a", "<", "/", "s", ">"}));
  EXPECT_EQ(tok->Encode("<s>", Enc(true, true)), (Ids{1, 1}));
  EXPECT_EQ(tok->Encode("<unk>", Enc(false, true)), (Ids{0}));
}

TEST(SpmTokenizer, UserDefinedTokensAlwaysMatchLongestFirst) {
  Vocab vocab = MakeVocab({{"▁", -10}, {"a", -10}, {"▁a", -1}});
  for (const char* text : {"<|x|>", "<|x"}) {
    vocab.tokens.push_back(text);
    vocab.scores.push_back(0);
    vocab.types.push_back(static_cast<int32_t>(TokenType::kUserDefined));
  }
  auto tok = MakeTokenizer(std::move(vocab));
  const int32_t x_long = tok->TokenToId("<|x|>");
  const int32_t x_short = tok->TokenToId("<|x");
  EXPECT_EQ(tok->Encode("a<|x|>a<|x", kNoBos),
            (Ids{tok->TokenToId("▁a"), x_long, tok->TokenToId("▁a"), x_short}));
  EXPECT_EQ(tok->Decode(Ids{x_long}), "<|x|>");
}

TEST(SpmTokenizer, DecodeStripsOnlyTheEncodersSpace) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}, {"▁a", -1}, {"▁▁", -2}}));
  const int32_t a = tok->TokenToId("▁a");
  EXPECT_EQ(tok->Decode(Ids{a, a}), "a a");
  EXPECT_EQ(tok->Decode(Ids{tok->bos(), a, a}), "a a");  // BOS is not text
  EXPECT_EQ(tok->DecodeContinuation(Ids{a, a}), " a a");
  DecodeOptions render;
  render.render_control = true;
  EXPECT_EQ(tok->Decode(Ids{tok->bos(), a, tok->eos()}, render), "<s>a</s>");
  EXPECT_EQ(tok->Decode(Ids{tok->TokenToId("▁▁")}), " ");
  EXPECT_EQ(tok->Decode(Ids{-1, 99999, a}), "a");  // invalid ids contribute nothing
  EXPECT_EQ(tok->TokenToPiece(3 + 0x0A), "\n");
  EXPECT_EQ(tok->TokenToPiece(tok->eos()), "");
  EXPECT_TRUE(tok->IsControl(tok->bos()));
  EXPECT_TRUE(tok->IsEog(tok->eos()));
  EXPECT_TRUE(tok->IsByte(3));
}

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  auto tok = MakeTokenizer(MakeVocab({{"▁", -10}, {"a", -10}, {"▁a", -1}}));
  const int32_t a = tok->TokenToId("▁a");
  StreamDecoder stream(*tok, /*at_sequence_start=*/true);
  EXPECT_EQ(stream.Push(tok->bos()), "");
  EXPECT_EQ(stream.Push(a), "a");   // the encoder's space is dropped once
  EXPECT_EQ(stream.Push(a), " a");
  // "😁" is F0 9F 98 81, one byte token each.
  EXPECT_EQ(stream.Push(3 + 0xF0), "");
  EXPECT_EQ(stream.Push(3 + 0x9F), "");
  EXPECT_EQ(stream.Push(3 + 0x98), "");
  EXPECT_EQ(stream.Push(3 + 0x81), "\xF0\x9F\x98\x81");
  // An incomplete character is held until the end, then flushed.
  EXPECT_EQ(stream.Push(3 + 0xC3), "");
  EXPECT_EQ(stream.Flush(), "\xC3");
  // Bytes that can never become a character are not held.
  EXPECT_EQ(stream.Push(3 + 0x80), "\x80");

  StreamDecoder continuation(*tok);
  EXPECT_EQ(continuation.Push(a), " a");
}

TEST(Tokenizer, UnsupportedModelIsNamed) {
  Vocab vocab = MakeVocab({});
  vocab.model = "rwkv";
  auto result = Tokenizer::Create(std::move(vocab));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("'rwkv'"), std::string::npos);
  EXPECT_NE(result.status().message().find("llama"), std::string::npos);
}

// Vocabulary checks name the GGUF key at fault.
void ExpectInvalid(const Vocab& vocab, std::string_view key) {
  Status status = ValidateVocab(vocab);
  ASSERT_FALSE(status.ok()) << "expected an error about " << key;
  EXPECT_NE(status.message().find(key), std::string::npos) << status.message();
  EXPECT_FALSE(Tokenizer::Create(vocab).ok());
}

TEST(Vocab, ValidationNamesTheKey) {
  const Vocab good = MakeVocab({{"a", 0}});
  EXPECT_TRUE(ValidateVocab(good).ok());
  Vocab v = good;
  v.scores.pop_back();
  ExpectInvalid(v, "tokenizer.ggml.scores");
  v = good;
  v.scores[4] = std::nanf("");
  ExpectInvalid(v, "tokenizer.ggml.scores[4]");
  v = good;
  v.types.push_back(1);
  ExpectInvalid(v, "tokenizer.ggml.token_type");
  v = good;
  v.types[5] = 9;
  ExpectInvalid(v, "tokenizer.ggml.token_type");
  v = good;
  v.tokens.clear();
  ExpectInvalid(v, "tokenizer.ggml.tokens");
  v = good;
  v.bos = int32_t(v.tokens.size());
  ExpectInvalid(v, "tokenizer.ggml.bos_token_id");
  v = good;
  v.eos = -7;
  ExpectInvalid(v, "tokenizer.ggml.eos_token_id");
  v = good;
  v.pad = 1 << 30;
  ExpectInvalid(v, "tokenizer.ggml.padding_token_id");
  v = good;
  v.bos = -1;  // add_bos stays on
  ExpectInvalid(v, "tokenizer.ggml.add_bos_token");
}

TEST(Vocab, EmptyScoresAndTypesDefault) {
  Vocab vocab = MakeVocab({{"▁", 0}, {"a", 0}});
  vocab.scores.clear();
  vocab.types.clear();  // every token normal: no byte tokens, no control tokens
  auto tok = MakeTokenizer(std::move(vocab));
  EXPECT_EQ(tok->type(1), TokenType::kNormal);
  EXPECT_EQ(tok->Encode("a", kNoBos).size(), 2u);
}

}  // namespace
}  // namespace plexus
