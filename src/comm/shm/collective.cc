// ShmCollective: all-reduce and all-gather through per-rank slots in one
// shared segment.
//
// Segment layout (n = group size, S = slot_bytes, a multiple of 64):
//   [0, 128)                  CollHeader (written once by the creator)
//   [128, 128 + 128 n)        RankWord[n]: each rank's epoch/futex word, pid, state
//   [slots_offset, +2n(64+S)) slots: (parity 2, rank n) x (64-byte OpTag, S data bytes);
//                             slots_offset is 4 KiB aligned
// The OpTag says which operation the step belongs to, so ranks that call
// different collectives (or different sizes) fail with a clear error instead
// of mixing up their bytes.
//
// One step moves up to S bytes per rank. In step s a rank writes only its own
// slot of parity s % 2, publishes epoch+1 and waits until every rank has
// published the same epoch; then it reads the others' slots. Every rank
// finishes all reads of step s before it publishes anything of step s+1, and
// nobody writes parity s % 2 again before seeing everyone's step-(s+1) epoch,
// so a fast rank never overwrites a slot someone is still reading.
//
// All-reduce steps (m floats):
//  - one-shot (small m, or 2 ranks): everyone sums all n slots in rank order,
//    out = 0 + p0 + p1 + ...
//  - two-phase (m * 4 >= two_phase_bytes and n >= two_phase_min_ranks): rank
//    g sums slice g (elements [g m / n, (g+1) m / n)) of all slots, in the same
//    order, into slice g of its own slot (only it reads that slice), publishes
//    again, and everyone copies each slice from its owner's slot. Same bytes
//    as one-shot.
#include "comm/shm/collective.h"

#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "comm/shm/segment.h"
#include "comm/shm/sync.h"

