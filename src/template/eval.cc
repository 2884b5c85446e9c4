#include "template/eval.h"

#include <cmath>

#include "template/text.h"

namespace plexus::tmpl {


Evaluator::Evaluator(const Value& context, ObjectMap globals, const Limits& limits, int max_depth)
    : context_(context), globals_(std::move(globals)), limits_(limits), max_depth_(max_depth) {}

Status Evaluator::Render(const Body& body, std::string* out) {
  Flow flow = Flow::kNormal;
  return ExecBody(body, std::make_shared<Scope>(), out, &flow);
}

Status Evaluator::Locate(const Status& st, int line, int column) const {
  if (st.ok() || st.message().rfind("[template]", 0) == 0) return st;
  return ErrorAt(line, column, st.message());
}

Value Evaluator::Lookup(const std::string& name, const Scope* scope) const {
  for (; scope != nullptr; scope = scope->parent.get()) {
    auto it = scope->vars.find(name);
    if (it != scope->vars.end()) return it->second;
  }
  if (context_.is_mapping()) {
    if (const Value* v = context_.as_object().Find(name)) return *v;
  }
  if (const Value* v = globals_.Find(name)) return *v;
  return Value::Undefined(fmt::format("'{}' is undefined", name));
}

Status Evaluator::Emit(std::string_view text, std::string* out, const Stmt& at) {
  if (out->size() + text.size() > limits_.max_bytes) {
    return Error(at, fmt::format("output larger than the limit of {} bytes", limits_.max_bytes));
  }
  out->append(text);
  return Status::Ok();
}

// ---- statements ----

Status Evaluator::ExecBody(const Body& body, const ScopePtr& scope, std::string* out, Flow* flow) {
  DepthGuard guard(this);
  for (const StmtPtr& s : body) {
    if (guard.too_deep()) return Error(*s, "template recursion too deep");
    PLEXUS_RETURN_IF_ERROR(ExecStmt(*s, scope, out, flow));
    if (*flow != Flow::kNormal) break;
  }
  return Status::Ok();
}

Status Evaluator::ExecStmt(const Stmt& s, const ScopePtr& scope, std::string* out, Flow* flow) {
  switch (s.kind) {
    case Stmt::Kind::kText: return Emit(s.text, out, s);
    case Stmt::Kind::kOutput: {
      PLEXUS_ASSIGN_OR_RETURN(Value v, Eval(*s.expr, scope));
      return Emit(v.Str(), out, s);
    }
    case Stmt::Kind::kIf: return ExecIf(s, scope, out, flow);
    case Stmt::Kind::kFor: return ExecFor(s, scope, out, flow);
    case Stmt::Kind::kSet: return ExecSet(s, scope);
    case Stmt::Kind::kSetBlock:
    case Stmt::Kind::kFilterBlock: return ExecBlockValue(s, scope, out);
    case Stmt::Kind::kMacro: return DefineMacro(s, scope);
    case Stmt::Kind::kCallBlock: return ExecCallBlock(s, scope, out);
    case Stmt::Kind::kBreak: *flow = Flow::kBreak; return Status::Ok();
    case Stmt::Kind::kContinue: *flow = Flow::kContinue; return Status::Ok();
    case Stmt::Kind::kScope: return ExecBody(s.body, scope, out, flow);
  }
  return Error(s, "unknown statement");
}

Status Evaluator::ExecIf(const Stmt& s, const ScopePtr& scope, std::string* out, Flow* flow) {
  for (const auto& [cond, body] : s.branches) {
    PLEXUS_ASSIGN_OR_RETURN(Value v, Eval(*cond, scope));
    if (v.Truthy()) return ExecBody(body, scope, out, flow);  // `if` opens no scope
  }
  return ExecBody(s.else_body, scope, out, flow);
}

Status Evaluator::Bind(const std::vector<std::string>& targets, const Value& v, Scope* scope, const Stmt& at) {
  if (targets.size() == 1) {
    scope->vars[targets[0]] = v;
    return Status::Ok();
  }
  auto items = Iterate(v);
  if (!items.ok()) return Error(at, "cannot unpack non-iterable " + std::string(v.TypeName()) + " object");
  if (items->size() != targets.size()) {
    return Error(at, fmt::format("{} values to unpack (expected {}, got {})",
                                 items->size() > targets.size() ? "too many" : "not enough", targets.size(),
                                 items->size()));
  }
  for (size_t i = 0; i < targets.size(); ++i) scope->vars[targets[i]] = (*items)[i];
  return Status::Ok();
}

Status Evaluator::ExecFor(const Stmt& s, const ScopePtr& scope, std::string* out, Flow* flow) {
  PLEXUS_ASSIGN_OR_RETURN(Value iterable, Eval(*s.expr, scope));
  auto all = Iterate(iterable);
  if (!all.ok()) return Locate(all.status(), s.expr->line, s.expr->column);
  Value::List items;
  for (Value& item : *all) {  // `for x in xs if cond`: filtered before loop.length is known
    if (s.cond) {
      auto probe = std::make_shared<Scope>();
      probe->parent = scope;
      PLEXUS_RETURN_IF_ERROR(Bind(s.targets, item, probe.get(), s));
      PLEXUS_ASSIGN_OR_RETURN(Value keep, Eval(*s.cond, probe));
      if (!keep.Truthy()) continue;
    }
    items.push_back(std::move(item));
  }
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    if (++iterations_ > limits_.max_items) return Error(s, "too many loop iterations");
    auto frame = std::make_shared<Scope>();
    frame->parent = scope;
    PLEXUS_RETURN_IF_ERROR(Bind(s.targets, items[i], frame.get(), s));
    ObjectMap loop;
    loop.Set("index", Value(i + 1)), loop.Set("index0", Value(i));
    loop.Set("revindex", Value(n - i)), loop.Set("revindex0", Value(n - i - 1));
    loop.Set("first", Value(i == 0)), loop.Set("last", Value(i == n - 1));
    loop.Set("length", Value(n)), loop.Set("depth", Value(1)), loop.Set("depth0", Value(0));
    if (i > 0) loop.Set("previtem", items[i - 1]);
    if (i + 1 < n) loop.Set("nextitem", items[i + 1]);
    loop.Set("cycle", Value::Callable("cycle", [i](const CallArgs& a) -> Result<Value> {
               if (a.positional.empty()) return Status::Error("no items for cycling given");
               return a.positional[i % a.positional.size()];
             }));
    frame->vars["loop"] = Value::FromObject(std::move(loop));
    Flow inner = Flow::kNormal;
    PLEXUS_RETURN_IF_ERROR(ExecBody(s.body, frame, out, &inner));
    if (inner == Flow::kBreak) break;
  }
  if (n > 0) return Status::Ok();
  auto frame = std::make_shared<Scope>();
  frame->parent = scope;
  return ExecBody(s.else_body, frame, out, flow);
}

