// plexus inspect: print a GGUF file's metadata and tensor table.
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "format/gguf.h"

namespace plexus::cli {
namespace {

constexpr size_t kArrayPreview = 8;

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out += c;
  }
  return out + "\"";
}

std::string Scalar(const GgufValue& v) {
  switch (v.type) {
    case GgufType::kString: return Quote(v.s.size() > 200 ? v.s.substr(0, 200) + "..." : v.s);
    case GgufType::kF32:
    case GgufType::kF64: return fmt::format("{}", v.f);
    case GgufType::kBool: return v.i ? "true" : "false";
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64: return fmt::format("{}", v.u);
    default: return fmt::format("{}", v.i);
  }
}

// First few items of an array, then its length.
template <typename T, typename Fmt>
std::string Preview(const std::vector<T>& items, Fmt format) {
  std::string out = "[";
  for (size_t i = 0; i < items.size() && i < kArrayPreview; ++i) out += (i ? ", " : "") + format(items[i]);
  if (items.size() > kArrayPreview) out += ", ...";
  return out + "]";
}

std::string Describe(const GgufValue& v) {
  if (v.type != GgufType::kArray) return Scalar(v);
  std::string body;
  auto num = [](auto x) { return fmt::format("{}", x); };
  if (!v.strings.empty()) body = Preview(v.strings, Quote);
  else if (!v.ints.empty()) body = Preview(v.ints, num);
  else if (!v.uints.empty()) body = Preview(v.uints, num);
  else if (!v.floats.empty()) body = Preview(v.floats, num);
  else if (!v.items.empty()) body = Preview(v.items, Describe);
  else body = "[]";
  return fmt::format("{} ({} x {})", body, v.array_size(), GgufTypeName(v.elem_type));
}

int RunInspect(const std::string& path) {
  auto file = GgufFile::Open(path);
  if (!file.ok()) {
    fmt::print(stderr, "plexus inspect: {}\n", file.status().message());
    return 1;
  }
  const GgufFile& f = **file;
  fmt::print("{}: GGUF v{}, {} metadata keys, {} tensors, alignment {}, data at {}\n", path, f.version(),
             f.metadata().size(), f.tensors().size(), f.alignment(), f.data_offset());
  fmt::print("\nmetadata:\n");
  for (const auto& [key, value] : f.metadata())
    fmt::print("  {:<45} {:<7} {}\n", key, GgufTypeName(value.type), Describe(value));
  fmt::print("\ntensors:\n  {:<40} {:<6} {:<24} {:>12} {:>12}\n", "name", "type", "shape", "offset", "bytes");
  uint64_t total = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    fmt::print("  {:<40} {:<6} {:<24} {:>12} {:>12}\n", t.name, DTypeName(t.type),
               fmt::format("[{}]", fmt::join(t.shape, ", ")), t.offset, t.n_bytes);
    total += t.n_bytes;
  }
  fmt::print("\n{} tensors, {} bytes of weights ({:.2f} MiB)\n", f.tensors().size(), total, total / 1048576.0);
  return 0;
}

}  // namespace

Runner AddInspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("inspect", "Print a GGUF file's metadata and tensor table");
  cmd->add_option("file", *path, "GGUF file")->required();
  return [path] { return RunInspect(*path); };
}

}  // namespace plexus::cli
