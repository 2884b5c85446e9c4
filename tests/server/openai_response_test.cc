// OpenAI response objects and streams, with stories260K's real vocabulary.
#include <gtest/gtest.h>

#include "format/gguf.h"
#include "server/openai.h"
#include "server/response_writer.h"
#include "tokenizer/vocab.h"

namespace plexus::server {
namespace {

std::unique_ptr<Tokenizer> LoadTokenizer() {
  auto file = GgufFile::Open(std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf");
  EXPECT_TRUE(file.ok()) << file.status().message();
  if (!file.ok()) return nullptr;
  auto vocab = LoadVocabFromGguf(**file);
  EXPECT_TRUE(vocab.ok());
  auto tok = Tokenizer::Create(std::move(vocab).value());
  EXPECT_TRUE(tok.ok());
  return tok.ok() ? std::move(tok).value() : nullptr;
}

class OpenAiResponse : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = LoadTokenizer();
    ASSERT_NE(tok_, nullptr);
    EncodeOptions no_bos;
    no_bos.add_bos = false;
    ids_ = tok_->Encode(" the cat", no_bos);
    ASSERT_GE(ids_.size(), 2u);
    result_.tokens = ids_;
    result_.text = " the cat";
    result_.finish_reason = "length";
    for (size_t i = 0; i < ids_.size(); ++i) {
      result_.logprobs.push_back(-0.5f * static_cast<float>(i + 1));
      result_.top_logprobs.push_back({{ids_[i], -0.1f}, {1, -3.0f}, {2, -4.0f}});
    }
    meta_ = ResponseMeta{"chatcmpl-x", 1700000000, "stories260K", 5, false, 0, false};
  }
  std::unique_ptr<Tokenizer> tok_;
  std::vector<int32_t> ids_;
  GenerateResult result_;
  ResponseMeta meta_;
};

TEST_F(OpenAiResponse, ChatCompletionObject) {
  const Json j = ChatCompletionJson(*tok_, result_, meta_);
  EXPECT_EQ(j["id"], "chatcmpl-x");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "stories260K");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], " the cat");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["usage"]["completion_tokens"], ids_.size());
  EXPECT_EQ(j["usage"]["total_tokens"], 5 + ids_.size());
}

TEST_F(OpenAiResponse, FinishReasons) {
  EXPECT_EQ(OpenAiFinishReason("stop"), "stop");
  EXPECT_EQ(OpenAiFinishReason("length"), "length");
  result_.finish_reason = "stop";
  EXPECT_EQ(ChatCompletionJson(*tok_, result_, meta_)["choices"][0]["finish_reason"], "stop");
}

TEST_F(OpenAiResponse, ChatLogprobsFormat) {
  meta_.logprobs = true;
  meta_.top_logprobs = 2;
  const Json lp = ChatCompletionJson(*tok_, result_, meta_)["choices"][0]["logprobs"];
  ASSERT_EQ(lp["content"].size(), ids_.size());
  const Json& first = lp["content"][0];
  const std::string piece(tok_->TokenToPiece(ids_[0]));
  EXPECT_EQ(first["token"], piece);
  EXPECT_FLOAT_EQ(first["logprob"].get<float>(), -0.5f);
  ASSERT_EQ(first["bytes"].size(), piece.size());
  EXPECT_EQ(first["bytes"][0], static_cast<int>(static_cast<unsigned char>(piece[0])));
  ASSERT_EQ(first["top_logprobs"].size(), 2u);  // top_n of the three recorded
  EXPECT_EQ(first["top_logprobs"][0]["token"], piece);
  EXPECT_FLOAT_EQ(first["top_logprobs"][1]["logprob"].get<float>(), -3.0f);
  EXPECT_TRUE(first["top_logprobs"][1].contains("bytes"));
}

