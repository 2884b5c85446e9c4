// ShmPipeLink: pipeline hand-off through a single-producer single-consumer
// ring in a segment owned by each link's sending side.
//
// Segment layout (C cells of B data bytes, B a multiple of 64):
//   [0, 128)      PipeHeader
//   [128, 256)    RankWord of the producer: epoch = cells written so far
//   [256, 384)    RankWord of the consumer: epoch = cells read so far
//   [4096, ...)   cells: C x (64-byte CellHeader, B data bytes)
// A message of any size goes as ceil(size / B) cells (at least one, so empty
// messages still pair up); each cell names the message size and its offset,
// so a receiver expecting another size fails with a clear error.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "comm/shm/collective.h"
#include "comm/shm/segment.h"
#include "comm/shm/sync.h"

namespace plexus::shm {
namespace {

constexpr uint64_t kPipeMagic = 0x45504950434d4850ull;  // "PHMCPIPE" little-endian
constexpr uint32_t kLayoutVersion = 1;
constexpr size_t kCellsOffset = 4096;
constexpr size_t kCellHeaderBytes = 64;

struct PipeHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t tag;
  uint64_t cells;
  uint64_t cell_bytes;
};

struct CellHeader {
  uint64_t message_bytes;  // size of the whole message this cell belongs to
  uint64_t offset;         // where this cell's bytes go in it
  uint64_t len;            // bytes in this cell (<= cell_bytes)
};

// One direction of one link, as seen from one end.
struct Ring {
  Segment seg;
  int peer = -1;  // mesh rank at the other end
  RankWord* producer = nullptr;
  RankWord* consumer = nullptr;
  uint8_t* cells = nullptr;
  size_t n_cells = 0, cell_bytes = 0;
  uint32_t pos = 0;  // cells this end has written (producer) or read (consumer)

  bool Attach(Segment s) {
    seg = std::move(s);
    const auto* h = reinterpret_cast<const PipeHeader*>(seg.base());
    if (seg.bytes() < kCellsOffset || h->magic != kPipeMagic || h->version != kLayoutVersion || h->cells < 1 ||
        h->cell_bytes == 0 || h->cell_bytes % 64 != 0 ||
        kCellsOffset + h->cells * (kCellHeaderBytes + h->cell_bytes) > seg.bytes())
      return false;
    producer = reinterpret_cast<RankWord*>(seg.base() + 128);
    consumer = reinterpret_cast<RankWord*>(seg.base() + 256);
    cells = seg.base() + kCellsOffset;
    n_cells = h->cells;
    cell_bytes = h->cell_bytes;
    return true;
  }
  uint8_t* Cell(uint32_t i) const { return cells + (i % n_cells) * (kCellHeaderBytes + cell_bytes); }
};

class ShmPipeLink final : public PipeLink {
 public:
  ShmPipeLink(tcp::TcpMesh* mesh, const ShmOptions& opt, int me) : me_(me), waiter_(mesh, opt.spin_iterations) {}
  ~ShmPipeLink() override {
    if (send_.seg.base()) SetState(*send_.producer, kClosed);
    if (recv_.seg.base()) SetState(*recv_.consumer, kClosed);
  }
  Status SendNext(const void* data, size_t bytes) override;
  Status RecvPrev(void* data, size_t bytes) override;

  Ring send_, recv_;

