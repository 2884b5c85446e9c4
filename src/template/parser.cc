// Recursive-descent parser with jinja2's grammar and operator precedence:
//   cond:    or ['if' or ['else' cond]]
//   or/and/not, then comparisons (== != < <= > >= in, not in),
//   + -, then ~, then * / // %, then **, then unary - +,
//   then a primary with postfixes (.attr [index] (call)) and filters/tests
//   (|f(args), is [not] t(args)), which bind tighter than any operator.
// Nesting is bounded so that hostile templates cannot exhaust the stack.
#include <cstdlib>
#include <initializer_list>

#include "template/ast.h"
#include "template/lexer.h"

namespace plexus::tmpl {
namespace {

constexpr int kMaxNesting = 200;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Result<Body> ParseTemplate() {
    std::string end;
    PLEXUS_ASSIGN_OR_RETURN(Body body, ParseBody({}, &end));
    return body;
  }

 private:
  // RAII guard for nesting depth.
  struct Nest {
    explicit Nest(Parser* p) : p(p) { ++p->depth_; }
    ~Nest() { --p->depth_; }
    Parser* p;
  };

  const Token& Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return tokens_[i < tokens_.size() ? i : tokens_.size() - 1];
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    return Peek(ahead).type == TokenType::kOperator && Peek(ahead).text == op;
  }
  bool IsName(std::string_view name) const { return Peek().type == TokenType::kName && Peek().text == name; }
  bool AcceptOp(std::string_view op) { return IsOp(op) ? (Next(), true) : false; }
  bool AcceptName(std::string_view name) { return IsName(name) ? (Next(), true) : false; }
  Status Fail(const Token& t, std::string_view message) const { return ErrorAt(t.line, t.column, message); }
  Status Expect(TokenType type, std::string_view what);
  Status ExpectOp(std::string_view op) { return IsOp(op) ? (Next(), Status::Ok()) : Unexpected(op); }
  Status Unexpected(std::string_view wanted) const;
  Result<std::string> ExpectName();
  Status CheckDepth() const {
    return depth_ > kMaxNesting ? Fail(Peek(), "template nested too deeply") : Status::Ok();
  }
  ExprPtr Node(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind, e->line = at.line, e->column = at.column;
    return e;
  }

  Result<Body> ParseBody(std::initializer_list<std::string_view> ends, std::string* found);
  Result<StmtPtr> ParseStatement();
  Status ParseIf(Stmt* s);
  Status ParseFor(Stmt* s);
  Status ParseSet(Stmt* s);
  Status ParseMacro(Stmt* s);
  Status ParseParams(std::vector<MacroParam>* params);
  Status ParseBlockTail(Stmt* s, std::string_view end);

  Result<ExprPtr> ParseExpr();  // with conditional expressions
  Result<ExprPtr> ParseOr();
  Result<ExprPtr> ParseAnd();
  Result<ExprPtr> ParseNot();
  Result<ExprPtr> ParseCompare();
  Result<ExprPtr> ParseBinary(int level);
  Result<ExprPtr> ParseUnary(bool with_filters = true);
  Result<ExprPtr> ParsePrimary();
  Result<ExprPtr> ParsePostfix(ExprPtr e);
  Result<ExprPtr> ParseSubscript(ExprPtr e, const Token& at);
  Result<ExprPtr> ParseFilterTest(ExprPtr e);
  Result<ExprPtr> ParseFilter(ExprPtr e, const Token& at, bool leading_pipe = true);
  Result<ExprPtr> ParseTest(ExprPtr e, const Token& at);
  Status ParseArgs(std::vector<Arg>* args);
  Result<ExprPtr> ParseCollection(Expr::Kind kind, std::string_view close, const Token& at);

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;  // for break/continue
};

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

Result<ExprPtr> Parser::ParseExpr() {
  Nest nest(this);
  PLEXUS_RETURN_IF_ERROR(CheckDepth());
  const Token& at = Peek();
  PLEXUS_ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
  while (AcceptName("if")) {
    auto cond = Node(Expr::Kind::kCond, at);
    cond->children.push_back(std::move(e));
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
    cond->children.push_back(std::move(test));
    ExprPtr otherwise;
    if (AcceptName("else")) {
      PLEXUS_ASSIGN_OR_RETURN(otherwise, ParseExpr());
    }
    cond->children.push_back(std::move(otherwise));
    e = std::move(cond);
  }
  return e;
}

