// Expression evaluation: Python semantics for operators, jinja2's for
// undefined values (falsy, print as "", iterate as empty; an error when used
// as a number, called, or looked into).
#include <algorithm>
#include <climits>
#include <cmath>

#include "template/eval.h"
#include "template/text.h"

namespace plexus::tmpl {
namespace {

Status UndefinedError(const Value& v) {
  return Status::Error(v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint());
}

Status OperandError(std::string_view op, const Value& a, const Value& b) {
  return Status::Error(
      fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.TypeName(), b.TypeName()));
}

Result<Value> IntOp(char op, int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflow = false;
  switch (op) {
    case '+': overflow = __builtin_add_overflow(a, b, &r); break;
    case '-': overflow = __builtin_sub_overflow(a, b, &r); break;
    case '*': overflow = __builtin_mul_overflow(a, b, &r); break;
    case '/':  // floor division
      if (b == 0) return Status::Error("integer division or modulo by zero");
      if (a == INT64_MIN && b == -1) return Status::Error("integer overflow");
      r = a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
      break;
    case '%':
      if (b == 0) return Status::Error("integer division or modulo by zero");
      if (b == -1) return Value(int64_t{0});
      r = a % b;
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      break;
  }
  if (overflow) return Status::Error("integer overflow");
  return Value(r);
}

Result<Value> Power(const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float() && b.as_int() >= 0) {
    int64_t result = 1, base = a.as_int();
    for (int64_t e = b.as_int(); e > 0; --e) {
      if (__builtin_mul_overflow(result, base, &result)) return Status::Error("integer overflow");
      if (result == 0 || result == 1) break;
    }
    return Value(result);
  }
  if (a.as_double() == 0 && b.as_double() < 0) return Status::Error("0.0 cannot be raised to a negative power");
  return Value(std::pow(a.as_double(), b.as_double()));
}

// s * n or list * n.
Result<Value> Repeat(const Value& seq, int64_t n, const Limits& limits) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    size_t len = seq.as_string().size();
    if (len == 0) return Value("");
    if (n > 0 && len > limits.max_bytes / n) return CheckSize(limits.max_bytes + 1, limits);
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return Value(std::move(out));
  }
  if (seq.as_array().empty()) return Value::Array();
  if (n > 0 && seq.as_array().size() > static_cast<size_t>(limits.max_items / n)) {
    return Status::Error("list too long");
  }
  Value::List out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.as_array().begin(), seq.as_array().end());
  return Value::FromArray(std::move(out));
}

Result<Value> Arithmetic(const std::string& op, const Value& a, const Value& b, const Limits& limits) {
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  const bool numbers = a.is_number() && b.is_number();
  const bool floats = numbers && (a.is_float() || b.is_float());
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      if (a.is_markup() || b.is_markup()) {  // Markup + str escapes the str
        FilterFn escape = FindFilter("escape");
        PLEXUS_ASSIGN_OR_RETURN(Value x, escape(a, {}, limits));
        PLEXUS_ASSIGN_OR_RETURN(Value y, escape(b, {}, limits));
        PLEXUS_RETURN_IF_ERROR(CheckSize(x.as_string().size() + y.as_string().size(), limits));
        return Value::Markup(x.as_string() + y.as_string());
      }
      PLEXUS_RETURN_IF_ERROR(CheckSize(a.as_string().size() + b.as_string().size(), limits));
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_array() && b.is_array()) {
      Value::List out = a.as_array();
      out.insert(out.end(), b.as_array().begin(), b.as_array().end());
      if (static_cast<int64_t>(out.size()) > limits.max_items) return Status::Error("list too long");
      return Value::FromArray(std::move(out));
    }
  }
  if (op == "*" && (a.is_string() || a.is_array()) && (b.is_int() || b.is_bool())) return Repeat(a, b.as_int(), limits);
  if (op == "*" && (b.is_string() || b.is_array()) && (a.is_int() || a.is_bool())) return Repeat(b, a.as_int(), limits);
  if (op == "%" && a.is_string()) return Status::Error("string formatting with '%' is not supported");
  if (!numbers) return OperandError(op, a, b);
  if (op == "**") return Power(a, b);
  if (op == "/") {
    if (b.as_double() == 0) return Status::Error("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (!floats) return IntOp(op == "//" ? '/' : op[0], a.as_int(), b.as_int());
  double x = a.as_double(), y = b.as_double();
  if ((op == "//" || op == "%") && y == 0) return Status::Error("float division by zero");
  if (op == "+") return Value(x + y);
  if (op == "-") return Value(x - y);
  if (op == "*") return Value(x * y);
  if (op == "//") return Value(std::floor(x / y));
  double r = std::fmod(x, y);  // Python: the result takes the divisor's sign
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return Value(r);
}

}  // namespace

