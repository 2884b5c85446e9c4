#include "hub/cache.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "base/cache_dir.h"
#include "format/gguf.h"
#include "hub/model_ref.h"
#include "hub/part_state.h"

namespace plexus::hub {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "models/ORG/REPO/PATH" -> "hf:ORG/REPO/PATH" (URL downloads live under models/url/).
std::string RefFor(const std::string& rel_path) {
  const std::string prefix = "models/";
  if (rel_path.rfind(prefix, 0) != 0 || rel_path.rfind("models/url/", 0) == 0) return "";
  if (std::count(rel_path.begin(), rel_path.end(), '/') < 3) return "";
  return "hf:" + rel_path.substr(prefix.size());
}

// The weight type holding the most bytes, for files without general.file_type.
std::string CommonestType(const GgufFile& f) {
  std::map<std::string, uint64_t> bytes;
  for (const GgufTensorInfo& t : f.tensors())
    if (t.shape.size() >= 2) bytes[DTypeName(t.type)] += t.n_bytes;
  std::string best;
  uint64_t most = 0;
  for (const auto& [name, n] : bytes)
    if (n > most) most = n, best = name;
  std::transform(best.begin(), best.end(), best.begin(), ::toupper);
  return best;
}

// Architecture, quantization and parameter count from the GGUF headers.
void Describe(CachedModel& m, const std::vector<std::string>& part_paths) {
  for (size_t i = 0; i < part_paths.size(); ++i) {
    auto file = GgufFile::Open(part_paths[i]);
    if (!file.ok()) {
      m.error = file.status().message();
      return;
    }
    for (const GgufTensorInfo& t : (*file)->tensors()) m.n_params += static_cast<uint64_t>(t.n_elements());
    if (i > 0) continue;
    auto arch = (*file)->GetString("general.architecture", "");
    if (arch.ok()) m.arch = *arch;
    auto file_type = (*file)->GetInt("general.file_type", -1);
    if (file_type.ok() && *file_type >= 0) m.quant = FileTypeName(*file_type);
    if (m.quant.empty()) m.quant = CommonestType(**file);
  }
}

CachedModel Partial(const fs::path& part, const std::string& cache_dir) {
  CachedModel m;
  const std::string file = part.string().substr(0, part.string().size() - 5);  // drop ".part"
  m.path = file;
  m.rel_path = fs::relative(file, cache_dir).string();
  m.ref = RefFor(m.rel_path);
  m.partial = true;
  std::error_code ec;
  m.size = fs::file_size(part, ec);
  m.done = m.size;
  auto state = ReadPartState(StatePath(file));
  if (state.ok() && state->has_value()) {
    m.done = TotalBytes((*state)->have);
    m.total = (*state)->size_known ? (*state)->size : 0;
  }
  return m;
}

// One entry for a split model: sizes of the parts present, described from all of them.
CachedModel SplitEntry(const fs::path& any_part, const SplitName& split, const std::string& cache_dir) {
  CachedModel m;
  const fs::path dir = any_part.parent_path();
  m.path = (dir / SplitPartName(split.prefix, 1, split.count)).string();
  m.rel_path = fs::relative(m.path, cache_dir).string();
  m.ref = RefFor(m.rel_path);
  m.parts = split.count;
  m.parts_present = 0;
  std::vector<std::string> present;
  for (int i = 1; i <= split.count; ++i) {
    const fs::path p = dir / SplitPartName(split.prefix, i, split.count);
    std::error_code ec;
    const uint64_t size = fs::file_size(p, ec);
    if (ec) continue;
    m.size += size;
    ++m.parts_present;
    present.push_back(p.string());
  }
  if (m.parts_present == m.parts) Describe(m, present);
  else m.error = fmt::format("{} of {} parts in the cache", m.parts_present, m.parts);
  return m;
}

}  // namespace

std::string FileTypeName(int64_t file_type) {
  // llama.cpp's llama_ftype numbering (ids 4-6 and 33-35 are retired).
  static const std::map<int64_t, const char*> kNames = {
      {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"}, {9, "Q5_1"},
      {10, "Q2_K"}, {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"},
      {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"}, {19, "IQ2_XXS"}, {20, "IQ2_XS"}, {21, "Q2_K_S"},
      {22, "IQ3_XS"}, {23, "IQ3_XXS"}, {24, "IQ1_S"}, {25, "IQ4_NL"}, {26, "IQ3_S"}, {27, "IQ3_M"},
      {28, "IQ2_S"}, {29, "IQ2_M"}, {30, "IQ4_XS"}, {31, "IQ1_M"}, {32, "BF16"}, {36, "TQ1_0"}, {37, "TQ2_0"},
  };
  auto it = kNames.find(file_type);
  return it == kNames.end() ? "" : it->second;
}

Result<std::vector<CachedModel>> ListCached(const std::string& cache_dir_in) {
  const std::string cache_dir = fs::absolute(cache_dir_in.empty() ? DefaultCacheDir() : cache_dir_in).string();
  std::vector<CachedModel> out;
  const fs::path root = fs::path(cache_dir) / "models";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  std::map<std::string, bool> splits_seen;  // dir/prefix/count
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Status::Errorf("hub", "cannot list '{}': {}", root.string(), ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Status::Errorf("hub", "cannot list '{}': {}", root.string(), ec.message());
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (EndsWith(name, ".gguf.part")) {
      out.push_back(Partial(p, cache_dir));
      continue;
    }
    if (!EndsWith(name, ".gguf")) continue;
    if (auto split = ParseSplitName(name)) {
      const std::string key = fmt::format("{}/{}/{}", p.parent_path().string(), split->prefix, split->count);
      if (splits_seen.emplace(key, true).second) out.push_back(SplitEntry(p, *split, cache_dir));
      continue;
    }
    CachedModel m;
    m.path = p.string();
    m.rel_path = fs::relative(p, cache_dir).string();
    m.ref = RefFor(m.rel_path);
    m.size = fs::file_size(p, ec);
    Describe(m, {m.path});
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const CachedModel& a, const CachedModel& b) {
    return a.rel_path != b.rel_path ? a.rel_path < b.rel_path : a.partial < b.partial;
  });
  return out;
}

Result<std::string> ResolveModelArg(const std::string& text, PullRequest options, const ProgressFn& progress) {
  if (!IsRemoteRef(text)) return text;
  PLEXUS_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(text));
  const std::string cache_dir = options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir;
  const std::string path = CachedPath(ref, cache_dir);
  bool complete = fs::exists(path);
  if (auto split = ParseSplitName(ref.FileName())) {
    complete = true;
    for (int i = 1; i <= split->count && complete; ++i)
      complete = fs::exists(CachedPath(ref.WithFileName(SplitPartName(split->prefix, i, split->count)), cache_dir));
    if (complete) return CachedPath(ref.WithFileName(SplitPartName(split->prefix, 1, split->count)), cache_dir);
  }
  if (complete) return path;
  options.ref = text;
  options.cache_dir = cache_dir;
  PLEXUS_ASSIGN_OR_RETURN(PullResult pulled, Pull(options, progress));
  return pulled.path();
}

}  // namespace plexus::hub
