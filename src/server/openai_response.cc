// OpenAI response objects: chat.completion, text_completion, their stream
// chunks, usage and log-probabilities.
#include <fmt/format.h>

#include "server/openai.h"
#include "server/response_writer.h"

namespace plexus::server {
namespace {

Json NullOr(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

// {"token", "logprob", "bytes"}: the token's raw bytes, as OpenAI gives them
// (a token can be part of a UTF-8 character; "token" then holds U+FFFD).
Json TokenEntry(const Tokenizer& tok, int32_t id, float logprob) {
  const std::string_view piece = tok.TokenToPiece(id);
  Json bytes = Json::array();
  for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
  Json j;
  j["token"] = std::string(piece);
  j["logprob"] = logprob;
  j["bytes"] = std::move(bytes);
  return j;
}

Json Header(const ResponseMeta& meta, const char* object) {
  Json j;
  j["id"] = meta.id;
  j["object"] = object;
  j["created"] = meta.created;
  j["model"] = meta.model;
  return j;
}

}  // namespace

std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string SseData(const Json& j) { return "data: " + DumpJson(j) + "\n\n"; }

std::string OpenAiFinishReason(const std::string& reason) { return reason == "length" ? "length" : "stop"; }

Json UsageJson(size_t prompt_tokens, size_t completion_tokens) {
  Json j;
  j["prompt_tokens"] = prompt_tokens;
  j["completion_tokens"] = completion_tokens;
  j["total_tokens"] = prompt_tokens + completion_tokens;
  return j;
}

Json ChatTokenLogprob(const Tokenizer& tok, int32_t id, float logprob, const std::vector<std::pair<int32_t, float>>& top,
                      int top_n) {
  Json j = TokenEntry(tok, id, logprob);
  Json alternatives = Json::array();
  for (size_t k = 0; k < top.size() && static_cast<int>(k) < top_n; ++k)
    alternatives.push_back(TokenEntry(tok, top[k].first, top[k].second));
  j["top_logprobs"] = std::move(alternatives);
  return j;
}

Json ChatLogprobs(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta) {
  if (!meta.logprobs) return nullptr;
  static const std::vector<std::pair<int32_t, float>> kNone;
  Json content = Json::array();
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const float lp = i < r.logprobs.size() ? r.logprobs[i] : 0.0f;
    content.push_back(ChatTokenLogprob(tok, r.tokens[i], lp, i < r.top_logprobs.size() ? r.top_logprobs[i] : kNone,
                                       meta.top_logprobs));
  }
  Json j;
  j["content"] = std::move(content);
  j["refusal"] = nullptr;
  return j;
}

Json CompletionLogprobs(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta) {
  if (!meta.logprobs) return nullptr;
  Json tokens = Json::array(), token_logprobs = Json::array(), top = Json::array(), offsets = Json::array();
  size_t offset = 0;  // in the completion's text (bytes of the pieces so far)
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const std::string_view piece = tok.TokenToPiece(r.tokens[i]);
    tokens.push_back(std::string(piece));
    token_logprobs.push_back(i < r.logprobs.size() ? r.logprobs[i] : 0.0f);
    Json alternatives = Json::object();
    if (i < r.top_logprobs.size())
      for (size_t k = 0; k < r.top_logprobs[i].size() && static_cast<int>(k) < meta.top_logprobs; ++k)
        alternatives[std::string(tok.TokenToPiece(r.top_logprobs[i][k].first))] = r.top_logprobs[i][k].second;
    top.push_back(std::move(alternatives));
    offsets.push_back(offset);
    offset += piece.size();
  }
  Json j;
  j["tokens"] = std::move(tokens);
  j["token_logprobs"] = std::move(token_logprobs);
  j["top_logprobs"] = std::move(top);
  j["text_offset"] = std::move(offsets);
  return j;
}

Json ChatCompletionJson(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta) {
  Json j = Header(meta, "chat.completion");
  Json message;
  message["role"] = "assistant";
  message["content"] = r.text;
  message["refusal"] = nullptr;
  Json choice;
  choice["index"] = 0;
  choice["message"] = std::move(message);
  choice["logprobs"] = ChatLogprobs(tok, r, meta);
  choice["finish_reason"] = OpenAiFinishReason(r.finish_reason);
  j["choices"] = Json::array({std::move(choice)});
  j["usage"] = UsageJson(meta.prompt_tokens, r.tokens.size());
  return j;
}

Json CompletionJson(const Tokenizer& tok, const GenerateResult& r, const ResponseMeta& meta) {
  Json j = Header(meta, "text_completion");
  Json choice;
  choice["text"] = r.text;
  choice["index"] = 0;
  choice["logprobs"] = CompletionLogprobs(tok, r, meta);
  choice["finish_reason"] = OpenAiFinishReason(r.finish_reason);
  j["choices"] = Json::array({std::move(choice)});
  j["usage"] = UsageJson(meta.prompt_tokens, r.tokens.size());
  return j;
}