Status Evaluator::ExecSet(const Stmt& s, const ScopePtr& scope) {
  PLEXUS_ASSIGN_OR_RETURN(Value v, Eval(*s.expr, scope));
  if (s.attr.empty()) return Bind(s.targets, v, scope.get(), s);
  Value ns = Lookup(s.targets[0], scope.get());
  if (!ns.is_namespace()) return Error(s, "cannot assign attribute on non-namespace object");
  ns.mutable_namespace().Set(s.attr, std::move(v));
  return Status::Ok();
}

// {% set x %}...{% endset %} and {% filter f %}...{% endfilter %}.
Status Evaluator::ExecBlockValue(const Stmt& s, const ScopePtr& scope, std::string* out) {
  auto frame = std::make_shared<Scope>();
  frame->parent = scope;
  std::string body;
  Flow flow = Flow::kNormal;
  PLEXUS_RETURN_IF_ERROR(ExecBody(s.body, frame, &body, &flow));
  Value v(body);
  if (s.expr) {
    const std::string* saved = block_body_;
    block_body_ = &body;
    auto filtered = Eval(*s.expr, scope);
    block_body_ = saved;
    if (!filtered.ok()) return filtered.status();
    v = std::move(filtered).value();
  }
  if (s.kind == Stmt::Kind::kFilterBlock) return Emit(v.Str(), out, s);
  scope->vars[s.targets[0]] = std::move(v);
  return Status::Ok();
}

Status Evaluator::DefineMacro(const Stmt& s, const ScopePtr& scope) {
  std::weak_ptr<Scope> closure = scope;  // weak: the scope holds the macro
  scope->vars[s.text] = Value::Callable(s.text, [this, &s, closure](const CallArgs& args) {
    return CallMacro(s, closure, args);
  });
  return Status::Ok();
}

Result<Value> Evaluator::CallMacro(const Stmt& macro, const std::weak_ptr<Scope>& closure, const CallArgs& args) {
  const std::string name = macro.text.empty() ? "caller" : macro.text;
  DepthGuard guard(this);
  if (guard.too_deep()) return Error(macro, fmt::format("macro '{}': recursion too deep", name));
  ScopePtr parent = closure.lock();
  if (!parent) return Error(macro, fmt::format("macro '{}' called after its scope ended", name));
  if (args.positional.size() > macro.params.size()) {
    return Status::Error(fmt::format("macro '{}' takes not more than {} argument(s)", name, macro.params.size()));
  }
  auto frame = std::make_shared<Scope>();
  frame->parent = parent;
  for (const auto& [arg, value] : args.named) {
    bool known = arg == "caller";
    for (const MacroParam& p : macro.params) known = known || p.name == arg;
    if (!known) return Status::Error(fmt::format("macro '{}' takes no keyword argument '{}'", name, arg));
    frame->vars[arg] = value;
  }
  for (size_t i = 0; i < macro.params.size(); ++i) {
    const MacroParam& p = macro.params[i];
    if (i < args.positional.size()) {
      frame->vars[p.name] = args.positional[i];
    } else if (!frame->vars.count(p.name)) {
      Value v = Value::Undefined(fmt::format("parameter '{}' was not provided", p.name));
      if (p.default_value) {
        PLEXUS_ASSIGN_OR_RETURN(v, Eval(*p.default_value, frame));
      }
      frame->vars[p.name] = std::move(v);
    }
  }
  std::string out;
  Flow flow = Flow::kNormal;
  PLEXUS_RETURN_IF_ERROR(ExecBody(macro.body, frame, &out, &flow));
  return Value(std::move(out));
}

// {% call(params) m(args) %}body{% endcall %}: m gets `caller`, which
// renders the body.
Status Evaluator::ExecCallBlock(const Stmt& s, const ScopePtr& scope, std::string* out) {
  std::weak_ptr<Scope> weak = scope;
  Value caller = Value::Callable("caller", [this, &s, weak](const CallArgs& args) {
    return CallMacro(s, weak, args);  // the block's params and body act as a macro
  });
  const Expr& call = *s.expr;
  PLEXUS_ASSIGN_OR_RETURN(Value callee, Eval(*call.children[0], scope));
  if (!callee.is_callable()) return Error(call, "{% call %} needs a macro");
  CallArgs args;
  PLEXUS_RETURN_IF_ERROR(EvalArgs(call.args, scope, &args));
  args.named.emplace_back("caller", std::move(caller));
  auto result = callee.callable()(args);
  if (!result.ok()) return Locate(result.status(), call.line, call.column);
  return Emit(result->Str(), out, s);
}

}  // namespace plexus::tmpl