namespace plexus::shm {
namespace {

constexpr uint64_t kCollMagic = 0x4c4c4f434d485350ull;  // "PSHMCOLL" little-endian
constexpr uint32_t kLayoutVersion = 1;
constexpr size_t kHeaderBytes = 128;

struct CollHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t n;
  uint32_t tag;
  uint32_t two_phase_min_ranks;
  uint64_t slot_bytes;
  uint64_t slots_offset;
  uint64_t two_phase_bytes;  // the creator's option: every rank must choose the same step kind
};
static_assert(sizeof(CollHeader) <= kHeaderBytes);

constexpr size_t kTagBytes = 64;  // OpTag, padded to a cache line ahead of the slot's data

// What a rank is doing in a step: kind 1 all-reduce of `amount` floats, kind 2
// all-gather of `amount` bytes in all with sizes hashing to `sizes_hash`.
struct OpTag {
  uint64_t kind = 0, amount = 0, sizes_hash = 0;
  bool operator==(const OpTag&) const = default;
};

std::string Describe(const OpTag& t) {
  if (t.kind == 1) return fmt::format("an all-reduce of {} floats", t.amount);
  return fmt::format("an all-gather of {} bytes (sizes hash {:x})", t.amount, t.sizes_hash);
}

size_t AlignUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// out[i] = 0 + src[0][i] + ... + src[n-1][i], in exactly that order. Blocks
// accumulate in a local buffer that aliases nothing, so the compiler
// vectorizes the loops; `out` may be one of the sources.
void SumInOrder(const float* const* src, int n, size_t count, float* out) {
  constexpr size_t kBlock = 1024;
  alignas(64) float acc[kBlock];
  for (size_t b = 0; b < count; b += kBlock) {
    const size_t m = std::min(kBlock, count - b);
    const float* s0 = src[0] + b;
    for (size_t i = 0; i < m; ++i) acc[i] = 0.0f + s0[i];  // 0 + p0, as the TCP one-shot (-0.0 becomes +0.0)
    for (int k = 1; k < n; ++k) {
      const float* s = src[k] + b;
      for (size_t i = 0; i < m; ++i) acc[i] += s[i];
    }
    std::memcpy(out + b, acc, m * sizeof(float));
  }
}

class ShmCollective final : public Collective {
 public:
  ShmCollective(tcp::TcpMesh* mesh, std::vector<int> ranks, int me, Segment seg, const ShmOptions& opt)
      : ranks_(std::move(ranks)), me_(me), seg_(std::move(seg)), waiter_(mesh, opt.spin_iterations) {
    const auto* h = reinterpret_cast<const CollHeader*>(seg_.base());
    words_ = reinterpret_cast<RankWord*>(seg_.base() + kHeaderBytes);
    slots_ = seg_.base() + h->slots_offset;
    slot_bytes_ = h->slot_bytes;
    two_phase_bytes_ = h->two_phase_bytes;
    two_phase_ok_ = h->n >= h->two_phase_min_ranks;
    srcs_.resize(ranks_.size());
  }
  ~ShmCollective() override {
    if (broken_.ok()) SetState(words_[me_], kClosed);
  }

  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(ranks_.size()); }
  Status AllReduceSum(void* data, size_t count, ElemType type) override;
  Status AllGather(const void* in, size_t bytes, void* out) override;
  Status AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) override;

 private:
  OpTag* Tag(uint32_t step, int g) const {
    return reinterpret_cast<OpTag*>(slots_ +
                                    ((step & 1) * ranks_.size() + static_cast<size_t>(g)) * (kTagBytes + slot_bytes_));
  }
  uint8_t* Slot(uint32_t step, int g) const { return reinterpret_cast<uint8_t*>(Tag(step, g)) + kTagBytes; }
  uint32_t BeginStep() {
    *Tag(step_, me_) = op_;
    return step_++;
  }
  Status CheckOps(uint32_t step) const;
  Status WaitAll(uint32_t target, const char* what);
  Status PublishAndWait(const char* what);
  Status OneShotStep(float* data, size_t m);
  Status TwoPhaseStep(float* data, size_t m);
  Status GatherStep(const uint8_t* in, const size_t* bytes, const size_t* offsets, size_t window, uint8_t* out);
  Status Sticky(Status st);

  std::vector<int> ranks_;  // mesh ranks, ascending; group rank = index
  int me_;
  Segment seg_;
  RankWord* words_ = nullptr;  // [n], in the segment
  uint8_t* slots_ = nullptr;   // (2, n, 64 + slot_bytes_), in the segment
  size_t slot_bytes_ = 0;
  size_t two_phase_bytes_ = 0;
  bool two_phase_ok_ = false;  // the group is large enough for two-phase steps
  Waiter waiter_;
  uint32_t epoch_ = 0;  // publications so far; equal on all ranks between steps
  uint32_t step_ = 0;   // steps so far; its parity picks the slot half
  OpTag op_;            // the operation in progress
  std::vector<const float*> srcs_;
  std::vector<size_t> offsets_, sizes_;
  Status broken_;
};

Status ShmCollective::Sticky(Status st) {
  if (!st.ok() && broken_.ok()) {
    broken_ = st;
    SetState(words_[me_], kFailed);  // peers waiting on us fail now instead of hanging
  }
  return st;
}

Status ShmCollective::PublishAndWait(const char* what) {
  Publish(words_[me_], ++epoch_);
  return WaitAll(epoch_, what);
}

Status ShmCollective::WaitAll(uint32_t target, const char* what) {
  for (int g = 0; g < size(); ++g) {
    if (g == me_) continue;
    Status st = waiter_.WaitFor(words_[g], ranks_[g], target, what);
    if (st.ok()) continue;
    // The rank we waited for may only have given up because a third one
    // died: name the dead one if there is one.
    for (int k = 0; k < size(); ++k)
      if (k != me_ && k != g && !ProcessAlive(words_[k].pid.load(std::memory_order_acquire)))
        return waiter_.CheckPeer(words_[k], ranks_[k], what);
    return st;
  }
  return Status::Ok();
}

// After the first wait of a step: did every rank join the same operation?
Status ShmCollective::CheckOps(uint32_t step) const {
  for (int g = 0; g < size(); ++g)
    if (g != me_ && !(*Tag(step, g) == op_))
      return Status::Errorf("shm", "rank {} called {}, but rank {} called {}", ranks_[g], Describe(*Tag(step, g)),
                            ranks_[me_], Describe(op_));
  return Status::Ok();
}

