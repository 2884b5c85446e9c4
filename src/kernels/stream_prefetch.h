// Software prefetch for weights that decode streams once per token.
//
// A matvec reads each weight byte once, front to back. On this project's CI
// machine kind (a 2-core Xeon VM, AVX-512) the hardware prefetchers alone
// left the 2-thread Q4_0 decode at ~37% of the measured read bandwidth: the
// integer dot waited on every new cache line. Requesting the line
// kStreamPrefetchBytes ahead of the one being read keeps enough misses in
// flight (docs/PERFORMANCE.md, "Software prefetch"). Prefetches never fault,
// so reading ahead past the end of a matrix is harmless.
#ifndef PLEXUS_KERNELS_STREAM_PREFETCH_H_
#define PLEXUS_KERNELS_STREAM_PREFETCH_H_

#include <cstddef>
#include <cstdint>

#include "hwy/base.h"
#include "hwy/cache_control.h"

namespace plexus::kernels {

// How far ahead of the read position lines are requested. Measured on 1B
// Llama-shaped models, 2 threads: 1024 bytes gave Q4_0 64% of the bound,
// 2048 71%, 3072 69%; Q8_0 82/82/80%, Q4_K_M 63/67/65% (none: 37/66/31%).
inline constexpr size_t kStreamPrefetchBytes = 2048;

// The legacy block types' 8-block loops (Q8_0, Q4_0 and kQ4_0R on AVX2 and
// up) read further ahead. 1B models, 2 threads, tg128 alternating with 2048:
// 3072 gave Q8_0 +1.5% and Q4_0 +2.3%, and Q4_K_M -2.8% (so the K types keep
// 2048); 4096 cost Q8_0 5%.
inline constexpr size_t kLegacyPrefetchBytes = 3072;

// Requests the cache lines of [p + kAhead, p + kAhead + kBytes): called once
// per kBytes the caller consumes, so each line ahead is asked for about once
// (every other line with kStride 128).
template <size_t kBytes, size_t kStride = 64, size_t kAhead = kStreamPrefetchBytes>
HWY_INLINE void PrefetchStream(const void* p) {
  const auto* at = static_cast<const uint8_t*>(p) + kAhead;
  for (size_t offset = 0; offset < kBytes; offset += kStride) hwy::Prefetch(at + offset);
}

// Requests the first kStreamPrefetchBytes of a run of rows about to be read
// (the row kernels' own prefetches start that far in): a thread's chunk of a
// matrix, or of a mixture's expert, starts cold otherwise.
inline void PrefetchStreamHead(const void* p, size_t bytes) {
  const auto* at = static_cast<const uint8_t*>(p);
  const size_t n = bytes < kStreamPrefetchBytes ? bytes : kStreamPrefetchBytes;
  for (size_t offset = 0; offset < n; offset += 64) hwy::Prefetch(at + offset);
}

}  // namespace plexus::kernels

#endif  // PLEXUS_KERNELS_STREAM_PREFETCH_H_
