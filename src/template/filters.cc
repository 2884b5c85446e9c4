// Built-in filters, one small function each, looked up by name in a table.
// Each follows jinja2's filter of the same name (and tojson follows
// transformers' override: no HTML escaping, ensure_ascii=False).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "template/builtins.h"
#include "template/text.h"

namespace plexus::tmpl {
namespace {

using Args = std::vector<Value>;

Result<Value> Trim(const Value& in, const CallArgs& call, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "trim", {"chars"}));
  const std::string s = in.Str();
  if (a[0].is_string()) return Value(PyStrip(s, true, true, &a[0].as_string()));
  return Value(PyStrip(s, true, true));
}

Result<Value> Lower(const Value& in, const CallArgs&, const Limits&) { return Value(AsciiLower(in.Str())); }
Result<Value> Upper(const Value& in, const CallArgs&, const Limits&) { return Value(AsciiUpper(in.Str())); }
Result<Value> Safe(const Value& in, const CallArgs&, const Limits&) { return Value::Markup(in.Str()); }
Result<Value> String(const Value& in, const CallArgs&, const Limits&) { return Value(in.Str()); }

Result<Value> Capitalize(const Value& in, const CallArgs&, const Limits&) {
  std::string s = AsciiLower(in.Str());
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return Value(std::move(s));
}

// jinja2's title: words start after whitespace, '-', '(', '{', '[' or '<'.
Result<Value> Title(const Value& in, const CallArgs&, const Limits&) {
  std::string s = in.Str();
  bool word_start = true;
  for (char& c : s) {
    bool sep = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '-' ||
               c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      word_start = true;
      continue;
    }
    c = word_start ? AsciiUpper(std::string(1, c))[0] : AsciiLower(std::string(1, c))[0];
    word_start = false;
  }
  return Value(std::move(s));
}

Result<Value> Length(const Value& in, const CallArgs&, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(int64_t n, Length(in));
  return Value(n);
}

Result<Value> Default(const Value& in, const CallArgs& call, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "default", {"default_value", "boolean"}));
  Value fallback = a[0].is_undefined() ? Value("") : a[0];
  if (in.is_undefined() || (a[1].Truthy() && !in.Truthy())) return fallback;
  return in;
}

Result<Value> Items(const Value& in, const CallArgs&, const Limits&) {
  if (in.is_undefined()) return Value::Array();
  if (!in.is_mapping()) return Status::Error("Can only get item pairs from a mapping.");
  Value::List pairs;
  for (const auto& [k, v] : in.as_object().entries()) pairs.push_back(Value::FromArray({Value(k), v}));
  return Value::FromArray(std::move(pairs));
}

Result<Value> List(const Value& in, const CallArgs&, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  return Value::FromArray(std::move(items));
}

Result<Value> First(const Value& in, const CallArgs&, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  return items.empty() ? Value::Undefined("No first item, sequence was empty.") : items.front();
}

Result<Value> Last(const Value& in, const CallArgs&, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  return items.empty() ? Value::Undefined("No last item, sequence was empty.") : items.back();
}

Result<Value> Reverse(const Value& in, const CallArgs&, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  std::reverse(items.begin(), items.end());
  if (!in.is_string()) return Value::FromArray(std::move(items));
  std::string s;
  for (const Value& cp : items) s += cp.as_string();
  return Value(std::move(s));
}

// A path like "a.b.0" looked up item-first, as jinja2's attribute getters do.
Value LookupPath(const Value& item, const std::string& path, const Limits& limits) {
  Value v = item;
  static const std::string kDot = ".";
  for (const std::string& part : PySplit(path, &kDot, -1)) {
    if (v.is_undefined()) return v;
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = GetItem(v, numeric && part.size() < 18 ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part), limits);
  }
  return v;
}

Result<Value> Join(const Value& in, const CallArgs& call, const Limits& limits) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "join", {"d", "attribute"}));
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  std::string sep = a[0].is_undefined() ? "" : a[0].Str(), out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += (a[1].is_undefined() ? items[i] : LookupPath(items[i], a[1].Str(), limits)).Str();
    PLEXUS_RETURN_IF_ERROR(CheckSize(out.size(), limits));
  }
  return Value(std::move(out));
}

