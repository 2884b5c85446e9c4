// plexus ls: the models in the cache (hub/cache.h), as a table or --json.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/cache_dir.h"
#include "commands.h"
#include "hub/cache.h"
#include "hub/progress.h"

namespace plexus::cli {
namespace {

struct LsArgs {
  std::string cache_dir;
  bool json = false;
};

// 292.5K, 6.74B: parameter counts as model cards quote them.
std::string FormatParams(uint64_t n) {
  if (n == 0) return "-";
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}K", n / 1e3);
  return fmt::format("{}", n);
}

std::string StatusText(const hub::CachedModel& m) {
  if (m.partial) {
    if (m.total == 0) return fmt::format("partial: {} so far", hub::FormatBytes(m.done));
    return fmt::format("partial: {:.0f}% of {}", 100.0 * m.done / m.total, hub::FormatBytes(m.total));
  }
  if (!m.error.empty()) return "unreadable: " + m.error;
  if (m.parts > 1) return fmt::format("ok ({} parts)", m.parts);
  return "ok";
}

nlohmann::ordered_json ToJson(const hub::CachedModel& m) {
  nlohmann::ordered_json j;
  j["name"] = m.rel_path;
  j["path"] = m.path;
  j["ref"] = m.ref.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.ref);
  j["size"] = m.size;
  j["partial"] = m.partial;
  if (m.partial) {
    j["downloaded"] = m.done;
    j["total"] = m.total == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.total);
  }
  j["parts"] = m.parts;
  j["parts_present"] = m.parts_present;
  j["architecture"] = m.arch.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.arch);
  j["quantization"] = m.quant.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.quant);
  j["parameters"] = m.n_params == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.n_params);
  j["error"] = m.error.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.error);
  return j;
}

int RunLs(const LsArgs& a) {
  const std::string cache_dir =
      std::filesystem::absolute(a.cache_dir.empty() ? DefaultCacheDir() : a.cache_dir).string();
  auto models = hub::ListCached(cache_dir);
  if (!models.ok()) {
    fmt::print(stderr, "plexus ls: {}\n", models.status().message());
    return 1;
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["cache_dir"] = cache_dir;
    j["models"] = nlohmann::ordered_json::array();
    for (const hub::CachedModel& m : *models) j["models"].push_back(ToJson(m));
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  if (models->empty()) {
    fmt::print(stderr, "no models in {}/models (plexus pull hf:ORG/REPO/FILE.gguf adds one)\n", cache_dir);
    return 0;
  }
  size_t width = 5;
  for (const hub::CachedModel& m : *models) width = std::max(width, m.rel_path.size());
  fmt::print("{:<{}}  {:>9}  {:<10}  {:<8}  {:>7}  {}\n", "MODEL", width, "SIZE", "ARCH", "QUANT", "PARAMS", "STATUS");
  for (const hub::CachedModel& m : *models)
    fmt::print("{:<{}}  {:>9}  {:<10}  {:<8}  {:>7}  {}\n", m.rel_path, width, hub::FormatBytes(m.size),
               m.arch.empty() ? "-" : m.arch, m.quant.empty() ? "-" : m.quant, FormatParams(m.n_params),
               StatusText(m));
  return 0;
}

}  // namespace

Runner AddLs(CLI::App& app) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* cmd = app.add_subcommand("ls", "List the models in the cache (pulled with plexus pull)");
  cmd->add_option("--cache-dir", args->cache_dir,
                  "Cache directory (default: $PLEXUS_CACHE_DIR, else $XDG_CACHE_HOME/plexus, else ~/.cache/plexus)");
  cmd->add_flag("--json", args->json, "Machine-readable output");
  return [args] { return RunLs(*args); };
}

}  // namespace plexus::cli
