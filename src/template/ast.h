// The syntax tree a template parses into. Every node keeps its line and
// column so that runtime errors can name where they happened.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace plexus::tmpl {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// One argument of a call, filter or test: `value` or `name=value`.
struct Arg {
  std::string name;  // empty: positional
  ExprPtr value;
};

struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kName,       // name
    kList,       // children: items (also tuples)
    kDict,       // children: key, value, key, value, ...
    kAttr,       // children[0].name
    kIndex,      // children[0][children[1]]
    kSlice,      // children[0][children[1]:children[2]:children[3]], any may be null
    kUnary,      // name: "not", "-", "+"; children[0]
    kBinary,     // name: operator ("+", "==", "in", "not in", "and", "or", ...)
    kCond,       // children: then, condition, else (else may be null)
    kFilter,     // children[0] | name(args)
    kTest,       // children[0] is [not] name(args)
    kCall,       // children[0](args)
    kBlockBody,  // the rendered body of a {% filter %} or filtered {% set %} block
  };
  Kind kind;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<Arg> args;
  bool negated = false;  // kTest: `is not`
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt {
  enum class Kind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches (condition, body); else_body
    kFor,          // for targets in expr [if cond]: body; else_body
    kSet,          // set targets = expr, or set targets[0].attr = expr
    kSetBlock,     // set targets[0] [| filters in expr]: body
    kMacro,        // macro text(params): body
    kCallBlock,    // call(params) expr: body (the body is `caller()`)
    kFilterBlock,  // filter expr: body
    kBreak,
    kContinue,
    kScope,  // HF's {% generation %}: renders its body
  };
  Kind kind;
  int line = 0;
  int column = 0;
  std::string text;
  std::vector<std::string> targets;
  std::string attr;  // kSet on a namespace attribute
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<MacroParam> params;
};

// Parses a token stream (from Tokenize) into statements.
struct Token;
Result<Body> Parse(const std::vector<Token>& tokens);

}  // namespace plexus::tmpl
