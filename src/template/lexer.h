// Lexer: template source -> tokens, with jinja2's whitespace control applied
// to the text between tags, exactly as Hugging Face configures it:
//   - "\r\n" and "\r" become "\n", and one trailing newline is dropped;
//   - `{%-`, `{{-`, `{#-` strip all whitespace before the tag, and `-%}`,
//     `-}}`, `-#}` all whitespace after it;
//   - trim_blocks: one newline right after `%}` or `#}` is dropped (not
//     after `}}`, and not after `+%}`);
//   - lstrip_blocks: spaces and tabs between the start of a line and `{%` or
//     `{#` are dropped (not before `{{`, and not before `{%+`).
// Comments vanish here, and `{% raw %}...{% endraw %}` becomes plain text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace plexus::tmpl {

enum class TokenType {
  kData,        // literal text (already whitespace-controlled)
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text holds the unescaped value
  kInt,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenType type;
  std::string text;
  int line = 1;
  int column = 1;
};

Result<std::vector<Token>> Tokenize(std::string_view source);

// "[template] line L, column C: message": how every template error reads.
Status ErrorAt(int line, int column, std::string_view message);

}  // namespace plexus::tmpl
