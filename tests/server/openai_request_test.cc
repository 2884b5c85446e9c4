// OpenAI request parsing and validation: what is accepted, and that every
// refusal has the right status and names the field.
#include <gtest/gtest.h>

#include <cmath>

#include "server/openai.h"

namespace plexus::server {
namespace {

const ServedModel kModel{"stories", "stories260K", "/models/stories260K.gguf"};
constexpr int64_t kVocab = 512;

ApiError Chat(const std::string& body, GenRequest* r = nullptr) {
  GenRequest scratch;
  return ParseChatRequest(body, kModel, kVocab, r != nullptr ? r : &scratch);
}

ApiError Completion(const std::string& body, GenRequest* r = nullptr) {
  GenRequest scratch;
  return ParseCompletionRequest(body, kModel, kVocab, r != nullptr ? r : &scratch);
}

// A chat body with one user message and `extra` fields ("" for none).
std::string ChatBody(const std::string& extra) {
  return R"({"messages": [{"role": "user", "content": "hi"}])" + (extra.empty() ? "" : ", " + extra) + "}";
}

void ExpectInvalid(const ApiError& e, const std::string& param, const std::string& message_part) {
  EXPECT_EQ(e.status, 400) << e.message;
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, param) << e.message;
  EXPECT_NE(e.message.find(message_part), std::string::npos) << e.message;
}

TEST(OpenAiRequest, MinimalChatHasOpenAiDefaults) {
  GenRequest r;
  ASSERT_TRUE(Chat(ChatBody(""), &r).ok());
  EXPECT_TRUE(r.chat);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].content, "hi");
  EXPECT_FLOAT_EQ(r.sampler.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampler.top_p, 1.0f);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.sampler.seed.has_value());
}

TEST(OpenAiRequest, SamplerFieldsAreRead) {
  GenRequest r;
  ASSERT_TRUE(Chat(ChatBody(R"("temperature": 0, "top_p": 0.5, "top_k": 7, "min_p": 0.1, "seed": 42,
      "max_tokens": 9, "presence_penalty": -1.5, "frequency_penalty": 2, "repeat_penalty": 1.2,
      "stream": true, "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 3,
      "stop": ["a", "bc"], "user": "ignored", "n": 1)"), &r).ok());
  EXPECT_FLOAT_EQ(r.sampler.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.sampler.top_p, 0.5f);
  EXPECT_EQ(r.sampler.top_k, 7);
  EXPECT_FLOAT_EQ(r.sampler.min_p, 0.1f);
  EXPECT_EQ(r.sampler.seed, 42u);
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_FLOAT_EQ(r.sampler.presence_penalty, -1.5f);
  EXPECT_FLOAT_EQ(r.sampler.frequency_penalty, 2.0f);
  EXPECT_FLOAT_EQ(r.sampler.repeat_penalty, 1.2f);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "bc"}));
}

TEST(OpenAiRequest, MaxCompletionTokensAndHugeMaxTokensAreAccepted) {
  GenRequest r;
  ASSERT_TRUE(Chat(ChatBody(R"("max_completion_tokens": 5)"), &r).ok());
  EXPECT_EQ(r.max_tokens, 5);
  ASSERT_TRUE(Chat(ChatBody(R"("max_tokens": 1000000000)"), &r).ok());  // clamped later, to the context
  EXPECT_EQ(r.max_tokens, 1000000000);
  ASSERT_TRUE(Chat(ChatBody(R"("max_tokens": 12.0)"), &r).ok());  // an integral float is an integer
  EXPECT_EQ(r.max_tokens, 12);
}

TEST(OpenAiRequest, MalformedJsonIsA400) {
  const ApiError e = Chat(R"({"messages": [)");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.message.rfind("could not parse JSON body: ", 0), 0u) << e.message;
  EXPECT_EQ(Chat("[1, 2]").message, "the request body must be a JSON object");
  EXPECT_EQ(Chat("").status, 400);
}

TEST(OpenAiRequest, WrongTypesNameTheField) {
  const ApiError e = Chat(ChatBody(R"("temperature": "hot")"));
  ExpectInvalid(e, "temperature", "'temperature' must be a number");
  EXPECT_EQ(e.message, "'temperature' must be a number");
  EXPECT_EQ(OpenAiErrorBody(e),
            R"({"error":{"message":"'temperature' must be a number","type":"invalid_request_error",)"
            R"("param":"temperature","code":null}})");
  ExpectInvalid(Chat(ChatBody(R"("max_tokens": "10")")), "max_tokens", "must be an integer");
  ExpectInvalid(Chat(ChatBody(R"("max_tokens": 1.5)")), "max_tokens", "must be an integer");
  ExpectInvalid(Chat(ChatBody(R"("stream": "yes")")), "stream", "must be a boolean");
  ExpectInvalid(Chat(ChatBody(R"("seed": "x")")), "seed", "must be an integer");
  ExpectInvalid(Chat(ChatBody(R"("stream_options": {"include_usage": 1})")), "stream_options.include_usage",
                "must be a boolean");
  ExpectInvalid(Chat(R"({"messages": "hi"})"), "messages", "must be an array");
}