 private:
  Status Sticky(Status st, Status* broken, RankWord* mine);
  int me_;
  Waiter waiter_;
  Status send_broken_, recv_broken_;
};

Status ShmPipeLink::Sticky(Status st, Status* broken, RankWord* mine) {
  if (!st.ok() && broken->ok()) {
    *broken = st;
    SetState(*mine, kFailed);
  }
  return st;
}

Status ShmPipeLink::SendNext(const void* data, size_t bytes) {
  if (!send_.seg.base()) return Status::Errorf("shm", "the last pipeline stage has no next stage");
  if (!send_broken_.ok()) return send_broken_.WithContext("[shm] pipeline send on a link that failed earlier");
  const auto* src = static_cast<const uint8_t*>(data);
  size_t sent = 0;
  do {
    const size_t len = std::min(send_.cell_bytes, bytes - sent);
    // A free cell: the consumer has read all but n_cells - 1 of what we wrote.
    const uint32_t need = send_.pos + 1 - static_cast<uint32_t>(send_.n_cells);
    Status st = waiter_.WaitFor(*send_.consumer, send_.peer, need, "pipeline send");
    if (!st.ok()) return Sticky(st, &send_broken_, send_.producer);
    uint8_t* cell = send_.Cell(send_.pos);
    *reinterpret_cast<CellHeader*>(cell) = CellHeader{bytes, sent, len};
    if (len > 0) std::memcpy(cell + kCellHeaderBytes, src + sent, len);
    Publish(*send_.producer, ++send_.pos);
    sent += len;
  } while (sent < bytes);
  return Status::Ok();
}

Status ShmPipeLink::RecvPrev(void* data, size_t bytes) {
  if (!recv_.seg.base()) return Status::Errorf("shm", "the first pipeline stage has no previous stage");
  if (!recv_broken_.ok()) return recv_broken_.WithContext("[shm] pipeline receive on a link that failed earlier");
  auto* dst = static_cast<uint8_t*>(data);
  size_t got = 0;
  do {
    Status st = waiter_.WaitFor(*recv_.producer, recv_.peer, recv_.pos + 1, "pipeline receive");
    if (!st.ok()) return Sticky(st, &recv_broken_, recv_.consumer);
    const uint8_t* cell = recv_.Cell(recv_.pos);
    const CellHeader h = *reinterpret_cast<const CellHeader*>(cell);
    if (h.message_bytes != bytes || h.offset != got || h.len > recv_.cell_bytes || h.len > bytes - got ||
        (h.len == 0 && bytes > 0))  // a cell must make progress
      return Sticky(Status::Errorf("shm", "rank {} sent a {}-byte message, rank {} expected {} bytes", recv_.peer,
                                   h.message_bytes, me_, bytes),
                    &recv_broken_, recv_.consumer);
    if (h.len > 0) std::memcpy(dst + got, cell + kCellHeaderBytes, h.len);
    Publish(*recv_.consumer, ++recv_.pos);
    got += h.len;
  } while (got < bytes);
  return Status::Ok();
}

std::string LinkKind(int from, int to) { return fmt::format("pipe {}->{}", from, to); }

Result<Segment> CreateRing(const ShmOptions& opt) {
  const size_t n_cells = 8;  // enough to overlap copy-in and copy-out; more buys nothing
  const size_t cell_bytes = std::min(opt.chunk_bytes, (opt.segment_bytes - kCellsOffset) / n_cells) / 64 * 64;
  if (opt.segment_bytes <= kCellsOffset || cell_bytes < 4096)
    return Status::Errorf("shm", "chunk_bytes {} / segment_bytes {} leave under 4096 bytes per pipe cell",
                          opt.chunk_bytes, opt.segment_bytes);
  PLEXUS_ASSIGN_OR_RETURN(Segment seg, Segment::Create(kCellsOffset + n_cells * (kCellHeaderBytes + cell_bytes)));
  *reinterpret_cast<PipeHeader*>(seg.base()) = PipeHeader{kPipeMagic, kLayoutVersion, 0, n_cells, cell_bytes};
  return seg;
}

Status SetUpSend(tcp::TcpMesh& mesh, Ring& ring, int next, uint32_t tag, const ShmOptions& opt) {
  PLEXUS_ASSIGN_OR_RETURN(Segment seg, CreateRing(opt));
  reinterpret_cast<PipeHeader*>(seg.base())->tag = tag;
  new (seg.base() + 128) RankWord();
  new (seg.base() + 256) RankWord();
  const Offer offer{LinkKind(mesh.rank(), next), tag, seg.bytes(), seg.name(), HostIdentity()};
  if (!ring.Attach(std::move(seg))) return Status::Errorf("shm", "internal: bad pipe layout");
  ring.peer = next;
  ring.producer->pid.store(getpid());
  ring.producer->state.store(kReady);
  return SendOffer(mesh, next, offer);
}

Status SetUpRecv(tcp::TcpMesh& mesh, Ring& ring, int prev, uint32_t tag, const ShmOptions& opt) {
  PLEXUS_ASSIGN_OR_RETURN(Segment seg, AcceptOffer(mesh, prev, LinkKind(prev, mesh.rank()), tag, opt.setup_timeout));
  const std::string name = seg.name();
  if (!ring.Attach(std::move(seg))) {
    Status st = Status::Errorf("shm", "pipe segment {} from rank {} has an inconsistent layout", name, prev);
    (void)mesh.SendFrame(prev, kRefuseFrame, std::vector<uint8_t>(st.message().begin(), st.message().end()));
    return st;
  }
  ring.peer = prev;
  ring.consumer->pid.store(getpid());
  ring.consumer->state.store(kReady);
  return mesh.SendFrame(prev, kAckFrame, {});
}

}  // namespace

Result<std::unique_ptr<PipeLink>> NewShmPipeLink(tcp::TcpMesh& mesh, int prev_rank, int next_rank, uint32_t tag,
                                                 ShmOptions opt) {
  for (int r : {prev_rank, next_rank})
    if (r != -1 && (r < 0 || r >= mesh.size() || r == mesh.rank()))
      return Status::Errorf("shm", "pipeline peer {} is not another rank of this {}-rank mesh", r, mesh.size());
  if (opt.spin_iterations < 0) return Status::Errorf("shm", "spin_iterations must be >= 0");
  auto link = std::make_unique<ShmPipeLink>(&mesh, opt, mesh.rank());
  // Offer our outgoing ring first (SendFrame does not block on the peer), then
  // take the incoming one: no ordering can deadlock, even prev == next.
  Status st = Status::Ok();
  if (next_rank >= 0) st = SetUpSend(mesh, link->send_, next_rank, tag, opt);
  if (st.ok() && prev_rank >= 0) st = SetUpRecv(mesh, link->recv_, prev_rank, tag, opt);
  if (st.ok() && next_rank >= 0) st = ExpectFrame(mesh, next_rank, kAckFrame, opt.setup_timeout, "the pipe ack");
  if (!st.ok()) return st.WithContext(fmt::format("[shm] creating the pipeline link of rank {}", mesh.rank()));
  if (next_rank >= 0) link->send_.seg.Unlink();
  return std::unique_ptr<PipeLink>(std::move(link));
}

}  // namespace plexus::shm