TEST_F(OpenAiResponse, CompletionObjectAndLogprobs) {
  meta_.id = "cmpl-y";
  meta_.logprobs = true;
  meta_.top_logprobs = 1;
  const Json j = CompletionJson(*tok_, result_, meta_);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], " the cat");
  const Json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), ids_.size());
  EXPECT_EQ(lp["tokens"][1], std::string(tok_->TokenToPiece(ids_[1])));
  EXPECT_FLOAT_EQ(lp["token_logprobs"][1].get<float>(), -1.0f);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 1u);
  EXPECT_EQ(lp["text_offset"][0], 0);
  EXPECT_EQ(lp["text_offset"][1], tok_->TokenToPiece(ids_[0]).size());
}

// Splits an SSE stream into its data payloads.
std::vector<std::string> SseEvents(const std::string& stream) {
  std::vector<std::string> events;
  size_t pos = 0;
  while ((pos = stream.find("data: ", pos)) != std::string::npos) {
    const size_t end = stream.find("\n\n", pos);
    events.push_back(stream.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return events;
}

TEST_F(OpenAiResponse, ChatStreamWithUsage) {
  meta_.include_usage = true;
  auto w = MakeChatWriter(*tok_, meta_);
  EXPECT_STREQ(w->stream_mime(), "text/event-stream");
  std::string stream = w->Begin();
  stream += w->Token(TokenInfo{ids_[0], " the", 0, {}});
  EXPECT_EQ(w->Token(TokenInfo{ids_[1], "", 0, {}}), "");  // nothing released yet: no chunk
  stream += w->Token(TokenInfo{ids_[1], " cat", 0, {}});
  stream += w->End(result_, RunStats{5, 10});
  const std::vector<std::string> events = SseEvents(stream);
  ASSERT_EQ(events.size(), 6u);  // role, 2 deltas, finish, usage, [DONE]
  const Json role = Json::parse(events[0]);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["usage"].is_null());
  EXPECT_EQ(Json::parse(events[1])["choices"][0]["delta"]["content"], " the");
  EXPECT_TRUE(Json::parse(events[1])["choices"][0]["finish_reason"].is_null());
  const Json finish = Json::parse(events[3]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(finish["choices"][0]["delta"].empty());
  const Json usage = Json::parse(events[4]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 5 + ids_.size());
  EXPECT_EQ(events[5], "[DONE]");
}

TEST_F(OpenAiResponse, StreamWithoutUsageAndWithLogprobs) {
  meta_.logprobs = true;
  meta_.top_logprobs = 1;
  auto w = MakeCompletionWriter(*tok_, meta_);
  const std::string token = w->Token(TokenInfo{ids_[0], " the", -0.25f, {{ids_[0], -0.25f}}});
  const Json chunk = Json::parse(SseEvents(token).at(0));
  EXPECT_EQ(chunk["object"], "text_completion");
  EXPECT_EQ(chunk["choices"][0]["text"], " the");
  EXPECT_FLOAT_EQ(chunk["choices"][0]["logprobs"]["token_logprobs"][0].get<float>(), -0.25f);
  EXPECT_FALSE(chunk.contains("usage"));
  const std::vector<std::string> end = SseEvents(w->End(result_, RunStats{}));
  ASSERT_EQ(end.size(), 2u);  // finish, [DONE]
  EXPECT_EQ(end[1], "[DONE]");
}

TEST_F(OpenAiResponse, ErrorsInAndOutOfStreams) {
  auto w = MakeChatWriter(*tok_, meta_);
  const ApiError e = ApiError::Server(500, "generation failed: boom");
  const std::vector<std::string> events = SseEvents(w->StreamError(e));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Json::parse(events[0])["error"]["message"], "generation failed: boom");
  EXPECT_EQ(Json::parse(events[0])["error"]["type"], "server_error");
  EXPECT_EQ(events[1], "[DONE]");
  EXPECT_EQ(Json::parse(w->ErrorBody(e))["error"]["message"], "generation failed: boom");
}

TEST_F(OpenAiResponse, InvalidUtf8IsReplacedNotThrown) {
  result_.text = "a\xF0\x9F";  // half a character
  EXPECT_NO_THROW({
    const std::string body = DumpJson(ChatCompletionJson(*tok_, result_, meta_));
    EXPECT_NE(body.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
  });
}

}  // namespace
}  // namespace plexus::server
