// AlgoCollective: the all-reduce and all-gather algorithms, written once over
// a StepTransport (tcp, ucx, the in-process test transport).
//
// All-reduce algorithms and their summation orders (p_g: group rank g's
// partial; every rank ends with the same bits because each output element is
// computed by one fixed expression, and wherever two ranks both compute a sum
// the lower group rank's operand comes first):
//  - one-shot: every rank sends its whole vector to every other and sums
//    0 + p0 + p1 + ... + p(n-1) left to right: one step, n-1 sends of the full
//    vector per rank. Same bits as LocalCollective.
//  - recursive doubling: with m = the largest power of two <= n, ranks m+j
//    (j < n-m) first fold into rank j, which then holds v_j = p_j + p_(m+j);
//    the others hold v_j = p_j. Then log2(m) steps: at step k ranks exchange
//    with rank ^ 2^k and both compute lower + upper, a balanced tree
//    ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + ...); at the end rank j sends the
//    result to rank m+j. log2(m) (+2) steps of the full vector.
//  - ring: reduce-scatter then all-gather over 2(n-1) steps of ~count/n.
//    Chunk c (elements [c*count/n, (c+1)*count/n)) is accumulated along the
//    ring starting at rank c: ((p_c + p_c+1) + p_c+2) + ... + p_c-1 (indices
//    mod n; the incoming partial sum is the left operand), by one owner whose
//    bytes the all-gather copies to everyone.
// The three orders differ, so different algorithms may differ in the last bit;
// one algorithm gives the same bits on every rank and every run.
//
// kAuto picks by (group size, bytes) from a threshold table (AutoTable) that
// was measured with `plexus bench-comm` (see kDefaultAutoTable in the .cc).
// Buffers grow only when a larger call arrives: steady-state calls allocate
// nothing. A failed collective stays failed (the transport's group is broken).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "base/collective.h"
#include "comm/algo/step_transport.h"

namespace plexus::comm {

enum class AllReduceAlgo { kAuto, kOneShot, kRecursiveDoubling, kRing };

// "auto", "oneshot", "rd", "ring".
const char* AlgoName(AllReduceAlgo algo);
Result<AllReduceAlgo> ParseAlgo(std::string_view name);

// For groups of `nodes` ranks (the last row also covers larger groups): one-shot
// below rd_from_bytes, recursive doubling below ring_from_bytes, ring above.
// rd_from_bytes == ring_from_bytes skips recursive doubling.
struct AutoRule {
  int nodes = 2;
  size_t rd_from_bytes = 0;
  size_t ring_from_bytes = 0;
};
using AutoTable = std::array<AutoRule, 3>;  // rows for 2, 3, and 4+ nodes, ascending
const AutoTable& DefaultAutoTable();

struct AlgoOptions {
  AllReduceAlgo algo = AllReduceAlgo::kAuto;
  AutoTable table = DefaultAutoTable();
};

// The algorithm kAuto resolves to for a group of `nodes` and a vector of `bytes`.
AllReduceAlgo ChooseAlgo(const AutoTable& table, int nodes, size_t bytes);

class AlgoCollective final : public Collective {
 public:
  AlgoCollective(std::unique_ptr<StepTransport> transport, AlgoOptions options);
  int rank() const override { return t_->rank(); }
  int size() const override { return t_->size(); }
  Status AllReduceSum(void* data, size_t count, ElemType type) override;
  Status AllGather(const void* in, size_t bytes, void* out) override;
  // `in` may be this rank's slot inside `out`, or must not overlap it.
  Status AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) override;

  // What AllReduceSum uses for a vector of `bytes` (options.algo unless kAuto).
  AllReduceAlgo ChooseAlgo(size_t bytes) const;
  StepTransport& transport() { return *t_; }

 private:
  Status OneShot(float* data, size_t count);
  Status RecursiveDoubling(float* data, size_t count);
  Status Ring(float* data, size_t count);
  // One step: send `send_bytes` to `to` and receive `recv_bytes` from `from`
  // (either skipped when -1 or zero bytes).
  Status Step(int to, const void* send, size_t send_bytes, int from, void* recv, size_t recv_bytes);
  Status Sticky(Status st);  // a failed collective stays failed
  Status Refuse(const char* what) const;

  std::unique_ptr<StepTransport> t_;
  AlgoOptions opt_;
  std::vector<float> scratch_;  // one-shot: [n-1][count] partials; rd: [count]; ring: [ceil(count/n)]
  std::vector<size_t> gather_sizes_;  // [n] for AllGather
  Status broken_;
};

}  // namespace plexus::comm
