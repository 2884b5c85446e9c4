#include "comm/tcp/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace plexus::tcp {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<Endpoint> ParseEndpoint(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return Status::Errorf("tcp", "'{}' is not HOST:PORT", text);
  Endpoint ep;
  ep.host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (*end != '\0' || p < 1 || p > 65535) return Status::Errorf("tcp", "'{}': bad port '{}'", text, port);
  ep.port = static_cast<uint16_t>(p);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = getaddrinfo(ep.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) return Status::Errorf("tcp", "'{}': cannot resolve '{}': {}", text, ep.host, gai_strerror(rc));
  std::memcpy(&ep.addr, res->ai_addr, sizeof(sockaddr_in));
  freeaddrinfo(res);
  ep.addr.sin_port = htons(ep.port);
  return ep;
}

bool IsLoopback(const sockaddr_in& addr) { return (ntohl(addr.sin_addr.s_addr) >> 24) == 127; }

std::string PeerAddress(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  char buf[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
  return fmt::format("{}:{}", buf, ntohs(a.sin_port));
}

void TuneSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

Result<Fd> Listen(const std::string& host, uint16_t port, int backlog) {
  PLEXUS_ASSIGN_OR_RETURN(Endpoint ep, ParseEndpoint(host + ":" + std::to_string(port == 0 ? 1 : port)));
  ep.addr.sin_port = htons(port);
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Errorf("tcp", "socket: {}", std::strerror(errno));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ep.addr), sizeof(ep.addr)) != 0)
    return Status::Errorf("tcp", "cannot bind {}:{}: {}", host, port, std::strerror(errno));
  if (listen(fd.get(), backlog) != 0) return Status::Errorf("tcp", "listen on {}:{}: {}", host, port, std::strerror(errno));
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

// One connect attempt; 0 on success, else the errno that failed it.
static int ConnectOnce(const Endpoint& to, int64_t deadline_ns, Fd* out) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno;
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&to.addr), sizeof(to.addr)) != 0) {
    if (errno != EINPROGRESS) return errno;
    if (!WaitFd(fd.get(), POLLOUT, deadline_ns, to.ToString()).ok()) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return err;
  }
  TuneSocket(fd.get());
  *out = std::move(fd);
  return 0;
}

Result<Fd> ConnectWithRetry(const Endpoint& to, int64_t deadline_ns) {
  int64_t backoff_ns = 5'000'000;
  int attempts = 0;
  while (true) {
    Fd fd;
    const int err = ConnectOnce(to, deadline_ns, &fd);
    ++attempts;
    if (err == 0) return fd;
    const bool retry = err == ECONNREFUSED || err == ETIMEDOUT || err == ECONNRESET || err == EHOSTUNREACH ||
                       err == ENETUNREACH || err == EAGAIN;
    if (!retry || NowNs() + backoff_ns > deadline_ns)
      return Status::Errorf("tcp", "cannot connect to {} after {} attempt(s): {}", to.ToString(), attempts,
                            std::strerror(err));
    std::this_thread::sleep_for(std::chrono::nanoseconds(backoff_ns));
    backoff_ns = std::min<int64_t>(backoff_ns * 2, 500'000'000);
  }
}

std::string DescribeErrno(int err) {
  if (err == 0) return "EOF (peer closed the connection)";
  if (err == ECONNRESET) return "connection reset";
  if (err == EPIPE) return "broken pipe (peer closed the connection)";
  return std::strerror(err);
}

Status WaitFd(int fd, short events, int64_t deadline_ns, const std::string& what) {
  while (true) {
    const int64_t left_ms = (deadline_ns - NowNs() + 999'999) / 1'000'000;
    if (left_ms <= 0) return Status::Errorf("tcp", "{}: timed out", what);
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (rc > 0) return Status::Ok();  // readiness or an error the next call reports
    if (rc < 0 && errno != EINTR) return Status::Errorf("tcp", "{}: poll: {}", what, std::strerror(errno));
  }
}

Status ReadFull(int fd, void* data, size_t bytes, int64_t deadline_ns, const std::string& what) {
  auto* p = static_cast<uint8_t*>(data);
  while (bytes > 0) {
    const ssize_t n = recv(fd, p, bytes, 0);
    if (n > 0) {
      p += n, bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return Status::Errorf("tcp", "{}: {}", what, DescribeErrno(0));
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Status::Errorf("tcp", "{}: {}", what, DescribeErrno(errno));
    PLEXUS_RETURN_IF_ERROR(WaitFd(fd, POLLIN, deadline_ns, what));
  }
  return Status::Ok();
}

Status WriteFull(int fd, const void* data, size_t bytes, int64_t deadline_ns, const std::string& what) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    const ssize_t n = send(fd, p, bytes, MSG_NOSIGNAL);
    if (n > 0) {
      p += n, bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return Status::Errorf("tcp", "{}: {}", what, DescribeErrno(errno));
    PLEXUS_RETURN_IF_ERROR(WaitFd(fd, POLLOUT, deadline_ns, what));
  }
  return Status::Ok();
}

}  // namespace plexus::tcp