Result<Value> Replace(const Value& in, const CallArgs& call, const Limits& limits) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "replace", {"old", "new", "count"}));
  std::string s = in.Str(), from = a[0].Str(), to = a[1].Str();
  int64_t count = a[2].is_int() ? a[2].as_int() : -1;
  size_t hits = from.empty() ? CodePointCount(s) + 1 : 0;
  for (size_t p = from.empty() ? std::string::npos : s.find(from); p != std::string::npos; p = s.find(from, p + from.size())) ++hits;
  PLEXUS_RETURN_IF_ERROR(CheckSize(s.size() + hits * to.size(), limits));
  return Value(PyReplace(s, from, to, count));
}

Result<Value> Indent(const Value& in, const CallArgs& call, const Limits& limits) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "indent", {"width", "first", "blank"}));
  std::string pad;
  if (a[0].is_string()) {
    pad = a[0].as_string();
  } else {
    int64_t width = a[0].is_undefined() ? 4 : a[0].as_int();
    PLEXUS_RETURN_IF_ERROR(CheckSize(width < 0 ? 0 : width, limits));
    pad.assign(width < 0 ? 0 : width, ' ');
  }
  std::vector<std::string> lines = PySplitLines(in.Str() + "\n");
  PLEXUS_RETURN_IF_ERROR(CheckSize(in.Str().size() + lines.size() * pad.size(), limits));
  std::string out = lines.empty() ? "" : lines[0];
  for (size_t i = 1; i < lines.size(); ++i) {
    out += '\n';
    if (a[2].Truthy() || !lines[i].empty()) out += pad;
    out += lines[i];
  }
  if (a[1].Truthy()) out = pad + out;
  return Value(std::move(out));
}

// transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Result<Value> ToJsonFilter(const Value& in, const CallArgs& call, const Limits& limits) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonOptions options;
  options.ensure_ascii = a[0].Truthy();
  if (a[1].is_string()) options.indent_text = a[1].as_string();
  if (a[1].is_int()) options.indent = static_cast<int>(std::clamp<int64_t>(a[1].as_int(), 0, 64));
  if (a[2].is_array() && a[2].as_array().size() == 2) {
    options.item_separator = a[2].as_array()[0].Str();
    options.key_separator = a[2].as_array()[1].Str();
    if (options.item_separator.empty()) return Status::Error("tojson: empty item separator is not supported");
  }
  options.sort_keys = a[3].Truthy();
  PLEXUS_ASSIGN_OR_RETURN(std::string json, ToJson(in, options));
  PLEXUS_RETURN_IF_ERROR(CheckSize(json.size(), limits));
  return Value(std::move(json));
}

Result<bool> ApplyTest(const Value& item, const std::string& name, const CallArgs& args) {
  TestFn test = FindTest(name);
  if (test == nullptr) return Status::Error(fmt::format("unknown test '{}'", name));
  return test(item, args);
}

// select/reject (on items) and selectattr/rejectattr (on an attribute of each).
Result<Value> SelectImpl(const Value& in, const CallArgs& call, const Limits& limits, bool keep, bool by_attr) {
  if (!in.Truthy()) return Value::Array();  // jinja2 yields nothing for a falsy input, None included
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  size_t first_arg = by_attr ? 1 : 0;
  if (by_attr && call.positional.empty()) return Status::Error("selectattr/rejectattr need an attribute name");
  CallArgs test_args;
  for (size_t i = first_arg + 1; i < call.positional.size(); ++i) test_args.positional.push_back(call.positional[i]);
  test_args.named = call.named;
  Value::List out;
  for (const Value& item : items) {
    Value subject = by_attr ? LookupPath(item, call.positional[0].Str(), limits) : item;
    bool pass = subject.Truthy();
    if (call.positional.size() > first_arg) {
      PLEXUS_ASSIGN_OR_RETURN(pass, ApplyTest(subject, call.positional[first_arg].Str(), test_args));
    }
    if (pass == keep) out.push_back(item);
  }
  return Value::FromArray(std::move(out));
}

