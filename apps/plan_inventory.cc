#include "plan_inventory.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace plexus::cli {
namespace {

using nlohmann::json;
using placement::Inventory;
using placement::Link;
using placement::Node;

Status Unknown(const json& obj, const std::set<std::string>& known, const std::string& where) {
  for (const auto& [key, value] : obj.items())
    if (!known.contains(key)) return Status::Errorf("inventory", "{}: unknown key '{}'", where, key);
  return Status::Ok();
}

Result<std::string> Name(const json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key)) return Status::Errorf("inventory", "{}.{} is missing", where, key);
  const json& v = obj.at(key);
  if (!v.is_string() || v.get<std::string>().empty())
    return Status::Errorf("inventory", "{}.{} must be a non-empty string", where, key);
  return v.get<std::string>();
}

// A number from `obj[key]`: `fallback` when absent and optional; above
// `min` (or at it when `min_ok`); at most `max`.
Result<double> Number(const json& obj, const char* key, const std::string& where, bool required, double fallback,
                      double min, bool min_ok, double max = INFINITY) {
  if (!obj.contains(key)) {
    if (required) return Status::Errorf("inventory", "{}.{} is missing", where, key);
    return fallback;
  }
  const json& v = obj.at(key);
  const char* what = min_ok ? "a non-negative number" : "a positive number";
  if (!v.is_number()) return Status::Errorf("inventory", "{}.{} must be {}", where, key, what);
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < min || (!min_ok && x == min))
    return Status::Errorf("inventory", "{}.{} must be {}", where, key, what);
  if (x > max) return Status::Errorf("inventory", "{}.{} {} must be at most {}", where, key, x, max);
  return x;
}

Result<Node> ParseNode(const json& j, size_t i) {
  const std::string where = fmt::format("nodes[{}]", i);
  if (!j.is_object()) return Status::Errorf("inventory", "{} must be an object", where);
  PLEXUS_RETURN_IF_ERROR(
      Unknown(j, {"name", "memory_bytes", "membw_gbs", "gflops", "max_fraction", "host", "threads"}, where));
  Node n;
  PLEXUS_ASSIGN_OR_RETURN(n.name, Name(j, "name", where));
  // 2^63 bytes is far beyond any machine; the bound keeps the conversion exact.
  PLEXUS_ASSIGN_OR_RETURN(double memory, Number(j, "memory_bytes", where, true, 0, 0, false, 9.2e18));
  n.memory_bytes = static_cast<uint64_t>(memory);
  if (n.memory_bytes == 0) return Status::Errorf("inventory", "{}.memory_bytes must be a positive number", where);
  PLEXUS_ASSIGN_OR_RETURN(n.membw_gbs, Number(j, "membw_gbs", where, true, 0, 0, false));
  PLEXUS_ASSIGN_OR_RETURN(n.gflops, Number(j, "gflops", where, false, 0, 0, true));
  PLEXUS_ASSIGN_OR_RETURN(n.max_fraction, Number(j, "max_fraction", where, false, 1, 0, false, 1));
  if (j.contains("host")) {
    PLEXUS_ASSIGN_OR_RETURN(n.host, Name(j, "host", where));
  }
  PLEXUS_ASSIGN_OR_RETURN(double threads, Number(j, "threads", where, false, 0, 0, true, 65536));
  n.threads = static_cast<int>(threads);
  return n;
}

Result<Link> ParseLink(const json& j, size_t i) {
  const std::string where = fmt::format("links[{}]", i);
  if (!j.is_object()) return Status::Errorf("inventory", "{} must be an object", where);
  PLEXUS_RETURN_IF_ERROR(Unknown(j, {"a", "b", "latency_us", "bandwidth_gbps"}, where));
  Link l;
  PLEXUS_ASSIGN_OR_RETURN(l.a, Name(j, "a", where));
  PLEXUS_ASSIGN_OR_RETURN(l.b, Name(j, "b", where));
  PLEXUS_ASSIGN_OR_RETURN(l.latency_us, Number(j, "latency_us", where, true, 0, 0, true));
  PLEXUS_ASSIGN_OR_RETURN(l.bandwidth_gbps, Number(j, "bandwidth_gbps", where, true, 0, 0, false));
  return l;
}

Result<placement::Host> ParseHost(const json& j, size_t i) {
  const std::string where = fmt::format("hosts[{}]", i);
  if (!j.is_object()) return Status::Errorf("inventory", "{} must be an object", where);
  PLEXUS_RETURN_IF_ERROR(Unknown(j, {"name", "membw_gbs", "cores"}, where));
  placement::Host h;
  PLEXUS_ASSIGN_OR_RETURN(h.name, Name(j, "name", where));
  PLEXUS_ASSIGN_OR_RETURN(h.membw_gbs, Number(j, "membw_gbs", where, false, 0, 0, true));
  PLEXUS_ASSIGN_OR_RETURN(double cores, Number(j, "cores", where, false, 0, 0, true, 65536));
  h.cores = static_cast<int>(cores);
  return h;
}

}  // namespace

Result<Inventory> ParseInventory(const std::string& text, const std::string& origin) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Errorf("inventory", "{}: not valid JSON", origin);
  if (!j.is_object()) return Status::Errorf("inventory", "{}: the top level must be an object", origin);
  Inventory inv;
  Status st = Unknown(j, {"nodes", "links", "hosts"}, "the top level");
  if (st.ok() && (!j.contains("nodes") || !j["nodes"].is_array()))
    st = Status::Errorf("inventory", "nodes must be an array of node objects");
  if (st.ok() && j.contains("links") && !j["links"].is_array())
    st = Status::Errorf("inventory", "links must be an array of link objects");
  if (st.ok() && j.contains("hosts") && !j["hosts"].is_array())
    st = Status::Errorf("inventory", "hosts must be an array of host objects");
  for (size_t i = 0; st.ok() && i < j["nodes"].size(); ++i) {
    auto node = ParseNode(j["nodes"][i], i);
    if (node.ok())
      inv.nodes.push_back(std::move(*node));
    else
      st = node.status();
  }
  for (size_t i = 0; st.ok() && j.contains("links") && i < j["links"].size(); ++i) {
    auto link = ParseLink(j["links"][i], i);
    if (link.ok())
      inv.links.push_back(std::move(*link));
    else
      st = link.status();
  }
  for (size_t i = 0; st.ok() && j.contains("hosts") && i < j["hosts"].size(); ++i) {
    auto host = ParseHost(j["hosts"][i], i);
    if (host.ok())
      inv.hosts.push_back(std::move(*host));
    else
      st = host.status();
  }
  if (st.ok()) st = placement::ValidateInventory(inv);
  if (!st.ok()) return st.WithContext(origin);
  return inv;
}

Result<Inventory> ReadInventory(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Errorf("inventory", "{}: cannot open", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::Errorf("inventory", "{}: read failed", path);
  return ParseInventory(text.str(), path);
}

}  // namespace plexus::cli
