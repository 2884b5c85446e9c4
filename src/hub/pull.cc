#include "hub/pull.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/cache_dir.h"
#include "format/gguf.h"
#include "hub/part_state.h"
#include "hub/progress.h"
#include "base/sha256.h"

namespace plexus::hub {
namespace {

namespace fs = std::filesystem;

struct Context {
  const PullRequest& request;
  const ProgressFn& progress;
  std::string cache_dir, endpoint;
  Auth auth;

  void Log(const std::string& line) const {
    if (request.log) request.log(line);
  }
  HashProgressFn HashProgress(const std::string& name) const {
    if (!progress) return nullptr;
    return [this, name](uint64_t done, uint64_t total) {
      progress({name, "verify", {done, total, 0, done == total}});
    };
  }
};

// Which part of a split model a file should be: 0-based split.no of count.
struct SplitExpect {
  int index = -1;  // -1: not a split part
  int count = 0;
};

// The file must start with "GGUF" and parse; a split part's split.no and
// split.count (when present) must match its name.
Status CheckGguf(const std::string& path, const SplitExpect& split) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::memcmp(magic, "GGUF", 4) != 0)
    return Status::Errorf("hub", "'{}' is not a GGUF file (it starts with {:02x} {:02x} {:02x} {:02x})", path,
                          static_cast<uint8_t>(magic[0]), static_cast<uint8_t>(magic[1]),
                          static_cast<uint8_t>(magic[2]), static_cast<uint8_t>(magic[3]));
  PLEXUS_ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  if (split.index < 0) return Status::Ok();
  PLEXUS_ASSIGN_OR_RETURN(int64_t no, file->GetInt("split.no", split.index));
  PLEXUS_ASSIGN_OR_RETURN(int64_t count, file->GetInt("split.count", split.count));
  if (no != split.index || count != split.count)
    return Status::Errorf("hub", "'{}': its split.no {} / split.count {} do not match its name (part {} of {})", path,
                          no, count, split.index + 1, split.count);
  return Status::Ok();
}

bool StartsWithGgufMagic(const std::string& path) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  return std::memcmp(magic, "GGUF", 4) == 0;
}

void RemovePart(const std::string& file) {
  std::error_code ec;
  fs::remove(PartPath(file), ec);
  fs::remove(StatePath(file), ec);
}

// Is the file already in the cache the one the server has?
Result<bool> UpToDate(const Context& ctx, const std::string& dest, const ProbeResult& probe) {
  std::error_code ec;
  const uint64_t size = fs::file_size(dest, ec);
  if (ec) return Status::Errorf("hub", "cannot read the size of '{}': {}", dest, ec.message());
  const std::string name = fs::path(dest).filename().string();
  if (!probe.sha256.empty()) {
    if (probe.size_known && size != probe.size) {
      ctx.Log(fmt::format("{}: {} bytes here, {} on the server; downloading again", name, size, probe.size));
      return false;
    }
    PLEXUS_ASSIGN_OR_RETURN(std::string here, MemoizedSha256(dest, ctx.cache_dir, ctx.HashProgress(name)));
    if (here == probe.sha256) return true;
    ctx.Log(fmt::format("{}: SHA-256 {} here, {} on the server; downloading again", name, here, probe.sha256));
    return false;
  }
  if (probe.size_known && size != probe.size) {
    ctx.Log(fmt::format("{}: {} bytes here, {} on the server; downloading again", name, size, probe.size));
    return false;
  }
  ctx.Log(fmt::format("{}: the server reports no SHA-256; {}, so the file here is kept", name,
                      probe.size_known ? "the size matches" : "nor a size"));
  return true;
}

// The downloaded .part: whole, the digest the server reported, GGUF.
Status VerifyPart(const Context& ctx, const std::string& dest, const std::string& source, const ProbeResult& probe,
                  std::string& digest) {
  const std::string part = PartPath(dest);
  const std::string name = fs::path(dest).filename().string();
  std::error_code ec;
  const uint64_t size = fs::file_size(part, ec);
  if (probe.size_known && (ec || size != probe.size)) {
    RemovePart(dest);
    return Status::Errorf("hub", "{}: downloaded {} bytes, the server reported {}; the partial file was deleted",
                          source, size, probe.size);
  }
  if (!probe.sha256.empty()) {
    PLEXUS_ASSIGN_OR_RETURN(digest, Sha256File(part, ctx.HashProgress(name)));
    if (digest != probe.sha256) {
      RemovePart(dest);
      return Status::Errorf("hub", "{}: SHA-256 mismatch: the server reports {}, the download is {}; "
                            "the partial file was deleted, pull again", source, probe.sha256, digest);
    }
  } else {
    ctx.Log(fmt::format("{}: the server reports no SHA-256; the file is kept without a hash check", name));
  }
  if (ctx.request.check_gguf && !StartsWithGgufMagic(part)) {
    const std::string why = CheckGguf(part, {}).message();  // "[hub] '<part>' is not a GGUF file (...)"
    RemovePart(dest);
    return Status::Error(fmt::format("{}; it was deleted (source {})", why, source));
  }
  return Status::Ok();
}

