#include "comm/shm/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace plexus::shm {
namespace {

std::string ReadFirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "/plexus-" + 32 hex digits from the kernel's CSPRNG: nobody can guess the
// name and pre-create it (O_EXCL would also refuse a pre-created one).
Result<std::string> RandomName() {
  uint8_t raw[16];
  if (getrandom(raw, sizeof(raw), 0) != static_cast<ssize_t>(sizeof(raw)))
    return Status::Errorf("shm", "getrandom failed: {}", std::strerror(errno));
  std::string name = "/plexus-";
  for (uint8_t b : raw) name += fmt::format("{:02x}", b);
  return name;
}

Result<uint8_t*> MapFd(int fd, size_t bytes, const std::string& name) {
  // MAP_POPULATE: fault every page in now, not in the first all-reduce.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED)
    return Status::Errorf("shm", "mmap of {} ({} bytes) failed: {}", name, bytes, std::strerror(errno));
  return static_cast<uint8_t*>(p);
}

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

std::string HostIdentity() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  char ipc[128] = {};
  const ssize_t n = readlink("/proc/self/ns/ipc", ipc, sizeof(ipc) - 1);
  return fmt::format("{}/{}/{}", ReadFirstLine("/proc/sys/kernel/random/boot_id"), host,
                     n > 0 ? std::string(ipc, static_cast<size_t>(n)) : std::string("ipc:?"));
}

Result<Segment> Segment::Create(size_t bytes) {
  PLEXUS_ASSIGN_OR_RETURN(std::string name, RandomName());
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Status::Errorf("shm", "shm_open({}) failed: {}", name, std::strerror(errno));
  Segment seg;
  seg.name_ = name;
  seg.owner_named_ = true;  // from here on the destructor unlinks on any failure
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    close(fd);
    return Status::Errorf("shm", "sizing {} to {} bytes failed: {} (is /dev/shm big enough?)", name, bytes,
                          std::strerror(err));
  }
  auto base = MapFd(fd, bytes, name);
  close(fd);
  if (!base.ok()) return base.status();
  seg.base_ = *base;
  seg.bytes_ = bytes;
  return seg;
}

Result<Segment> Segment::Open(const std::string& name, size_t bytes) {
  if (name.size() < 2 || name[0] != '/' || name.find('/', 1) != std::string::npos)
    return Status::Errorf("shm", "bad segment name '{}'", name);
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) return Status::Errorf("shm", "shm_open({}) failed: {}", name, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != bytes) {
    close(fd);
    return Status::Errorf("shm", "segment {} has {} bytes, expected {}", name, static_cast<long long>(st.st_size),
                          bytes);
  }
  auto base = MapFd(fd, bytes, name);
  close(fd);
  if (!base.ok()) return base.status();
  Segment seg;
  seg.name_ = name;
  seg.base_ = *base;
  seg.bytes_ = bytes;
  return seg;
}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this == &o) return *this;
  this->~Segment();
  base_ = std::exchange(o.base_, nullptr);
  bytes_ = std::exchange(o.bytes_, 0);
  name_ = std::move(o.name_);
  owner_named_ = std::exchange(o.owner_named_, false);
  return *this;
}

Segment::~Segment() {
  Unlink();
  if (base_) munmap(base_, bytes_);
  base_ = nullptr;
}

void Segment::Unlink() {
  if (owner_named_) shm_unlink(name_.c_str());
  owner_named_ = false;
}

Status SendOffer(tcp::TcpMesh& mesh, int peer, const Offer& o) {
  const std::string text = fmt::format("{}\n{}\n{}\n{}\n{}", o.kind, o.tag, o.bytes, o.name, o.host);
  return mesh.SendFrame(peer, kOfferFrame, Bytes(text));
}

namespace {

Result<Offer> ParseOffer(const std::vector<uint8_t>& payload, int creator) {
  std::istringstream in(std::string(payload.begin(), payload.end()));
  Offer o;
  std::string tag, bytes;
  if (!std::getline(in, o.kind) || !std::getline(in, tag) || !std::getline(in, bytes) || !std::getline(in, o.name) ||
      !std::getline(in, o.host))
    return Status::Errorf("shm", "malformed segment offer from rank {}", creator);
  try {
    o.tag = static_cast<uint32_t>(std::stoul(tag));
    o.bytes = std::stoull(bytes);
  } catch (const std::exception&) {
    return Status::Errorf("shm", "malformed segment offer from rank {}: tag '{}' bytes '{}'", creator, tag, bytes);
  }
  return o;
}

Status Refuse(tcp::TcpMesh& mesh, int creator, Status why) {
  (void)mesh.SendFrame(creator, kRefuseFrame, Bytes(why.message()));
  return why;
}

}  // namespace

Result<Segment> AcceptOffer(tcp::TcpMesh& mesh, int creator, const std::string& kind, uint32_t tag,
                            std::chrono::milliseconds timeout) {
  auto frame = mesh.RecvFrame(creator, timeout);
  if (!frame.ok()) return frame.status().WithContext("[shm] waiting for the segment offer");
  if (frame->type != kOfferFrame)
    return Status::Errorf("shm", "expected a segment offer from rank {}, got control frame type {:#x}", creator,
                          frame->type);
  PLEXUS_ASSIGN_OR_RETURN(Offer o, ParseOffer(frame->payload, creator));
  if (o.kind != kind || o.tag != tag)
    return Refuse(mesh, creator,
                  Status::Errorf("shm", "rank {} offered a {} segment with tag {}, rank {} expected a {} with tag {}",
                                 creator, o.kind, o.tag, mesh.rank(), kind, tag));
  const std::string mine = HostIdentity();
  if (o.host != mine)
    return Refuse(mesh, creator,
                  Status::Errorf("shm", "rank {} is not on the same host/IPC namespace as rank {} ('{}' vs '{}')",
                                 creator, mesh.rank(), o.host, mine));
  auto seg = Segment::Open(o.name, o.bytes);
  if (!seg.ok()) return Refuse(mesh, creator, seg.status());
  return std::move(seg).value();
}

Status ExpectFrame(tcp::TcpMesh& mesh, int peer, uint16_t type, std::chrono::milliseconds timeout, const char* what) {
  auto frame = mesh.RecvFrame(peer, timeout);
  if (!frame.ok()) return frame.status().WithContext(fmt::format("[shm] waiting for {}", what));
  if (frame->type == kRefuseFrame)
    return Status::Errorf("shm", "rank {} refused the segment: {}", peer,
                          std::string(frame->payload.begin(), frame->payload.end()));
  if (frame->type != type)
    return Status::Errorf("shm", "expected {} from rank {}, got control frame type {:#x}", what, peer, frame->type);
  return Status::Ok();
}

}  // namespace plexus::shm
