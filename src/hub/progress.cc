#include "hub/progress.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

namespace plexus::hub {
namespace {

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 99 * 3600) return "--:--";
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1000) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes) / 1000;
  int unit = 0;
  while (v >= 1000 && unit < 3) {
    v /= 1000;
    ++unit;
  }
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

std::string FormatProgressLine(const PullProgress& p, int bar_width) {
  const TransferProgress& t = p.transfer;
  const std::string verb = p.phase == "verify" ? "verifying" : "";
  std::string line = p.file + (verb.empty() ? "" : " " + verb);
  if (t.total > 0) {
    const double frac = std::min(1.0, static_cast<double>(t.done) / static_cast<double>(t.total));
    if (bar_width > 0) {
      const int fill = static_cast<int>(frac * bar_width);
      line += "  [" + std::string(fill, '#') + std::string(bar_width - fill, '-') + "]";
    }
    line += fmt::format("  {:3.0f}%  {} / {}", frac * 100, FormatBytes(t.done), FormatBytes(t.total));
  } else {
    line += "  " + FormatBytes(t.done);
  }
  if (p.phase == "download") {
    line += fmt::format("  {}/s", FormatBytes(static_cast<uint64_t>(t.bytes_per_s)));
    if (t.total > 0 && !t.finished)
      line += "  ETA " + FormatEta(t.bytes_per_s > 0 ? (t.total - std::min(t.done, t.total)) / t.bytes_per_s : NAN);
  }
  return line;
}

ProgressPrinter::ProgressPrinter(std::FILE* out) : out_(out), tty_(::isatty(::fileno(out)) != 0) {}

void ProgressPrinter::operator()(const PullProgress& p) {
  const auto now = std::chrono::steady_clock::now();
  const std::string what = p.file + "/" + p.phase;
  const bool changed = what != current_;
  if (changed && line_open_) std::fputc('\n', out_);
  if (changed) line_open_ = false;
  const auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (!changed && !p.transfer.finished && now - last_ < interval) return;
  current_ = what;
  last_ = now;
  if (tty_) {
    fmt::print(out_, "\r{}\x1b[K", FormatProgressLine(p, 24));
    line_open_ = !p.transfer.finished;
    if (p.transfer.finished) std::fputc('\n', out_);
  } else {
    fmt::print(out_, "{}\n", FormatProgressLine(p, 0));
  }
  std::fflush(out_);
}

void ProgressPrinter::EndLine() {
  if (line_open_) std::fputc('\n', out_);
  line_open_ = false;
  current_.clear();
}

}  // namespace plexus::hub
