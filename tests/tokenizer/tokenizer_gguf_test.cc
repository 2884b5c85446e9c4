// SentencePiece tokenizer on real vocabularies read from GGUF, against
// llama.cpp's test vectors (ggml-vocab-llama-spm) and golden generations
// (stories260K), plus the Llama 2 vocabulary of llama-2-tiny-random.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace plexus {
namespace {

using Ids = std::vector<int32_t>;
const std::string kShared = PLEXUS_SHARED_DIR;
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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Vocab LoadVocab(const std::string& path) {
  auto gguf = GgufFile::Open(path);
  EXPECT_TRUE(gguf.ok()) << gguf.status().message();
  if (!gguf.ok()) return {};
  auto vocab = LoadVocabFromGguf(**gguf);
  EXPECT_TRUE(vocab.ok()) << vocab.status().message();
  return vocab.ok() ? std::move(vocab).value() : Vocab{};
}

std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& path) {
  auto tok = Tokenizer::Create(LoadVocab(path));
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

struct VocabCase {
  std::string text;
  Ids ids;
};

// .inp: each string is followed by "\n__ggml_vocab_test__\n";
// .out: one line of space-separated ids per string.
std::vector<VocabCase> ReadVocabCases(const std::string& base) {
  const std::string inp = ReadFile(base + ".inp");
  const std::string marker = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  for (size_t pos = 0, end; (end = inp.find(marker, pos)) != std::string::npos;
       pos = end + marker.size()) {
    cases.push_back({inp.substr(pos, end - pos), {}});
  }
  std::istringstream out(ReadFile(base + ".out"));
  std::string line;
  for (VocabCase& c : cases) {
    std::getline(out, line);
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

TEST(SpmGguf, LlamaSpmVocabVectors) {
  const std::string base = kShared + "/models/vocab/ggml-vocab-llama-spm.gguf";
  auto tok = LoadTokenizer(base);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->size(), 32000u);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  const std::vector<VocabCase> cases = ReadVocabCases(base);
  ASSERT_EQ(cases.size(), 46u);
  for (const VocabCase& c : cases) {
    const Ids ids = tok->Encode(c.text, kNoBos);
    EXPECT_EQ(ids, c.ids) << "text: '" << c.text << "'";
    EXPECT_EQ(tok->Decode(ids), c.text);
    // With BOS (the vocabulary's default) the ids only gain the BOS, and
    // decoding still gives the text back.
    Ids with_bos = tok->Encode(c.text);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos.front(), 1);
    EXPECT_EQ(Ids(with_bos.begin() + 1, with_bos.end()), c.ids);
    EXPECT_EQ(tok->Decode(with_bos), c.text);
    // Streamed one id at a time, the chunks add up to the same text.
    StreamDecoder stream(*tok, /*at_sequence_start=*/true);
    std::string streamed;
    for (int32_t id : with_bos) streamed += stream.Push(id);
    EXPECT_EQ(streamed + stream.Flush(), c.text);
  }
}

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
