// The evaluator: walks the syntax tree with jinja2's scoping rules.
//   - `set` at the top level, or inside `if`, assigns in the current scope;
//   - each for-loop iteration and each macro call runs in a fresh scope, so
//     what they `set` is gone afterwards (use a namespace to carry state);
//   - macros see the scope they were defined in (at call time), not the
//     caller's;
//   - names resolve through the scopes, then the caller's context, then the
//     globals (raise_exception, strftime_now, namespace, range, dict).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "template/ast.h"
#include "template/builtins.h"
#include "template/lexer.h"

namespace plexus::tmpl {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::unordered_map<std::string, Value> vars;
};

class Evaluator {
 public:
  Evaluator(const Value& context, ObjectMap globals, const Limits& limits, int max_depth);
  Status Render(const Body& body, std::string* out);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using ScopePtr = std::shared_ptr<Scope>;

  Status ExecBody(const Body& body, const ScopePtr& scope, std::string* out, Flow* flow);
  Status ExecStmt(const Stmt& s, const ScopePtr& scope, std::string* out, Flow* flow);
  Status ExecIf(const Stmt& s, const ScopePtr& scope, std::string* out, Flow* flow);
  Status ExecFor(const Stmt& s, const ScopePtr& scope, std::string* out, Flow* flow);
  Status ExecSet(const Stmt& s, const ScopePtr& scope);
  Status ExecBlockValue(const Stmt& s, const ScopePtr& scope, std::string* out);
  Status DefineMacro(const Stmt& s, const ScopePtr& scope);
  Status ExecCallBlock(const Stmt& s, const ScopePtr& scope, std::string* out);
  Status Bind(const std::vector<std::string>& targets, const Value& v, Scope* scope, const Stmt& at);
  Result<Value> CallMacro(const Stmt& macro, const std::weak_ptr<Scope>& closure, const CallArgs& args);

  Result<Value> Eval(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalInner(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalBinary(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalSlice(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalFilter(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalTest(const Expr& e, const ScopePtr& scope);
  Result<Value> EvalCall(const Expr& e, const ScopePtr& scope);
  Status EvalArgs(const std::vector<Arg>& args, const ScopePtr& scope, CallArgs* out);
  Value Lookup(const std::string& name, const Scope* scope) const;

  Status Emit(std::string_view text, std::string* out, const Stmt& at);
  Status Error(const Expr& at, std::string_view message) const { return ErrorAt(at.line, at.column, message); }
  Status Error(const Stmt& at, std::string_view message) const { return ErrorAt(at.line, at.column, message); }
  // Tags a plain message with the position; passes through one already tagged.
  Status Locate(const Status& st, int line, int column) const;

  const Value& context_;
  ObjectMap globals_;
  Limits limits_;
  int max_depth_;
  int depth_ = 0;              // expression + statement + macro nesting
  int64_t iterations_ = 0;     // loop iterations so far in this render
  const std::string* block_body_ = nullptr;  // for Expr::kBlockBody
  friend struct DepthGuard;
};

// Counts nesting (statements, expressions, macro calls) so that recursion in
// a hostile template ends in an error instead of a stack overflow.
struct DepthGuard {
  explicit DepthGuard(Evaluator* e) : e(e) { ++e->depth_; }
  ~DepthGuard() { --e->depth_; }
  bool too_deep() const { return e->depth_ > e->max_depth_; }
  Evaluator* e;
};

}  // namespace plexus::tmpl
