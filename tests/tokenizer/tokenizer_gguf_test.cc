// SentencePiece tokenizer on real vocabularies read from GGUF: golden
// generations (stories260K), random bytes, and the Llama 2 vocabulary of
// llama-2-tiny-random.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "tokenizer/stream_decoder.h"
#include "vocab_cases.h"

namespace plexus {
namespace {

using test::Enc;
using test::Ids;
using test::LoadTokenizer;
using test::LoadVocab;
using test::ReadFile;
const std::string kShared = test::kShared;
const EncodeOptions kNoBos = Enc(false);

// llama-spm's test vectors are checked with every other vocabulary's in
// vocab_vectors_test.cc.

// Any byte string without "▁" (which the encoder cannot tell from a space)
// decodes back to itself: byte fallback covers everything the merges do not.
TEST(SpmGguf, RandomBytesRoundTrip) {
  auto tok = LoadTokenizer(kShared + "/models/vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_NE(tok, nullptr);
  const std::string alphabet = " \t\nabcdeHelo,.!3\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x81\xFF\x80";
  std::mt19937 rng(1234);
  std::set<std::string> seen;
  for (int trial = 0; trial < 500; ++trial) {
    std::string text(rng() % 40, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    seen.insert(text);
    EXPECT_EQ(tok->Decode(tok->Encode(text)), text);
  }
  EXPECT_GT(seen.size(), 400u);  // the inputs really vary
}

TEST(SpmGguf, Stories260KGolden) {
  auto tok = LoadTokenizer(kShared + "/models/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->size(), 512u);
  EXPECT_EQ(tok->pad(), -1);  // stored as 0xFFFFFFFF
  const auto golden = nlohmann::json::parse(ReadFile(kShared + "/golden/stories260K.json"));
  ASSERT_FALSE(golden["cases"].empty());
  for (const auto& c : golden["cases"]) {
    const std::string prompt = c["prompt"];
    const Ids prompt_tokens = c["prompt_tokens"];
    EXPECT_EQ(tok->Encode(prompt, kNoBos), prompt_tokens) << prompt;
    EXPECT_EQ(tok->Decode(prompt_tokens), prompt);
    const Ids tokens = c["tokens"];
    const std::string text = c["text"];
    EXPECT_EQ(tok->DecodeContinuation(tokens), text) << prompt;
    // Decoding token by token gives the same bytes as decoding at once.
    std::string streamed;
    for (int32_t id : tokens) streamed += tok->TokenToPiece(id);
    EXPECT_EQ(streamed, text);
    StreamDecoder stream(*tok);  // a continuation: keeps its first space
    std::string chunks;
    for (int32_t id : tokens) chunks += stream.Push(id);
    EXPECT_EQ(chunks + stream.Flush(), text);
    // Prompt and continuation together decode like one sequence.
    Ids all = {tok->bos()};
    all.insert(all.end(), prompt_tokens.begin(), prompt_tokens.end());
    all.insert(all.end(), tokens.begin(), tokens.end());
    EXPECT_EQ(tok->Decode(all), prompt + text);
  }
}

TEST(SpmGguf, Llama2TinyRandomHasTheLlamaSpmVocab) {
  const Vocab llama2 = LoadVocab(kShared + "/models/llama-2-tiny-random.gguf");
  const Vocab spm = LoadVocab(kShared + "/models/vocab/ggml-vocab-llama-spm.gguf");
  // Same vocabulary, so llama-spm's expectations hold for this model too.
  EXPECT_EQ(llama2.tokens, spm.tokens);
  EXPECT_EQ(llama2.scores, spm.scores);
  EXPECT_EQ(llama2.types, spm.types);

  auto tok = Tokenizer::Create(Vocab(llama2));
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.Encode("Hello world"), (Ids{1, 15043, 3186}));
  EXPECT_EQ(t.Encode(" Hello, world!", kNoBos), (Ids{29871, 15043, 29892, 3186, 29991}));
  EXPECT_EQ(t.Encode("\n", kNoBos), (Ids{29871, 13}));  // "▁" then byte token <0x0A>
  EXPECT_EQ(t.Decode(Ids{1, 15043, 3186, 2}), "Hello world");
  EXPECT_EQ(t.DecodeContinuation(Ids{3186}), " world");
  EXPECT_EQ(t.TokenToPiece(13), "\n");
  // Special tokens in text are literal unless asked for.
  EXPECT_EQ(t.Encode("Hi</s>", Enc(false, true)).back(), 2);
  EXPECT_NE(t.Encode("Hi</s>", kNoBos).back(), 2);
}

}  // namespace
}  // namespace plexus
