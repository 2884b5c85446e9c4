#include "template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "template/text.h"

namespace plexus::tmpl {

const Value* ObjectMap::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void ObjectMap::Set(std::string key, Value value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

Value::Value(std::string s) : kind_(Kind::kString), string_(std::make_shared<std::string>(std::move(s))) {}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Undefined(std::string hint) {
  Value v;
  v.string_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

Value Value::FromArray(List items) {
  Value v;
  v.kind_ = Kind::kArray;
  v.array_ = std::make_shared<List>(std::move(items));
  return v;
}

Value Value::FromObject(ObjectMap map) {
  Value v;
  v.kind_ = Kind::kObject;
  v.object_ = std::make_shared<ObjectMap>(std::move(map));
  return v;
}

Value Value::Namespace(ObjectMap map) {
  Value v = FromObject(std::move(map));
  v.kind_ = Kind::kNamespace;
  return v;
}

Value Value::Callable(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.string_ = std::make_shared<std::string>(std::move(name));
  v.fn_ = std::make_shared<NativeFn>(std::move(fn));
  return v;
}

Value Value::Markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

Value& Value::Set(std::string key, Value value) {
  PLEXUS_CHECK(is_mapping(), "Value::Set on a {}", TypeName());
  if (object_.use_count() > 1 && kind_ == Kind::kObject) object_ = std::make_shared<ObjectMap>(*object_);
  object_->Set(std::move(key), std::move(value));
  return *this;
}

Value& Value::Append(Value value) {
  PLEXUS_CHECK(is_array(), "Value::Append on a {}", TypeName());
  if (array_.use_count() > 1) array_ = std::make_shared<List>(*array_);
  array_->push_back(std::move(value));
  return *this;
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool:
    case Kind::kInt: return int_ != 0;
    case Kind::kFloat: return float_ != 0;
    case Kind::kString: return !string_->empty();
    case Kind::kArray: return !array_->empty();
    case Kind::kObject: return object_->size() != 0;
    default: return true;
  }
}

const char* Value::TypeName() const {
  static constexpr const char* kNames[] = {"Undefined", "NoneType", "bool", "int",       "float",
                                           "str",       "list",     "dict", "Namespace", "function"};
  return kNames[static_cast<int>(kind_)];
}

std::string FormatFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-d.ddde+XX": shortest round-trip digits
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e_pos = sci.find('e');
  int exp10 = std::stoi(sci.substr(e_pos + 1));
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out = negative ? "-" : "";
  if (exp10 >= -4 && exp10 < 16) {  // repr's fixed notation, always with a '.'
    if (exp10 < 0) {
      out += "0." + std::string(-exp10 - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp10 + 1) {
      out += digits + std::string(exp10 + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, exp10 + 1) + "." + digits.substr(exp10 + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += exp10 < 0 ? "e-" : "e+";
  std::string e = std::to_string(std::abs(exp10));
  return out + (e.size() < 2 ? "0" : "") + e;
}

namespace {

// Python's str.isprintable(), close enough for repr(): controls, C1 controls,
// and the Unicode separators and format characters print escaped.
bool PyPrintable(uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return false;
  if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F)) return false;
  if ((cp >= 0x205F && cp <= 0x2064) || cp == 0x3000 || cp == 0xFEFF) return false;
  return true;
}

std::string ReprString(const std::string& s) {
  char quote = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < s.size();) {
    size_t len = 0;
    uint32_t cp = DecodeUtf8(s, pos, &len);
    if (cp == '\\' || cp == static_cast<uint32_t>(quote)) {
      out += '\\', out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (!PyPrintable(cp)) {
      out += cp <= 0xFF ? fmt::format("\\x{:02x}", cp) : fmt::format("\\u{:04x}", cp);
    } else {
      out.append(s, pos, len);
    }
    pos += len;
  }
  return out + quote;
}

}  // namespace

std::string Value::Str() const {
  switch (kind_) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return int_ ? "True" : "False";
    case Kind::kInt: return std::to_string(int_);
    case Kind::kFloat: return FormatFloat(float_);
    case Kind::kString: return *string_;
    case Kind::kNamespace: return "<Namespace " + FromObject(*object_).Repr() + ">";
    case Kind::kCallable: return "<function " + *string_ + ">";
    default: return Repr();
  }
}

std::string Value::Repr() const {
  if (kind_ == Kind::kString) return ReprString(*string_);
  std::string out;
  if (kind_ == Kind::kArray) {
    out = "[";
    for (size_t i = 0; i < array_->size(); ++i) out += (i ? ", " : "") + (*array_)[i].Repr();
    return out + "]";
  }
  if (kind_ == Kind::kObject) {
    out = "{";
    bool first = true;
    for (const auto& [k, v] : object_->entries()) {
      out += (first ? "" : ", ") + ReprString(k) + ": " + v.Repr();
      first = false;
    }
    return out + "}";
  }
  return Str();
}

bool Equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined:
    case K::kNone: return true;
    case K::kString: return a.as_string() == b.as_string();
    case K::kArray: {
      const auto &x = a.as_array(), &y = b.as_array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i])) return false;
      }
      return true;
    }
    case K::kObject: {
      if (a.as_object().size() != b.as_object().size()) return false;
      for (const auto& [k, v] : a.as_object().entries()) {
        const Value* other = b.as_object().Find(k);
        if (other == nullptr || !Equals(v, *other)) return false;
      }
      return true;
    }
    default: return &a.as_object() == &b.as_object() && a.kind() == K::kNamespace;
  }
}