Result<ExprPtr> Parser::ParseOr() {
  PLEXUS_ASSIGN_OR_RETURN(ExprPtr e, ParseAnd());
  while (IsName("or")) {
    auto node = Node(Expr::Kind::kBinary, Next());
    node->name = "or";
    node->children.push_back(std::move(e));
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr rhs, ParseAnd());
    node->children.push_back(std::move(rhs));
    e = std::move(node);
  }
  return e;
}

Result<ExprPtr> Parser::ParseAnd() {
  PLEXUS_ASSIGN_OR_RETURN(ExprPtr e, ParseNot());
  while (IsName("and")) {
    auto node = Node(Expr::Kind::kBinary, Next());
    node->name = "and";
    node->children.push_back(std::move(e));
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr rhs, ParseNot());
    node->children.push_back(std::move(rhs));
    e = std::move(node);
  }
  return e;
}

Result<ExprPtr> Parser::ParseNot() {
  if (!IsName("not")) return ParseCompare();
  Nest nest(this);
  PLEXUS_RETURN_IF_ERROR(CheckDepth());
  auto node = Node(Expr::Kind::kUnary, Next());
  node->name = "not";
  PLEXUS_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
  node->children.push_back(std::move(operand));
  return node;
}

Result<ExprPtr> Parser::ParseCompare() {
  PLEXUS_ASSIGN_OR_RETURN(ExprPtr e, ParseBinary(0));
  while (true) {
    const Token& at = Peek();
    std::string op;
    if (at.type == TokenType::kOperator &&
        (at.text == "==" || at.text == "!=" || at.text == "<" || at.text == "<=" || at.text == ">" ||
         at.text == ">=")) {
      op = Next().text;
    } else if (AcceptName("in")) {
      op = "in";
    } else if (IsName("not") && Peek(1).type == TokenType::kName && Peek(1).text == "in") {
      Next(), Next();
      op = "not in";
    } else {
      return e;
    }
    auto node = Node(Expr::Kind::kBinary, at);
    node->name = op;
    node->children.push_back(std::move(e));
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr rhs, ParseBinary(0));
    node->children.push_back(std::move(rhs));
    e = std::move(node);
  }
}

// Levels, loosest first: + -, then ~, then * / // %, then **.
Result<ExprPtr> Parser::ParseBinary(int level) {
  static const std::vector<std::vector<std::string_view>> kLevels = {
      {"+", "-"}, {"~"}, {"*", "/", "//", "%"}, {"**"}};
  if (level == static_cast<int>(kLevels.size())) return ParseUnary();
  PLEXUS_ASSIGN_OR_RETURN(ExprPtr e, ParseBinary(level + 1));
  while (true) {
    const Token& at = Peek();
    bool match = false;
    for (std::string_view op : kLevels[level]) match = match || IsOp(op);
    if (!match) return e;
    auto node = Node(Expr::Kind::kBinary, Next());
    node->name = at.text;
    node->children.push_back(std::move(e));
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr rhs, ParseBinary(level + 1));
    node->children.push_back(std::move(rhs));
    e = std::move(node);
  }
}

// `-x|f` applies f to -x, as in jinja2: the operand of a sign takes no filters.
Result<ExprPtr> Parser::ParseUnary(bool with_filters) {
  Nest nest(this);
  PLEXUS_RETURN_IF_ERROR(CheckDepth());
  const Token& at = Peek();
  ExprPtr e;
  if (IsOp("-") || IsOp("+")) {
    e = Node(Expr::Kind::kUnary, Next());
    e->name = at.text;
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    e->children.push_back(std::move(operand));
  } else {
    PLEXUS_ASSIGN_OR_RETURN(e, ParsePrimary());
  }
  PLEXUS_ASSIGN_OR_RETURN(e, ParsePostfix(std::move(e)));
  if (!with_filters) return e;
  return ParseFilterTest(std::move(e));
}

