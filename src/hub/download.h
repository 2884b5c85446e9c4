// Brings `<file>.part` to the whole file: resumes what an earlier run left
// (Range requests from where each held span ends), splits the missing bytes
// across several connections for large files on servers that take ranges,
// retries dropped connections, and starts over cleanly when a server answers
// a Range request with the whole file (200 instead of 206).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"
#include "hub/http.h"

namespace plexus::hub {

struct TransferProgress {
  uint64_t done = 0;   // bytes held, including those from an earlier run
  uint64_t total = 0;  // 0 when the size is unknown
  double bytes_per_s = 0;
  bool finished = false;
};
using TransferFn = std::function<void(const TransferProgress&)>;
using LogFn = std::function<void(const std::string&)>;

struct DownloadOptions {
  int connections = 4;                          // at most this many at once
  uint64_t parallel_threshold = 64ull << 20;    // smaller files use one connection
  int retries = 3;                              // per byte range, after a dropped connection
  HttpOptions http;
};

struct DownloadJob {
  std::string source;  // the URL asked for: recorded in the state, named in errors
  ProbeResult probe;   // final URL, size, range support, digest
  Auth auth;
  std::string file;    // the finished file's path; the download goes to PartPath(file)
};

// On success PartPath(job.file) holds every byte (its state file still says
// so; the caller verifies, renames and removes it). On failure what was
// fetched stays for the next run.
Status Download(const DownloadJob& job, const DownloadOptions& options, const TransferFn& progress, const LogFn& log);

}  // namespace plexus::hub
