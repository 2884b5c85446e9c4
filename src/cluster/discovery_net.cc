// The sockets of discovery: interface enumeration, the announcer (nodes) and
// the listener (coordinators). Both run on a thread of their own and never
// block anything else; a network without multicast just finds nobody.
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "cluster/discovery.h"

namespace plexus::cluster {
namespace {

constexpr auto kAnnounceEvery = std::chrono::milliseconds(500);
constexpr auto kRejoinEvery = std::chrono::seconds(1);
constexpr int kPollMs = 100;

void LogLine(const DiscoveryOptions& opt, const std::string& line) {
  if (opt.log) opt.log(line);
  else std::fprintf(stderr, "plexus: %s\n", line.c_str());
}

std::string AddrText(const in_addr& a) {
  char text[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &a, text, sizeof text);
  return text;
}

Result<sockaddr_in> GroupAddress(const DiscoveryOptions& opt) {
  sockaddr_in g{};
  g.sin_family = AF_INET;
  g.sin_port = htons(opt.port);
  if (::inet_pton(AF_INET, opt.group.c_str(), &g.sin_addr) != 1 || !IN_MULTICAST(ntohl(g.sin_addr.s_addr)))
    return Status::Errorf("discovery", "'{}' is not an IPv4 multicast group", opt.group);
  return g;
}

Status SetInt(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0)
    return Status::Errorf("discovery", "setsockopt {}: {}", what, std::strerror(errno));
  return Status::Ok();
}

}  // namespace

std::vector<MulticastInterface> MulticastInterfaces() {
  std::vector<MulticastInterface> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_MULTICAST) == 0) continue;
    MulticastInterface m;
    m.name = i->ifa_name;
    m.addr = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr;
    m.index = ::if_nametoindex(i->ifa_name);
    out.push_back(m);
  }
  ::freeifaddrs(list);
  return out;
}

// ---- Announcer ----

Result<std::unique_ptr<Announcer>> Announcer::Start(DiscoveryOptions options, Beacon beacon, std::string only_host) {
  PLEXUS_RETURN_IF_ERROR(EncodeBeacon(beacon, options.secret).status());  // a bad name fails here, not in the loop
  std::unique_ptr<Announcer> a(new Announcer());
  PLEXUS_ASSIGN_OR_RETURN(a->group_, GroupAddress(options));
  a->fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (a->fd_ < 0) return Status::Errorf("discovery", "socket: {}", std::strerror(errno));
  // TTL 1: beacons stay on the local network segment; loop: nodes on this host are seen too.
  PLEXUS_RETURN_IF_ERROR(SetInt(a->fd_, IPPROTO_IP, IP_MULTICAST_TTL, 1, "IP_MULTICAST_TTL"));
  PLEXUS_RETURN_IF_ERROR(SetInt(a->fd_, IPPROTO_IP, IP_MULTICAST_LOOP, 1, "IP_MULTICAST_LOOP"));
  a->opt_ = std::move(options);
  a->flags_ = beacon.flags;
  a->beacon_ = std::move(beacon);
  a->only_host_ = std::move(only_host);
  a->thread_ = std::thread([p = a.get()] { p->Loop(); });
  return a;
}

Announcer::~Announcer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void Announcer::SetFlags(uint8_t flags) {
  {
    std::lock_guard lock(mu_);
    flags_ = flags;
    send_now_ = true;
  }
  wake_.notify_all();
}

void Announcer::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    beacon_.flags = flags_;
    send_now_ = false;
    lock.unlock();
    SendRound();
    lock.lock();
    wake_.wait_for(lock, kAnnounceEvery, [this] { return stop_.load() || send_now_; });
  }
}

// One beacon per interface. Each new interface and each distinct error is
// logged once, so a node's log says where it is announcing without repeating.
void Announcer::SendRound() {
  beacon_.mem_available = ReadMemoryInfo().available;
  auto bytes = EncodeBeacon(beacon_, opt_.secret);
  if (!bytes.ok()) return;  // cannot happen: checked at Start
  int sent = 0;
  for (const MulticastInterface& i : MulticastInterfaces()) {
    const std::string addr = AddrText(i.addr);
    if (!only_host_.empty() && addr != only_host_) continue;
    std::string error;
    if (::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &i.addr, sizeof i.addr) != 0)
      error = fmt::format("IP_MULTICAST_IF: {}", std::strerror(errno));
    else if (::sendto(fd_, bytes->data(), bytes->size(), 0, reinterpret_cast<const sockaddr*>(&group_),
                      sizeof group_) < 0)
      error = std::strerror(errno);
    const std::string key = i.name + "|" + addr + "|" + error;
    if (reported_.insert(key).second)
      LogLine(opt_, error.empty() ? fmt::format("discovery: announcing node {:016x} port {} on {} ({}) to {}:{}",
                                                beacon_.node_id, beacon_.port, i.name, addr, opt_.group, opt_.port)
                                  : fmt::format("discovery: cannot announce on {} ({}): {}", i.name, addr, error));
    sent += error.empty() ? 1 : 0;
  }
  if (sent == 0 && reported_.insert("none").second)
    LogLine(opt_, only_host_.empty()
                      ? std::string("discovery: no multicast-capable interface is up; nobody can find this node "
                                    "(coordinators can still use --peers)")
                      : fmt::format("discovery: no multicast-capable interface has address {}; nobody can find "
                                    "this node (coordinators can still use --peers)",
                                    only_host_));
}