Result<Value> Evaluator::Eval(const Expr& e, const ScopePtr& scope) {
  DepthGuard guard(this);
  if (guard.too_deep()) return Error(e, "template recursion too deep");
  auto r = EvalInner(e, scope);
  if (!r.ok()) return Locate(r.status(), e.line, e.column);
  return r;
}

Result<Value> Evaluator::EvalInner(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case Expr::Kind::kLiteral: return e.literal;
    case Expr::Kind::kName: return Lookup(e.name, scope.get());
    case Expr::Kind::kBlockBody: return block_body_ ? Value(*block_body_) : Value();
    case Expr::Kind::kList: {
      Value::List items;
      for (const ExprPtr& c : e.children) {
        PLEXUS_ASSIGN_OR_RETURN(Value v, Eval(*c, scope));
        items.push_back(std::move(v));
      }
      return Value::FromArray(std::move(items));
    }
    case Expr::Kind::kDict: {
      ObjectMap map;
      for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
        PLEXUS_ASSIGN_OR_RETURN(Value key, Eval(*e.children[i], scope));
        PLEXUS_ASSIGN_OR_RETURN(Value value, Eval(*e.children[i + 1], scope));
        if (!key.is_string()) return Status::Error("dict keys must be strings");
        map.Set(key.as_string(), std::move(value));
      }
      return Value::FromObject(std::move(map));
    }
    case Expr::Kind::kAttr:
    case Expr::Kind::kIndex: {
      PLEXUS_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
      if (obj.is_undefined()) return UndefinedError(obj);
      if (e.kind == Expr::Kind::kAttr) return GetAttr(obj, e.name, limits_);
      PLEXUS_ASSIGN_OR_RETURN(Value key, Eval(*e.children[1], scope));
      return GetItem(obj, key, limits_);
    }
    case Expr::Kind::kSlice: return EvalSlice(e, scope);
    case Expr::Kind::kUnary: {
      PLEXUS_ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], scope));
      if (e.name == "not") return Value(!v.Truthy());
      if (v.is_undefined()) return UndefinedError(v);
      if (!v.is_number()) return Status::Error(fmt::format("bad operand type for unary {}: '{}'", e.name, v.TypeName()));
      if (e.name == "+") return v.is_float() ? v : Value(v.as_int());
      return v.is_float() ? Value(-v.as_double()) : IntOp('-', 0, v.as_int());
    }
    case Expr::Kind::kBinary: return EvalBinary(e, scope);
    case Expr::Kind::kCond: {
      PLEXUS_ASSIGN_OR_RETURN(Value cond, Eval(*e.children[1], scope));
      if (cond.Truthy()) return Eval(*e.children[0], scope);
      if (e.children[2]) return Eval(*e.children[2], scope);
      return Value::Undefined("the conditional expression had no else branch");
    }
    case Expr::Kind::kFilter: return EvalFilter(e, scope);
    case Expr::Kind::kTest: return EvalTest(e, scope);
    case Expr::Kind::kCall: return EvalCall(e, scope);
  }
  return Status::Error("unknown expression");
}

Result<Value> Evaluator::EvalBinary(const Expr& e, const ScopePtr& scope) {
  const std::string& op = e.name;
  PLEXUS_ASSIGN_OR_RETURN(Value a, Eval(*e.children[0], scope));
  if (op == "and" && !a.Truthy()) return a;  // Python returns the deciding operand
  if (op == "or" && a.Truthy()) return a;
  PLEXUS_ASSIGN_OR_RETURN(Value b, Eval(*e.children[1], scope));
  if (op == "and" || op == "or") return b;
  if (op == "==") return Value(Equals(a, b));
  if (op == "!=") return Value(!Equals(a, b));
  if (op == "in" || op == "not in") {
    if (!b.is_string() && !b.is_mapping() && !b.is_array() && !b.is_undefined()) {
      return Status::Error(fmt::format("argument of type '{}' is not iterable", b.TypeName()));
    }
    PLEXUS_ASSIGN_OR_RETURN(bool found, FindTest("in")(a, CallArgs{{b}, {}}));
    return Value(found != (op == "not in"));
  }
  if (op == "~") {
    std::string s = a.Str() + b.Str();
    PLEXUS_RETURN_IF_ERROR(CheckSize(s.size(), limits_));
    return Value(std::move(s));
  }
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    if (a.is_undefined()) return UndefinedError(a);
    if (b.is_undefined()) return UndefinedError(b);
    PLEXUS_ASSIGN_OR_RETURN(bool result, FindTest(op)(a, CallArgs{{b}, {}}));
    return Value(result);
  }
  return Arithmetic(op, a, b, limits_);
}

