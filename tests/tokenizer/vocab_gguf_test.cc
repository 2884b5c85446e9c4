// LoadVocabFromGguf on small, often hostile, GGUF files written in memory:
// every bad key gives an error that names it.
#include <gtest/gtest.h>

#include <cstdint>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

namespace plexus {
namespace {

// A minimal valid llama vocabulary: <unk> <s> </s> ▁ a ▁a.
GgufWriter MinimalWriter() {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "▁", "a", "▁a"});
  w.SetF32Array("tokenizer.ggml.scores", {0, 0, 0, -3, -2, -1});
  w.SetI32Array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1});
  return w;
}

Result<Vocab> Load(const GgufWriter& writer) {
  // The buffer must outlive the GgufFile, and the Vocab copies what it needs.
  const std::vector<uint8_t> bytes = writer.Serialize();
  auto gguf = GgufFile::Parse(bytes);
  if (!gguf.ok()) return gguf.status();
  return LoadVocabFromGguf(**gguf);
}

void ExpectErrorNaming(const GgufWriter& writer, std::string_view key) {
  Result<Vocab> vocab = Load(writer);
  ASSERT_FALSE(vocab.ok()) << "expected an error naming " << key;
  EXPECT_NE(vocab.status().message().find(key), std::string::npos) << vocab.status().message();
}

TEST(VocabGguf, MinimalVocabGetsLlamaDefaults) {
  Result<Vocab> vocab = Load(MinimalWriter());
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  EXPECT_EQ(vocab->model, "llama");
  EXPECT_EQ(vocab->tokens.size(), 6u);
  EXPECT_EQ(vocab->bos, 1);
  EXPECT_EQ(vocab->eos, 2);
  EXPECT_EQ(vocab->unk, 0);
  EXPECT_EQ(vocab->pad, -1);
  EXPECT_TRUE(vocab->add_bos);
  EXPECT_FALSE(vocab->add_eos);
  EXPECT_TRUE(vocab->add_space_prefix);

  auto tok = Tokenizer::Create(std::move(vocab).value());
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->Encode("a a"), (std::vector<int32_t>{1, 5, 5}));
}

TEST(VocabGguf, ExplicitKeysOverrideDefaults) {
  GgufWriter w = MinimalWriter();
  w.SetU32("tokenizer.ggml.bos_token_id", 2);
  w.SetU32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);  // "none", as converters write it
  w.SetI32("tokenizer.ggml.eos_token_id", -1);
  w.SetBool("tokenizer.ggml.add_bos_token", false);
  w.SetBool("tokenizer.ggml.add_space_prefix", false);
  w.SetString("tokenizer.ggml.pre", "default");
  Result<Vocab> vocab = Load(w);
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  EXPECT_EQ(vocab->bos, 2);
  EXPECT_EQ(vocab->eos, -1);
  EXPECT_EQ(vocab->pad, -1);
  EXPECT_FALSE(vocab->add_bos);
  EXPECT_FALSE(vocab->add_space_prefix);
  EXPECT_EQ(vocab->pre, "default");
}

TEST(VocabGguf, MissingKeys) {
  GgufWriter no_tokens;
  no_tokens.SetString("tokenizer.ggml.model", "llama");
  ExpectErrorNaming(no_tokens, "tokenizer.ggml.tokens");

  GgufWriter no_model;
  no_model.SetStringArray("tokenizer.ggml.tokens", {"a"});
  ExpectErrorNaming(no_model, "tokenizer.ggml.model");
}

TEST(VocabGguf, LengthMismatches) {
  GgufWriter w = MinimalWriter();
  w.SetF32Array("tokenizer.ggml.scores", {0, 0, 0});
  ExpectErrorNaming(w, "tokenizer.ggml.scores");

  w = MinimalWriter();
  w.SetI32Array("tokenizer.ggml.token_type", {1, 1, 1, 1, 1, 1, 1});
  ExpectErrorNaming(w, "tokenizer.ggml.token_type");

  w = MinimalWriter();
  w.SetStringArray("tokenizer.ggml.tokens", {});
  ExpectErrorNaming(w, "tokenizer.ggml.tokens");
}

TEST(VocabGguf, WrongTypes) {
  GgufWriter w = MinimalWriter();
  w.SetF32Array("tokenizer.ggml.tokens", {1, 2, 3, 4, 5, 6});
  ExpectErrorNaming(w, "tokenizer.ggml.tokens");

  w = MinimalWriter();
  w.SetStringArray("tokenizer.ggml.scores", {"a", "b", "c", "d", "e", "f"});
  ExpectErrorNaming(w, "tokenizer.ggml.scores");

  w = MinimalWriter();
  w.SetF32("tokenizer.ggml.token_type", 1);
  ExpectErrorNaming(w, "tokenizer.ggml.token_type");

  w = MinimalWriter();
  w.SetString("tokenizer.ggml.add_bos_token", "yes");
  ExpectErrorNaming(w, "tokenizer.ggml.add_bos_token");

  w = MinimalWriter();
  w.SetI32Array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 77});
  ExpectErrorNaming(w, "tokenizer.ggml.token_type");
}

