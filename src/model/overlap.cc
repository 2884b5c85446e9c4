// LayerRun's chunked reductions (see overlap.h for why and when).
#include "model/overlap.h"

#include <algorithm>
#include <array>

#include "base/async_reducer.h"
#include "base/env_flag.h"
#include "kernels/ops.h"
#include "model/layer_ops.h"

namespace plexus {

int OverlapChunks(int64_t rows, int64_t min_rows) {
  if (rows < std::max<int64_t>(min_rows, 2 * kOverlapMinChunkRows)) return 1;
  return static_cast<int>(std::clamp<int64_t>(rows / 16, 2, kOverlapMaxChunks));
}

int64_t OverlapChunkRows(int64_t rows, int chunks) {
  const int64_t even = (rows + chunks - 1) / chunks;
  return std::max<int64_t>(kOverlapMinChunkRows, (even + 3) / 4 * 4);
}

bool OverlapDisabledByEnv() {
  static const bool disabled = EnvFlag("PLEXUS_NO_OVERLAP", false);
  return disabled;
}

// Pipeline over row chunks [r0, r1) of the batch (proj: [B, d]):
//   compute(chunk 0), submit 0, compute(chunk 1), submit 1, ...
//   then wait for each chunk in order and add it to the residual x.
// The reducer thread all-reduces chunk c while chunk c+1 is computed; the
// two touch disjoint rows of proj (and of every other buffer).
Status LayerRun::ReduceInChunks(const std::function<void(int64_t r0, int64_t r1)>& compute) {
  const auto rows = static_cast<int64_t>(batch_.size());
  if (reducer_ == nullptr || chunks_ <= 1 || rows < 2 * kOverlapMinChunkRows) {
    compute(0, rows);
    return ReduceIntoResidual();
  }
  const int64_t d = c_.n_embd, step = OverlapChunkRows(rows, chunks_);
  struct Chunk {
    int64_t r0, r1;
    uint64_t ticket;
  };
  std::array<Chunk, kOverlapMaxChunks + 1> chunks{};
  size_t n = 0;
  ReduceScope scope(*reducer_);  // drains on every exit: nothing stays in flight
  for (int64_t r0 = 0; r0 < rows;) {
    int64_t r1 = std::min(rows, r0 + step);
    if (rows - r1 < 4 || n + 1 == chunks.size()) r1 = rows;  // no 1-row (MatVec) tail
    compute(r0, r1);
    chunks[n++] = {r0, r1, reducer_->Submit(tp_, a_.proj.data() + r0 * d, static_cast<size_t>((r1 - r0) * d))};
    r0 = r1;
  }
  Status first;
  for (size_t i = 0; i < n; ++i) {
    Status st = reducer_->Wait(chunks[i].ticket);
    if (!st.ok()) {
      if (first.ok()) first = std::move(st);
      continue;
    }
    kernels::Add(a_.x.data() + chunks[i].r0 * d, a_.proj.data() + chunks[i].r0 * d, (chunks[i].r1 - chunks[i].r0) * d);
  }
  return first;
}

}  // namespace plexus