// Python slicing x[start:stop:step] of a list or a string (by code point).
Result<Value> Evaluator::EvalSlice(const Expr& e, const ScopePtr& scope) {
  PLEXUS_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
  if (obj.is_undefined()) return UndefinedError(obj);
  if (!obj.is_array() && !obj.is_string()) return Status::Error(fmt::format("'{}' object is not subscriptable", obj.TypeName()));
  int64_t bounds[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  for (int i = 0; i < 3; ++i) {
    if (!e.children[i + 1]) continue;
    PLEXUS_ASSIGN_OR_RETURN(Value v, Eval(*e.children[i + 1], scope));
    if (v.is_none()) continue;
    if (!v.is_int() && !v.is_bool()) return Status::Error("slice indices must be integers or None");
    bounds[i] = v.as_int(), given[i] = true;
  }
  const int64_t step = bounds[2];
  if (step == 0) return Status::Error("slice step cannot be zero");
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(obj));
  const int64_t n = static_cast<int64_t>(items.size());
  auto clamp = [&](int64_t v, bool is_given, int64_t fallback) {
    if (!is_given) return fallback;
    if (v < 0) v += n;
    return step > 0 ? std::clamp<int64_t>(v, 0, n) : std::clamp<int64_t>(v, -1, n - 1);
  };
  int64_t start = clamp(bounds[0], given[0], step > 0 ? 0 : n - 1);
  int64_t stop = clamp(bounds[1], given[1], step > 0 ? n : -1);
  Value::List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(items[i]);
  if (obj.is_array()) return Value::FromArray(std::move(out));
  std::string s;
  for (const Value& cp : out) s += cp.as_string();
  return Value(std::move(s));
}

Status Evaluator::EvalArgs(const std::vector<Arg>& args, const ScopePtr& scope, CallArgs* out) {
  for (const Arg& a : args) {
    PLEXUS_ASSIGN_OR_RETURN(Value v, Eval(*a.value, scope));
    if (a.name.empty()) out->positional.push_back(std::move(v));
    else out->named.emplace_back(a.name, std::move(v));
  }
  return Status::Ok();
}

Result<Value> Evaluator::EvalFilter(const Expr& e, const ScopePtr& scope) {
  FilterFn filter = FindFilter(e.name);
  if (filter == nullptr) return Status::Error(fmt::format("unknown filter '{}'", e.name));
  PLEXUS_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
  CallArgs args;
  PLEXUS_RETURN_IF_ERROR(EvalArgs(e.args, scope, &args));
  return filter(input, args, limits_);
}

Result<Value> Evaluator::EvalTest(const Expr& e, const ScopePtr& scope) {
  TestFn test = FindTest(e.name);
  if (test == nullptr) return Status::Error(fmt::format("unknown test '{}'", e.name));
  PLEXUS_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
  CallArgs args;
  PLEXUS_RETURN_IF_ERROR(EvalArgs(e.args, scope, &args));
  PLEXUS_ASSIGN_OR_RETURN(bool result, test(input, args));
  return Value(result != e.negated);
}

Result<Value> Evaluator::EvalCall(const Expr& e, const ScopePtr& scope) {
  PLEXUS_ASSIGN_OR_RETURN(Value callee, Eval(*e.children[0], scope));
  if (callee.is_undefined()) return UndefinedError(callee);
  if (!callee.is_callable()) return Status::Error(fmt::format("'{}' object is not callable", callee.TypeName()));
  CallArgs args;
  PLEXUS_RETURN_IF_ERROR(EvalArgs(e.args, scope, &args));
  return callee.callable()(args);
}

}  // namespace plexus::tmpl
