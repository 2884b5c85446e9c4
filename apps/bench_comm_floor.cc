#include "bench_comm_floor.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "comm/tcp/socket.h"

namespace plexus::cli {

Result<std::vector<double>> PipePingPong(PipeLink& link, int rank, size_t bytes, int iters) {
  std::vector<uint8_t> buf(bytes, 0x5a);
  std::vector<double> rtt_us;
  for (int i = 0; i < iters; ++i) {
    const int64_t t0 = tcp::NowNs();
    if (rank == 0) {
      PLEXUS_RETURN_IF_ERROR(link.SendNext(buf.data(), bytes));
      PLEXUS_RETURN_IF_ERROR(link.RecvPrev(buf.data(), bytes));
      rtt_us.push_back(static_cast<double>(tcp::NowNs() - t0) / 1e3);
    } else {
      PLEXUS_RETURN_IF_ERROR(link.RecvPrev(buf.data(), bytes));
      PLEXUS_RETURN_IF_ERROR(link.SendNext(buf.data(), bytes));
    }
  }
  return rtt_us;
}

namespace {

// Runs `argv` with stdout captured; gives up after `timeout_s`.
Result<std::string> RunCaptured(const std::vector<std::string>& argv, int timeout_s) {
  std::string cmd = "timeout " + std::to_string(timeout_s);
  for (const std::string& a : argv) cmd += " '" + a + "'";
  cmd += " 2>/dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return Status::Errorf("bench-comm", "cannot run {}", argv[0]);
  std::string out;
  char chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) out.append(chunk, n);
  const int status = ::pclose(pipe);
  if (status != 0) return Status::Errorf("bench-comm", "{} exited with status {}", argv[0], status);
  return out;
}

// Whether a socket listens on TCP `port` (IPv4 or IPv6), from /proc/net.
bool Listening(int port) {
  const std::string needle = fmt::format(":{:04X} ", port);
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      if (fields >> slot >> local >> remote >> state && state == "0A" && (local + " ").find(needle) != std::string::npos)
        return true;
    }
  }
  return false;
}

}  // namespace

bool HaveUcxPerftest() { return ::system("command -v ucx_perftest >/dev/null 2>&1") == 0; }

Result<double> UcxPerftestLatencyUs(size_t bytes, int iters, int port) {
  const std::string size = std::to_string(bytes), n = std::to_string(iters), p = std::to_string(port);
  // The server waits for one client; it runs beside the client on this host.
  pid_t server = ::fork();
  if (server < 0) return Status::Errorf("bench-comm", "fork failed");
  if (server == 0) {
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    ::execlp("timeout", "timeout", "60", "ucx_perftest", "-t", "tag_lat", "-s", size.c_str(), "-n", n.c_str(), "-p",
             p.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // The server takes the first connection as its peer, so a probing connect
  // would spoil it: wait until its port shows up as listening instead.
  for (int attempt = 0; attempt < 100 && !Listening(port); ++attempt)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Result<std::string> out = RunCaptured({"ucx_perftest", "127.0.0.1", "-t", "tag_lat", "-s", size, "-n", n, "-p", p}, 60);
  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  PLEXUS_RETURN_IF_ERROR(out.status());
  // "Final:  iterations  typical  average  overall ..." (latency in usec, one way).
  std::istringstream lines(*out);
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find("Final:");
    if (at == std::string::npos) continue;
    std::istringstream fields(line.substr(at + 6));
    double iterations = 0, typical = 0;
    if (fields >> iterations >> typical) return typical;
  }
  return Status::Errorf("bench-comm", "no 'Final:' line in ucx_perftest's output");
}

}  // namespace plexus::cli
