// Recursive-descent parser with jinja2's grammar and operator precedence:
//   cond:    or ['if' or ['else' cond]]
//   or/and/not, then comparisons (== != < <= > >= in, not in),
//   + -, then ~, then * / // %, then **, then unary - +,
//   then a primary with postfixes (.attr [index] (call)) and filters/tests
//   (|f(args), is [not] t(args)), which bind tighter than any operator.
// Nesting is bounded so that hostile templates cannot exhaust the stack.
#include "template/parser_internal.h"

namespace plexus::tmpl {
namespace detail {

Status Parser::Unexpected(std::string_view wanted) const {
  const Token& t = Peek();
  std::string got = t.type == TokenType::kEof ? "end of template" : "'" + t.text + "'";
  if (t.type == TokenType::kBlockEnd || t.type == TokenType::kVarEnd) got = "end of tag";
  return Fail(t, fmt::format("expected {}, got {}", wanted, got));
}

Status Parser::Expect(TokenType type, std::string_view what) {
  if (Peek().type != type) return Unexpected(what);
  Next();
  return Status::Ok();
}

Result<std::string> Parser::ExpectName() {
  if (Peek().type != TokenType::kName) return Unexpected("a name");
  return Next().text;
}

// Statements until one of `ends` opens a block tag; the end's name is
// consumed and returned in *found, the rest of its tag is left to the caller.
Result<Body> Parser::ParseBody(std::initializer_list<std::string_view> ends, std::string* found) {
  Nest nest(this);
  PLEXUS_RETURN_IF_ERROR(CheckDepth());
  Body body;
  while (true) {
    const Token& t = Peek();
    if (t.type == TokenType::kEof) {
      if (ends.size() == 0) return body;
      return Fail(t, fmt::format("unexpected end of template, expected '{}'", *(ends.end() - 1)));
    }
    if (t.type == TokenType::kData) {
      auto s = std::make_unique<Stmt>();
      s->kind = Stmt::Kind::kText, s->line = t.line, s->column = t.column, s->text = Next().text;
      body.push_back(std::move(s));
    } else if (t.type == TokenType::kVarBegin) {
      Next();
      auto s = std::make_unique<Stmt>();
      s->kind = Stmt::Kind::kOutput, s->line = t.line, s->column = t.column;
      PLEXUS_ASSIGN_OR_RETURN(s->expr, ParseExpr());
      PLEXUS_RETURN_IF_ERROR(Expect(TokenType::kVarEnd, "'}}'"));
      body.push_back(std::move(s));
    } else if (t.type == TokenType::kBlockBegin) {
      const Token& name = Peek(1);
      for (std::string_view end : ends) {
        if (name.type == TokenType::kName && name.text == end) {
          Next(), Next();
          *found = end;
          return body;
        }
      }
      PLEXUS_ASSIGN_OR_RETURN(StmtPtr s, ParseStatement());
      body.push_back(std::move(s));
    } else {
      return Unexpected("text or a tag");
    }
  }
}

Result<StmtPtr> Parser::ParseStatement() {
  Next();  // {%
  const Token& at = Peek();
  PLEXUS_ASSIGN_OR_RETURN(std::string keyword, ExpectName());
  auto s = std::make_unique<Stmt>();
  s->line = at.line, s->column = at.column;
  std::string end;
  if (keyword == "if") {
    PLEXUS_RETURN_IF_ERROR(ParseIf(s.get()));
  } else if (keyword == "for") {
    PLEXUS_RETURN_IF_ERROR(ParseFor(s.get()));
  } else if (keyword == "set") {
    PLEXUS_RETURN_IF_ERROR(ParseSet(s.get()));
  } else if (keyword == "macro") {
    PLEXUS_RETURN_IF_ERROR(ParseMacro(s.get()));
  } else if (keyword == "call") {
    s->kind = Stmt::Kind::kCallBlock;
    if (IsOp("(")) PLEXUS_RETURN_IF_ERROR(ParseParams(&s->params));
    PLEXUS_ASSIGN_OR_RETURN(s->expr, ParseExpr());
    if (s->expr->kind != Expr::Kind::kCall) return Fail(at, "{% call %} needs a macro call");
    PLEXUS_RETURN_IF_ERROR(ParseBlockTail(s.get(), "endcall"));
  } else if (keyword == "filter") {
    s->kind = Stmt::Kind::kFilterBlock;
    PLEXUS_ASSIGN_OR_RETURN(s->expr, ParseFilter(Node(Expr::Kind::kBlockBody, at), at, false));
    PLEXUS_RETURN_IF_ERROR(ParseBlockTail(s.get(), "endfilter"));
  } else if (keyword == "generation") {
    s->kind = Stmt::Kind::kScope;
    PLEXUS_RETURN_IF_ERROR(ParseBlockTail(s.get(), "endgeneration"));
  } else if (keyword == "break" || keyword == "continue") {
    if (loop_depth_ == 0) return Fail(at, fmt::format("'{}' outside of a loop", keyword));
    s->kind = keyword == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
    PLEXUS_RETURN_IF_ERROR(Expect(TokenType::kBlockEnd, "'%}'"));
  } else {
    return Fail(at, fmt::format("unknown or unsupported statement '{}'", keyword));
  }
  return s;
}

// The end of an opening tag, a body, and `{% end %}`.
Status Parser::ParseBlockTail(Stmt* s, std::string_view end) {
  PLEXUS_RETURN_IF_ERROR(Expect(TokenType::kBlockEnd, "'%}'"));
  std::string found;
  PLEXUS_ASSIGN_OR_RETURN(s->body, ParseBody({end}, &found));
  return Expect(TokenType::kBlockEnd, "'%}'");
}

Status Parser::ParseIf(Stmt* s) {
  s->kind = Stmt::Kind::kIf;
  std::string found = "elif";
  while (found == "elif") {
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr cond, ParseExpr());
    PLEXUS_RETURN_IF_ERROR(Expect(TokenType::kBlockEnd, "'%}'"));
    PLEXUS_ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}, &found));
    s->branches.emplace_back(std::move(cond), std::move(body));
  }
  if (found == "else") {
    PLEXUS_RETURN_IF_ERROR(Expect(TokenType::kBlockEnd, "'%}'"));
    PLEXUS_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endif"}, &found));
  }
  return Expect(TokenType::kBlockEnd, "'%}'");
}

