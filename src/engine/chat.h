// Chat conversations to prompt text, through the model's own chat template
// (GGUF tokenizer.chat_template, a Jinja template) or a named built-in one
// (chatml) when the file has none.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

namespace plexus {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool"
  std::string content;
};

class ChatTemplate {
 public:
  // The tokenizer's template, else the built-in `fallback`. A template that
  // does not parse is an error naming its line.
  static Result<ChatTemplate> ForModel(const Tokenizer& tokenizer, const std::string& fallback = "chatml");

  // `extra`: more variables for the template (tools, enable_thinking, ...).
  Result<std::string> Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                             const tmpl::Value& extra = tmpl::Value::Object()) const;

  // "model" when the file's template is used, else the built-in's name.
  const std::string& source() const { return source_; }

 private:
  ChatTemplate(tmpl::Template t, std::string source, std::string bos, std::string eos)
      : template_(std::move(t)), source_(std::move(source)), bos_(std::move(bos)), eos_(std::move(eos)) {}
  tmpl::Template template_;
  std::string source_;
  std::string bos_, eos_;  // token texts; empty when the model has none
};

}  // namespace plexus
