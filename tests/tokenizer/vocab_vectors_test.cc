// Every real vocabulary under models/vocab that has llama.cpp's test vectors
// (strings tokenized by the Hugging Face reference tokenizer): our ids must
// be exactly theirs, decoding must give the text back, and streaming must
// never split a character. One row per vocabulary.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/unicode_text.h"
#include "tokenizer/wordpiece_tokenizer.h"
#include "vocab_cases.h"

namespace plexus::test {
namespace {

struct VocabRow {
  const char* name;   // ggml-vocab-<name>.gguf
  const char* model;  // tokenizer.ggml.model
  size_t n_tokens;
};

const VocabRow kRows[] = {
    {"llama-spm", "llama", 32000},     {"phi-3", "llama", 32064},
    {"gpt-2", "gpt2", 50257},          {"falcon", "gpt2", 65024},
    {"mpt", "gpt2", 50432},            {"starcoder", "gpt2", 49152},
    {"refact", "gpt2", 49216},         {"deepseek-llm", "gpt2", 102400},
    {"deepseek-coder", "gpt2", 32256}, {"bert-bge", "bert", 30522},
};

std::string Base(const std::string& name) { return kVocabDir + "/ggml-vocab-" + name + ".gguf"; }

// Each vocabulary is read once per test binary.
const Tokenizer& GetTokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  std::unique_ptr<Tokenizer>& tok = cache[name];
  if (tok == nullptr) tok = LoadTokenizer(Base(name));
  PLEXUS_CHECK(tok != nullptr, "cannot load vocabulary {}", name);
  return *tok;
}

bool IsWellFormedUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = unicode::ValidUtf8Length(text, pos);
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

// Streamed one id at a time, every chunk is whole characters and the chunks
// add up to `expected`.
void ExpectStreams(const Tokenizer& tok, const Ids& ids, const std::string& expected) {
  StreamDecoder stream(tok, /*at_sequence_start=*/true);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string chunk = stream.Push(id);
    EXPECT_TRUE(IsWellFormedUtf8(chunk)) << "half a character streamed";
    streamed += chunk;
  }
  EXPECT_EQ(streamed + stream.Flush(), expected);
}

class VocabVectors : public testing::TestWithParam<VocabRow> {};

TEST_P(VocabVectors, MatchesReferenceIds) {
  const VocabRow& row = GetParam();
  const Tokenizer& tok = GetTokenizer(row.name);
  EXPECT_EQ(tok.model(), row.model);
  EXPECT_EQ(tok.size(), row.n_tokens);
  const std::vector<VocabCase> cases = ReadVocabCases(Base(row.name));
  ASSERT_EQ(cases.size(), 46u);
  int matched = 0;
  for (const VocabCase& c : cases) {
    const Ids ids = tok.Encode(c.text, Enc(false));
    EXPECT_EQ(ids, c.ids) << row.name << " text: '" << c.text << "'";
    matched += ids == c.ids;
    // The vocabulary's defaults only add its BOS and EOS around them.
    Ids framed = ids;
    if (tok.vocab().add_bos) framed.insert(framed.begin(), tok.bos());
    if (tok.vocab().add_eos) framed.push_back(tok.eos());
    EXPECT_EQ(tok.Encode(c.text), framed) << row.name;
  }
  EXPECT_EQ(matched, 46) << row.name;
}

TEST_P(VocabVectors, DecodeGivesTheTextBack) {
  const VocabRow& row = GetParam();
  if (std::string(row.model) == "bert") GTEST_SKIP() << "WordPiece is lossy: see BertRoundTrip";
  const Tokenizer& tok = GetTokenizer(row.name);
  for (const VocabCase& c : ReadVocabCases(Base(row.name))) {
    const Ids ids = tok.Encode(c.text);  // with the vocabulary's BOS, if any
    EXPECT_EQ(tok.Decode(ids), c.text) << row.name;
    ExpectStreams(tok, ids, c.text);
  }
}

// Byte strings that are not all valid UTF-8 (stray continuation bytes,
// truncated characters), with characters of 1-4 bytes, spaces, digits and
// punctuation: byte-level BPE gives every byte back. (Bytes that UTF-8 never
// uses, such as FF, have a token only in some vocabularies, like GPT-2's.)
TEST_P(VocabVectors, RandomBytesRoundTrip) {
  const VocabRow& row = GetParam();
  if (std::string(row.model) != "gpt2") GTEST_SKIP() << "byte-level BPE only";
  const Tokenizer& tok = GetTokenizer(row.name);
  std::vector<std::string> alphabet = {
      " ", "  ", "\t", "\n", "a", "Z", "'s", "3", "42", ".", "!", "é", "€", "😁", "我",
      "\x80", "\xE2\x82", "<", "|>", "ø"};
  if (std::string(row.name) == "gpt-2") alphabet.push_back("\xFF");
  std::mt19937 rng(1234);
  std::set<std::string> seen;
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    for (size_t n = rng() % 24; n > 0; --n) text += alphabet[rng() % alphabet.size()];
    seen.insert(text);
    EXPECT_EQ(tok.Decode(tok.Encode(text, Enc(false))), text) << row.name;
  }
  EXPECT_GT(seen.size(), 150u);  // the inputs really vary
}

INSTANTIATE_TEST_SUITE_P(AllVocabs, VocabVectors, testing::ValuesIn(kRows),
                         [](const testing::TestParamInfo<VocabRow>& info) {
                           std::string name = info.param.name;
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

// WordPiece loses case, accents and spacing, so the text cannot come back.
// What holds instead: decoding gives the normalized words joined by spaces,
// and encoding that again gives the same ids (when no word was [UNK]).
TEST(BertRoundTrip, DecodeGivesTheNormalizedWords) {
  const Tokenizer& tok = GetTokenizer("bert-bge");
  EXPECT_EQ(tok.Decode(tok.Encode("Hello, World!", Enc(false))), "hello , world !");
  EXPECT_EQ(tok.Decode(tok.Encode("Ça va?")), "ca va ?");  // [CLS] ... [SEP] render nothing
  for (const VocabCase& c : ReadVocabCases(Base("bert-bge"))) {
    const Ids ids = tok.Encode(c.text, Enc(false));
    if (std::find(ids.begin(), ids.end(), tok.unk()) != ids.end()) continue;
    std::string words;
    for (const std::string& word : BertBasicSplit(c.text)) words += (words.empty() ? "" : " ") + word;
    const std::string decoded = tok.Decode(ids);
    EXPECT_EQ(decoded, words);
    EXPECT_EQ(tok.Encode(decoded, Enc(false)), ids);
    ExpectStreams(tok, ids, decoded);
  }
}

TEST(BertSpecials, ClsAndSepFromTheirKeys) {
  const Tokenizer& tok = GetTokenizer("bert-bge");
  EXPECT_EQ(tok.bos(), 101);  // tokenizer.ggml.cls_token_id
  EXPECT_EQ(tok.eos(), 102);  // tokenizer.ggml.seperator_token_id
  EXPECT_EQ(tok.unk(), 100);
  const Ids ids = tok.Encode("hello");
  EXPECT_EQ(ids, (Ids{101, 7592, 102}));  // [CLS] hello [SEP]
  EXPECT_EQ(tok.Encode("[CLS] hi", Enc(false, true)).front(), 101);
}

}  // namespace
}  // namespace plexus::test