Result<ExprPtr> Parser::ParsePrimary() {
  const Token& t = Peek();
  if (t.type == TokenType::kName) {
    Next();
    auto e = Node(Expr::Kind::kLiteral, t);
    if (t.text == "true" || t.text == "True") {
      e->literal = Value(true);
    } else if (t.text == "false" || t.text == "False") {
      e->literal = Value(false);
    } else if (t.text == "none" || t.text == "None") {
      e->literal = Value::None();
    } else {
      e->kind = Expr::Kind::kName;
      e->name = t.text;
    }
    return e;
  }
  if (t.type == TokenType::kString) {
    std::string s;
    while (Peek().type == TokenType::kString) s += Next().text;  // adjacent literals concatenate
    auto e = Node(Expr::Kind::kLiteral, t);
    e->literal = Value(std::move(s));
    return e;
  }
  if (t.type == TokenType::kInt || t.type == TokenType::kFloat) {
    Next();
    auto e = Node(Expr::Kind::kLiteral, t);
    e->literal = t.type == TokenType::kInt ? Value(static_cast<int64_t>(std::stoll(t.text))) : Value(std::strtod(t.text.c_str(), nullptr));
    return e;
  }
  if (AcceptOp("(")) {
    if (AcceptOp(")")) return Node(Expr::Kind::kList, t);  // empty tuple
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr e, ParseExpr());
    if (AcceptOp(")")) return e;
    auto tuple = Node(Expr::Kind::kList, t);
    tuple->children.push_back(std::move(e));
    PLEXUS_RETURN_IF_ERROR(ExpectOp(","));
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr rest, ParseCollection(Expr::Kind::kList, ")", t));
    for (auto& item : rest->children) tuple->children.push_back(std::move(item));
    return tuple;
  }
  if (AcceptOp("[")) return ParseCollection(Expr::Kind::kList, "]", t);
  if (AcceptOp("{")) return ParseCollection(Expr::Kind::kDict, "}", t);
  return Unexpected("an expression");
}

// Items up to `close`, comma-separated, trailing comma allowed; dicts take
// `key: value` pairs.
Result<ExprPtr> Parser::ParseCollection(Expr::Kind kind, std::string_view close, const Token& at) {
  auto e = Node(kind, at);
  while (!AcceptOp(close)) {
    if (!e->children.empty()) PLEXUS_RETURN_IF_ERROR(ExpectOp(","));
    if (AcceptOp(close)) break;
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr item, ParseExpr());
    e->children.push_back(std::move(item));
    if (kind != Expr::Kind::kDict) continue;
    PLEXUS_RETURN_IF_ERROR(ExpectOp(":"));
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
    e->children.push_back(std::move(value));
  }
  return e;
}

Result<ExprPtr> Parser::ParsePostfix(ExprPtr e) {
  while (true) {
    const Token& at = Peek();
    if (AcceptOp(".")) {
      const Token& name = Next();
      if (name.type == TokenType::kInt) {
        auto idx = Node(Expr::Kind::kIndex, at);
        idx->children.push_back(std::move(e));
        auto lit = Node(Expr::Kind::kLiteral, name);
        lit->literal = Value(static_cast<int64_t>(std::stoll(name.text)));
        idx->children.push_back(std::move(lit));
        e = std::move(idx);
        continue;
      }
      if (name.type != TokenType::kName) return Fail(name, "expected an attribute name after '.'");
      auto attr = Node(Expr::Kind::kAttr, at);
      attr->name = name.text;
      attr->children.push_back(std::move(e));
      e = std::move(attr);
    } else if (AcceptOp("[")) {
      PLEXUS_ASSIGN_OR_RETURN(e, ParseSubscript(std::move(e), at));
    } else if (IsOp("(")) {
      auto call = Node(Expr::Kind::kCall, at);
      call->line = e->line, call->column = e->column;  // errors point at the callee
      call->children.push_back(std::move(e));
      PLEXUS_RETURN_IF_ERROR(ParseArgs(&call->args));
      e = std::move(call);
    } else {
      return e;
    }
  }
}

