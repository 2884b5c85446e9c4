#include "server/gen_request.h"

namespace plexus::server {

bool ServedModel::Matches(std::string_view name) const {
  if (name.ends_with(":latest")) name.remove_suffix(7);
  return name == id || name == stem;
}

std::string FileStem(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  if (path.ends_with(".gguf")) path.remove_suffix(5);
  return std::string(path);
}

tmpl::Value JsonToTemplateValue(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return tmpl::Value::None();
    case Json::value_t::boolean:
      return tmpl::Value(j.get<bool>());
    case Json::value_t::number_integer:
      return tmpl::Value(j.get<int64_t>());
    case Json::value_t::number_unsigned:
      return tmpl::Value(static_cast<int64_t>(j.get<uint64_t>()));
    case Json::value_t::number_float:
      return tmpl::Value(j.get<double>());
    case Json::value_t::string:
      return tmpl::Value(j.get<std::string>());
    case Json::value_t::array: {
      tmpl::Value::List items;
      items.reserve(j.size());
      for (const Json& item : j) items.push_back(JsonToTemplateValue(item));
      return tmpl::Value::FromArray(std::move(items));
    }
    case Json::value_t::object: {
      tmpl::ObjectMap map;
      for (const auto& [key, value] : j.items()) map.Set(key, JsonToTemplateValue(value));
      return tmpl::Value::FromObject(std::move(map));
    }
    default:
      return tmpl::Value::None();  // binary / discarded: not produced by the parser
  }
}

}  // namespace plexus::server
