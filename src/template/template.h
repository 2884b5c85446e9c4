// A small Jinja interpreter for chat templates (GGUF `tokenizer.chat_template`).
//
// Renders as Python's jinja2 does under Hugging Face transformers:
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
// loop controls (break/continue), `raise_exception(msg)`, `strftime_now(fmt)`
// and transformers' `tojson` (no HTML escaping, ensure_ascii=False, indent,
// separators, sort_keys). Templates come from untrusted files: every failure,
// malformed template or runaway loop included, is an error naming the line
// and column, e.g. "[template] line 12, column 7: unknown filter 'foo'".
//
//   PLEXUS_ASSIGN_OR_RETURN(auto t, tmpl::Template::Parse(source));
//   tmpl::Value ctx = tmpl::Value::Object();
//   ctx.Set("messages", messages).Set("add_generation_prompt", true);
//   PLEXUS_ASSIGN_OR_RETURN(std::string prompt, t.Render(ctx));
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "template/value.h"

namespace plexus::tmpl {

struct Stmt;

struct RenderOptions {
  // The clock of strftime_now: this Unix time, formatted in UTC, when set
  // (for reproducible prompts and tests); the local time now when not.
  std::optional<int64_t> now_unix_seconds;
  size_t max_output_bytes = size_t{16} << 20;  // also bounds any one string
  int64_t max_loop_iterations = int64_t{1} << 20;  // also bounds any one list
  int max_depth = 400;  // nesting of statements, expressions and macro calls
};

class Template {
 public:
  // Parses `source`; unknown filters and tests are errors here, as in jinja2.
  static Result<Template> Parse(std::string_view source);

  // `context` is an object of variables (messages, add_generation_prompt,
  // bos_token, eos_token, tools, and any extra a template reads).
  Result<std::string> Render(const Value& context, const RenderOptions& options = {}) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Stmt>>> body_;
};

// A built-in template by name, for models whose file has none: "chatml".
// Returns nullptr for an unknown name.
const char* BuiltinTemplate(std::string_view name);

}  // namespace plexus::tmpl