// After `[`: an index or a slice `a:b:c` (each part optional).
Result<ExprPtr> Parser::ParseSubscript(ExprPtr e, const Token& at) {
  ExprPtr parts[3];
  int part = 0;
  bool is_slice = false;
  while (!AcceptOp("]")) {
    if (AcceptOp(":")) {
      if (++part > 2) return Fail(at, "too many ':' in slice");
      is_slice = true;
      continue;
    }
    if (parts[part]) return Unexpected("']'");
    PLEXUS_ASSIGN_OR_RETURN(parts[part], ParseExpr());
  }
  if (!is_slice && !parts[0]) return Fail(at, "empty subscript");
  auto node = Node(is_slice ? Expr::Kind::kSlice : Expr::Kind::kIndex, at);
  node->children.push_back(std::move(e));
  node->children.push_back(std::move(parts[0]));
  if (is_slice) node->children.push_back(std::move(parts[1])), node->children.push_back(std::move(parts[2]));
  return node;
}

Result<ExprPtr> Parser::ParseFilterTest(ExprPtr e) {
  while (true) {
    const Token& at = Peek();
    if (IsOp("|")) {
      PLEXUS_ASSIGN_OR_RETURN(e, ParseFilter(std::move(e), at));
    } else if (AcceptName("is")) {
      PLEXUS_ASSIGN_OR_RETURN(e, ParseTest(std::move(e), at));
    } else if (IsOp("(")) {
      PLEXUS_ASSIGN_OR_RETURN(e, ParsePostfix(std::move(e)));
    } else {
      return e;
    }
  }
}

// One or more `|name(args)`; the first `|` is absent in `{% filter name %}`.
Result<ExprPtr> Parser::ParseFilter(ExprPtr e, const Token& at, bool leading_pipe) {
  for (bool first = true; (first && !leading_pipe) || AcceptOp("|"); first = false) {
    auto f = Node(Expr::Kind::kFilter, Peek());
    PLEXUS_ASSIGN_OR_RETURN(f->name, ExpectName());
    f->children.push_back(std::move(e));
    if (IsOp("(")) PLEXUS_RETURN_IF_ERROR(ParseArgs(&f->args));
    e = std::move(f);
  }
  return e;
}

Result<ExprPtr> Parser::ParseTest(ExprPtr e, const Token& at) {
  auto t = Node(Expr::Kind::kTest, at);
  t->negated = AcceptName("not");
  PLEXUS_ASSIGN_OR_RETURN(t->name, ExpectName());
  t->children.push_back(std::move(e));
  const Token& next = Peek();
  bool starts_arg = next.type == TokenType::kString || next.type == TokenType::kInt ||
                    next.type == TokenType::kFloat || IsOp("[") || IsOp("{") ||
                    (next.type == TokenType::kName && next.text != "else" && next.text != "or" &&
                     next.text != "and" && next.text != "if" && next.text != "is");
  if (IsOp("(")) {
    PLEXUS_RETURN_IF_ERROR(ParseArgs(&t->args));
  } else if (starts_arg) {  // `x is divisibleby 3`: one argument without parentheses
    PLEXUS_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
    PLEXUS_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
    t->args.push_back(Arg{"", std::move(arg)});
  }
  return t;
}

Status Parser::ParseArgs(std::vector<Arg>* args) {
  PLEXUS_RETURN_IF_ERROR(ExpectOp("("));
  while (!AcceptOp(")")) {
    if (!args->empty()) PLEXUS_RETURN_IF_ERROR(ExpectOp(","));
    if (AcceptOp(")")) break;
    if (IsOp("*") || IsOp("**")) return Fail(Peek(), "*args and **kwargs are not supported");
    Arg arg;
    if (Peek().type == TokenType::kName && IsOp("=", 1)) {
      arg.name = Next().text;
      Next();
    } else if (!args->empty() && !args->back().name.empty()) {
      return Fail(Peek(), "positional argument follows keyword argument");
    }
    PLEXUS_ASSIGN_OR_RETURN(arg.value, ParseExpr());
    args->push_back(std::move(arg));
  }
  return Status::Ok();
}

}  // namespace

Result<Body> Parse(const std::vector<Token>& tokens) { return Parser(tokens).ParseTemplate(); }

}  // namespace plexus::tmpl