Status Parser::ParseFor(Stmt* s) {
  s->kind = Stmt::Kind::kFor;
  do {
    PLEXUS_ASSIGN_OR_RETURN(std::string target, ExpectName());
    s->targets.push_back(std::move(target));
  } while (AcceptOp(","));
  if (!AcceptName("in")) return Unexpected("'in'");
  PLEXUS_ASSIGN_OR_RETURN(s->expr, ParseOr());
  if (AcceptName("if")) {
    PLEXUS_ASSIGN_OR_RETURN(s->cond, ParseOr());
  }
  if (IsName("recursive")) return Fail(Peek(), "recursive loops are not supported");
  PLEXUS_RETURN_IF_ERROR(Expect(TokenType::kBlockEnd, "'%}'"));
  std::string found;
  ++loop_depth_;
  auto body = ParseBody({"else", "endfor"}, &found);
  --loop_depth_;
  if (!body.ok()) return body.status();
  s->body = std::move(body).value();
  if (found == "else") {
    PLEXUS_RETURN_IF_ERROR(Expect(TokenType::kBlockEnd, "'%}'"));
    PLEXUS_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endfor"}, &found));
  }
  return Expect(TokenType::kBlockEnd, "'%}'");
}

Status Parser::ParseSet(Stmt* s) {
  PLEXUS_ASSIGN_OR_RETURN(std::string target, ExpectName());
  s->targets.push_back(std::move(target));
  if (AcceptOp(".")) {
    PLEXUS_ASSIGN_OR_RETURN(s->attr, ExpectName());
  } else {
    while (AcceptOp(",")) {
      PLEXUS_ASSIGN_OR_RETURN(std::string more, ExpectName());
      s->targets.push_back(std::move(more));
    }
  }
  if (AcceptOp("=")) {
    s->kind = Stmt::Kind::kSet;
    PLEXUS_ASSIGN_OR_RETURN(s->expr, ParseExpr());
    return Expect(TokenType::kBlockEnd, "'%}'");
  }
  if (s->targets.size() != 1 || !s->attr.empty()) return Unexpected("'='");
  s->kind = Stmt::Kind::kSetBlock;
  const Token& at = Peek();
  if (IsOp("|")) {
    PLEXUS_ASSIGN_OR_RETURN(s->expr, ParseFilter(Node(Expr::Kind::kBlockBody, at), at));
  }
  return ParseBlockTail(s, "endset");
}

Status Parser::ParseMacro(Stmt* s) {
  s->kind = Stmt::Kind::kMacro;
  PLEXUS_ASSIGN_OR_RETURN(s->text, ExpectName());
  PLEXUS_RETURN_IF_ERROR(ParseParams(&s->params));
  int saved_loops = loop_depth_;
  loop_depth_ = 0;
  Status st = ParseBlockTail(s, "endmacro");
  loop_depth_ = saved_loops;
  return st;
}

Status Parser::ParseParams(std::vector<MacroParam>* params) {
  PLEXUS_RETURN_IF_ERROR(ExpectOp("("));
  while (!AcceptOp(")")) {
    if (!params->empty()) PLEXUS_RETURN_IF_ERROR(ExpectOp(","));
    if (AcceptOp(")")) break;
    MacroParam p;
    PLEXUS_ASSIGN_OR_RETURN(p.name, ExpectName());
    if (AcceptOp("=")) {
      PLEXUS_ASSIGN_OR_RETURN(p.default_value, ParseExpr());
    }
    params->push_back(std::move(p));
  }
  return Status::Ok();
}

}  // namespace detail

Result<Body> Parse(const std::vector<Token>& tokens) { return detail::Parser(tokens).ParseTemplate(); }

}  // namespace plexus::tmpl
