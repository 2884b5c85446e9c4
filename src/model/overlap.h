// Overlapped reductions for prefill in tensor parallel.
//
// Each layer ends its attention and its dense FFN with an all-reduce of the
// partial block output, [B, d] floats. For a long batch the block's last
// matrices are computed in 2-4 row chunks instead: chunk c is handed to the
// AsyncReducer's thread to be all-reduced while the forward thread computes
// chunk c+1 (LayerRun::ReduceInChunks in overlap.cc). Decode batches (fewer
// than the minimum rows) keep the single reduce: no thread hand-off on the
// latency path.
//
// Exactness: every row of the partial output is computed by the same
// arithmetic whatever the chunking (chunk starts are multiples of 4, the
// token group of the MatMul kernel, and no chunk has a single row), and each
// chunk is an ordinary all-reduce, so all ranks still hold bit-identical
// results. With an all-reduce whose summation order does not depend on the
// vector length (LocalCollective, one-shot) the logits equal the unchunked
// run's bit for bit; an algorithm chosen by size (kAuto) may differ in the
// last bit from the unchunked run, but never between ranks. That holds while
// the chunks and the whole batch take the same MatMul path: a batch of
// kernels::kBf16MinTokens+ tokens of quantized weights multiplies in bf16
// where the CPU can (kernels/matmul_bf16.h), and of BlasMinTokens+ (48 for
// float weights, 256 for quantized ones) through sgemm, so a chunked batch that big may differ from the unchunked one by
// that rounding (bf16: ~5e-3 of the largest logit), again never between ranks.
#pragma once

#include <cstdint>

namespace plexus {

// Minimum rows of a chunk: below this a chunk's MatMul re-decodes each
// weight row for too few tokens to amortise it.
constexpr int64_t kOverlapMinChunkRows = 8;
constexpr int kOverlapMaxChunks = 4;

// How many chunks a batch of `rows` is reduced in: 1 (one reduce) below
// `min_rows`, else 2 to 4, about one per 16 rows.
int OverlapChunks(int64_t rows, int64_t min_rows);

// Rows per chunk for `chunks` chunks of a batch of `rows`: a multiple of 4,
// at least kOverlapMinChunkRows; the last chunk takes the rest.
int64_t OverlapChunkRows(int64_t rows, int chunks);

// PLEXUS_NO_OVERLAP=1 in the environment (read once): every reduce is a
// single one, for A/B measurements.
bool OverlapDisabledByEnv();

}  // namespace plexus
