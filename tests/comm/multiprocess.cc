#include "multiprocess.h"

#include <fcntl.h>

#include <cstring>

namespace plexus::tcp::testing {

std::string& ChildLog() {
  static std::string log;
  return log;
}

MeshOptions RankContext::Options(const std::string& secret) const {
  MeshOptions o;
  o.rank = rank;
  o.peers = peers;
  o.secret = secret;
  o.listen_fd = listen_fd;
  o.connect_timeout = std::chrono::milliseconds(10000);
  o.handshake_timeout = std::chrono::milliseconds(2000);
  o.heartbeat_interval = std::chrono::milliseconds(250);
  o.peer_timeout = std::chrono::milliseconds(1500);
  o.log = [](const std::string& line) { ChildLog() += line + "\n"; };
  return o;
}

std::vector<Fd> BindListeners(int n, std::vector<std::string>* peers) {
  std::vector<Fd> fds;
  peers->clear();
  for (int r = 0; r < n; ++r) {
    auto fd = Listen("127.0.0.1", 0);
    if (!fd.ok()) std::abort();
    peers->push_back("127.0.0.1:" + std::to_string(LocalPort(fd->get())));
    fds.push_back(std::move(fd).value());
  }
  return fds;
}

namespace {

// Child side: run fn, write "report\0log" to the pipe, exit without cleanup.
[[noreturn]] void RunChild(const RankFn& fn, RankContext ctx, int out_fd) {
  std::string report = fn(ctx);
  std::string msg = report + '\0' + ChildLog();
  for (size_t off = 0; off < msg.size();) {
    const ssize_t n = write(out_fd, msg.data() + off, msg.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  _exit(0);
}

void Drain(int fd, std::string* into) {
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) into->append(buf, static_cast<size_t>(n));
}

}  // namespace

std::vector<RankResult> RunRanks(int n, const RankFn& fn, std::chrono::seconds timeout, std::vector<Fd>* listeners,
                                 std::vector<std::string>* peers) {
  std::vector<std::string> own_peers;
  std::vector<Fd> own_listeners;
  if (!listeners) {
    own_listeners = BindListeners(n, &own_peers);
    listeners = &own_listeners;
    peers = &own_peers;
  }
  std::vector<pid_t> pids(static_cast<size_t>(n));
  std::vector<int> pipes(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    int fds[2];
    if (pipe(fds) != 0) std::abort();
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      for (int o = 0; o < n; ++o)
        if (o != r) (*listeners)[static_cast<size_t>(o)].reset();
      RankContext ctx{r, *peers, (*listeners)[static_cast<size_t>(r)].release()};
      RunChild(fn, ctx, fds[1]);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    pids[static_cast<size_t>(r)] = pid;
    pipes[static_cast<size_t>(r)] = fds[0];
  }
  for (Fd& fd : *listeners) fd.reset();  // the children own them now
  std::vector<RankResult> results(static_cast<size_t>(n));
  std::vector<std::string> raw(static_cast<size_t>(n));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int running = n;
  while (running > 0) {
    for (int r = 0; r < n; ++r) {
      if (pids[r] <= 0) continue;
      Drain(pipes[r], &raw[r]);
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) == pids[r]) {
        results[r].exit_status = status;
        pids[r] = 0;
        --running;
      } else if (std::chrono::steady_clock::now() > deadline) {
        kill(pids[r], SIGKILL);
        waitpid(pids[r], &status, 0);
        results[r].killed = true;
        pids[r] = 0;
        --running;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (int r = 0; r < n; ++r) {
    Drain(pipes[r], &raw[r]);
    close(pipes[r]);
    const size_t nul = raw[r].find('\0');
    results[r].report = raw[r].substr(0, nul);
    if (nul != std::string::npos) results[r].log = raw[r].substr(nul + 1);
  }
  return results;
}

}  // namespace plexus::tcp::testing
