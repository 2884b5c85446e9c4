// Value: what a chat template computes with. Mirrors the Python objects jinja2
// sees when Hugging Face renders a template: None, bool, int, float, str, list,
// dict (insertion-ordered), callables (macros, builtins, bound methods),
// jinja2's Undefined and namespace().
//
// Arrays and objects are immutable once built and shared by pointer, so copying
// a Value is cheap. The one mutable kind is a namespace, which `set ns.x = ...`
// changes in place (as in jinja2, it is shared by reference).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace plexus::tmpl {

class Value;

// Arguments of a call: positional first, then keyword (name=value).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
};

// A callable returns a value or an error message (no tag, no line: the
// evaluator adds those where the call happened).
using NativeFn = std::function<Result<Value>(const CallArgs&)>;

// Insertion-ordered string-keyed map, like a Python dict built from JSON.
class ObjectMap {
 public:
  const Value* Find(std::string_view key) const;
  void Set(std::string key, Value value);  // replaces in place, or appends
  size_t size() const { return entries_.size(); }
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kArray, kObject, kNamespace, kCallable };
  using List = std::vector<Value>;

  Value() = default;  // undefined
  Value(bool b) : kind_(Kind::kBool), int_(b) {}  // NOLINT: implicit by design
  Value(int64_t i) : kind_(Kind::kInt), int_(i) {}  // NOLINT
  Value(int i) : kind_(Kind::kInt), int_(i) {}  // NOLINT
  Value(double d) : kind_(Kind::kFloat), float_(d) {}  // NOLINT
  Value(std::string s);  // NOLINT
  Value(std::string_view s) : Value(std::string(s)) {}  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}  // NOLINT

  static Value None();
  // An undefined value; `hint` says why ("'x' is undefined"), for errors.
  static Value Undefined(std::string hint = {});
  static Value FromArray(List items);
  static Value FromObject(ObjectMap map);
  static Value Array() { return FromArray({}); }   // empty list
  static Value Object() { return FromObject({}); }  // empty dict
  static Value Namespace(ObjectMap map);
  static Value Callable(std::string name, NativeFn fn);
  // jinja2's Markup (what `|safe` and `|escape` return): adding a plain
  // string to it HTML-escapes that string. Everything else treats it as str.
  static Value Markup(std::string s);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_mapping() const { return kind_ == Kind::kObject || kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }  // also bools (Python: True == 1)
  double as_double() const { return kind_ == Kind::kFloat ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return *string_; }
  const List& as_array() const { return *array_; }
  const ObjectMap& as_object() const { return *object_; }
  ObjectMap& mutable_namespace() const { return *object_; }
  const std::string& callable_name() const { return *string_; }
  const NativeFn& callable() const { return *fn_; }
  const std::string& undefined_hint() const { return *string_; }

  // Python truthiness.
  bool Truthy() const;
  // Python str(): what `{{ x }}` prints. Undefined prints as "".
  std::string Str() const;
  // Python repr(): how a value prints inside a list or dict.
  std::string Repr() const;
  // Type name for error messages, as Python spells it ("str", "list", "dict").
  const char* TypeName() const;

  // Builders for callers that assemble a context by hand.
  Value& Set(std::string key, Value value);  // object only; returns *this
  Value& Append(Value value);                // array only; returns *this

 private:
  Kind kind_ = Kind::kUndefined;
  bool markup_ = false;
  int64_t int_ = 0;
  double float_ = 0;
  std::shared_ptr<std::string> string_;  // string, callable name, undefined hint
  std::shared_ptr<List> array_;
  std::shared_ptr<ObjectMap> object_;
  std::shared_ptr<NativeFn> fn_;
};

// Python == between two values (1 == 1.0 == True; lists and dicts by content;
// undefined equals only undefined).
bool Equals(const Value& a, const Value& b);
// Python < for numbers, strings and lists; error text for anything else.
Result<bool> Less(const Value& a, const Value& b);

// Python float repr: "1.0", "0.1", "1e-07", "1e+16", "inf", "nan".
std::string FormatFloat(double d);

// json.dumps as transformers' tojson calls it (ensure_ascii=False, no HTML
// escaping). indent < 0 means none; separators default as Python's do.
struct JsonOptions {
  int indent = -1;
  std::string indent_text;  // used when non-empty (indent given as a string)
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_separator;  // empty: ", " without indent, "," with
  std::string key_separator = ": ";
};
Result<std::string> ToJson(const Value& v, const JsonOptions& options);

}  // namespace plexus::tmpl
