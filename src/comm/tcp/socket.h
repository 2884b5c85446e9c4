// Thin POSIX socket helpers for the TCP transport: addresses, listening,
// connecting with retries, and deadline-bounded whole reads/writes used by
// the handshake. Every socket is non-blocking; waits go through poll().
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace plexus::tcp {

// Monotonic time in nanoseconds.
int64_t NowNs();

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { int f = fd_; fd_ = -1; return f; }
  void reset(int fd = -1);
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct Endpoint {
  std::string host;  // as given (IPv4 literal or a name resolved once)
  uint16_t port = 0;
  sockaddr_in addr{};
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

// "HOST:PORT" -> Endpoint (IPv4). Errors name the offending text.
Result<Endpoint> ParseEndpoint(const std::string& text);
bool IsLoopback(const sockaddr_in& addr);
std::string PeerAddress(int fd);  // "1.2.3.4:5678" of the remote end, or "?"

// Non-blocking listening socket bound to host:port (port 0: ephemeral).
Result<Fd> Listen(const std::string& host, uint16_t port, int backlog = 64);
uint16_t LocalPort(int fd);
// Non-blocking connect, retried with backoff while refused, until deadline_ns.
Result<Fd> ConnectWithRetry(const Endpoint& to, int64_t deadline_ns);
// TCP_NODELAY, O_NONBLOCK, keepalive, CLOEXEC.
void TuneSocket(int fd);

// Whole reads/writes bounded by a deadline (handshake and raw ping-pong).
// `what` names the peer in errors.
Status ReadFull(int fd, void* data, size_t bytes, int64_t deadline_ns, const std::string& what);
Status WriteFull(int fd, const void* data, size_t bytes, int64_t deadline_ns, const std::string& what);
// Waits for POLLIN/POLLOUT on fd until deadline: ok, or a timeout/error status.
Status WaitFd(int fd, short events, int64_t deadline_ns, const std::string& what);
// "EOF" / "connection reset" / strerror(err), for messages.
std::string DescribeErrno(int err);

}  // namespace plexus::tcp