TEST(VocabGguf, SpecialIdsOutOfRange) {
  GgufWriter w = MinimalWriter();
  w.SetU32("tokenizer.ggml.bos_token_id", 6);
  ExpectErrorNaming(w, "tokenizer.ggml.bos_token_id");

  w = MinimalWriter();
  w.SetU64("tokenizer.ggml.eos_token_id", uint64_t{1} << 40);
  ExpectErrorNaming(w, "tokenizer.ggml.eos_token_id");

  w = MinimalWriter();
  w.SetI32("tokenizer.ggml.unknown_token_id", -5);
  ExpectErrorNaming(w, "tokenizer.ggml.unknown_token_id");

  w = MinimalWriter();
  w.SetI32("tokenizer.ggml.bos_token_id", -1);
  w.SetBool("tokenizer.ggml.add_bos_token", true);  // asks for a BOS it says does not exist
  ExpectErrorNaming(w, "tokenizer.ggml.add_bos_token");
}

TEST(VocabGguf, UnsupportedModelLoadsButCannotTokenize) {
  GgufWriter w = MinimalWriter();
  w.SetString("tokenizer.ggml.model", "rwkv");
  Result<Vocab> vocab = Load(w);
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  auto tok = Tokenizer::Create(std::move(vocab).value());
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("unsupported tokenizer model 'rwkv'"), std::string::npos)
      << tok.status().message();
}

TEST(VocabGguf, EndOfGenerationIds) {
  GgufWriter w = MinimalWriter();
  w.SetU32("tokenizer.ggml.eot_token_id", 5);
  w.SetU32("tokenizer.ggml.eom_token_id", 2);  // the same as eos: listed once
  Result<Vocab> vocab = Load(w);
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  EXPECT_EQ(vocab->eot, 5);
  EXPECT_EQ(vocab->eog_ids(), (std::vector<int32_t>{2, 5}));
  auto tok = Tokenizer::Create(std::move(vocab).value());
  ASSERT_TRUE(tok.ok());
  EXPECT_TRUE((*tok)->IsEog(2));
  EXPECT_TRUE((*tok)->IsEog(5));
  EXPECT_FALSE((*tok)->IsEog(1));

  w = MinimalWriter();
  w.SetU32("tokenizer.ggml.eot_token_id", 60);
  ExpectErrorNaming(w, "tokenizer.ggml.eot_token_id");
}

// Files without eot/eom keys: the end of a turn is found by its text.
TEST(VocabGguf, EndOfTurnByText) {
  GgufWriter w = MinimalWriter();
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<|end|>", "a", "<|eom_id|>"});
  w.SetI32Array("tokenizer.ggml.token_type", {2, 3, 3, 3, 1, 3});
  Result<Vocab> vocab = Load(w);
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  EXPECT_EQ(vocab->eot, 3);
  EXPECT_EQ(vocab->eom, 5);
}

TEST(VocabGguf, BertClsAndSepAreBosAndEos) {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "bert");
  w.SetStringArray("tokenizer.ggml.tokens", {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81" "a"});
  w.SetI32Array("tokenizer.ggml.token_type", {3, 3, 3, 3, 1});
  w.SetU32("tokenizer.ggml.unknown_token_id", 1);
  w.SetU32("tokenizer.ggml.cls_token_id", 2);
  w.SetU32("tokenizer.ggml.seperator_token_id", 3);
  Result<Vocab> vocab = Load(w);
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  EXPECT_EQ(vocab->bos, 2);
  EXPECT_EQ(vocab->eos, 3);
  auto tok = Tokenizer::Create(std::move(vocab).value());
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->Encode("A a b"), (std::vector<int32_t>{2, 4, 4, 1, 3}));  // b: [UNK]
  EXPECT_EQ((*tok)->Decode(std::vector<int32_t>{2, 4, 4, 3}), "a a");
}

// WriteVocabGguf -> LoadVocabFromGguf keeps every field, "none" included
// where the loader would otherwise fill in a default (llama: bos=1).
TEST(VocabGguf, WriteThenLoadRoundTrip) {
  Result<Vocab> original = Load(MinimalWriter());
  ASSERT_TRUE(original.ok());
  Vocab v = *original;
  v.bos = -1;
  v.add_bos = false;
  v.eot = 5;
  v.pre = "default";
  v.chat_template = "{{ messages }}";
  const std::string path = testing::TempDir() + "/vocab_roundtrip.gguf";
  ASSERT_TRUE(WriteVocabGguf(v, path).ok());
  auto gguf = GgufFile::Open(path);
  ASSERT_TRUE(gguf.ok()) << gguf.status().message();
  Result<Vocab> loaded = LoadVocabFromGguf(**gguf);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->tokens, v.tokens);
  EXPECT_EQ(loaded->scores, v.scores);
  EXPECT_EQ(loaded->types, v.types);
  EXPECT_EQ(loaded->bos, -1);
  EXPECT_EQ(loaded->eos, v.eos);
  EXPECT_EQ(loaded->unk, v.unk);
  EXPECT_EQ(loaded->eot, 5);
  EXPECT_EQ(loaded->add_bos, false);
  EXPECT_EQ(loaded->add_space_prefix, v.add_space_prefix);
  EXPECT_EQ(loaded->pre, "default");
  EXPECT_EQ(loaded->chat_template, v.chat_template);

  v.eos = 99;  // an invalid vocabulary is not written
  EXPECT_FALSE(WriteVocabGguf(v, path).ok());
}

}  // namespace
}  // namespace plexus
