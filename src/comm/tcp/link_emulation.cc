#include "comm/tcp/link_emulation.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace plexus::tcp {
namespace {

// Splits "2.5gbit" into 2.5 and "gbit"; false if no number leads.
bool SplitNumber(const std::string& text, double* value, std::string* unit) {
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) return false;
  *unit = std::string(end);
  return std::isfinite(*value) && *value >= 0;
}

Result<int64_t> ParseLatency(const std::string& text) {
  double v = 0;
  std::string unit;
  if (!SplitNumber(text, &v, &unit)) return Status::Errorf("tcp", "link latency '{}' is not a number with a unit", text);
  double scale = 0;
  if (unit == "ns") scale = 1;
  else if (unit == "us") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit.empty() && v == 0) scale = 1;
  else return Status::Errorf("tcp", "link latency '{}': unit must be ns, us, ms or s", text);
  if (v * scale > 10e9) return Status::Errorf("tcp", "link latency '{}' is over 10 s", text);
  return static_cast<int64_t>(std::llround(v * scale));
}

Result<double> ParseBandwidth(const std::string& text) {
  double v = 0;
  std::string unit;
  if (!SplitNumber(text, &v, &unit)) return Status::Errorf("tcp", "link bandwidth '{}' is not a number with a unit", text);
  double scale = 0;
  if (unit == "bit") scale = 1;
  else if (unit == "kbit") scale = 1e3;
  else if (unit == "mbit") scale = 1e6;
  else if (unit == "gbit") scale = 1e9;
  else if (unit == "tbit") scale = 1e12;
  else return Status::Errorf("tcp", "link bandwidth '{}': unit must be bit, kbit, mbit, gbit or tbit (per second)", text);
  if (v * scale < 1000) return Status::Errorf("tcp", "link bandwidth '{}' is below 1 kbit/s", text);
  return v * scale;
}

bool LooksLikeBandwidth(const std::string& s) { return s.find("bit") != std::string::npos; }

}  // namespace

Result<LinkSpec> ParseLinkSpec(const std::string& text) {
  LinkSpec spec;
  if (text.empty() || text == "0" || text == "off" || text == "none") return spec;
  const size_t comma = text.find(',');
  const std::string first = text.substr(0, comma);
  const std::string second = comma == std::string::npos ? "" : text.substr(comma + 1);
  if (comma != std::string::npos && (second.empty() || second.find(',') != std::string::npos))
    return Status::Errorf("tcp", "--emulate-link '{}': expected LATENCY[,BANDWIDTH], e.g. 300us,2.5gbit", text);
  if (comma == std::string::npos && LooksLikeBandwidth(first)) {
    PLEXUS_ASSIGN_OR_RETURN(spec.bits_per_second, ParseBandwidth(first));
    return spec;
  }
  auto latency = ParseLatency(first);
  if (!latency.ok()) return latency.status().WithContext(fmt::format("--emulate-link '{}'", text));
  spec.latency_ns = *latency;
  if (!second.empty()) {
    auto bw = ParseBandwidth(second);
    if (!bw.ok()) return bw.status().WithContext(fmt::format("--emulate-link '{}'", text));
    spec.bits_per_second = *bw;
  }
  return spec;
}

std::string LinkSpec::ToString() const {
  if (!enabled()) return "none";
  std::string bw = bits_per_second > 0 ? fmt::format("{:g}gbit", bits_per_second / 1e9) : "unlimited";
  return fmt::format("{}us,{}", latency_ns / 1000.0, bw);
}

int64_t EmulatedWire::Schedule(size_t bytes, int64_t now_ns) {
  const int64_t start = std::max(now_ns, wire_free_ns_);
  const int64_t serialize_ns =
      spec_.bits_per_second > 0 ? static_cast<int64_t>(static_cast<double>(bytes) * 8e9 / spec_.bits_per_second) : 0;
  wire_free_ns_ = start + serialize_ns;
  return wire_free_ns_ + spec_.latency_ns;
}

}  // namespace plexus::tcp
