// Built-in tests, Python methods on str and dict, attribute/item lookup and
// the template globals.
#include <ctime>
#include <unordered_map>

#include "template/builtins.h"
#include "template/text.h"

namespace plexus::tmpl {

Status CheckSize(size_t bytes, const Limits& limits) {
  if (bytes <= limits.max_bytes) return Status::Ok();
  return Status::Error(fmt::format("result too large ({} bytes, limit {})", bytes, limits.max_bytes));
}

Result<std::vector<Value>> BindArgs(const CallArgs& args, std::string_view fn,
                                    std::initializer_list<std::string_view> names) {
  std::vector<Value> out(names.size());
  if (args.positional.size() > names.size()) {
    return Status::Error(fmt::format("{}() takes at most {} argument(s), {} given", fn, names.size(),
                                     args.positional.size()));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) out[i] = args.positional[i];
  for (const auto& [name, value] : args.named) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) return Status::Error(fmt::format("{}() got an unexpected keyword argument '{}'", fn, name));
    out[it - names.begin()] = value;
  }
  return out;
}

Result<Value::List> Iterate(const Value& v) {
  Value::List items;
  if (v.is_array()) return v.as_array();
  if (v.is_object()) {
    for (const auto& [k, unused] : v.as_object().entries()) items.emplace_back(k);
  } else if (v.is_string()) {
    for (std::string& cp : CodePoints(v.as_string())) items.emplace_back(std::move(cp));
  } else if (!v.is_undefined()) {
    return Status::Error(fmt::format("'{}' object is not iterable", v.TypeName()));
  }
  return items;
}

Result<int64_t> Length(const Value& v) {
  if (v.is_string()) return static_cast<int64_t>(CodePointCount(v.as_string()));
  if (v.is_array()) return static_cast<int64_t>(v.as_array().size());
  if (v.is_object()) return static_cast<int64_t>(v.as_object().size());
  if (v.is_undefined()) return int64_t{0};
  return Status::Error(fmt::format("object of type '{}' has no len()", v.TypeName()));
}