Result<bool> Less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 keeps code-point order
  if (a.is_array() && b.is_array()) {
    const auto &x = a.as_array(), &y = b.as_array();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return Status::Error(fmt::format("'<' not supported between instances of '{}' and '{}'", a.TypeName(),
                                   b.TypeName()));
}

namespace {

void JsonString(const std::string& s, bool ensure_ascii, std::string* out) {
  *out += '"';
  for (size_t pos = 0; pos < s.size();) {
    size_t len = 0;
    uint32_t cp = DecodeUtf8(s, pos, &len);
    switch (cp) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      default:
        if (cp < 0x20 || (ensure_ascii && cp >= 0x80 && cp < 0x10000)) {
          *out += fmt::format("\\u{:04x}", cp);
        } else if (ensure_ascii && cp >= 0x10000) {
          uint32_t v = cp - 0x10000;
          *out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
          out->append(s, pos, len);
        }
    }
    pos += len;
  }
  *out += '"';
}

struct JsonWriter {
  const JsonOptions& options;
  std::string out;

  void Newline(int depth) {
    if (options.indent < 0 && options.indent_text.empty()) return;
    out += '\n';
    std::string unit = options.indent_text.empty() ? std::string(options.indent, ' ') : options.indent_text;
    for (int i = 0; i < depth; ++i) out += unit;
  }
  const std::string& ItemSep() const {
    static const std::string kComma = ",", kCommaSpace = ", ";
    if (!options.item_separator.empty()) return options.item_separator;
    return (options.indent >= 0 || !options.indent_text.empty()) ? kComma : kCommaSpace;
  }
  Status Write(const Value& v, int depth);
  Status WriteObject(const ObjectMap& map, int depth);
};

Status JsonWriter::Write(const Value& v, int depth) {
  if (depth > 200) return Status::Error("tojson: value nested too deeply");
  switch (v.kind()) {
    case Value::Kind::kNone: out += "null"; return Status::Ok();
    case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; return Status::Ok();
    case Value::Kind::kInt: out += std::to_string(v.as_int()); return Status::Ok();
    case Value::Kind::kFloat: {
      double d = v.as_double();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity") : FormatFloat(d);
      return Status::Ok();
    }
    case Value::Kind::kString: JsonString(v.as_string(), options.ensure_ascii, &out); return Status::Ok();
    case Value::Kind::kArray: {
      const auto& items = v.as_array();
      if (items.empty()) return out += "[]", Status::Ok();
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ItemSep();
        Newline(depth + 1);
        PLEXUS_RETURN_IF_ERROR(Write(items[i], depth + 1));
      }
      Newline(depth);
      out += ']';
      return Status::Ok();
    }
    case Value::Kind::kObject: return WriteObject(v.as_object(), depth);
    default: return Status::Error(fmt::format("Object of type {} is not JSON serializable", v.TypeName()));
  }
}

Status JsonWriter::WriteObject(const ObjectMap& map, int depth) {
  if (map.size() == 0) return out += "{}", Status::Ok();
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& e : map.entries()) entries.push_back(&e);
  if (options.sort_keys) {
    std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  }
  out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) out += ItemSep();
    Newline(depth + 1);
    JsonString(entries[i]->first, options.ensure_ascii, &out);
    out += options.key_separator;
    PLEXUS_RETURN_IF_ERROR(Write(entries[i]->second, depth + 1));
  }
  Newline(depth);
  out += '}';
  return Status::Ok();
}

}  // namespace

Result<std::string> ToJson(const Value& v, const JsonOptions& options) {
  JsonWriter writer{options, {}};
  PLEXUS_RETURN_IF_ERROR(writer.Write(v, 0));
  return std::move(writer.out);
}

}  // namespace plexus::tmpl
