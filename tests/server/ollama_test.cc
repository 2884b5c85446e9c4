// Ollama request parsing and response objects.
#include <gtest/gtest.h>

#include "server/ollama.h"

namespace plexus::server {
namespace {

const ServedModel kModel{"stories260K", "stories260K", "/m/stories260K.gguf"};

TEST(Ollama, ChatDefaultsAndOptions) {
  GenRequest r;
  bool load_only = true;
  ASSERT_TRUE(ParseOllamaChat(R"({"model": "stories260K:latest", "messages": [{"role": "user", "content": "hi"}]})",
                              kModel, 512, &r, &load_only).ok());
  EXPECT_FALSE(load_only);
  EXPECT_TRUE(r.stream);  // Ollama streams by default
  EXPECT_TRUE(r.chat);
  EXPECT_FLOAT_EQ(r.sampler.temperature, 0.8f);
  EXPECT_EQ(r.sampler.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampler.top_p, 0.9f);
  EXPECT_FLOAT_EQ(r.sampler.repeat_penalty, 1.1f);
  ASSERT_TRUE(ParseOllamaChat(R"({"messages": [{"role": "user", "content": "hi"}], "stream": false,
      "options": {"temperature": 0, "top_p": 0.5, "top_k": 3, "seed": 7, "num_predict": 12, "stop": ["x"],
                  "repeat_penalty": 1.0, "presence_penalty": 0.5, "frequency_penalty": 0.25, "num_ctx": 99}})",
                              kModel, 512, &r, &load_only).ok());
  EXPECT_FALSE(r.stream);
  EXPECT_FLOAT_EQ(r.sampler.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.sampler.top_p, 0.5f);
  EXPECT_EQ(r.sampler.top_k, 3);
  EXPECT_EQ(r.sampler.seed, 7u);
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_EQ(r.stop, std::vector<std::string>{"x"});
  EXPECT_FLOAT_EQ(r.sampler.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampler.frequency_penalty, 0.25f);
}

TEST(Ollama, NumPredictAndSeedSpecialValues) {
  GenRequest r;
  bool load_only = false;
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  ASSERT_TRUE(ParseOllamaChat("{" + msgs + R"(, "options": {"num_predict": -1, "seed": -1}})", kModel, 512, &r,
                              &load_only).ok());
  EXPECT_FALSE(r.max_tokens.has_value());  // up to the context
  EXPECT_FALSE(r.sampler.seed.has_value());  // random
  const ApiError e = ParseOllamaChat("{" + msgs + R"(, "options": {"num_predict": 0}})", kModel, 512, &r, &load_only);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "options.num_predict");
  const ApiError t = ParseOllamaChat("{" + msgs + R"(, "options": {"temperature": "x"}})", kModel, 512, &r, &load_only);
  EXPECT_EQ(t.message, "'options.temperature' must be a number");
  EXPECT_EQ(OllamaErrorBody(t), R"({"error":"'options.temperature' must be a number"})");
}

TEST(Ollama, Refusals) {
  GenRequest r;
  bool load_only = false;
  const ApiError model = ParseOllamaChat(R"({"model": "llama3", "messages": []})", kModel, 512, &r, &load_only);
  EXPECT_EQ(model.status, 404);
  EXPECT_EQ(OllamaErrorBody(model), R"({"error":"model 'llama3' not found"})");
  EXPECT_EQ(ParseOllamaChat(R"({"messages": [{"role": "user", "content": "x", "images": ["aGk="]}]})", kModel, 512, &r,
                            &load_only).param,
            "messages[0].images");
  EXPECT_EQ(ParseOllamaChat(R"({"messages": [], "format": "json"})", kModel, 512, &r, &load_only).param, "format");
  EXPECT_EQ(ParseOllamaChat(R"({"messages": [{"role": "robot"}]})", kModel, 512, &r, &load_only).param,
            "messages[0].role");
  EXPECT_EQ(ParseOllamaChat("{not json", kModel, 512, &r, &load_only).status, 400);
}

