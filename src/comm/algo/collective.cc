#include "comm/algo/collective.h"

#include <algorithm>
#include <cstring>

namespace plexus::comm {
namespace {

// kAuto thresholds, measured with `plexus bench-comm --local N --algo
// oneshot,rd,ring --json` over TCP between 2, 3 and 4 local processes on the
// 2-core dev box, 2026-11-26, load average 6-10 (other builds running).
// Median us of rank 0's calls (300 calls per run up to 64K, 60 to 1M, then
// 15 and 6).
//
// (a) --emulate-link 300us,2.5gbit (a real link's regime; one run each):
//          2 nodes                | 3 nodes                | 4 nodes
//  bytes | oneshot     rd   ring | oneshot     rd   ring | oneshot     rd   ring
//      4 |     365    369    702 |     404   1045   1393 |     465    779   1789
//     4K |     384    384    747 |     425   1097   1497 |     463    784   2351
//    16K |     439    444    800 |     509   1269   1582 |     653    952   2442
//    64K |     670    662    970 |     932   1910   1904 |    1237   1449   2784
//   128K |     976    955   1339 |    1375   2655   2258 |    1974   2211   3279
//   256K |    1595   1600   1915 |    2499   4197   3200 |    3754   4142   4410
//   512K |    2631   2934   3144 |    6051   7560   4610 |   13431   7555   9320
//     1M |    5528   7940   8602 |   14511  14097  11847 |   24430  13007  10513
//     2M |   12459  13135  14301 |   25641  26685  23558 |   59121  37904  26842
//     4M |   23661  19719  22089 |   48509  45819  39638 |  112893  76935  36846
//
// (b) loopback, no emulation (median of 3 runs):
//          2 nodes                | 3 nodes                | 4 nodes
//  bytes | oneshot     rd   ring | oneshot     rd   ring | oneshot     rd   ring
//      4 |      24     24     23 |      76     38     70 |     116    100    107
//    256 |      26     26     46 |      74     48    142 |     124    101    268
//     1K |      26     26     48 |      78     51    130 |     127    107    291
//     4K |      32     31     51 |      71     68    140 |     156    121    313
//    16K |      52     49     65 |     100     92    149 |     261    197    392
//    32K |      81     75     88 |     276    145    259 |     465    294    481
//    64K |     145    132    124 |     265    199    239 |     819    510    599
//   128K |     266    247    241 |    1415    530    593 |    3246   1546   1025
//   256K |     527    484    460 |    4282   2232    646 |    4880   2092   1678
//   512K |    1910   2256   2427 |    9080   5625   2022 |   17991  11405   3648
//     1M |    4609   4066   4103 |   15862   3804   7645 |   35542  19817  14748
//     4M |   22335  20546  15964 |   58007  40426  36051 |  125537  78612  56206
//    16M |   92271  69020  65528 |  259159 166035 169675 |  484997 329888 248503
//
// The table follows (a): the TCP transport is for links between machines,
// where latency dominates small vectors and one-shot's single hop wins (rd
// needs 2-3 hops, ring 2(n-1)); ring wins where bytes dominate (3 nodes from
// 512K, 4 nodes from 1M, rd in between on 4), and on 2 nodes ring moves the
// same bytes as one-shot in two hops, so it never wins there. (b) differs:
// on 3-4 nodes rd wins below ~128-256K and ring from there, on 2 nodes ring
// wins from 64K by 5-25%: with 2-4 processes on 2 busy cores the costs are
// scheduling and summing (rd wakes fewer ranks at once, ring sums half), a
// trait of this box, not of a link. Re-measure on the target machines and
// pass a table in AlgoOptions (or CollectiveOptions::table for tcp).
constexpr size_t kNever = ~size_t{0};
constexpr AutoTable kDefaultAutoTable = {{
    {2, kNever, kNever},
    {3, size_t{512} << 10, size_t{512} << 10},
    {4, size_t{512} << 10, size_t{1} << 20},
}};

size_t ChunkBegin(size_t count, int n, int c) { return count * static_cast<size_t>(c) / static_cast<size_t>(n); }

// acc[i] = acc[i] + in[i]: the running sum is the left operand.
void AddInto(float* acc, const float* in, size_t count) {
  for (size_t i = 0; i < count; ++i) acc[i] = acc[i] + in[i];
}

// acc[i] = in[i] + acc[i]: for when the incoming operand must come first.
void AddIntoRight(float* acc, const float* in, size_t count) {
  for (size_t i = 0; i < count; ++i) acc[i] = in[i] + acc[i];
}

}  // namespace

const char* AlgoName(AllReduceAlgo algo) {
  switch (algo) {
    case AllReduceAlgo::kAuto: return "auto";
    case AllReduceAlgo::kOneShot: return "oneshot";
    case AllReduceAlgo::kRecursiveDoubling: return "rd";
    case AllReduceAlgo::kRing: return "ring";
  }
  return "?";
}

Result<AllReduceAlgo> ParseAlgo(std::string_view name) {
  for (AllReduceAlgo a : {AllReduceAlgo::kAuto, AllReduceAlgo::kOneShot, AllReduceAlgo::kRecursiveDoubling,
                          AllReduceAlgo::kRing})
    if (name == AlgoName(a)) return a;
  return Status::Errorf("comm", "unknown all-reduce algorithm '{}' (want auto, oneshot, rd or ring)", name);
}

const AutoTable& DefaultAutoTable() { return kDefaultAutoTable; }

AllReduceAlgo ChooseAlgo(const AutoTable& table, int nodes, size_t bytes) {
  const AutoRule* rule = &table.back();
  for (const AutoRule& r : table)
    if (r.nodes >= nodes) {
      rule = &r;
      break;
    }
  if (bytes < rule->rd_from_bytes) return AllReduceAlgo::kOneShot;
  return bytes < rule->ring_from_bytes ? AllReduceAlgo::kRecursiveDoubling : AllReduceAlgo::kRing;
}

AlgoCollective::AlgoCollective(std::unique_ptr<StepTransport> transport, AlgoOptions options)
    : t_(std::move(transport)), opt_(options) {}

AllReduceAlgo AlgoCollective::ChooseAlgo(size_t bytes) const {
  if (opt_.algo != AllReduceAlgo::kAuto) return opt_.algo;
  return comm::ChooseAlgo(opt_.table, size(), bytes);
}

Status AlgoCollective::Sticky(Status st) {
  if (!st.ok() && broken_.ok()) broken_ = st;
  return st;
}

Status AlgoCollective::Refuse(const char* what) const {
  return broken_.WithContext(fmt::format("[{}] {} on a collective that failed earlier", t_->name(), what));
}

Status AlgoCollective::Step(int to, const void* send, size_t send_bytes, int from, void* recv, size_t recv_bytes) {
  const bool do_send = to >= 0 && send_bytes > 0, do_recv = from >= 0 && recv_bytes > 0;
  if (!do_send && !do_recv) return Status::Ok();  // both ends know the sizes: nothing to wait for
  t_->Clear();
  if (do_send) t_->Send(to, send, send_bytes);
  if (do_recv) t_->Recv(from, recv, recv_bytes);
  return t_->Run("all-reduce");
}

Status AlgoCollective::AllReduceSum(void* data, size_t count, ElemType type) {
  if (type != ElemType::kF32) return Status::Errorf(t_->name(), "all-reduce supports f32 only");
  if (!broken_.ok()) return Refuse("all-reduce");
  if (size() == 1 || count == 0) return Status::Ok();
  auto* f = static_cast<float*>(data);
  switch (ChooseAlgo(count * sizeof(float))) {
    case AllReduceAlgo::kRecursiveDoubling: return Sticky(RecursiveDoubling(f, count));
    case AllReduceAlgo::kRing: return Sticky(Ring(f, count));
    default: return Sticky(OneShot(f, count));
  }
}

// scratch_: [n-1][count], the other ranks' partials in group-rank order.
Status AlgoCollective::OneShot(float* data, size_t count) {
  const int n = size(), me = rank();
  const size_t need = static_cast<size_t>(n - 1) * count, bytes = count * sizeof(float);
  if (scratch_.size() < need) scratch_.resize(need);
  auto slot = [&](int g) { return scratch_.data() + static_cast<size_t>(g < me ? g : g - 1) * count; };
  t_->Clear();
  for (int g = 0; g < n; ++g) {
    if (g == me) continue;
    t_->Send(g, data, bytes);
    t_->Recv(g, slot(g), bytes);
  }
  PLEXUS_RETURN_IF_ERROR(t_->Run("all-reduce"));
  // 0 + p0 + p1 + ... per element, a block at a time so the sum stays in L1
  // and `data` (p_me) is read before its block is overwritten.
  constexpr size_t kBlock = 2048;
  float acc[kBlock];
  for (size_t b = 0; b < count; b += kBlock) {
    const size_t m = std::min(kBlock, count - b);
    std::fill(acc, acc + m, 0.0f);
    for (int g = 0; g < n; ++g) AddInto(acc, (g == me ? data : slot(g)) + b, m);
    std::memcpy(data + b, acc, m * sizeof(float));
  }
  return Status::Ok();
}

// scratch_: [count], the partner's vector of the current step.
Status AlgoCollective::RecursiveDoubling(float* data, size_t count) {
  const int n = size(), me = rank();
  int m = 1;
  while (m * 2 <= n) m *= 2;
  const int extra = n - m;  // ranks m .. n-1 fold into ranks 0 .. extra-1
  const size_t bytes = count * sizeof(float);
  if (me >= m) {
    PLEXUS_RETURN_IF_ERROR(Step(me - m, data, bytes, -1, nullptr, 0));
    return Step(-1, nullptr, 0, me - m, data, bytes);  // the result
  }
  if (scratch_.size() < count) scratch_.resize(count);
  float* in = scratch_.data();
  if (me < extra) {  // v_me = p_me + p_(m+me)
    PLEXUS_RETURN_IF_ERROR(Step(-1, nullptr, 0, me + m, in, bytes));
    AddInto(data, in, count);
  }
  for (int k = 1; k < m; k <<= 1) {
    const int partner = me ^ k;
    PLEXUS_RETURN_IF_ERROR(Step(partner, data, bytes, partner, in, bytes));
    if (me < partner)
      AddInto(data, in, count);  // mine + theirs
    else
      AddIntoRight(data, in, count);  // theirs + mine
  }
  if (me < extra) return Step(me + m, data, bytes, -1, nullptr, 0);
  return Status::Ok();
}

// scratch_: [ceil(count/n)], one incoming chunk.
Status AlgoCollective::Ring(float* data, size_t count) {
  const int n = size(), me = rank();
  auto wrap = [n](int c) { return ((c % n) + n) % n; };
  auto begin = [&](int c) { return ChunkBegin(count, n, wrap(c)); };
  auto len = [&](int c) { return ChunkBegin(count, n, wrap(c) + 1) - begin(c); };
  const size_t max_chunk = (count + static_cast<size_t>(n) - 1) / static_cast<size_t>(n);
  if (scratch_.size() < max_chunk) scratch_.resize(max_chunk);
  const int next = (me + 1) % n, prev = (me + n - 1) % n;
  constexpr size_t F = sizeof(float);
  for (int s = 0; s < n - 1; ++s) {  // reduce-scatter: chunk c starts at rank c
    const int send_c = me - s, recv_c = me - s - 1;
    PLEXUS_RETURN_IF_ERROR(
        Step(next, data + begin(send_c), len(send_c) * F, prev, scratch_.data(), len(recv_c) * F));
    AddIntoRight(data + begin(recv_c), scratch_.data(), len(recv_c));  // incoming sum + my partial
  }
  for (int s = 0; s < n - 1; ++s) {  // all-gather: the owner's bytes go round
    const int send_c = me + 1 - s, recv_c = me - s;
    PLEXUS_RETURN_IF_ERROR(
        Step(next, data + begin(send_c), len(send_c) * F, prev, data + begin(recv_c), len(recv_c) * F));
  }
  return Status::Ok();
}

Status AlgoCollective::AllGather(const void* in, size_t bytes, void* out) {
  gather_sizes_.assign(static_cast<size_t>(size()), bytes);  // no allocation once sized
  return AllGatherV(in, gather_sizes_.data(), out);
}

// One step: this rank's bytes go to every other rank, theirs land in place.
Status AlgoCollective::AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) {
  if (!broken_.ok()) return Refuse("all-gather");
  const int n = size(), me = rank();
  auto* dst = static_cast<uint8_t*>(out);
  size_t my_off = 0, off = 0;
  bool posted = false;
  t_->Clear();
  for (int g = 0; g < n; off += bytes_per_rank[g], ++g) {
    if (g == me) {
      my_off = off;
      continue;
    }
    if (bytes_per_rank[me] > 0) t_->Send(g, in, bytes_per_rank[me]), posted = true;
    if (bytes_per_rank[g] > 0) t_->Recv(g, dst + off, bytes_per_rank[g]), posted = true;
  }
  if (posted) PLEXUS_RETURN_IF_ERROR(Sticky(t_->Run("all-gather")));
  if (dst + my_off != in && bytes_per_rank[me] > 0) std::memmove(dst + my_off, in, bytes_per_rank[me]);
  return Status::Ok();
}

}  // namespace plexus::comm
