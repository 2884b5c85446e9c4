#include "server/model_facts.h"

#include <sys/stat.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <map>

#include <fmt/format.h>

namespace plexus::server {
namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Json ScalarJson(const GgufValue& v) {
  switch (v.type) {
    case GgufType::kString: return v.s;
    case GgufType::kBool: return v.i != 0;
    case GgufType::kF32:
    case GgufType::kF64: return v.f;
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64: return v.u;
    default: return v.i;
  }
}

// Scalar metadata; the chat template too (arrays such as the vocabulary are too big to echo).
Json MetadataJson(const GgufFile& file) {
  Json j = Json::object();
  for (const auto& [key, value] : file.metadata())
    if (value.type != GgufType::kArray) j[key] = ScalarJson(value);
  return j;
}

Json ConfigJson(const ModelConfig& c) {
  Json j;
  j["arch"] = c.arch;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["n_embd"] = c.n_embd;
  j["n_ff"] = c.n_ff;
  j["n_vocab"] = c.n_vocab;
  if (c.is_moe()) {
    j["n_experts"] = c.n_experts;
    j["n_experts_used"] = c.n_experts_used;
    j["n_ff_shared"] = c.n_ff_shared();
  }
  return j;
}

}  // namespace

ModelFacts ReadModelFacts(const Engine& engine, const ServedModel& served) {
  ModelFacts f;
  f.id = served.id;
  f.path = served.path;
  f.arch = engine.config().arch;
  struct stat st {};
  if (stat(served.path.c_str(), &st) == 0) {
    f.file_bytes = static_cast<uint64_t>(st.st_size);
    f.modified_unix = static_cast<int64_t>(st.st_mtime);
  }
  std::map<DType, uint64_t> bytes_by_type;
  for (const GgufTensorInfo& t : engine.file().tensors()) {
    f.n_params += static_cast<uint64_t>(t.n_elements());
    bytes_by_type[t.type] += t.n_bytes;
  }
  uint64_t most = 0;
  for (const auto& [type, bytes] : bytes_by_type)
    if (bytes > most) {
      most = bytes;
      f.quant = Upper(DTypeName(type));
    }
  f.context = engine.max_context();
  if (const GgufValue* t = engine.file().Find("tokenizer.chat_template"); t != nullptr && t->type == GgufType::kString)
    f.chat_template = t->s;
  f.metadata = MetadataJson(engine.file());
  f.config = ConfigJson(engine.config());
  return f;
}

std::string ParameterSize(uint64_t n) {
  const auto scaled = [](double v, const char* unit) {
    return v >= 100 ? fmt::format("{:.0f}{}", v, unit) : fmt::format("{:.1f}{}", v, unit);
  };
  if (n >= 1000000000ull) return scaled(n / 1e9, "B");
  if (n >= 1000000ull) return scaled(n / 1e6, "M");
  if (n >= 1000ull) return scaled(n / 1e3, "K");
  return fmt::format("{}", n);
}

std::string Rfc3339(int64_t unix_ns) {
  const std::time_t secs = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ns % 1000000000);
}

int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace plexus::server
