// Expressions of the template parser (grammar and precedence: parser.cc).
#include <cstdlib>

#include "template/parser_internal.h"

namespace plexus::tmpl::detail {

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

}  // namespace plexus::tmpl::detail