Result<Value> Select(const Value& in, const CallArgs& c, const Limits& l) { return SelectImpl(in, c, l, true, false); }
Result<Value> Reject(const Value& in, const CallArgs& c, const Limits& l) { return SelectImpl(in, c, l, false, false); }
Result<Value> SelectAttr(const Value& in, const CallArgs& c, const Limits& l) { return SelectImpl(in, c, l, true, true); }
Result<Value> RejectAttr(const Value& in, const CallArgs& c, const Limits& l) { return SelectImpl(in, c, l, false, true); }

// map(attribute="x", default=...) or map("filter", args...).
Result<Value> Map(const Value& in, const CallArgs& call, const Limits& limits) {
  if (!in.Truthy()) return Value::Array();  // as select: None maps to nothing
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  const Value* attribute = nullptr;
  const Value* fallback = nullptr;
  CallArgs rest;
  for (const auto& [name, value] : call.named) {
    if (name == "attribute") attribute = &value;
    else if (name == "default") fallback = &value;
    else rest.named.emplace_back(name, value);
  }
  FilterFn filter = nullptr;
  if (attribute == nullptr) {
    if (call.positional.empty()) return Status::Error("map needs a filter name or attribute=");
    filter = FindFilter(call.positional[0].Str());
    if (filter == nullptr) return Status::Error(fmt::format("unknown filter '{}'", call.positional[0].Str()));
    rest.positional.assign(call.positional.begin() + 1, call.positional.end());
  }
  for (Value& item : items) {
    if (attribute != nullptr) {
      item = LookupPath(item, attribute->Str(), limits);
      if (item.is_undefined() && fallback != nullptr) item = *fallback;
    } else {
      PLEXUS_ASSIGN_OR_RETURN(item, filter(item, rest, limits));
    }
  }
  return Value::FromArray(std::move(items));
}

// Compare key for unique/sort: strings fold case unless case_sensitive.
Value SortKey(const Value& item, const Value& attribute, bool case_sensitive, const Limits& limits) {
  Value v = attribute.is_undefined() ? item : LookupPath(item, attribute.Str(), limits);
  return (!case_sensitive && v.is_string()) ? Value(AsciiLower(v.as_string())) : v;
}

Result<Value> Unique(const Value& in, const CallArgs& call, const Limits& limits) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "unique", {"case_sensitive", "attribute"}));
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  Value::List out, seen;
  for (const Value& item : items) {
    Value key = SortKey(item, a[1], a[0].Truthy(), limits);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); })) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::FromArray(std::move(out));
}

Result<Value> Sort(const Value& in, const CallArgs& call, const Limits& limits) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "sort", {"reverse", "case_sensitive", "attribute"}));
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items) keyed.emplace_back(SortKey(item, a[2], a[1].Truthy(), limits), std::move(item));
  Status error;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    auto less = a[0].Truthy() ? Less(y.first, x.first) : Less(x.first, y.first);
    if (!less.ok()) error = less.status();
    return less.ok() && less.value();
  });
  PLEXUS_RETURN_IF_ERROR(error);
  items.clear();
  for (auto& [key, item] : keyed) items.push_back(std::move(item));
  return Value::FromArray(std::move(items));
}

Result<Value> Int(const Value& in, const CallArgs& call, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "int", {"default", "base"}));
  Value fallback = a[0].is_undefined() ? Value(0) : a[0];
  if (in.is_int() || in.is_bool()) return Value(in.as_int());
  if (in.is_float()) return std::isfinite(in.as_double()) ? Value(static_cast<int64_t>(in.as_double())) : fallback;
  if (!in.is_string()) return fallback;
  std::string s(PyStrip(in.as_string(), true, true));
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (!s.empty() && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(i));
  double d = std::strtod(s.c_str(), &end);
  if (!s.empty() && *end == '\0' && std::isfinite(d) && std::fabs(d) < 9e18) return Value(static_cast<int64_t>(d));
  return fallback;
}

Result<Value> Float(const Value& in, const CallArgs& call, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "float", {"default"}));
  Value fallback = a[0].is_undefined() ? Value(0.0) : a[0];
  if (in.is_number()) return Value(in.as_double());
  if (!in.is_string()) return fallback;
  std::string s(PyStrip(in.as_string(), true, true));
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  return (!s.empty() && *end == '\0') ? Value(d) : fallback;
}

