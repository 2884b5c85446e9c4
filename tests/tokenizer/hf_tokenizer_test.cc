// Hugging Face tokenizer.json -> Vocab -> GGUF (`plexus vocab`), on the Llama 3
// and Qwen 3 tokenizers, checked against llama.cpp's llama-bpe and qwen2 test
// vectors; special tokens, BOS and end-of-generation ids; and the errors
// broken files give.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>

#include "server/hf_tokenizer.h"
#include "tokenizer/stream_decoder.h"
#include "vocab_cases.h"
#include "../process_temp_dir.h"

namespace plexus::test {
namespace {

const std::string kTokenizers = kShared + "/models/tokenizers";

// Each tokenizer.json is parsed once per binary (they are 9-11 MB): through
// ConvertHfTokenizerToGguf, so the GGUF it writes is there for the round trip.
struct Converted {
  Vocab vocab;
  std::string gguf_path;
  std::unique_ptr<Tokenizer> tokenizer;
};

const Converted& Convert(const std::string& name) {
  static std::map<std::string, Converted> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Converted& c = cache[name];
  const std::filesystem::path dir = testing::ProcessTempDir("hf_tokenizer_test");
  c.gguf_path = (dir / (name + ".gguf")).string();
  auto vocab = ConvertHfTokenizerToGguf(kTokenizers + "/" + name + "/tokenizer.json", c.gguf_path);
  PLEXUS_CHECK(vocab.ok(), "{}", vocab.status().message());
  c.vocab = *vocab;
  c.tokenizer = MakeTokenizer(std::move(vocab).value());
  PLEXUS_CHECK(c.tokenizer != nullptr);
  return c;
}

const Tokenizer& Llama3() { return *Convert("llama3").tokenizer; }
const Tokenizer& Qwen3() { return *Convert("qwen3").tokenizer; }

void ExpectVectors(const Tokenizer& tok, const std::string& vectors) {
  const std::vector<VocabCase> cases = ReadVocabCases(kVocabDir + "/ggml-vocab-" + vectors + ".gguf");
  ASSERT_EQ(cases.size(), 46u);
  int matched = 0;
  for (const VocabCase& c : cases) {
    const Ids ids = tok.Encode(c.text, Enc(false));
    EXPECT_EQ(ids, c.ids) << vectors << " text: '" << c.text << "'";
    matched += ids == c.ids;
    const Ids framed = tok.Encode(c.text);  // the vocabulary's BOS, if any
    EXPECT_EQ(tok.Decode(framed), c.text);
    StreamDecoder stream(tok, /*at_sequence_start=*/true);
    std::string streamed;
    for (int32_t id : framed) streamed += stream.Push(id);
    EXPECT_EQ(streamed + stream.Flush(), c.text);
  }
  EXPECT_EQ(matched, 46) << vectors;
}

TEST(HfTokenizer, Llama3MatchesLlamaBpeVectors) { ExpectVectors(Llama3(), "llama-bpe"); }
TEST(HfTokenizer, Qwen3MatchesQwen2Vectors) { ExpectVectors(Qwen3(), "qwen2"); }

TEST(HfTokenizer, Llama3Vocab) {
  const Vocab& v = Convert("llama3").vocab;
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "llama-bpe");
  EXPECT_EQ(v.tokens.size(), 128256u);
  EXPECT_EQ(v.merges.size(), 280147u);
  EXPECT_EQ(v.merges[0], "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
  EXPECT_EQ(v.tokens[128000], "<|begin_of_text|>");
  EXPECT_EQ(v.type(128000), TokenType::kControl);
  EXPECT_EQ(v.type(1000), TokenType::kNormal);
  EXPECT_EQ(v.bos, 128000);
  EXPECT_EQ(v.eos, 128001);  // <|end_of_text|>
  EXPECT_EQ(v.eot, 128009);  // <|eot_id|>
  EXPECT_EQ(v.eom, -1);      // Llama 3.0: <|eom_id|> came with 3.1 (128008 is reserved here)
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_FALSE(v.chat_template.empty());
}

TEST(HfTokenizer, Qwen3Vocab) {
  const Vocab& v = Convert("qwen3").vocab;
  EXPECT_EQ(v.pre, "qwen2");
  EXPECT_EQ(v.tokens.size(), 151669u);
  EXPECT_EQ(v.tokens[151645], "<|im_end|>");
  EXPECT_EQ(v.type(151645), TokenType::kControl);
  EXPECT_EQ(v.tokens[151667], "<think>");
  EXPECT_EQ(v.type(151667), TokenType::kUserDefined);  // "special": false
  EXPECT_EQ(v.bos, -1);
  EXPECT_EQ(v.eos, 151645);
  EXPECT_EQ(v.pad, 151643);  // <|endoftext|>
  EXPECT_FALSE(v.add_bos);
  EXPECT_NE(v.chat_template.find("<|im_start|>"), std::string::npos);
}

TEST(HfTokenizer, SpecialTokensAreTextUnlessParsed) {
  const Tokenizer& t = Llama3();
  const Ids plain = t.Encode("<|eot_id|>", Enc(false));
  EXPECT_GT(plain.size(), 1u);  // spelled out as ordinary text
  EXPECT_EQ(t.Decode(plain), "<|eot_id|>");
  EXPECT_EQ(t.Encode("<|eot_id|>", Enc(false, true)), (Ids{128009}));
  EXPECT_EQ(t.Encode("Hi<|eot_id|>", Enc(true, true)), (Ids{128000, 13347, 128009}));
  EXPECT_EQ(t.Encode("Hi"), (Ids{128000, 13347}));  // add_bos by default
  // Control tokens decode to nothing unless rendered.
  DecodeOptions render;
  render.render_control = true;
  EXPECT_EQ(t.Decode(Ids{128000, 13347, 128009}), "Hi");
  EXPECT_EQ(t.Decode(Ids{128000, 13347, 128009}, render), "<|begin_of_text|>Hi<|eot_id|>");

  const Tokenizer& q = Qwen3();
  EXPECT_EQ(q.Encode("<think>\n", Enc(false)).front(), 151667);  // user-defined: always
  EXPECT_NE(q.Encode("<|im_end|>", Enc(false)), (Ids{151645}));
  EXPECT_EQ(q.Encode("<|im_end|>", Enc(false, true)), (Ids{151645}));
  EXPECT_EQ(q.Encode("Hi").front(), q.Encode("Hi", Enc(false)).front());  // no BOS
}

TEST(HfTokenizer, EndOfGeneration) {
  const Tokenizer& t = Llama3();
  EXPECT_TRUE(t.IsEog(128001));
  EXPECT_TRUE(t.IsEog(128009));
  EXPECT_EQ(t.eog_ids(), (Ids{128001, 128009}));
  EXPECT_FALSE(t.IsEog(128000));
  EXPECT_FALSE(t.IsEog(-1));
  const Tokenizer& q = Qwen3();
  EXPECT_TRUE(q.IsEog(151645));
  EXPECT_FALSE(q.IsEog(151644));  // <|im_start|>
}

// `plexus vocab`: tokenizer.json -> vocab.gguf -> LoadVocabFromGguf gives the
// same Vocab and the same encodings.
TEST(HfTokenizer, GgufRoundTrip) {
  for (const std::string name : {"llama3", "qwen3"}) {
    const Converted& c = Convert(name);
    const Vocab loaded = LoadVocab(c.gguf_path);
    EXPECT_EQ(loaded.model, c.vocab.model);
    EXPECT_EQ(loaded.pre, c.vocab.pre);
    EXPECT_EQ(loaded.tokens, c.vocab.tokens);
    EXPECT_EQ(loaded.types, c.vocab.types);
    EXPECT_EQ(loaded.merges, c.vocab.merges);
    EXPECT_EQ(loaded.chat_template, c.vocab.chat_template);
    EXPECT_EQ(loaded.eog_ids(), c.vocab.eog_ids());
    EXPECT_EQ(loaded.bos, c.vocab.bos);
    EXPECT_EQ(loaded.pad, c.vocab.pad);
    EXPECT_EQ(loaded.add_bos, c.vocab.add_bos);
    auto tok = MakeTokenizer(Vocab(loaded));
    ASSERT_NE(tok, nullptr);
    const std::string vectors = name == "llama3" ? "llama-bpe" : "qwen2";
    for (const VocabCase& vc : ReadVocabCases(kVocabDir + "/ggml-vocab-" + vectors + ".gguf")) {
      EXPECT_EQ(tok->Encode(vc.text), c.tokenizer->Encode(vc.text));
    }
  }
}

// A minimal byte-level tokenizer.json; `model_extra` and `top_extra` are
// spliced in to break it.
std::string MiniJson(const std::string& merges = R"(["a b"])",
                     const std::string& vocab = R"({"a": 0, "b": 1, "ab": 2})",
                     const std::string& pre = R"({"type": "ByteLevel", "use_regex": true})") {
  return R"({"model": {"type": "BPE", "vocab": )" + vocab + R"(, "merges": )" + merges +
         R"(}, "pre_tokenizer": )" + pre +
         R"(, "added_tokens": [{"id": 3, "content": "<|end|>", "special": true}]})";
}

void ExpectError(const std::string& json, const std::string& config, const std::string& needle) {
  Result<Vocab> vocab = VocabFromHfJson(json, config);
  ASSERT_FALSE(vocab.ok()) << "expected an error naming " << needle;
  EXPECT_NE(vocab.status().message().find(needle), std::string::npos) << vocab.status().message();
}

TEST(HfTokenizer, MinimalFileConverts) {
  Result<Vocab> vocab = VocabFromHfJson(MiniJson(), R"({"eos_token": "<|end|>"})");
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  EXPECT_EQ(vocab->pre, "gpt-2");
  EXPECT_EQ(vocab->tokens, (std::vector<std::string>{"a", "b", "ab", "<|end|>"}));
  EXPECT_EQ(vocab->eos, 3);
  EXPECT_EQ(vocab->eot, 3);  // "<|end|>" ends a turn (Phi-3)
}

TEST(HfTokenizer, BrokenFilesNameTheField) {
  ExpectError("{not json", "", "tokenizer.json: not valid JSON");
  ExpectError(MiniJson(R"(["a zz"])"), "", "model.merges[0]");
  ExpectError(MiniJson(R"([["a"]])"), "", "model.merges[0]");
  ExpectError(MiniJson(R"(["a b"])", R"({"a": 0, "b": "x"})"), "", "model.vocab['b']");
  ExpectError(MiniJson(R"(["a b"])", R"({"a": 0, "b": 99999999})"), "", "out of range");
  ExpectError(MiniJson(R"(["a b"])", R"({"a": 0, "b": 0})"), "", "id 0 is both");
  ExpectError(MiniJson(R"([])", R"({"a": 0})",
                       R"({"type": "Split", "pattern": {"Regex": "x+"}, "behavior": "Isolated"})"),
              "", "no ByteLevel");
  ExpectError(MiniJson(R"([])", R"({"a": 0})", R"({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "x+"}, "behavior": "Isolated"},
                {"type": "ByteLevel", "use_regex": false}]})"),
              "", "match no known pre-tokenizer");
  ExpectError(MiniJson(R"([])", R"({"a": 0})", R"({"type": "Whitespace"})"), "",
              "pre_tokenizer: pre-tokenizer type 'Whitespace'");
  ExpectError(MiniJson(), R"({"eos_token": "<nope>"})", "eos_token '<nope>' is not a token");
  ExpectError(MiniJson(), R"({"add_bos_token": "yes"})", "add_bos_token is not a boolean");
  std::string wordpiece = MiniJson();
  wordpiece.replace(wordpiece.find("\"BPE\""), 5, "\"WordPiece\"");
  ExpectError(wordpiece, "", "model.type");
}

}  // namespace
}  // namespace plexus::test