Status ShmCollective::OneShotStep(float* data, size_t m) {
  const uint32_t s = BeginStep();
  std::memcpy(Slot(s, me_), data, m * sizeof(float));
  PLEXUS_RETURN_IF_ERROR(PublishAndWait("all-reduce"));
  PLEXUS_RETURN_IF_ERROR(CheckOps(s));
  for (int g = 0; g < size(); ++g)  // our own partial is still in `data`, warm in cache
    srcs_[g] = g == me_ ? data : reinterpret_cast<const float*>(Slot(s, g));
  SumInOrder(srcs_.data(), size(), m, data);
  return Status::Ok();
}

Status ShmCollective::TwoPhaseStep(float* data, size_t m) {
  const uint32_t s = BeginStep();
  const size_t n = ranks_.size();
  auto begin = [&](size_t g) { return m * g / n; };
  std::memcpy(Slot(s, me_), data, m * sizeof(float));
  PLEXUS_RETURN_IF_ERROR(PublishAndWait("all-reduce"));
  PLEXUS_RETURN_IF_ERROR(CheckOps(s));
  const size_t lo = begin(static_cast<size_t>(me_)), hi = begin(static_cast<size_t>(me_) + 1);
  for (int g = 0; g < size(); ++g) srcs_[g] = (g == me_ ? data : reinterpret_cast<const float*>(Slot(s, g))) + lo;
  SumInOrder(srcs_.data(), size(), hi - lo, reinterpret_cast<float*>(Slot(s, me_)) + lo);
  PLEXUS_RETURN_IF_ERROR(PublishAndWait("all-reduce"));
  for (size_t g = 0; g < n; ++g) {
    const float* sum = reinterpret_cast<const float*>(Slot(s, static_cast<int>(g)));
    std::memcpy(data + begin(g), sum + begin(g), (begin(g + 1) - begin(g)) * sizeof(float));
  }
  return Status::Ok();
}

Status ShmCollective::AllReduceSum(void* data, size_t count, ElemType type) {
  if (type != ElemType::kF32) return Status::Errorf("shm", "all-reduce supports f32 only");
  if (!broken_.ok()) return broken_.WithContext("[shm] all-reduce on a collective that failed earlier");
  if (size() == 1 || count == 0) return Status::Ok();
  auto* f = static_cast<float*>(data);
  op_ = OpTag{1, count, 0};
  const size_t step_floats = slot_bytes_ / sizeof(float);
  for (size_t off = 0; off < count; off += step_floats) {
    const size_t m = std::min(step_floats, count - off);
    const bool two_phase = two_phase_ok_ && m * sizeof(float) >= two_phase_bytes_;
    PLEXUS_RETURN_IF_ERROR(Sticky(two_phase ? TwoPhaseStep(f + off, m) : OneShotStep(f + off, m)));
  }
  return Status::Ok();
}

Status ShmCollective::AllGather(const void* in, size_t bytes, void* out) {
  sizes_.assign(ranks_.size(), bytes);
  return AllGatherV(in, sizes_.data(), out);
}

// Window [window, window + slot_bytes) of every rank's contribution.
Status ShmCollective::GatherStep(const uint8_t* in, const size_t* bytes, const size_t* offsets, size_t window,
                                 uint8_t* out) {
  auto part = [&](int g) { return bytes[g] > window ? std::min(slot_bytes_, bytes[g] - window) : size_t{0}; };
  const uint32_t s = BeginStep();
  if (part(me_) > 0) std::memcpy(Slot(s, me_), in + window, part(me_));
  PLEXUS_RETURN_IF_ERROR(PublishAndWait("all-gather"));
  PLEXUS_RETURN_IF_ERROR(CheckOps(s));
  for (int g = 0; g < size(); ++g)
    if (g != me_ && part(g) > 0) std::memcpy(out + offsets[g] + window, Slot(s, g), part(g));
  return Status::Ok();
}