TEST(Ollama, GenerateWrapsThePromptUnlessRaw) {
  GenRequest r;
  bool load_only = false;
  ASSERT_TRUE(ParseOllamaGenerate(R"({"model": "stories260K", "prompt": "Once", "system": "be kind"})", kModel, 512,
                                  &r, &load_only).ok());
  EXPECT_TRUE(r.chat);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "Once");
  ASSERT_TRUE(ParseOllamaGenerate(R"({"prompt": "Once", "raw": true})", kModel, 512, &r, &load_only).ok());
  EXPECT_FALSE(r.chat);
  EXPECT_EQ(r.prompt, "Once");
  ASSERT_TRUE(ParseOllamaGenerate(R"({"model": "stories260K"})", kModel, 512, &r, &load_only).ok());
  EXPECT_TRUE(load_only);  // no prompt: "load the model"
  const Json load = OllamaLoadJson(false, "stories260K");
  EXPECT_EQ(load["done"], true);
  EXPECT_EQ(load["done_reason"], "load");
}

TEST(Ollama, StreamLinesAndFinalObject) {
  auto w = MakeOllamaWriter(true, "stories260K");
  EXPECT_STREQ(w->stream_mime(), "application/x-ndjson");
  const std::string line = w->Token(TokenInfo{5, "Once", 0, {}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  const Json j = Json::parse(line);
  EXPECT_EQ(j["model"], "stories260K");
  EXPECT_EQ(j["message"]["role"], "assistant");
  EXPECT_EQ(j["message"]["content"], "Once");
  EXPECT_EQ(j["done"], false);
  EXPECT_TRUE(j["created_at"].get<std::string>().ends_with("Z"));
  GenerateResult r;
  r.tokens = {1, 2, 3};
  r.text = "abc";
  r.finish_reason = "stop";
  r.prefill_ms = 2;
  r.decode_ms = 3;
  const Json end = Json::parse(w->End(r, RunStats{7, 10}));
  EXPECT_EQ(end["done"], true);
  EXPECT_EQ(end["done_reason"], "stop");
  EXPECT_EQ(end["message"]["content"], "");
  EXPECT_EQ(end["eval_count"], 3);
  EXPECT_EQ(end["prompt_eval_count"], 7);
  EXPECT_EQ(end["total_duration"], 10000000);
  EXPECT_EQ(end["eval_duration"], 3000000);
  const Json body = Json::parse(MakeOllamaWriter(false, "m")->Body(r, RunStats{7, 10}));
  EXPECT_EQ(body["response"], "abc");
  EXPECT_EQ(body["done"], true);
}

TEST(Ollama, TagsAndShow) {
  ModelFacts f;
  f.id = "stories260K";
  f.path = "/m/stories260K.gguf";
  f.arch = "llama";
  f.file_bytes = 1185376;
  f.modified_unix = 1700000000;
  f.n_params = 292000;
  f.quant = "F32";
  f.chat_template = "{{ x }}";
  f.metadata = {{"general.architecture", "llama"}};
  const Json tags = OllamaTagsJson(f);
  ASSERT_EQ(tags["models"].size(), 1u);
  const Json& m = tags["models"][0];
  EXPECT_EQ(m["name"], "stories260K");
  EXPECT_EQ(m["size"], 1185376);
  EXPECT_EQ(m["modified_at"], "2023-11-14T22:13:20.000000000Z");
  EXPECT_EQ(m["digest"].get<std::string>().size(), 64u);
  EXPECT_EQ(m["details"]["family"], "llama");
  EXPECT_EQ(m["details"]["parameter_size"], "292K");
  EXPECT_EQ(m["details"]["quantization_level"], "F32");
  const Json show = OllamaShowJson(f);
  EXPECT_EQ(show["template"], "{{ x }}");
  EXPECT_EQ(show["model_info"]["general.architecture"], "llama");
  EXPECT_EQ(show["details"]["format"], "gguf");
  EXPECT_TRUE(ParseOllamaShow(R"({"model": "stories260K"})", kModel).ok());
  EXPECT_TRUE(ParseOllamaShow(R"({"name": "stories260K"})", kModel).ok());
  EXPECT_EQ(ParseOllamaShow(R"({"model": "other"})", kModel).status, 404);
}

TEST(Ollama, ParameterSize) {
  EXPECT_EQ(ParameterSize(260000), "260K");
  EXPECT_EQ(ParameterSize(7600000000ull), "7.6B");
  EXPECT_EQ(ParameterSize(1500000), "1.5M");
  EXPECT_EQ(ParameterSize(999), "999");
}

}  // namespace
}  // namespace plexus::server