TEST(OpenAiRequest, OutOfRangeValuesAreRefused) {
  ExpectInvalid(Chat(ChatBody(R"("temperature": -0.1)")), "temperature", "between 0 and 2");
  ExpectInvalid(Chat(ChatBody(R"("temperature": 2.5)")), "temperature", "got 2.5");
  ExpectInvalid(Chat(ChatBody(R"("top_p": 0)")), "top_p", "greater than 0");
  ExpectInvalid(Chat(ChatBody(R"("top_p": 1.01)")), "top_p", "at most 1");
  ExpectInvalid(Chat(ChatBody(R"("n": 2)")), "n", "'n' must be 1");
  ExpectInvalid(Chat(ChatBody(R"("logprobs": true, "top_logprobs": 21)")), "top_logprobs", "between 0 and 20");
  ExpectInvalid(Chat(ChatBody(R"("top_logprobs": 2)")), "top_logprobs", "requires 'logprobs'");
  ExpectInvalid(Chat(ChatBody(R"("max_tokens": -1)")), "max_tokens", "at least 1");
  ExpectInvalid(Chat(ChatBody(R"("max_tokens": 0)")), "max_tokens", "at least 1");
  ExpectInvalid(Chat(ChatBody(R"("presence_penalty": 2.5)")), "presence_penalty", "between -2 and 2");
  ExpectInvalid(Chat(ChatBody(R"("frequency_penalty": -3)")), "frequency_penalty", "between -2 and 2");
  ExpectInvalid(Chat(ChatBody(R"("top_k": -1)")), "top_k", "at least 0");
  EXPECT_TRUE(Chat(ChatBody(R"("logprobs": true)")).ok());  // logprobs without top_logprobs
  EXPECT_TRUE(Chat(ChatBody(R"("temperature": 2, "top_p": 1, "temperature": null)")).ok());
}

TEST(OpenAiRequest, LogitBias) {
  GenRequest r;
  ASSERT_TRUE(Chat(ChatBody(R"("logit_bias": {"5": 2.5, "7": -100})"), &r).ok());
  EXPECT_FLOAT_EQ(r.sampler.logit_bias.at(5), 2.5f);
  EXPECT_TRUE(std::isinf(r.sampler.logit_bias.at(7)) && r.sampler.logit_bias.at(7) < 0);  // -100 bans
  ExpectInvalid(Chat(ChatBody(R"("logit_bias": {"abc": 1})")), "logit_bias", "'abc' is not a token id");
  ExpectInvalid(Chat(ChatBody(R"("logit_bias": {"512": 1})")), "logit_bias", "outside the vocabulary");
  ExpectInvalid(Chat(ChatBody(R"("logit_bias": {"-1": 1})")), "logit_bias", "outside the vocabulary");
  ExpectInvalid(Chat(ChatBody(R"("logit_bias": {"3": 101})")), "logit_bias", "between -100 and 100");
  ExpectInvalid(Chat(ChatBody(R"("logit_bias": {"3": "x"})")), "logit_bias", "must be a number");
  ExpectInvalid(Chat(ChatBody(R"("logit_bias": [1])")), "logit_bias", "must be an object");
}

TEST(OpenAiRequest, StopStrings) {
  GenRequest r;
  ASSERT_TRUE(Chat(ChatBody(R"("stop": "END")"), &r).ok());
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  ExpectInvalid(Chat(ChatBody(R"("stop": ["a", "b", "c", "d", "e"])")), "stop", "at most 4");
  ExpectInvalid(Chat(ChatBody(R"("stop": ["a", 3])")), "stop", "'stop[1]' must be a string");
  ExpectInvalid(Chat(ChatBody(R"("stop": "")")), "stop", "must not be an empty string");
  ExpectInvalid(Chat(ChatBody(R"("stop": 7)")), "stop", "a string or an array");
}

TEST(OpenAiRequest, ModelNames) {
  GenRequest r;
  EXPECT_TRUE(Chat(ChatBody(R"("model": "stories")"), &r).ok());       // the id (alias)
  EXPECT_EQ(r.model, "stories");
  EXPECT_TRUE(Chat(ChatBody(R"("model": "stories260K")")).ok());      // the file's stem
  EXPECT_TRUE(Chat(ChatBody(R"("model": "stories260K:latest")")).ok());  // an Ollama-style tag
  EXPECT_TRUE(Chat(ChatBody("")).ok());                                 // omitted, as llama-server allows
  const ApiError e = Chat(ChatBody(R"("model": "gpt-4o")"));
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_EQ(e.param, "model");
  EXPECT_NE(e.message.find("gpt-4o"), std::string::npos);
  ExpectInvalid(Chat(ChatBody(R"("model": 3)")), "model", "must be a string");
}