Status ShmCollective::AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) {
  if (!broken_.ok()) return broken_.WithContext("[shm] all-gather on a collective that failed earlier");
  offsets_.assign(ranks_.size(), 0);
  size_t max_bytes = 0;
  for (int g = 0; g + 1 < size(); ++g) offsets_[g + 1] = offsets_[g] + bytes_per_rank[g];
  uint64_t sizes_hash = 1469598103934665603ull;  // FNV-1a over the sizes
  for (int g = 0; g < size(); ++g) {
    max_bytes = std::max(max_bytes, bytes_per_rank[g]);
    sizes_hash = (sizes_hash ^ bytes_per_rank[g]) * 1099511628211ull;
  }
  op_ = OpTag{2, offsets_.back() + bytes_per_rank[size() - 1], sizes_hash};
  const auto* src = static_cast<const uint8_t*>(in);
  auto* dst = static_cast<uint8_t*>(out);
  if (size() > 1)  // every rank knows every size, so all take the same number of steps
    for (size_t window = 0; window < max_bytes; window += slot_bytes_)
      PLEXUS_RETURN_IF_ERROR(Sticky(GatherStep(src, bytes_per_rank, offsets_.data(), window, dst)));
  if (dst + offsets_[me_] != src && bytes_per_rank[me_] > 0)
    std::memmove(dst + offsets_[me_], src, bytes_per_rank[me_]);
  return Status::Ok();
}

// ---- creation ---------------------------------------------------------------

struct Layout {
  size_t slot_bytes, slots_offset, total;
};

Result<Layout> PlanLayout(size_t n, const ShmOptions& opt) {
  Layout l{};
  l.slots_offset = AlignUp(kHeaderBytes + n * sizeof(RankWord), 4096);
  const size_t room = opt.segment_bytes > l.slots_offset ? (opt.segment_bytes - l.slots_offset) / (2 * n) : 0;
  l.slot_bytes = std::min(opt.chunk_bytes, room > kTagBytes ? room - kTagBytes : 0) / 64 * 64;
  if (l.slot_bytes < 4096)
    return Status::Errorf("shm", "chunk_bytes {} / segment_bytes {} leave {} bytes per slot for {} ranks (need 4096)",
                          opt.chunk_bytes, opt.segment_bytes, l.slot_bytes, n);
  l.total = l.slots_offset + 2 * n * (kTagBytes + l.slot_bytes);
  return l;
}

// A member checks the creator's header before trusting its offsets.
Status CheckHeader(const Segment& seg, size_t n, uint32_t tag) {
  if (seg.bytes() < kHeaderBytes) return Status::Errorf("shm", "segment {} is too small", seg.name());
  const auto* h = reinterpret_cast<const CollHeader*>(seg.base());
  if (h->magic != kCollMagic || h->version != kLayoutVersion || h->n != n || h->tag != tag)
    return Status::Errorf("shm", "segment {} holds a different group (magic {:#x} version {} n {} tag {})", seg.name(),
                          h->magic, h->version, h->n, h->tag);
  const bool fits = h->slot_bytes >= 64 && h->slot_bytes % 64 == 0 && h->slots_offset % 64 == 0 &&
                    h->slots_offset >= kHeaderBytes + n * sizeof(RankWord) && h->slot_bytes <= seg.bytes() &&
                    h->slots_offset + 2 * n * (kTagBytes + h->slot_bytes) <= seg.bytes();
  if (!fits) return Status::Errorf("shm", "segment {} has an inconsistent layout", seg.name());
  return Status::Ok();
}

std::string GroupKind(const std::vector<int>& ranks) { return fmt::format("collective {}", fmt::join(ranks, ",")); }