Json ChatChunkJson(const ResponseMeta& meta, Json delta, const std::string& finish, Json logprobs) {
  Json j = Header(meta, "chat.completion.chunk");
  Json choice;
  choice["index"] = 0;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = NullOr(finish);
  j["choices"] = Json::array({std::move(choice)});
  if (meta.include_usage) j["usage"] = nullptr;  // as OpenAI: null on all but the last chunk
  return j;
}

Json CompletionChunkJson(const ResponseMeta& meta, const std::string& text, const std::string& finish, Json logprobs) {
  Json j = Header(meta, "text_completion");
  Json choice;
  choice["text"] = text;
  choice["index"] = 0;
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = NullOr(finish);
  j["choices"] = Json::array({std::move(choice)});
  if (meta.include_usage) j["usage"] = nullptr;
  return j;
}

namespace {

// Shared by chat and completions: the usage chunk, errors, the terminator.
class OpenAiWriter : public ResponseWriter {
 public:
  OpenAiWriter(const Tokenizer& tok, ResponseMeta meta, const char* chunk_object)
      : tok_(tok), meta_(std::move(meta)), chunk_object_(chunk_object) {}
  const char* stream_mime() const override { return "text/event-stream"; }
  std::string StreamError(const ApiError& e) override {
    std::string out = "data: " + OpenAiErrorBody(e) + "\n\n";
    out.append(kSseDone);
    return out;
  }
  std::string ErrorBody(const ApiError& e) override { return OpenAiErrorBody(e); }

 protected:
  // After the final chunk: the usage chunk (when asked for) and [DONE].
  std::string Tail(const GenerateResult& r) const {
    std::string out;
    if (meta_.include_usage) {
      Json usage = Header(meta_, chunk_object_);
      usage["choices"] = Json::array();
      usage["usage"] = UsageJson(meta_.prompt_tokens, r.tokens.size());
      out += SseData(usage);
    }
    out.append(kSseDone);  // (not `out + ...`: GCC 12 warns falsely about that)
    return out;
  }
  const Tokenizer& tok_;
  ResponseMeta meta_;
  const char* chunk_object_;
};

class ChatWriter final : public OpenAiWriter {
 public:
  ChatWriter(const Tokenizer& tok, ResponseMeta meta) : OpenAiWriter(tok, std::move(meta), "chat.completion.chunk") {}
  std::string Begin() override {
    Json delta;
    delta["role"] = "assistant";
    delta["content"] = "";
    return SseData(ChatChunkJson(meta_, std::move(delta), "", nullptr));
  }
  std::string Token(const TokenInfo& t) override {
    const bool logprobs_wanted = meta_.logprobs && t.id >= 0;  // id -1: text released at the end, no token
    if (t.text.empty() && !logprobs_wanted) return {};
    Json delta;
    delta["content"] = t.text;
    Json logprobs = nullptr;
    if (logprobs_wanted) {
      logprobs = Json::object();
      logprobs["content"] = Json::array({ChatTokenLogprob(tok_, t.id, t.logprob, t.top, meta_.top_logprobs)});
    }
    return SseData(ChatChunkJson(meta_, std::move(delta), "", std::move(logprobs)));
  }
  std::string End(const GenerateResult& r, const RunStats&) override {
    return SseData(ChatChunkJson(meta_, Json::object(), OpenAiFinishReason(r.finish_reason), nullptr)) + Tail(r);
  }
  std::string Body(const GenerateResult& r, const RunStats&) override {
    return DumpJson(ChatCompletionJson(tok_, r, meta_));
  }
};

class CompletionWriter final : public OpenAiWriter {
 public:
  CompletionWriter(const Tokenizer& tok, ResponseMeta meta) : OpenAiWriter(tok, std::move(meta), "text_completion") {}
  std::string Token(const TokenInfo& t) override {
    const bool logprobs_wanted = meta_.logprobs && t.id >= 0;  // id -1: text released at the end, no token
    if (t.text.empty() && !logprobs_wanted) return {};
    Json logprobs = nullptr;
    if (logprobs_wanted) {
      GenerateResult one;  // the completions format over this one token
      one.tokens = {t.id};
      one.logprobs = {t.logprob};
      one.top_logprobs = {t.top};
      logprobs = CompletionLogprobs(tok_, one, meta_);
      logprobs["text_offset"] = Json::array({offset_});
    }
    offset_ += tok_.TokenToPiece(t.id).size();
    return SseData(CompletionChunkJson(meta_, t.text, "", std::move(logprobs)));
  }
  std::string End(const GenerateResult& r, const RunStats&) override {
    return SseData(CompletionChunkJson(meta_, "", OpenAiFinishReason(r.finish_reason), nullptr)) + Tail(r);
  }
  std::string Body(const GenerateResult& r, const RunStats&) override { return DumpJson(CompletionJson(tok_, r, meta_)); }

 private:
  size_t offset_ = 0;
};

}  // namespace

std::unique_ptr<ResponseWriter> MakeChatWriter(const Tokenizer& tok, ResponseMeta meta) {
  return std::make_unique<ChatWriter>(tok, std::move(meta));
}

std::unique_ptr<ResponseWriter> MakeCompletionWriter(const Tokenizer& tok, ResponseMeta meta) {
  return std::make_unique<CompletionWriter>(tok, std::move(meta));
}

}  // namespace plexus::server