Result<PulledFile> PullFile(const Context& ctx, const ModelRef& ref, const SplitExpect& split) {
  PulledFile out;
  out.path = CachedPath(ref, ctx.cache_dir);
  const std::string source = ref.ToString();
  const std::string name = ref.FileName();
  std::error_code ec;
  fs::create_directories(fs::path(out.path).parent_path(), ec);
  if (ec) return Status::Errorf("hub", "cannot create '{}': {}", fs::path(out.path).parent_path().string(), ec.message());
  // Errors of hub references name the reference too (URLs name themselves).
  const std::string context = ref.kind == ModelRef::Kind::kHub ? source : "";
  auto named = [&](const Status& st) { return context.empty() ? st : st.WithContext(context); };
  PLEXUS_ASSIGN_OR_RETURN(Url url, ParseUrl(ref.SourceUrl(ctx.endpoint)));
  Result<ProbeResult> probed = Probe(url, ctx.auth, ctx.request.download.http);
  if (!probed.ok()) return named(probed.status());
  const ProbeResult& probe = *probed;
  out.sha256 = probe.sha256;
  out.size = probe.size;
  bool current = false;
  if (fs::exists(out.path)) {
    PLEXUS_ASSIGN_OR_RETURN(current, UpToDate(ctx, out.path, probe));
  }
  if (current) {
    ctx.Log(fmt::format("{}: up to date", name));
    out.size = fs::file_size(out.path, ec);
  } else {
    ctx.Log(fmt::format("{}: downloading from {}{}", name, url.ToString(),
                        probe.size_known ? " (" + FormatBytes(probe.size) + ")" : ""));
    DownloadJob job{source, probe, ctx.auth, out.path};
    TransferFn transfer;
    if (ctx.progress) transfer = [&](const TransferProgress& p) { ctx.progress({name, "download", p}); };
    if (Status st = Download(job, ctx.request.download, transfer, ctx.request.log); !st.ok()) {
      const uint64_t kept = fs::file_size(PartPath(out.path), ec);
      if (!ec && kept > 0) st = Status::Error(st.message() + "; what arrived is kept in " + PartPath(out.path) +
                                              ": pull again to resume");
      return named(st);
    }
    PLEXUS_RETURN_IF_ERROR(VerifyPart(ctx, out.path, source, probe, out.sha256));
    if (std::rename(PartPath(out.path).c_str(), out.path.c_str()) != 0)
      return Status::Errorf("hub", "cannot rename '{}' to '{}': {}", PartPath(out.path), out.path, std::strerror(errno));
    fs::remove(StatePath(out.path), ec);
    if (!out.sha256.empty()) RememberSha256(out.path, ctx.cache_dir, out.sha256);
    out.size = fs::file_size(out.path, ec);
    out.downloaded = true;
  }
  if (ctx.request.check_gguf) {
    Status st = CheckGguf(out.path, split);
    if (!st.ok())
      return Status::Errorf("hub", "{}: {} is in the cache{}, but plexus cannot read it: {}", source, out.path,
                            out.sha256.empty() ? "" : " (SHA-256 verified)", st.message());
  }
  return out;
}

}  // namespace

std::string CachedPath(const ModelRef& ref, const std::string& cache_dir) {
  return fs::absolute(fs::path(cache_dir.empty() ? DefaultCacheDir() : cache_dir) / ref.CachePath()).string();
}

Result<PullResult> Pull(const PullRequest& request, const ProgressFn& progress) {
  PLEXUS_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(request.ref));
  Context ctx{request, progress, request.cache_dir.empty() ? DefaultCacheDir() : request.cache_dir,
              request.endpoint.empty() ? DefaultEndpoint() : request.endpoint, {}};
  if (ref.kind == ModelRef::Kind::kHub) {
    Result<Url> endpoint = ParseUrl(ctx.endpoint);
    if (!endpoint.ok()) return endpoint.status().WithContext("hub endpoint (--endpoint or $PLEXUS_HF_ENDPOINT)");
    ctx.auth.origin = endpoint->Origin();
    ctx.auth.token = request.token;
    if (const char* t = std::getenv("HF_TOKEN"); ctx.auth.token.empty() && t) ctx.auth.token = t;
  }
  PullResult result;
  const std::optional<SplitName> split = ParseSplitName(ref.FileName());
  if (!split) {
    PLEXUS_ASSIGN_OR_RETURN(PulledFile file, PullFile(ctx, ref, {}));
    result.files.push_back(std::move(file));
    return result;
  }
  if (split->count > 1) ctx.Log(fmt::format("{}: split model, {} parts", split->prefix, split->count));
  for (int i = 1; i <= split->count; ++i) {
    const ModelRef part = ref.WithFileName(SplitPartName(split->prefix, i, split->count));
    PLEXUS_ASSIGN_OR_RETURN(PulledFile file, PullFile(ctx, part, {i - 1, split->count}));
    result.files.push_back(std::move(file));
  }
  return result;
}

}  // namespace plexus::hub
