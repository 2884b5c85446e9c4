#include "hub/download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "hub/part_state.h"

namespace plexus::hub {
namespace {

using Clock = std::chrono::steady_clock;

// One byte range to fetch: [begin, end), end kToEnd when the size is unknown.
// `pos` is how far it got: [begin, pos) is written (only its worker stores it).
struct Piece {
  uint64_t begin = 0, end = 0;
  std::atomic<uint64_t> pos{0};
  Piece(uint64_t b, uint64_t e) : begin(b), end(e), pos(b) {}
};

struct FileCloser {
  int fd = -1;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Cuts the missing spans into pieces of about total/n bytes, so n connections
// share the work even when one span holds most of it.
std::vector<ByteSpan> CutSpans(const std::vector<ByteSpan>& missing, int n) {
  const uint64_t total = TotalBytes(missing);
  const uint64_t piece = std::max<uint64_t>(1, (total + n - 1) / n);
  std::vector<ByteSpan> out;
  for (const ByteSpan& s : missing)
    for (uint64_t b = s.begin; b < s.end; b += piece) out.push_back({b, std::min(s.end, b + piece)});
  return out;
}

class Transfer {
 public:
  Transfer(const DownloadJob& job, const DownloadOptions& options, const LogFn& log, int fd, PartState& state)
      : job_(job), options_(options), log_(log), fd_(fd), state_(state) {}

  // Fetches `spans` with up to `connections` workers; `progress` and the
  // state file are updated from this thread while they run.
  Status Run(const std::vector<ByteSpan>& spans, uint64_t whole_end, int connections, const TransferFn& progress);
  bool ignored_range() const { return ignored_range_; }

 private:
  void Worker();
  Status RunPiece(Piece& piece);
  Status FetchOnce(Piece& piece, bool& retryable);
  std::vector<ByteSpan> Held() const;
  void SetError(const Status& st);
  void Report(const TransferFn& progress, bool finished);

  const DownloadJob& job_;
  const DownloadOptions& options_;
  const LogFn& log_;
  const int fd_;
  PartState& state_;
  const std::string part_ = PartPath(job_.file);
  uint64_t whole_end_ = kToEnd;
  std::vector<std::unique_ptr<Piece>> pieces_;
  std::atomic<size_t> next_piece_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<bool> stop_{false}, ignored_range_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  Status error_;
  std::deque<std::pair<Clock::time_point, uint64_t>> samples_;  // for the speed: last few seconds
};

std::vector<ByteSpan> Transfer::Held() const {
  std::vector<ByteSpan> held = state_.have;
  for (const auto& p : pieces_) held.push_back({p->begin, p->pos.load(std::memory_order_acquire)});
  return MergeSpans(std::move(held));
}

void Transfer::SetError(const Status& st) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.ok()) error_ = st;
  stop_ = true;
}

void Transfer::Report(const TransferFn& progress, bool finished) {
  if (!progress) return;
  const auto now = Clock::now();
  const uint64_t done = done_.load();
  samples_.emplace_back(now, done);
  while (samples_.size() > 2 && now - samples_[1].first > std::chrono::seconds(5)) samples_.pop_front();
  TransferProgress p;
  p.done = done;
  p.total = state_.size_known ? state_.size : 0;
  p.finished = finished;
  const double seconds = std::chrono::duration<double>(now - samples_.front().first).count();
  if (seconds > 0) p.bytes_per_s = static_cast<double>(done - samples_.front().second) / seconds;
  progress(p);
}

Status Transfer::Run(const std::vector<ByteSpan>& spans, uint64_t whole_end, int connections,
                     const TransferFn& progress) {
  whole_end_ = whole_end;
  for (const ByteSpan& s : spans) pieces_.push_back(std::make_unique<Piece>(s.begin, s.end));
  done_ = TotalBytes(state_.have);
  samples_.emplace_back(Clock::now(), done_.load());
  const int n = std::max(1, std::min<int>(connections, static_cast<int>(pieces_.size())));
  running_ = n;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([this] { Worker(); });
  auto last_state = Clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return running_ == 0; })) break;
    }
    Report(progress, false);
    if (Clock::now() - last_state >= std::chrono::seconds(1)) {
      PartState snapshot = state_;
      snapshot.have = Held();
      (void)WritePartState(StatePath(job_.file), snapshot);  // best effort: the data is what matters
      last_state = Clock::now();
    }
  }
  for (std::thread& t : threads) t.join();
  state_.have = Held();
  pieces_.clear();
  Report(progress, error_.ok());
  return error_;
}

