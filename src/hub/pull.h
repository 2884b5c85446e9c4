// `plexus pull`: download a model into the cache, verified.
//   PullRequest req;  req.ref = "hf:ggml-org/models/tinyllamas/stories260K.gguf";
//   Result<PullResult> r = hub::Pull(req, hub::ProgressPrinter(stderr));
// The file lands in <cache>/<ModelRef::CachePath()>; the first part of a
// split model brings all its parts. A download is checked against the
// SHA-256 the hub reports (X-Linked-Etag) and must parse as GGUF.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "hub/download.h"
#include "hub/model_ref.h"

namespace plexus::hub {

struct PullProgress {
  std::string file;    // file name being fetched or checked
  std::string phase;   // "download" or "verify"
  TransferProgress transfer;
};
using ProgressFn = std::function<void(const PullProgress&)>;

struct PullRequest {
  std::string ref;        // hf:ORG/REPO[@REV]/PATH.gguf or an http(s) URL
  std::string cache_dir;  // empty: DefaultCacheDir()
  std::string endpoint;   // empty: DefaultEndpoint() ($PLEXUS_HF_ENDPOINT or https://huggingface.co)
  std::string token;      // empty: $HF_TOKEN; sent only to the endpoint's origin
  DownloadOptions download;
  bool check_gguf = true;  // open the result with GgufFile
  LogFn log;               // one line per event worth telling ("up to date", "resuming", ...)
};

struct PulledFile {
  std::string path;      // absolute path in the cache
  std::string sha256;    // verified digest; empty when the server reported none
  uint64_t size = 0;
  bool downloaded = false;  // false: it was already there and up to date
};

struct PullResult {
  std::vector<PulledFile> files;  // the model first, then its other split parts
  const std::string& path() const { return files.front().path; }
};

Result<PullResult> Pull(const PullRequest& request, const ProgressFn& progress = nullptr);

// The absolute cache path of `ref` (for the first part of a split model, that part's path).
std::string CachedPath(const ModelRef& ref, const std::string& cache_dir);

}  // namespace plexus::hub