Result<Value> Abs(const Value& in, const CallArgs&, const Limits&) {
  if (in.is_int() || in.is_bool()) return Value(in.as_int() < 0 ? -in.as_int() : in.as_int());
  if (in.is_float()) return Value(std::fabs(in.as_double()));
  return Status::Error(fmt::format("bad operand type for abs(): '{}'", in.TypeName()));
}

// round(value, precision=0, method='common'): Python's round (half to even)
// for 'common', floor/ceil otherwise; always a float.
Result<Value> Round(const Value& in, const CallArgs& call, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "round", {"precision", "method"}));
  if (!in.is_number()) return Status::Error(fmt::format("type {} doesn't define __round__", in.TypeName()));
  double scale = std::pow(10.0, a[0].is_int() ? static_cast<double>(a[0].as_int()) : 0.0);
  double x = in.as_double() * scale;
  std::string method = a[1].is_undefined() ? "common" : a[1].Str();
  if (method == "floor") x = std::floor(x);
  else if (method == "ceil") x = std::ceil(x);
  else if (method == "common") x = std::nearbyint(x);
  else return Status::Error("round: method must be 'common', 'ceil' or 'floor'");
  if (in.is_int() && method == "common") return Value(in.as_int());  // Python: round(int, n) is an int
  return Value(x / scale);
}

Result<Value> WordCount(const Value& in, const CallArgs&, const Limits&) {
  std::string s = in.Str();
  int64_t words = 0;
  bool in_word = false;
  for (size_t pos = 0; pos < s.size();) {
    size_t len = 0;
    uint32_t cp = DecodeUtf8(s, pos, &len);
    bool word = cp == '_' || (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || cp >= 0x80;
    if (word && !in_word) ++words;
    in_word = word;
    pos += len;
  }
  return Value(words);
}

Result<Value> Escape(const Value& in, const CallArgs&, const Limits& limits) {
  if (in.is_markup()) return in;
  std::string out;
  for (char c : in.Str()) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  PLEXUS_RETURN_IF_ERROR(CheckSize(out.size(), limits));
  return Value::Markup(std::move(out));
}

Result<Value> Sum(const Value& in, const CallArgs& call, const Limits& limits) {
  PLEXUS_ASSIGN_OR_RETURN(Args a, BindArgs(call, "sum", {"attribute", "start"}));
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(in));
  bool is_float = a[1].is_float();
  int64_t i = a[1].is_undefined() ? 0 : a[1].as_int();
  double d = a[1].as_double();
  for (const Value& item : items) {
    Value v = a[0].is_undefined() ? item : LookupPath(item, a[0].Str(), limits);
    if (!v.is_number()) return Status::Error(fmt::format("unsupported operand type(s) for +: 'int' and '{}'", v.TypeName()));
    is_float = is_float || v.is_float();
    i += v.as_int(), d += v.as_double();
  }
  return is_float ? Value(d) : Value(i);
}

}  // namespace

FilterFn FindFilter(std::string_view name) {
  static const std::unordered_map<std::string_view, FilterFn> kFilters = {
      {"abs", Abs},         {"capitalize", Capitalize}, {"count", Length},    {"d", Default},
      {"default", Default}, {"e", Escape},              {"escape", Escape},   {"first", First},
      {"float", Float},     {"indent", Indent},         {"int", Int},         {"items", Items},
      {"join", Join},       {"last", Last},             {"length", Length},   {"list", List},
      {"lower", Lower},     {"map", Map},               {"reject", Reject},   {"rejectattr", RejectAttr},
      {"replace", Replace}, {"reverse", Reverse},       {"round", Round},     {"safe", Safe},
      {"select", Select},   {"selectattr", SelectAttr}, {"sort", Sort},       {"string", String},
      {"sum", Sum},         {"title", Title},           {"tojson", ToJsonFilter}, {"trim", Trim},
      {"unique", Unique},   {"upper", Upper},           {"wordcount", WordCount},
  };
  auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace plexus::tmpl
