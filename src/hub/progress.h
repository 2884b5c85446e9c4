// A progress display for pulls on a terminal stream: one redrawn bar line
//   stories260K.gguf  [#########-----------]  45%  533.4 kB / 1.2 MB  2.1 MB/s  ETA 0:01
// on a TTY, and a plain line every few seconds (and at the end) otherwise,
// so logs stay readable.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "hub/pull.h"

namespace plexus::hub {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::FILE* out);
  void operator()(const PullProgress& p);
  // Ends a bar line left open (before printing a message or an error).
  void EndLine();

 private:
  std::FILE* out_;
  bool tty_;
  std::string current_;  // file and phase being shown
  std::chrono::steady_clock::time_point last_{};
  bool line_open_ = false;  // a TTY bar without its newline yet
};

// "1.2 MB", "533.4 kB", "12 B" (decimal units, as download sizes are quoted).
std::string FormatBytes(uint64_t bytes);
// The bar text for one progress report (no carriage return or newline).
std::string FormatProgressLine(const PullProgress& p, int bar_width);

}  // namespace plexus::hub
