// The collective interface the forward pass is written against.
//
// It moves raw bytes plus an element type and knows nothing of tensors or
// models. A single node uses NoopCollective (size 1). Real transports (TCP,
// shared memory, UCX) live under src/comm/ and implement the same interface.
//
// A Collective is one group of ranks: the tensor-parallel group of a pipeline
// stage. Pipeline hand-off between stages uses PipeLink.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"

namespace plexus {

enum class ElemType : uint8_t { kF32 = 0 };

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: data[i] = sum over ranks of data[i]. Every rank must end with
  // bit-identical results (sum partials in rank order everywhere).
  virtual Status AllReduceSum(void* data, size_t count, ElemType type) = 0;
  // out (size() * bytes) = concat over ranks of each rank's `in` (bytes).
  virtual Status AllGather(const void* in, size_t bytes, void* out) = 0;
  // Variable-size gather: rank r contributes bytes_per_rank[r] bytes; out is
  // the concatenation in rank order.
  virtual Status AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) = 0;
};

// Point-to-point link between consecutive pipeline stages.
class PipeLink {
 public:
  virtual ~PipeLink() = default;
  virtual Status SendNext(const void* data, size_t bytes) = 0;
  virtual Status RecvPrev(void* data, size_t bytes) = 0;
};

// The single-node group: all operations are identities.
class NoopCollective final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status AllReduceSum(void*, size_t, ElemType) override { return Status::Ok(); }
  Status AllGather(const void* in, size_t bytes, void* out) override;
  Status AllGatherV(const void* in, const size_t* bytes_per_rank, void* out) override;
};

}  // namespace plexus
