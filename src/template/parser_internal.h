// The template parser's class, shared by parser.cc (statements) and
// parser_expr.cc (expressions). Internal to src/template.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace plexus::tmpl::detail {

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


}  // namespace plexus::tmpl::detail
