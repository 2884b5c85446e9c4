#include "engine/chat.h"

namespace plexus {

Result<ChatTemplate> ChatTemplate::ForModel(const Tokenizer& tokenizer, const std::string& fallback) {
  std::string text = tokenizer.vocab().chat_template;
  std::string source = "model";
  if (text.empty()) {
    const char* builtin = tmpl::BuiltinTemplate(fallback);
    if (builtin == nullptr) return Status::Errorf("chat", "no built-in chat template named '{}'", fallback);
    text = builtin;
    source = fallback;
  }
  auto parsed = tmpl::Template::Parse(text);
  if (!parsed.ok()) return parsed.status().WithContext(fmt::format("[chat] chat template ({})", source));
  const std::string bos = tokenizer.bos() >= 0 ? tokenizer.TokenText(tokenizer.bos()) : "";
  const std::string eos = tokenizer.eos() >= 0 ? tokenizer.TokenText(tokenizer.eos()) : "";
  return ChatTemplate(std::move(parsed).value(), source, bos, eos);
}

Result<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                         const tmpl::Value& extra) const {
  tmpl::Value list = tmpl::Value::Array();
  for (const ChatMessage& m : messages) {
    tmpl::Value item = tmpl::Value::Object();
    item.Set("role", m.role).Set("content", m.content);
    list.Append(item);
  }
  tmpl::Value ctx = extra;
  ctx.Set("messages", list).Set("add_generation_prompt", add_generation_prompt);
  // A model without a BOS (Qwen) leaves bos_token undefined, as Hugging Face does.
  if (!bos_.empty()) ctx.Set("bos_token", bos_);
  if (!eos_.empty()) ctx.Set("eos_token", eos_);
  auto rendered = template_.Render(ctx);
  if (!rendered.ok()) return rendered.status().WithContext(fmt::format("[chat] chat template ({})", source_));
  return rendered;
}

}  // namespace plexus