TEST(OpenAiRequest, Messages) {
  GenRequest r;
  ASSERT_TRUE(Chat(R"({"messages": [{"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "one "}, {"type": "text", "text": "two"}]},
      {"role": "assistant", "content": null}]})", &r).ok());
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");  // developer is OpenAI's newer name for it
  EXPECT_EQ(r.messages[1].content, "one two");
  EXPECT_EQ(r.messages[2].content, "");
  ExpectInvalid(Chat(R"({"messages": []})"), "messages", "at least one");
  ExpectInvalid(Chat(R"({"model": "stories"})"), "messages", "'messages' is required");
  ExpectInvalid(Chat(R"({"messages": [{"content": "x"}]})"), "messages[0].role", "is required");
  ExpectInvalid(Chat(R"({"messages": [{"role": "wizard", "content": "x"}]})"), "messages[0].role", "'wizard'");
  ExpectInvalid(Chat(R"({"messages": [{"role": "user", "content": 5}]})"), "messages[0].content", "a string or");
  ExpectInvalid(Chat(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
      {"type": "image_url", "image_url": {"url": "data:..."}}]}]})"),
                "messages[0].content[1]", "text-only");
  ExpectInvalid(Chat(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})"),
                "messages[0].content[0].text", "must be a string");
}

TEST(OpenAiRequest, ToolsGoToTheTemplate) {
  GenRequest r;
  ASSERT_TRUE(Chat(ChatBody(R"("tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto",
      "chat_template_kwargs": {"enable_thinking": false})"), &r).ok());
  EXPECT_EQ(r.template_extra["tools"][0]["function"]["name"], "f");
  EXPECT_EQ(r.template_extra["tool_choice"], "auto");
  EXPECT_EQ(r.template_extra["enable_thinking"], false);
  const tmpl::Value v = JsonToTemplateValue(r.template_extra);
  ASSERT_TRUE(v.is_object());
  const tmpl::Value* tools = v.as_object().Find("tools");
  ASSERT_NE(tools, nullptr);
  ASSERT_TRUE(tools->is_array());
  EXPECT_EQ(tools->as_array()[0].as_object().Find("type")->as_string(), "function");
  ExpectInvalid(Chat(ChatBody(R"("tools": {"x": 1})")), "tools", "must be an array");
  ExpectInvalid(Chat(ChatBody(R"("response_format": {"type": "json_object"})")), "response_format", "not supported");
  EXPECT_TRUE(Chat(ChatBody(R"("response_format": {"type": "text"})")).ok());
}

TEST(OpenAiRequest, CompletionPrompts) {
  GenRequest r;
  ASSERT_TRUE(Completion(R"({"prompt": "Once upon a time", "max_tokens": 4})", &r).ok());
  EXPECT_FALSE(r.chat);
  EXPECT_EQ(r.prompt, "Once upon a time");
  ASSERT_TRUE(Completion(R"({"prompt": ["one string"]})", &r).ok());
  EXPECT_EQ(r.prompt, "one string");
  GenRequest ids;
  ASSERT_TRUE(Completion(R"({"prompt": [1, 400, 7]})", &ids).ok());
  EXPECT_EQ(ids.prompt_ids, (std::vector<int32_t>{1, 400, 7}));
  GenRequest nested;
  ASSERT_TRUE(Completion(R"({"prompt": [[1, 2]]})", &nested).ok());
  EXPECT_EQ(nested.prompt_ids, (std::vector<int32_t>{1, 2}));
  ExpectInvalid(Completion(R"({"prompt": ["a", "b"]})"), "prompt", "only one prompt");
  ExpectInvalid(Completion(R"({"prompt": [1, 512]})"), "prompt", "outside the vocabulary");
  ExpectInvalid(Completion(R"({"prompt": 5})"), "prompt", "must be a string");
  ExpectInvalid(Completion(R"({"max_tokens": 5})"), "prompt", "is required");
  ExpectInvalid(Completion(R"({"prompt": "x", "echo": true})"), "echo", "not supported");
  ExpectInvalid(Completion(R"({"prompt": "x", "best_of": 3})"), "best_of", "must be 1");
}

TEST(OpenAiRequest, CompletionLogprobsIsACount) {
  GenRequest r;
  ASSERT_TRUE(Completion(R"({"prompt": "x", "logprobs": 3})", &r).ok());
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  ASSERT_TRUE(Completion(R"({"prompt": "x", "logprobs": 0})", &r).ok());
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
  ExpectInvalid(Completion(R"({"prompt": "x", "logprobs": 50})"), "logprobs", "between 0 and 20");
}

}  // namespace
}  // namespace plexus::server
