// plexus pull: download a model into the cache (hub/pull.h), verified.
//   plexus pull hf:ORG/REPO[@REV]/PATH/FILE.gguf
//   plexus pull https://HOST/.../FILE.gguf
// Progress and messages go to stderr; the cached path(s) to stdout, so
// `model=$(plexus pull hf:...)` works in scripts.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "hub/progress.h"
#include "hub/pull.h"

namespace plexus::cli {
namespace {

struct PullArgs {
  std::string ref;
  std::string endpoint;
  std::string cache_dir;
  int connections = 4;
  uint64_t parallel_threshold = 64ull << 20;
  int retries = 3;
  int read_timeout_s = 60;
  bool quiet = false;
};

int RunPull(const PullArgs& a) {
  hub::PullRequest request;
  request.ref = a.ref;
  request.endpoint = a.endpoint;
  request.cache_dir = a.cache_dir;
  request.download.connections = a.connections;
  request.download.parallel_threshold = a.parallel_threshold;
  request.download.retries = a.retries;
  request.download.http.read_timeout_s = a.read_timeout_s;
  hub::ProgressPrinter printer(stderr);
  request.log = [&](const std::string& line) {
    printer.EndLine();
    fmt::print(stderr, "{}\n", line);
  };
  hub::ProgressFn progress;
  if (!a.quiet) progress = std::ref(printer);
  Result<hub::PullResult> result = hub::Pull(request, progress);
  printer.EndLine();
  if (!result.ok()) {
    fmt::print(stderr, "plexus pull: {}\n", result.status().message());
    return 1;
  }
  for (const hub::PulledFile& f : result->files) fmt::print("{}\n", f.path);
  return 0;
}

}  // namespace

Runner AddPull(CLI::App& app) {
  auto args = std::make_shared<PullArgs>();
  CLI::App* cmd = app.add_subcommand("pull", "Download a GGUF model into the cache (hf:ORG/REPO/FILE.gguf or a URL)");
  cmd->add_option("model", args->ref,
                  "hf:ORG/REPO[@REVISION]/PATH/FILE.gguf or http(s)://HOST/.../FILE.gguf; "
                  "the first part of a split model (NAME-00001-of-0000N.gguf) brings all parts")
      ->required();
  cmd->add_option("--endpoint", args->endpoint,
                  "Hub base URL (default: $PLEXUS_HF_ENDPOINT, else https://huggingface.co)");
  cmd->add_option("--cache-dir", args->cache_dir,
                  "Cache directory (default: $PLEXUS_CACHE_DIR, else $XDG_CACHE_HOME/plexus, else ~/.cache/plexus)");
  cmd->add_option("--connections", args->connections, "Parallel connections for large files")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--parallel-threshold", args->parallel_threshold,
                  "Files at least this many bytes use several connections")
      ->capture_default_str();
  cmd->add_option("--retries", args->retries, "Retries of a dropped connection, per byte range")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  cmd->add_option("--read-timeout", args->read_timeout_s, "Seconds without data before a connection counts as dropped")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_flag("-q,--quiet", args->quiet, "No progress display (messages and errors still go to stderr)");
  return [args] { return RunPull(*args); };
}

}  // namespace plexus::cli