void Transfer::Worker() {
  for (size_t i; !stop_ && (i = next_piece_++) < pieces_.size();) {
    Status st = RunPiece(*pieces_[i]);
    if (!st.ok()) SetError(st);
  }
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  cv_.notify_all();
}

Status Transfer::RunPiece(Piece& piece) {
  for (int attempt = 0;; ++attempt) {
    bool retryable = false;
    Status st = FetchOnce(piece, retryable);
    if (st.ok() || stop_ || !retryable || attempt >= options_.retries) return st;
    if (log_)
      log_(fmt::format("{}; retrying from byte {} ({} of {})", st.message(), piece.pos.load(), attempt + 1,
                       options_.retries));
    const auto wait = std::chrono::milliseconds(std::min(8000, 500 << std::min(attempt, 4)));
    for (auto until = Clock::now() + wait; Clock::now() < until && !stop_;)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status Transfer::FetchOnce(Piece& piece, bool& retryable) {
  const uint64_t start = piece.pos.load();
  // The whole file from byte 0 needs no Range header (and then 200 is right).
  const bool whole = start == 0 && piece.end == whole_end_;
  Status own;  // a failure this side decided (write error, bad answer)
  const Url& url = job_.probe.url;
  auto on_start = [&](const FetchStart& s) {
    if (s.status == 200 && !whole) {
      ignored_range_ = true;
      stop_ = true;
      return false;
    }
    if (s.status == 206 && s.begin != start) {
      own = Status::Errorf("hub", "{}: asked for bytes from {}, got them from {}", url.ToString(), start, s.begin);
      return false;
    }
    if (state_.size_known && s.total_known && s.total != state_.size) {
      own = Status::Errorf("hub", "{}: the file is now {} bytes, {} were expected (it changed on the server?)",
                           url.ToString(), s.total, state_.size);
      return false;
    }
    return true;
  };
  auto on_data = [&](const char* data, size_t size) {
    uint64_t pos = piece.pos.load();
    if (piece.end != kToEnd && pos + size > piece.end) {
      own = Status::Errorf("hub", "{}: the server sent more bytes than asked for", url.ToString());
      return false;
    }
    for (size_t off = 0; off < size;) {
      const ssize_t n = ::pwrite(fd_, data + off, size - off, static_cast<off_t>(pos + off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        own = Status::Errorf("hub", "cannot write '{}': {}", part_, n < 0 ? std::strerror(errno) : "short write");
        return false;
      }
      off += static_cast<size_t>(n);
    }
    piece.pos.store(pos + size, std::memory_order_release);
    done_ += size;
    return !stop_;  // another piece failed: keep what arrived, stop here
  };
  int http_status = 0;
  Status st = Fetch(url, job_.auth, whole ? 0 : start, whole ? kToEnd : piece.end, options_.http, on_start, on_data,
                    &http_status);
  if (!own.ok()) return own;
  if (ignored_range_) return Status::Errorf("hub", "{}: the server ignored the Range request", url.ToString());
  if (stop_ && !st.ok()) return Status::Errorf("hub", "stopped");  // another piece failed: its error is reported
  if (!st.ok()) {
    retryable = http_status == 0 || http_status == 200 || http_status == 206 || http_status == 429 || http_status >= 500;
    return st;
  }
  if (piece.end != kToEnd && piece.pos.load() < piece.end) {
    retryable = true;
    return Status::Errorf("hub", "{}: the connection closed at byte {} of {}", url.ToString(), piece.pos.load(),
                          piece.end);
  }
  return Status::Ok();
}

// What an earlier run left that is still good for this download.
std::vector<ByteSpan> Reusable(const DownloadJob& job, int fd, PartState& fresh, const LogFn& log) {
  struct stat st {};
  ::fstat(fd, &st);
  const auto part_size = static_cast<uint64_t>(st.st_size);
  auto saved = ReadPartState(StatePath(job.file));
  std::vector<ByteSpan> have;
  if (!saved.ok()) {
    if (log) log(fmt::format("{}; starting over", saved.status().message()));
  } else if (saved->has_value()) {
    const PartState& old = **saved;
    const bool same = old.source == fresh.source && old.size_known == fresh.size_known && old.size == fresh.size &&
                      old.sha256 == fresh.sha256;
    if (same) have = old.have;
    else if (log && part_size > 0) log("the file changed on the server since the partial download; starting over");
  } else if (part_size > 0) {
    have = {{0, part_size}};  // a .part without state: a prefix
  }
  for (ByteSpan& s : have) s.end = std::min(s.end, part_size);  // never trust more than the file holds
  if (fresh.size_known)
    for (ByteSpan& s : have) s.end = std::min(s.end, fresh.size);
  have = MergeSpans(std::move(have));
  if (have.empty() && part_size > 0 && ::ftruncate(fd, 0) != 0) return {};
  if (!fresh.size_known && !(have.size() == 1 && have[0].begin == 0)) have.clear();  // unknown size: prefix only
  return have;
}

Status CheckDiskSpace(const std::string& part, uint64_t needed) {
  struct statvfs vfs {};
  const std::string dir = std::filesystem::path(part).parent_path().string();
  if (::statvfs(dir.c_str(), &vfs) != 0) return Status::Ok();  // unknown: the writes will tell
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes >= needed) return Status::Ok();
  return Status::Errorf("hub", "not enough disk space in '{}': the download needs {:.1f} MB more, {:.1f} MB are free",
                        dir, needed / 1e6, free_bytes / 1e6);
}

}  // namespace

Status Download(const DownloadJob& job, const DownloadOptions& options, const TransferFn& progress, const LogFn& log) {
  const std::string part = PartPath(job.file);
  FileCloser file{::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
  if (file.fd < 0) return Status::Errorf("hub", "cannot create '{}': {}", part, std::strerror(errno));
  if (::flock(file.fd, LOCK_EX | LOCK_NB) != 0)
    return Status::Errorf("hub", "'{}' is being downloaded by another plexus process", part);
  PartState state;
  state.source = job.source;
  state.size = job.probe.size;
  state.size_known = job.probe.size_known;
  state.sha256 = job.probe.sha256;
  state.have = Reusable(job, file.fd, state, log);
  const uint64_t held = TotalBytes(state.have);
  if (held > 0 && log)
    log(state.size_known ? fmt::format("resuming: {} of {} bytes already here", held, state.size)
                         : fmt::format("resuming: {} bytes already here", held));
  std::vector<ByteSpan> missing = state.size_known ? MissingSpans(state.size, state.have)
                                                   : std::vector<ByteSpan>{{held, kToEnd}};
  const uint64_t whole_end = state.size_known ? state.size : kToEnd;
  if (state.size_known) PLEXUS_RETURN_IF_ERROR(CheckDiskSpace(part, TotalBytes(missing)));
  PLEXUS_RETURN_IF_ERROR(WritePartState(StatePath(job.file), state));
  int connections = 1;
  if (state.size_known && job.probe.accepts_ranges && options.connections > 1 &&
      state.size >= options.parallel_threshold) {
    connections = options.connections;
    missing = CutSpans(missing, connections);
  }
  Status st = Status::Ok();
  if (!missing.empty()) {
    Transfer transfer(job, options, log, file.fd, state);
    st = transfer.Run(missing, whole_end, connections, progress);
    if (transfer.ignored_range()) {
      if (log) log(fmt::format("{} ignored the Range request (answered 200); downloading from the start",
                               job.probe.url.Origin()));
      if (::ftruncate(file.fd, 0) != 0) return Status::Errorf("hub", "cannot truncate '{}': {}", part, std::strerror(errno));
      state.have.clear();
      Transfer again(job, options, log, file.fd, state);
      st = again.Run({{0, whole_end}}, whole_end, 1, progress);
    }
  }
  if (st.ok() && !state.size_known) {
    state.size = TotalBytes(state.have);
    state.size_known = true;
  }
  PLEXUS_RETURN_IF_ERROR(WritePartState(StatePath(job.file), state));
  return st;
}

}  // namespace plexus::hub