// ---- Listener ----

Result<std::unique_ptr<Listener>> Listener::Start(DiscoveryOptions options, OnChange on_change) {
  std::unique_ptr<Listener> l(new Listener(options));
  PLEXUS_ASSIGN_OR_RETURN(l->group_, GroupAddress(options));
  l->on_change_ = std::move(on_change);
  l->fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (l->fd_ < 0) return Status::Errorf("discovery", "socket: {}", std::strerror(errno));
  // Several listeners on one host (two coordinators, tests) share the port.
  PLEXUS_RETURN_IF_ERROR(SetInt(l->fd_, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"));
  PLEXUS_RETURN_IF_ERROR(SetInt(l->fd_, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT"));
  // Bound to the group address and MULTICAST_ALL off: only this group's datagrams arrive.
  (void)SetInt(l->fd_, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL");
  if (::bind(l->fd_, reinterpret_cast<const sockaddr*>(&l->group_), sizeof l->group_) != 0)
    return Status::Errorf("discovery", "cannot listen on {}:{}: {}", options.group, options.port,
                          std::strerror(errno));
  if (MulticastInterfaces().empty())
    LogLine(options, "discovery: no multicast-capable interface is up; no node can be found this way (use --peers)");
  l->Join();
  l->thread_ = std::thread([p = l.get()] { p->Loop(); });
  return l;
}

Listener::~Listener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

// Joins on interfaces not joined yet. EADDRINUSE means already a member (an
// interface that went down and up again keeps it).
void Listener::Join() {
  for (const MulticastInterface& i : MulticastInterfaces()) {
    if (joined_.count(i.index) != 0) continue;
    ip_mreqn req{};
    req.imr_multiaddr = group_.sin_addr;
    req.imr_address = i.addr;
    req.imr_ifindex = static_cast<int>(i.index);
    if (::setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof req) == 0 || errno == EADDRINUSE) {
      joined_.insert(i.index);
    } else if (errno != ENODEV) {
      LogLine(opt_, fmt::format("discovery: cannot join {} on {}: {}", opt_.group, i.name, std::strerror(errno)));
      joined_.insert(i.index);  // logged once; not retried every second
    }
  }
}

void Listener::Loop() {
  auto next_join = DiscoveryClock::now() + kRejoinEvery;
  std::vector<uint8_t> buf(2048);
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollMs);
    const auto now = DiscoveryClock::now();
    bool changed = false;
    if (ready > 0) {
      for (;;) {  // drain: beacons from many nodes can arrive together
        sockaddr_in from{};
        socklen_t len = sizeof from;
        // MSG_TRUNC: n is the datagram's real size, so an oversized one is seen as such.
        const ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) break;
        // A datagram cut short at buf.size() is still longer than any beacon: rejected as oversized.
        std::span<const uint8_t> bytes(buf.data(), std::min(static_cast<size_t>(n), buf.size()));
        std::lock_guard lock(mu_);
        changed |= inbox_.Receive(bytes, AddrText(from.sin_addr), now);
      }
    }
    {
      std::lock_guard lock(mu_);
      changed |= inbox_.Expire(now);
    }
    if (changed) {
      changed_.notify_all();
      if (on_change_) on_change_(Live());
    }
    if (now >= next_join) {
      Join();
      next_join = now + kRejoinEvery;
    }
  }
}

std::vector<DiscoveredNode> Listener::Live() const {
  std::lock_guard lock(mu_);
  return inbox_.Live();
}

std::vector<DiscoveredNode> Listener::WaitFor(size_t want, std::chrono::milliseconds window) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, window, [&] { return want > 0 && inbox_.Live().size() >= want; });
  return inbox_.Live();
}

std::string Listener::RejectSummary() const {
  std::lock_guard lock(mu_);
  std::string text;
  for (size_t r = 1; r < static_cast<size_t>(BeaconReject::kCount); ++r) {
    const auto reason = static_cast<BeaconReject>(r);
    if (inbox_.rejected(reason) > 0)
      text += fmt::format("{}{} {}", text.empty() ? "" : ", ", inbox_.rejected(reason), BeaconRejectName(reason));
  }
  return text;
}

}  // namespace plexus::cluster