namespace {

// ---- tests ----

Result<bool> ArgCompare(const Value& in, const CallArgs& args, std::string_view op) {
  if (args.positional.empty()) return Status::Error(fmt::format("test '{}' needs an argument", op));
  const Value& other = args.positional[0];
  if (op == "eq") return Equals(in, other);
  if (op == "ne") return !Equals(in, other);
  if (op == "lt") return Less(in, other);
  if (op == "gt") return Less(other, in);
  PLEXUS_ASSIGN_OR_RETURN(bool less, op == "le" ? Less(other, in) : Less(in, other));
  return !less;  // le: !(other < in); ge: !(in < other)
}

Result<bool> In(const Value& in, const CallArgs& args) {
  if (args.positional.empty()) return Status::Error("test 'in' needs an argument");
  const Value& seq = args.positional[0];
  if (seq.is_string()) {
    if (!in.is_string()) return Status::Error("'in <string>' requires string as left operand");
    return seq.as_string().find(in.as_string()) != std::string::npos;
  }
  if (seq.is_mapping()) return in.is_string() && seq.as_object().Find(in.as_string()) != nullptr;
  PLEXUS_ASSIGN_OR_RETURN(Value::List items, Iterate(seq));
  return std::any_of(items.begin(), items.end(), [&](const Value& x) { return Equals(x, in); });
}

template <bool (*F)(const Value&)>
Result<bool> Simple(const Value& in, const CallArgs&) {
  return F(in);
}

bool IsDefined(const Value& v) { return !v.is_undefined(); }
bool IsUndefined(const Value& v) { return v.is_undefined(); }
bool IsNone(const Value& v) { return v.is_none(); }
bool IsBoolean(const Value& v) { return v.is_bool(); }
bool IsTrue(const Value& v) { return v.is_bool() && v.as_bool(); }
bool IsFalse(const Value& v) { return v.is_bool() && !v.as_bool(); }
bool IsInteger(const Value& v) { return v.is_int(); }
bool IsFloat(const Value& v) { return v.is_float(); }
bool IsNumber(const Value& v) { return v.is_number(); }
bool IsString(const Value& v) { return v.is_string(); }
bool IsMapping(const Value& v) { return v.is_object(); }
bool IsIterable(const Value& v) { return v.is_array() || v.is_object() || v.is_string() || v.is_undefined(); }
bool IsSequence(const Value& v) { return IsIterable(v); }
bool IsCallable(const Value& v) { return v.is_callable() || v.is_undefined(); }
bool IsLower(const Value& v) { return v.is_string() && AsciiLower(v.as_string()) == v.as_string(); }
bool IsUpper(const Value& v) { return v.is_string() && AsciiUpper(v.as_string()) == v.as_string(); }

Result<bool> Odd(const Value& in, const CallArgs&) {
  if (!in.is_int() && !in.is_bool()) return Status::Error("test 'odd' needs an integer");
  return in.as_int() % 2 != 0;
}
Result<bool> Even(const Value& in, const CallArgs& a) {
  PLEXUS_ASSIGN_OR_RETURN(bool odd, Odd(in, a));
  return !odd;
}
Result<bool> DivisibleBy(const Value& in, const CallArgs& args) {
  if (!in.is_int() || args.positional.empty() || !args.positional[0].is_int() || args.positional[0].as_int() == 0) {
    return Status::Error("test 'divisibleby' needs two integers, the second non-zero");
  }
  return in.as_int() % args.positional[0].as_int() == 0;
}
Result<bool> Eq(const Value& in, const CallArgs& a) { return ArgCompare(in, a, "eq"); }
Result<bool> Ne(const Value& in, const CallArgs& a) { return ArgCompare(in, a, "ne"); }
Result<bool> Lt(const Value& in, const CallArgs& a) { return ArgCompare(in, a, "lt"); }
Result<bool> Le(const Value& in, const CallArgs& a) { return ArgCompare(in, a, "le"); }
Result<bool> Gt(const Value& in, const CallArgs& a) { return ArgCompare(in, a, "gt"); }
Result<bool> Ge(const Value& in, const CallArgs& a) { return ArgCompare(in, a, "ge"); }

// ---- methods ----

using MethodFn = Result<Value> (*)(const Value& self, const CallArgs& args, const Limits& limits);

Result<Value> StripImpl(const Value& self, const CallArgs& call, bool left, bool right) {
  PLEXUS_ASSIGN_OR_RETURN(auto a, BindArgs(call, "strip", {"chars"}));
  const std::string* chars = a[0].is_string() ? &a[0].as_string() : nullptr;
  return Value(PyStrip(self.as_string(), left, right, chars));
}
Result<Value> Strip(const Value& s, const CallArgs& c, const Limits&) { return StripImpl(s, c, true, true); }
Result<Value> LStrip(const Value& s, const CallArgs& c, const Limits&) { return StripImpl(s, c, true, false); }
Result<Value> RStrip(const Value& s, const CallArgs& c, const Limits&) { return StripImpl(s, c, false, true); }

Result<Value> Split(const Value& self, const CallArgs& call, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(auto a, BindArgs(call, "split", {"sep", "maxsplit"}));
  if (a[0].is_string() && a[0].as_string().empty()) return Status::Error("empty separator");
  Value::List parts;
  for (std::string& p : PySplit(self.as_string(), a[0].is_string() ? &a[0].as_string() : nullptr,
                                a[1].is_int() ? a[1].as_int() : -1)) {
    parts.emplace_back(std::move(p));
  }
  return Value::FromArray(std::move(parts));
}

Result<Value> AffixImpl(const Value& self, const CallArgs& call, bool prefix) {
  if (call.positional.empty()) return Status::Error("startswith/endswith need an argument");
  const Value& arg = call.positional[0];
  Value::List options = arg.is_array() ? arg.as_array() : Value::List{arg};
  const std::string& s = self.as_string();
  for (const Value& o : options) {
    if (!o.is_string()) return Status::Error("startswith/endswith need a string or a tuple of strings");
    const std::string& x = o.as_string();
    if (x.size() <= s.size() && s.compare(prefix ? 0 : s.size() - x.size(), x.size(), x) == 0) return Value(true);
  }
  return Value(false);
}
Result<Value> StartsWith(const Value& s, const CallArgs& c, const Limits&) { return AffixImpl(s, c, true); }
Result<Value> EndsWith(const Value& s, const CallArgs& c, const Limits&) { return AffixImpl(s, c, false); }

Result<Value> FilterAsMethod(const char* name, const Value& self, const CallArgs& call, const Limits& limits) {
  return FindFilter(name)(self, call, limits);
}
Result<Value> MUpper(const Value& s, const CallArgs& c, const Limits& l) { return FilterAsMethod("upper", s, c, l); }
Result<Value> MLower(const Value& s, const CallArgs& c, const Limits& l) { return FilterAsMethod("lower", s, c, l); }
Result<Value> MCapitalize(const Value& s, const CallArgs& c, const Limits& l) {
  return FilterAsMethod("capitalize", s, c, l);
}
Result<Value> MReplace(const Value& s, const CallArgs& c, const Limits& l) { return FilterAsMethod("replace", s, c, l); }

// str.title(): a letter after a non-letter is upper case, others lower case.
Result<Value> MTitle(const Value& self, const CallArgs&, const Limits&) {
  std::string s = self.as_string();
  bool prev_letter = false;
  for (char& c : s) {
    bool letter = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    if (letter) c = prev_letter ? AsciiLower(std::string(1, c))[0] : AsciiUpper(std::string(1, c))[0];
    prev_letter = letter;
  }
  return Value(std::move(s));
}

Result<Value> Find(const Value& self, const CallArgs& call, const Limits&) {
  if (call.positional.empty() || !call.positional[0].is_string()) return Status::Error("find() needs a string");
  size_t at = self.as_string().find(call.positional[0].as_string());
  if (at == std::string::npos) return Value(-1);
  return Value(static_cast<int64_t>(CodePointCount(std::string_view(self.as_string()).substr(0, at))));
}

Result<Value> JoinMethod(const Value& self, const CallArgs& call, const Limits& limits) {
  if (call.positional.size() != 1) return Status::Error("join() takes exactly one argument");
  CallArgs args{{self}, {}};
  return FindFilter("join")(call.positional[0], args, limits);
}

Result<Value> DictItems(const Value& self, const CallArgs&, const Limits& l) {
  return FindFilter("items")(self, {}, l);
}
Result<Value> DictKeys(const Value& self, const CallArgs&, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(Value::List keys, Iterate(self));
  return Value::FromArray(std::move(keys));
}
Result<Value> DictValues(const Value& self, const CallArgs&, const Limits&) {
  Value::List values;
  for (const auto& [k, v] : self.as_object().entries()) values.push_back(v);
  return Value::FromArray(std::move(values));
}
Result<Value> DictGet(const Value& self, const CallArgs& call, const Limits&) {
  PLEXUS_ASSIGN_OR_RETURN(auto a, BindArgs(call, "get", {"key", "default"}));
  const Value* found = a[0].is_string() ? self.as_object().Find(a[0].as_string()) : nullptr;
  if (found != nullptr) return *found;
  return a[1].is_undefined() ? Value::None() : a[1];
}

MethodFn FindMethodFn(const Value& self, std::string_view name) {
  static const std::unordered_map<std::string_view, MethodFn> kStr = {
      {"strip", Strip},      {"lstrip", LStrip},   {"rstrip", RStrip},           {"split", Split},
      {"startswith", StartsWith}, {"endswith", EndsWith}, {"upper", MUpper},     {"lower", MLower},
      {"title", MTitle},     {"capitalize", MCapitalize}, {"replace", MReplace}, {"find", Find},
      {"join", JoinMethod},
  };
  static const std::unordered_map<std::string_view, MethodFn> kDict = {
      {"items", DictItems}, {"keys", DictKeys}, {"values", DictValues}, {"get", DictGet}};
  const auto& table = self.is_string() ? kStr : kDict;
  if (!self.is_string() && !self.is_object()) return nullptr;
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace

TestFn FindTest(std::string_view name) {
  static const std::unordered_map<std::string_view, TestFn> kTests = {
      {"defined", Simple<IsDefined>}, {"undefined", Simple<IsUndefined>}, {"none", Simple<IsNone>},
      {"boolean", Simple<IsBoolean>}, {"true", Simple<IsTrue>},           {"false", Simple<IsFalse>},
      {"integer", Simple<IsInteger>}, {"float", Simple<IsFloat>},         {"number", Simple<IsNumber>},
      {"string", Simple<IsString>},   {"mapping", Simple<IsMapping>},     {"iterable", Simple<IsIterable>},
      {"sequence", Simple<IsSequence>}, {"callable", Simple<IsCallable>}, {"lower", Simple<IsLower>},
      {"upper", Simple<IsUpper>},     {"odd", Odd},                       {"even", Even},
      {"divisibleby", DivisibleBy},   {"eq", Eq},  {"equalto", Eq},  {"==", Eq},  {"ne", Ne},  {"!=", Ne},
      {"lt", Lt},  {"lessthan", Lt},  {"<", Lt},   {"le", Le},  {"<=", Le},  {"gt", Gt},  {"greaterthan", Gt},
      {">", Gt},   {"ge", Ge},        {">=", Ge},  {"in", In},  {"sameas", Eq},
  };
  auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

Value FindMethod(const Value& self, std::string_view name, const Limits& limits) {
  MethodFn fn = FindMethodFn(self, name);
  if (fn == nullptr) return Value::Undefined(fmt::format("'{}' object has no attribute '{}'", self.TypeName(), name));
  return Value::Callable(std::string(name), [self, fn, limits](const CallArgs& args) { return fn(self, args, limits); });
}

Value GetAttr(const Value& obj, std::string_view name, const Limits& limits) {
  if (obj.is_mapping()) {
    if (obj.is_object() && FindMethodFn(obj, name) != nullptr) return FindMethod(obj, name, limits);
    const Value* v = obj.as_object().Find(name);
    if (v != nullptr) return *v;
    return Value::Undefined(fmt::format("'{} object' has no attribute '{}'", obj.TypeName(), name));
  }
  return FindMethod(obj, name, limits);
}

Value GetItem(const Value& obj, const Value& key, const Limits& limits) {
  if ((obj.is_array() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    Value::List cps;
    if (obj.is_string()) cps = Iterate(obj).value();
    const Value::List& items = obj.is_array() ? obj.as_array() : cps;
    int64_t n = static_cast<int64_t>(items.size()), i = key.as_int();
    if (i < 0) i += n;
    if (i >= 0 && i < n) return items[i];
    return Value::Undefined(fmt::format("{} index {} out of range", obj.TypeName(), key.as_int()));
  }
  if (obj.is_mapping() && key.is_string()) {
    const Value* v = obj.as_object().Find(key.as_string());
    if (v != nullptr) return *v;
  }
  if (key.is_string()) return GetAttr(obj, key.as_string(), limits);
  return Value::Undefined(fmt::format("'{} object' has no item {}", obj.TypeName(), key.Repr()));
}

// ---- globals ----

namespace {

Result<Value> Strftime(const std::optional<int64_t>& now_unix, const CallArgs& call) {
  PLEXUS_ASSIGN_OR_RETURN(auto a, BindArgs(call, "strftime_now", {"format"}));
  std::string format = a[0].Str();
  if (format.size() > 256) return Status::Error("strftime_now: format too long");
  std::time_t t = now_unix ? static_cast<std::time_t>(*now_unix) : std::time(nullptr);
  std::tm tm{};
  if (now_unix) gmtime_r(&t, &tm);
  else localtime_r(&t, &tm);
  std::string out(4096, '\0');
  size_t n = format.empty() ? 0 : std::strftime(out.data(), out.size(), format.c_str(), &tm);
  out.resize(n);
  return Value(std::move(out));
}

Result<Value> Range(const CallArgs& call, const Limits& limits) {
  std::vector<int64_t> v;
  for (const Value& a : call.positional) {
    if (!a.is_int() && !a.is_bool()) return Status::Error("range() needs integers");
    v.push_back(a.as_int());
  }
  if (v.empty() || v.size() > 3 || !call.named.empty()) return Status::Error("range() takes 1 to 3 integers");
  int64_t start = v.size() > 1 ? v[0] : 0, stop = v.size() > 1 ? v[1] : v[0], step = v.size() > 2 ? v[2] : 1;
  if (step == 0) return Status::Error("range() arg 3 must not be zero");
  Value::List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= limits.max_items) return Status::Error("range() too long");
    out.emplace_back(i);
  }
  return Value::FromArray(std::move(out));
}

Result<ObjectMap> KeywordMap(const CallArgs& call, std::string_view fn) {
  ObjectMap map;
  for (const Value& a : call.positional) {
    if (!a.is_mapping()) return Status::Error(fmt::format("{}() takes keyword arguments or a dict", fn));
    for (const auto& [k, v] : a.as_object().entries()) map.Set(k, v);
  }
  for (const auto& [k, v] : call.named) map.Set(k, v);
  return map;
}

}  // namespace

ObjectMap MakeGlobals(std::optional<int64_t> now_unix, const Limits& limits) {
  ObjectMap g;
  g.Set("raise_exception", Value::Callable("raise_exception", [](const CallArgs& call) -> Result<Value> {
          return Status::Error(call.positional.empty() ? std::string("raise_exception") : call.positional[0].Str());
        }));
  g.Set("strftime_now", Value::Callable("strftime_now", [now_unix](const CallArgs& call) {
          return Strftime(now_unix, call);
        }));
  g.Set("namespace", Value::Callable("namespace", [](const CallArgs& call) -> Result<Value> {
          PLEXUS_ASSIGN_OR_RETURN(ObjectMap map, KeywordMap(call, "namespace"));
          return Value::Namespace(std::move(map));
        }));
  g.Set("dict", Value::Callable("dict", [](const CallArgs& call) -> Result<Value> {
          PLEXUS_ASSIGN_OR_RETURN(ObjectMap map, KeywordMap(call, "dict"));
          return Value::FromObject(std::move(map));
        }));
  g.Set("range", Value::Callable("range", [limits](const CallArgs& call) { return Range(call, limits); }));
  return g;
}

}  // namespace plexus::tmpl
