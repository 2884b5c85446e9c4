// Chat: conversations rendered through the model's template (or chatml), and
// multi-turn generation that reuses the KV cache of earlier turns.
#include <gtest/gtest.h>

#include "engine/chat.h"
#include "engine/engine.h"
#include "format/gguf.h"
#include "tokenizer/vocab.h"

namespace plexus {
namespace {

std::string Stories() { return std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf"; }

std::unique_ptr<Tokenizer> StoriesTokenizer(const std::string& chat_template) {
  auto file = GgufFile::Open(Stories());
  EXPECT_TRUE(file.ok());
  auto vocab = LoadVocabFromGguf(**file);
  EXPECT_TRUE(vocab.ok());
  vocab->chat_template = chat_template;
  auto tok = Tokenizer::Create(std::move(vocab).value());
  EXPECT_TRUE(tok.ok());
  return std::move(tok).value();
}

TEST(ChatTemplateTest, FallsBackToChatml) {
  auto tok = StoriesTokenizer("");
  auto chat = ChatTemplate::ForModel(*tok);
  ASSERT_TRUE(chat.ok()) << chat.status().message();
  EXPECT_EQ(chat->source(), "chatml");
  std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi"}};
  auto text = chat->Render(messages, true);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, UsesTheModelsTemplateWithItsBosToken) {
  auto tok = StoriesTokenizer(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
      "{% if add_generation_prompt %}[assistant]{% endif %}");
  auto chat = ChatTemplate::ForModel(*tok);
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat->source(), "model");
  std::vector<ChatMessage> messages = {{"user", "Hello"}};
  EXPECT_EQ(*chat->Render(messages, true), "<s>[user] Hello\n[assistant]");
  EXPECT_EQ(*chat->Render(messages, false), "<s>[user] Hello\n");
}

TEST(ChatTemplateTest, BrokenTemplateNamesTheLine) {
  auto tok = StoriesTokenizer("line one\n{% for x in %}");
  auto chat = ChatTemplate::ForModel(*tok);
  ASSERT_FALSE(chat.ok());
  EXPECT_NE(chat.status().message().find("line 2"), std::string::npos) << chat.status().message();
}

// A second turn that extends the first reuses its cache and must give exactly
// what a fresh run on the whole text gives.
TEST(ChatEngineTest, ReusedPrefixGivesTheSameTokensAsAFreshRun) {
  auto engine = Engine::Open(Stories(), EngineOptions{.threads = 1, .kv_type = DType::kF32});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  GenerateOptions reuse;
  reuse.max_tokens = 12;
  reuse.reuse_prefix = true;
  auto first = (*engine)->Generate("Once upon a time", reuse);
  ASSERT_TRUE(first.ok());
  const std::string second_prompt = "Once upon a time" + first->text + " Then";
  auto second = (*engine)->Generate(second_prompt, reuse);
  ASSERT_TRUE(second.ok());
  GenerateOptions fresh = reuse;
  fresh.reuse_prefix = false;
  auto expected = (*engine)->Generate(second_prompt, fresh);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(second->tokens, expected->tokens);
  EXPECT_EQ(second->text, expected->text);
  // And a prompt that shares only part of the cache rewinds it correctly.
  auto third = (*engine)->Generate("Once upon a day", reuse);
  auto third_fresh = (*engine)->Generate("Once upon a day", fresh);
  ASSERT_TRUE(third.ok() && third_fresh.ok());
  EXPECT_EQ(third->tokens, third_fresh->tokens);
}

}  // namespace
}  // namespace plexus
