// The tables of built-in filters (`x|trim`), tests (`x is defined`), methods
// (`s.strip()`, `d.items()`) and globals (`raise_exception`, `namespace`),
// each following what jinja2 and Python do for the same name. Errors are
// returned as plain messages; the evaluator adds the template position.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/value.h"

namespace plexus::tmpl {

// Bounds on what one render may build, so hostile templates fail cleanly.
struct Limits {
  size_t max_bytes = 0;   // any one string, and the whole output
  int64_t max_items = 0;  // any one list, and the loop iterations of a render
};

using FilterFn = Result<Value> (*)(const Value& input, const CallArgs& args, const Limits& limits);
using TestFn = Result<bool> (*)(const Value& input, const CallArgs& args);

FilterFn FindFilter(std::string_view name);  // nullptr when unknown
TestFn FindTest(std::string_view name);      // nullptr when unknown

// A method bound to `self` (`"a b".split`, `{}.items`), or undefined when the
// type has no such method.
Value FindMethod(const Value& self, std::string_view name, const Limits& limits);

// The template globals: raise_exception, strftime_now (UTC at `now_unix`
// when set, else local time now), namespace, range, dict.
ObjectMap MakeGlobals(std::optional<int64_t> now_unix, const Limits& limits);

// Binds call arguments to parameter names, Python style: positional first,
// then by keyword. Missing ones are left undefined.
Result<std::vector<Value>> BindArgs(const CallArgs& args, std::string_view fn,
                                    std::initializer_list<std::string_view> names);

// Values a for loop, `list` or `join` iterates: list items, dict keys, string
// code points, nothing for undefined; an error for anything else.
Result<Value::List> Iterate(const Value& v);

// Python `len()`.
Result<int64_t> Length(const Value& v);

// Attribute and item lookup as jinja2 does them: `x.name` tries a method
// then a key; `x[key]` tries a key (or index) then a method. Missing gives
// undefined. The caller handles an undefined `obj` (an error in jinja2).
Value GetAttr(const Value& obj, std::string_view name, const Limits& limits);
Value GetItem(const Value& obj, const Value& key, const Limits& limits);

// An error message when `bytes` exceeds the limit.
Status CheckSize(size_t bytes, const Limits& limits);

}  // namespace plexus::tmpl
