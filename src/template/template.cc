#include "template/template.h"

#include "template/ast.h"
#include "template/builtins.h"
#include "template/eval.h"
#include "template/lexer.h"

namespace plexus::tmpl {
namespace {

// jinja2 rejects unknown filters and tests when it compiles a template, even
// in branches that never run; so do we.
Status CheckNames(const Expr& e) {
  if (e.kind == Expr::Kind::kFilter && FindFilter(e.name) == nullptr) {
    return ErrorAt(e.line, e.column, fmt::format("unknown filter '{}'", e.name));
  }
  if (e.kind == Expr::Kind::kTest && FindTest(e.name) == nullptr) {
    return ErrorAt(e.line, e.column, fmt::format("unknown test '{}'", e.name));
  }
  for (const ExprPtr& c : e.children) {
    if (c) PLEXUS_RETURN_IF_ERROR(CheckNames(*c));
  }
  for (const Arg& a : e.args) PLEXUS_RETURN_IF_ERROR(CheckNames(*a.value));
  return Status::Ok();
}

Status CheckNames(const Body& body) {
  for (const StmtPtr& s : body) {
    for (const Expr* e : {s->expr.get(), s->cond.get()}) {
      if (e) PLEXUS_RETURN_IF_ERROR(CheckNames(*e));
    }
    for (const auto& [cond, branch] : s->branches) {
      PLEXUS_RETURN_IF_ERROR(CheckNames(*cond));
      PLEXUS_RETURN_IF_ERROR(CheckNames(branch));
    }
    for (const MacroParam& p : s->params) {
      if (p.default_value) PLEXUS_RETURN_IF_ERROR(CheckNames(*p.default_value));
    }
    PLEXUS_RETURN_IF_ERROR(CheckNames(s->body));
    PLEXUS_RETURN_IF_ERROR(CheckNames(s->else_body));
  }
  return Status::Ok();
}

// ChatML, as transformers' old default template wrote it.
constexpr const char* kChatml =
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

}  // namespace

Result<Template> Template::Parse(std::string_view source) {
  PLEXUS_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  PLEXUS_ASSIGN_OR_RETURN(Body body, tmpl::Parse(tokens));
  PLEXUS_RETURN_IF_ERROR(CheckNames(body));
  Template t;
  t.body_ = std::make_shared<const Body>(std::move(body));
  return t;
}

Result<std::string> Template::Render(const Value& context, const RenderOptions& options) const {
  Limits limits{options.max_output_bytes, options.max_loop_iterations};
  Evaluator evaluator(context, MakeGlobals(options.now_unix_seconds, limits), limits, options.max_depth);
  std::string out;
  PLEXUS_RETURN_IF_ERROR(evaluator.Render(*body_, &out));
  return out;
}

const char* BuiltinTemplate(std::string_view name) { return name == "chatml" ? kChatml : nullptr; }

}  // namespace plexus::tmpl