Result<Segment> CreateAsLeader(tcp::TcpMesh& mesh, const std::vector<int>& ranks, uint32_t tag, const ShmOptions& opt) {
  const size_t n = ranks.size();
  PLEXUS_ASSIGN_OR_RETURN(Layout l, PlanLayout(n, opt));
  PLEXUS_ASSIGN_OR_RETURN(Segment seg, Segment::Create(l.total));
  auto* h = reinterpret_cast<CollHeader*>(seg.base());
  *h = CollHeader{kCollMagic,
                  kLayoutVersion,
                  static_cast<uint32_t>(n),
                  tag,
                  static_cast<uint32_t>(std::max(opt.two_phase_min_ranks, 0)),
                  l.slot_bytes,
                  l.slots_offset,
                  opt.two_phase_bytes};
  auto* words = reinterpret_cast<RankWord*>(seg.base() + kHeaderBytes);
  for (size_t g = 0; g < n; ++g) new (&words[g]) RankWord();
  words[0].pid.store(getpid());
  words[0].state.store(kReady);
  const Offer offer{GroupKind(ranks), tag, l.total, seg.name(), HostIdentity()};
  for (size_t g = 1; g < n; ++g) PLEXUS_RETURN_IF_ERROR(SendOffer(mesh, ranks[g], offer));
  for (size_t g = 1; g < n; ++g) {
    Status st = ExpectFrame(mesh, ranks[g], kAckFrame, opt.setup_timeout, "the segment ack");
    if (st.ok()) continue;
    // Tell the others (who wait for kGoFrame) instead of leaving them to time out.
    const std::vector<uint8_t> why(st.message().begin(), st.message().end());
    for (size_t o = 1; o < n; ++o)
      if (o != g) (void)mesh.SendFrame(ranks[o], kRefuseFrame, why);
    return st;
  }
  seg.Unlink();  // everyone has it mapped: from now on nothing can leak
  for (size_t g = 1; g < n; ++g) PLEXUS_RETURN_IF_ERROR(mesh.SendFrame(ranks[g], kGoFrame, {}));
  return seg;
}

Result<Segment> JoinAsMember(tcp::TcpMesh& mesh, const std::vector<int>& ranks, int me, uint32_t tag,
                             const ShmOptions& opt) {
  PLEXUS_ASSIGN_OR_RETURN(Segment seg, AcceptOffer(mesh, ranks[0], GroupKind(ranks), tag, opt.setup_timeout));
  if (Status st = CheckHeader(seg, ranks.size(), tag); !st.ok()) {
    (void)mesh.SendFrame(ranks[0], kRefuseFrame, std::vector<uint8_t>(st.message().begin(), st.message().end()));
    return st;
  }
  auto* words = reinterpret_cast<RankWord*>(seg.base() + kHeaderBytes);
  words[me].pid.store(getpid());
  words[me].state.store(kReady);
  PLEXUS_RETURN_IF_ERROR(mesh.SendFrame(ranks[0], kAckFrame, {}));
  // Wait until every member has joined, so all pids are known before the first wait.
  PLEXUS_RETURN_IF_ERROR(ExpectFrame(mesh, ranks[0], kGoFrame, opt.setup_timeout, "the group to assemble"));
  return seg;
}

}  // namespace

Result<std::unique_ptr<Collective>> NewShmCollective(tcp::TcpMesh& mesh, std::vector<int> ranks, uint32_t tag,
                                                     ShmOptions opt) {
  if (!std::is_sorted(ranks.begin(), ranks.end()) || std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end())
    return Status::Errorf("shm", "collective ranks must be ascending and unique");
  if (ranks.empty() || ranks.front() < 0 || ranks.back() >= mesh.size())
    return Status::Errorf("shm", "collective ranks must lie in [0, {})", mesh.size());
  const auto it = std::find(ranks.begin(), ranks.end(), mesh.rank());
  if (it == ranks.end()) return Status::Errorf("shm", "rank {} is not in the collective's ranks", mesh.rank());
  if (opt.spin_iterations < 0) return Status::Errorf("shm", "spin_iterations must be >= 0");
  if (ranks.size() == 1) return std::unique_ptr<Collective>(std::make_unique<NoopCollective>());
  const int me = static_cast<int>(it - ranks.begin());
  auto seg = me == 0 ? CreateAsLeader(mesh, ranks, tag, opt) : JoinAsMember(mesh, ranks, me, tag, opt);
  if (!seg.ok()) return seg.status().WithContext(fmt::format("[shm] creating the group of rank {}", mesh.rank()));
  return std::unique_ptr<Collective>(
      std::make_unique<ShmCollective>(&mesh, std::move(ranks), me, std::move(seg).value(), opt));
}

}  // namespace plexus::shm
